"""``lrkit bench``: the published CIFAR-10 LR experiments, as data, rerun at a scale you can afford.

- :mod:`lrkit.bench.references`  every published number with its paper, table/figure and protocol
- :mod:`lrkit.bench.experiments` the experiments as data (smoke / lite / paper scales)
- :mod:`lrkit.bench.runner`      runs them: one JSON per run, atomic, resumable from checkpoints
- :mod:`lrkit.bench.transfer`    the ``discriminative`` experiment (pre-train, then fine-tune), its own runner
- :mod:`lrkit.bench.report`      figures (measured vs published) and a markdown table
"""

from .experiments import EXPERIMENTS, SCALES, Experiment, RunSpec, get_experiment
from .references import REFERENCES, Reference, reference
from .report import report
from .runner import BenchError, load_results, run_experiment

__all__ = ["BenchError", "EXPERIMENTS", "Experiment", "REFERENCES", "Reference", "RunSpec", "SCALES",
           "get_experiment", "load_results", "reference", "report", "run_experiment"]
