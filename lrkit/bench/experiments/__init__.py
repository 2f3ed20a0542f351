"""The bench's experiments, one module each, and their registry :data:`EXPERIMENTS`.

Each module owns its experiment whole: the runs at every scale (plain data, :class:`~lrkit.bench.spec.RunSpec`),
the shared work before they train (``prepare``), how a run trains (``trainer``; the plain trainer of
:mod:`lrkit.bench.plain` when it needs nothing more), what the report says about the results (``notes``) and
the figure it draws (``figure``) — see :class:`~lrkit.bench.spec.Experiment`.

- :mod:`~lrkit.bench.experiments.smith2017`       Smith 2017: Table 1 (CLR policies) and Fig. 3 (accuracy range test)
- :mod:`~lrkit.bench.experiments.sgdr`            Loshchilov & Hutter 2017: SGDR's anytime test error
- :mod:`~lrkit.bench.experiments.onecycle`        Smith 2018, Smith & Topin 2017: one cycle vs piecewise constant
- :mod:`~lrkit.bench.experiments.discriminative`  ULMFiT's discriminative fine-tuning on a CIFAR-10 transfer task
- :mod:`~lrkit.bench.experiments.methods`         LR methods side by side on the fast recipe

Adding an experiment is one new module (its ``Experiment``) and one line in :data:`EXPERIMENTS`.

Scaling: ``lite`` and ``smoke`` multiply every iteration count, step size and milestone of the paper's
protocol by one stated factor (:func:`~lrkit.bench.spec.scaled`). The exceptions are ``discriminative``
(a protocol of its own: pre-train, then fine-tune; ``smoke`` and ``lite`` only) and ``methods``
(budgets in epochs of the fast recipe).
"""

from __future__ import annotations

from ...utils import did_you_mean
from ..spec import SCALES, Experiment, RunSpec
from . import discriminative, methods, onecycle, sgdr, smith2017

__all__ = ["EXPERIMENTS", "SCALES", "Experiment", "RunSpec", "get_experiment"]

#: every experiment of ``lrkit bench``, by name (the order of ``lrkit bench list`` and of the report)
EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in [
    smith2017.TABLE1,
    smith2017.FIG3,
    sgdr.EXPERIMENT,
    onecycle.EXPERIMENT,
    discriminative.EXPERIMENT,
    methods.EXPERIMENT,
]}


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {sorted(EXPERIMENTS)}"
                         + did_you_mean(name, EXPERIMENTS))
    return EXPERIMENTS[name]
