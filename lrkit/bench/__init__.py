"""``lrkit bench``: the published CIFAR-10 LR experiments, as data, rerun at a scale you can afford.

- :mod:`lrkit.bench.spec`        RunSpec and Experiment: runs as plain data
- :mod:`lrkit.bench.store`       the results store: paths, ``cached()``, manifests, result records
- :mod:`lrkit.bench.references`  every published number with its paper, table/figure and protocol
- :mod:`lrkit.bench.experiments` the registry of experiments (smoke / lite / paper scales)
- :mod:`lrkit.bench.transfer`    the ``discriminative`` experiment's protocol (pre-train, then fine-tune)
- :mod:`lrkit.bench.runner`      the one (run × seed) loop: atomic, resumable from checkpoints
- :mod:`lrkit.bench.report`      figures (measured vs published) and a markdown table
"""

from .experiments import EXPERIMENTS, get_experiment
from .references import REFERENCES, Reference, reference
from .report import report
from .runner import run_experiment
from .spec import SCALES, Experiment, RunSpec
from .store import BenchError, load_results

__all__ = ["BenchError", "EXPERIMENTS", "Experiment", "REFERENCES", "Reference", "RunSpec", "SCALES",
           "get_experiment", "load_results", "reference", "report", "run_experiment"]
