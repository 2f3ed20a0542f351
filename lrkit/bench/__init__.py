"""``lrkit bench``: the published CIFAR-10 LR experiments, as data, rerun at a scale you can afford.

- :mod:`lrkit.bench.spec`        RunSpec and Experiment: runs as plain data, and what each experiment owns
- :mod:`lrkit.bench.store`       the results store: paths, ``cached()``, manifests, result records
- :mod:`lrkit.bench.references`  every published number with its paper, table/figure and protocol
- :mod:`lrkit.bench.executors`   where runs execute: here, a process pool, submitit (Slurm), Ray
- :mod:`lrkit.bench.plain`       the plain trainer: a RunSpec through ``fit``, checkpointed
- :mod:`lrkit.bench.runner`      the one (run × seed) loop: atomic, resumable from checkpoints
- :mod:`lrkit.bench.analysis`    reading stored results: curves, paired differences, summaries
- :mod:`lrkit.bench.figures`     the accuracy curves most experiments draw
- :mod:`lrkit.bench.experiments` one module per experiment (runs, trainer, notes, figure) and the registry
- :mod:`lrkit.bench.report`      lays out what the experiments say and draw: figures and a markdown report
"""

from .experiments import EXPERIMENTS, get_experiment
from .references import REFERENCES, Reference, reference
from .report import report
from .runner import run_experiment
from .spec import SCALES, Experiment, RunSpec
from .store import BenchError, load_results

__all__ = ["BenchError", "EXPERIMENTS", "Experiment", "REFERENCES", "Reference", "RunSpec", "SCALES",
           "get_experiment", "load_results", "reference", "report", "run_experiment"]
