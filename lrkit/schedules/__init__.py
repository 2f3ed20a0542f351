"""Pure learning-rate schedule math: ``lr = schedule(t)`` for an iteration ``t``.

Every schedule is a small, immutable object (one class per schedule, like timm's
schedulers) whose value at iteration ``t`` is a pure function of ``t``:

* ``t`` counts **optimizer steps** (iterations), not epochs; ``t = 0`` is the first
  update.
* ``schedule(t)`` accepts an ``int``/``float`` (returns a Python ``float``) or any
  array-like (returns a ``numpy.ndarray`` of ``float64``); evaluation is vectorised
  with numpy, there is no Python loop over ``t``.  This module never imports torch.
* ``schedule.total_steps`` is ``None`` for an infinite schedule.  For a finite
  schedule the valid domain is ``0 <= t <= total_steps``.  The iterations actually
  used for updates are ``0 .. total_steps - 1``; ``t == total_steps`` is allowed and
  returns the formula's natural continuation (the LR "after training", which a
  scheduler computes after the last optimizer step).  This mirrors
  ``torch.optim.lr_scheduler.OneCycleLR``, which raises only when stepped *beyond*
  ``total_steps``.  ``t < 0`` or ``t > total_steps`` raises ``ValueError`` naming ``t``.
* ``schedule.to_config()`` returns a JSON-able ``dict`` ``{"name": ..., **params}``
  and :func:`from_config` rebuilds the schedule; schedules also pickle.
* ``schedule * 0.5`` returns a :class:`Scaled` schedule.
* ``schedule.momentum_schedule()`` returns the momentum schedule that is cycled
  inversely to the LR (for :class:`Cyclic` and :class:`OneCycle`) or ``None``.
* A schedule never returns inf/NaN silently: ``schedule(t)`` raises ``ValueError``
  naming the schedule and ``t`` when a value is not finite (e.g. a growing
  :class:`Exponential` that overflows float64).

One family per file, as timm does and in the order the notebooks meet them:

- :mod:`~lrkit.schedules.base`       :class:`Schedule`, :func:`from_config` (the registry), :class:`Scaled`
- :mod:`~lrkit.schedules.classic`    Constant, Step, MultiStep, Exponential, Polynomial, Cosine
- :mod:`~lrkit.schedules.warmup`     LinearWarmup, ExponentialWarmup, :func:`warmup`, WSD (notebook 08)
- :mod:`~lrkit.schedules.cyclic`     Cyclic, CyclicMomentum, triangular, triangular2, exp_range (notebook 03)
- :mod:`~lrkit.schedules.restarts`   CosineWarmRestarts, SGDR (notebook 04)
- :mod:`~lrkit.schedules.one_cycle`  OneCycle, OneCycleMomentum, SlantedTriangular (notebooks 05, 06)
- :mod:`~lrkit.schedules.compose`    Sequence, Decayed

A schedule of any of these modules is stored under its class name (``{"name": "OneCycle", …}``);
one defined elsewhere under ``"module:qualname"``.

Example:
    >>> from lrkit.schedules import OneCycle, from_config
    >>> s = OneCycle(max_lr=0.1, total_steps=100)
    >>> round(s(0), 4), round(s(29), 4), s.total_steps
    (0.004, 0.1, 100)
    >>> from_config(s.to_config())(29) == s(29)
    True
"""

from .base import Scaled, Schedule, from_config
from .classic import Constant, Cosine, Exponential, MultiStep, Polynomial, Step
from .compose import Decayed, Sequence
from .cyclic import Cyclic, CyclicMomentum, exp_range, exp_range_keras, triangular, triangular2
from .one_cycle import OneCycle, OneCycleMomentum, SlantedTriangular
from .restarts import CosineWarmRestarts
from .warmup import WSD, ExponentialWarmup, LinearWarmup, warmup

__all__ = [
    "Schedule",

    "Constant",
    "Step",
    "MultiStep",
    "Exponential",
    "Polynomial",
    "Cosine",
    "LinearWarmup",
    "ExponentialWarmup",
    "warmup",
    "WSD",
    "Cyclic",
    "CyclicMomentum",
    "triangular",
    "triangular2",
    "exp_range",
    "exp_range_keras",
    "CosineWarmRestarts",
    "OneCycle",
    "OneCycleMomentum",
    "SlantedTriangular",
    "Sequence",
    "Scaled",
    "Decayed",
    "from_config",
]
