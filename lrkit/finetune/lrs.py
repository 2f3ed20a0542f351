"""Per-group learning rates of discriminative fine-tuning: :func:`discriminative_lrs`.

ULMFiT (Howard & Ruder 2018, §3.2) gives each layer group its own LR, smaller towards the input:
:math:`\\eta^{l-1} = \\eta^l / 2.6` (:data:`ULMFIT_FACTOR`); fastai writes the same idea as ``slice(lo, hi)``.

Example:
    >>> [round(lr, 4) for lr in discriminative_lrs(3, 0.01, factor=ULMFIT_FACTOR)]
    [0.0015, 0.0038, 0.01]
    >>> discriminative_lrs(3, slice(1e-3, 1e-1))
    [0.001, 0.01, 0.1]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["ULMFIT_FACTOR", "discriminative_lrs"]

#: ULMFiT's factor between the LRs of neighbouring layer groups (η^{l-1} = η^l / 2.6).
ULMFIT_FACTOR = 2.6


# --------------------------------------------------------------------------------------------------
# Per-group LRs
# --------------------------------------------------------------------------------------------------
def _pos_lr(name: str, v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {v!r}") from None
    if not (math.isfinite(f) and f > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    return f


def discriminative_lrs(n: int, lr: Any, *, factor: float | None = None) -> list[float]:
    """One LR per layer group (first = input side), ``n`` groups.

    ``lr``:
        - ``slice(lo, hi)`` or a 2-tuple ``(lo, hi)``: fastai's spread — first group ``lo``, last
          ``hi``, geometric in between (``lo · (hi/lo)^(k/(n-1))``); ``lo <= hi``.
        - ``slice(hi)``: fastai's shorthand — the last group ``hi``, every other ``hi / 10``.
        - a number with ``factor``: ULMFiT — the last group ``lr``, each one below divided by
          ``factor`` (``lr / factor^(n-1-k)``; ULMFiT uses :data:`ULMFIT_FACTOR` = 2.6).
        - a number without ``factor``: the same LR everywhere.
        - a list of ``n`` numbers: explicit values.

    Raises ``ValueError`` naming ``lr`` / ``factor`` / ``n`` for bad input (``lo > hi``, non-positive
    values, a list of the wrong length, ``factor`` < 1 or combined with a spread).
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if factor is not None:
        f = _pos_lr("factor", factor)
        if f < 1:
            raise ValueError(f"factor must be >= 1 (lower groups get smaller LRs), got {factor!r}")
        if isinstance(lr, (slice, tuple, list)):
            raise ValueError("factor goes with a single lr (the last group's); lr is a spread/list")
        top = _pos_lr("lr", lr)
        return [top / f ** (n - 1 - k) for k in range(n)]
    if isinstance(lr, slice):
        if lr.step is not None:
            raise ValueError(f"lr: a slice(lo, hi) takes no step, got {lr!r}")
        if lr.start is None:
            hi = _pos_lr("lr (slice stop)", lr.stop)
            return [hi / 10] * (n - 1) + [hi]
        lo, hi = _pos_lr("lr (slice start)", lr.start), _pos_lr("lr (slice stop)", lr.stop)
    elif isinstance(lr, tuple):
        if len(lr) != 2:
            raise ValueError(f"lr: a tuple must be (lo, hi), got {lr!r}")
        lo, hi = _pos_lr("lr (lo)", lr[0]), _pos_lr("lr (hi)", lr[1])
    elif isinstance(lr, (list, np.ndarray)):
        vals = [_pos_lr("lr (list entry)", v) for v in lr]
        if len(vals) != n:
            raise ValueError(f"lr: {len(vals)} values for {n} layer groups")
        return vals
    else:
        return [_pos_lr("lr", lr)] * n
    if lo > hi:
        raise ValueError(f"lr: the spread's lo ({lo:g}) must be <= hi ({hi:g}) (first group gets lo)")
    if n == 1:
        return [hi]
    return [float(lo * (hi / lo) ** (k / (n - 1))) for k in range(n)]
