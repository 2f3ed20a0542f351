"""lrkit: learning rates, taught and measured.

The names a learner uses are importable from here — ``from lrkit import cifar10_loaders, get_model,
OneCycle, fit, lr_find`` — and are imported on first use (PEP 562), so ``import lrkit`` stays light and
``import lrkit.schedules`` never imports torch.

The package, in the direction the data flows (data → model → training, driven by a schedule → History
→ plots, benchmarks, notebooks):

- :mod:`lrkit.data`       CIFAR-10 (a local copy or a download), held in memory, augmented in batches
- :mod:`lrkit.models`     reference models: Smith's Caffe nets, CIFAR ResNets, FastNet, AirNet
- :mod:`lrkit.schedules`  pure schedule math, ``lr(t)`` for an iteration ``t``, one family per file; no torch
- :mod:`lrkit.training`   the one loop (:func:`fit`), its runtime, callbacks, checkpoints, History,
  :class:`ScheduledLR` (the only writer of a param group's LR), optimizers, exact state restore
- :mod:`lrkit.rangetest`  the LR range test (:func:`lr_find`, a short run of ``fit``), Smith's accuracy
  test, the rules that read an LR off them, and the one policy from a test to a run's LR
- :mod:`lrkit.finetune`   discriminative fine-tuning: layer groups, per-group LRs, gradual unfreezing
- :mod:`lrkit.recipe`     the fast CIFAR-10 recipe (``lrkit quickstart --target``) and the small quickstart
- :mod:`lrkit.plot`       figures of results: schedules, range tests, histories, accuracy curves
- :mod:`lrkit.notebook`   what only the notebooks use: widgets, toy problems, recording, prose helpers
- :mod:`lrkit.bench`      the papers' experiments as data, rerun at a scale you can afford, and their report
- :mod:`lrkit.cli`        the ``lrkit`` command
- :mod:`lrkit.utils`      RNG state, atomic files, one JSON convention, argument checks

Example:
    >>> import lrkit
    >>> "fit" in lrkit.__all__ and "lr_find" in lrkit.__all__
    True
    >>> lrkit.OneCycle(max_lr=0.1, total_steps=100).total_steps       # imports lrkit.schedules only now
    100
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: the public face: name → the module it comes from (imported when the name is first used)
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(["cifar10_loaders", "load_cifar10"], "lrkit.data"),
    **dict.fromkeys(["get_model"], "lrkit.models"),
    **dict.fromkeys(["Schedule", "from_config", "Constant", "MultiStep", "Cosine", "OneCycle", "Cyclic", "triangular",
                     "triangular2", "exp_range", "CosineWarmRestarts", "SlantedTriangular", "WSD", "warmup"],
                    "lrkit.schedules"),
    **dict.fromkeys(["fit", "evaluate", "History", "Callback", "StopTraining", "ScheduledLR", "make_optimizer",
                     "CaffeSGD", "eval_weights", "run_schedules", "run_wsd_branches"], "lrkit.training"),
    **dict.fromkeys(["lr_find", "accuracy_range_test", "RangeTest", "USE_RULES"], "lrkit.rangetest"),
    **dict.fromkeys(["layer_groups", "GradualUnfreezing"], "lrkit.finetune"),
    **dict.fromkeys(["plot_schedule", "plot_accuracy_curves"], "lrkit.plot"),
    **dict.fromkeys(["seed_everything"], "lrkit.utils"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """``lrkit.<name>`` for a name of the public face: imported from its module on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lrkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
