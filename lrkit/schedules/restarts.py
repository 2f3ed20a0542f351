"""SGDR: cosine annealing with warm restarts, Loshchilov & Hutter 2017 §3.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .base import Schedule, nonneg, positive, positive_int, real

__all__ = ['CosineWarmRestarts']


class CosineWarmRestarts(Schedule):
    """SGDR: cosine annealing with warm restarts, Loshchilov & Hutter 2017, §3 eq. (5).

    Cycle ``i`` (0-based) has length ``T_i = T_0 * T_mult**i`` and starts at
    ``S_i = T_0 * (T_mult**i - 1) / (T_mult - 1)`` (``S_i = i * T_0`` when ``T_mult == 1``).
    The cycles are real-valued intervals (timm's ``cycle_mul`` semantics): for
    ``t' >= 0`` the cycle is the ``i`` with ``S_i <= t' < S_{i+1}``, so a restart happens at
    the first integer iteration ``>= S_i`` (T_0=10, T_mult=1.5: restarts at 10, 25, 48, ...),
    and ``T_cur = t' - S_i``::

        lr(t) = eta_min + (eta_max * cycle_decay**i - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2

    Warm-up (timm ``warmup_t``/``warmup_lr_init``): for ``t < warmup_steps``,
    ``lr(t) = warmup_start + t * (eta_max - warmup_start) / warmup_steps``.  With
    ``warmup_prefix=False`` (default, as timm) ``t' = t`` (the warm-up overwrites the start of
    the first cycle); with ``warmup_prefix=True`` ``t' = t - warmup_steps``.
    After ``cycle_limit`` cycles (``i >= cycle_limit``) the LR stays at ``eta_min`` forever.
    ``cycle_limit=None`` means unlimited restarts.

    Equals ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts`` for integer ``T_mult``
    (no decay/warm-up) and timm's ``CosineLRScheduler`` (``t_in_epochs=False``, no noise,
    ``k_decay=1``).
    """

    def __init__(
        self,
        T_0: float,
        T_mult: float = 1.0,
        *,
        eta_max: float,
        eta_min: float = 0.0,
        cycle_decay: float = 1.0,
        warmup_steps: int = 0,
        warmup_start: float = 0.0,
        warmup_prefix: bool = False,
        cycle_limit: int | None = None,
    ) -> None:
        self.T_0 = positive("T_0", T_0)
        if float(self.T_0).is_integer():
            self.T_0 = int(self.T_0)
        self.T_mult = real("T_mult", T_mult)
        if self.T_mult < 1:
            raise ValueError(f"T_mult must be >= 1, got {T_mult!r}")
        self.eta_max = nonneg("eta_max", eta_max)
        self.eta_min = nonneg("eta_min", eta_min)
        if self.eta_min > self.eta_max:
            raise ValueError(f"eta_min={eta_min!r} must be <= eta_max={eta_max!r}")
        self.cycle_decay = positive("cycle_decay", cycle_decay)
        self.warmup_steps = positive_int("warmup_steps", warmup_steps, allow_zero=True)
        self.warmup_start = nonneg("warmup_start", warmup_start)
        self.warmup_prefix = bool(warmup_prefix)
        self.cycle_limit = None if cycle_limit is None else positive_int("cycle_limit", cycle_limit)

    def _cycle_start(self, i: np.ndarray) -> np.ndarray:
        if self.T_mult == 1.0:
            return self.T_0 * i
        return self.T_0 * (np.power(self.T_mult, i) - 1) / (self.T_mult - 1)

    def _cycle(self, tp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(i, T_cur, T_i)`` for shifted iterations ``tp >= 0``."""
        if self.T_mult == 1.0:
            i = np.floor(tp / self.T_0)
            return i, tp - self.T_0 * i, np.full_like(tp, float(self.T_0))
        m = self.T_mult
        i = np.floor(np.log(1 + tp / self.T_0 * (m - 1)) / math.log(m))
        i = np.maximum(i, 0)
        # correct float rounding of the log at exact cycle boundaries
        i = np.where(self._cycle_start(i + 1) <= tp, i + 1, i)
        i = np.where(self._cycle_start(i) > tp, i - 1, i)
        return i, tp - self._cycle_start(i), self.T_0 * np.power(m, i)

    def cycle_starts(self, n: int) -> list[int]:
        """Iterations at which the first ``n`` cycles begin (integer iterations, warm-up included)."""
        i = np.arange(n, dtype=np.float64)
        starts = np.ceil(self._cycle_start(i) - 1e-9 * np.maximum(1.0, self._cycle_start(i)))
        # exact boundaries must not be pushed up by the ceil
        starts = np.where(
            np.isclose(self._cycle_start(i), np.round(self._cycle_start(i)), rtol=0, atol=1e-9),
            np.round(self._cycle_start(i)),
            starts,
        )
        offset = self.warmup_steps if self.warmup_prefix else 0
        return [int(s) + offset for s in starts]

    def _value(self, t: np.ndarray) -> np.ndarray:
        tp = t - self.warmup_steps if self.warmup_prefix else t
        tp = np.maximum(tp, 0.0)
        i, t_cur, t_i = self._cycle(tp)
        peak = self.eta_max * np.power(self.cycle_decay, i)
        lr = self.eta_min + (peak - self.eta_min) * (1 + np.cos(np.pi * t_cur / t_i)) / 2
        if self.cycle_limit is not None:
            lr = np.where(i >= self.cycle_limit, self.eta_min, lr)
        if self.warmup_steps:
            slope = (self.eta_max - self.warmup_start) / self.warmup_steps
            lr = np.where(t < self.warmup_steps, self.warmup_start + t * slope, lr)
        return lr

    def _params(self) -> dict[str, Any]:
        return {
            "T_0": self.T_0,
            "T_mult": self.T_mult,
            "eta_max": self.eta_max,
            "eta_min": self.eta_min,
            "cycle_decay": self.cycle_decay,
            "warmup_steps": self.warmup_steps,
            "warmup_start": self.warmup_start,
            "warmup_prefix": self.warmup_prefix,
            "cycle_limit": self.cycle_limit,
        }

