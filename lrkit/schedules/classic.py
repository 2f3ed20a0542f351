"""The classic decays of one run: constant, step, multi-step, exponential, polynomial and cosine
(torch's ``StepLR``, ``MultiStepLR``, ``ExponentialLR``, ``PolynomialLR``, ``CosineAnnealingLR``, per iteration).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .base import Schedule, nonneg, positive, positive_int, positive_ints

__all__ = ['Constant', 'Cosine', 'Exponential', 'MultiStep', 'Polynomial', 'Step']


class Constant(Schedule):
    """``lr(t) = lr`` for every ``t``."""

    def __init__(self, lr: float) -> None:
        self.lr = nonneg("lr", lr)

    def _value(self, t: np.ndarray) -> np.ndarray:
        return np.full_like(t, self.lr)

    def _params(self) -> dict[str, Any]:
        return {"lr": self.lr}


class Step(Schedule):
    """Step decay: ``lr(t) = lr * gamma ** floor(t / step_size)`` (torch ``StepLR`` per iteration)."""

    def __init__(self, lr: float, step_size: int, gamma: float = 0.1) -> None:
        self.lr = nonneg("lr", lr)
        self.step_size = positive_int("step_size", step_size)
        self.gamma = positive("gamma", gamma)

    def _value(self, t: np.ndarray) -> np.ndarray:
        return self.lr * np.power(self.gamma, np.floor(t / self.step_size))

    def _params(self) -> dict[str, Any]:
        return {"lr": self.lr, "step_size": self.step_size, "gamma": self.gamma}


class MultiStep(Schedule):
    """``lr(t) = lr * gamma ** #{m in milestones : m <= t}`` (torch ``MultiStepLR`` per iteration)."""

    def __init__(self, lr: float, milestones: Sequence[int], gamma: float = 0.1) -> None:
        self.lr = nonneg("lr", lr)
        ms = positive_ints("milestones", milestones)
        if any(b <= a for a, b in zip(ms, ms[1:], strict=False)):
            raise ValueError(f"milestones must be strictly increasing, got {ms!r}")
        self.milestones = ms
        self.gamma = positive("gamma", gamma)

    def _value(self, t: np.ndarray) -> np.ndarray:
        n = np.searchsorted(np.asarray(self.milestones, dtype=np.float64), t, side="right")
        return self.lr * np.power(self.gamma, n.astype(np.float64))

    def _params(self) -> dict[str, Any]:
        return {"lr": self.lr, "milestones": list(self.milestones), "gamma": self.gamma}


class Exponential(Schedule):
    """``lr(t) = lr * gamma ** t`` (torch ``ExponentialLR`` per iteration).

    ``gamma > 1`` (a growing LR, as in the exponential LR range test) is allowed.  Overflow
    policy: with ``total_steps`` given (a finite schedule, ``0 <= t <= total_steps``) the
    largest value ``lr * gamma ** total_steps`` must be a finite float64, else the
    constructor raises ``ValueError`` naming ``gamma``; without ``total_steps`` the schedule
    is infinite and evaluating it where ``lr * gamma ** t`` overflows raises ``ValueError``
    naming ``t`` (the guard every :class:`Schedule` applies), never returning ``inf``.
    ``total_steps`` is left out of :meth:`to_config` when ``None`` (older configs stay equal).
    """

    def __init__(self, lr: float, gamma: float, total_steps: int | None = None) -> None:
        self.lr = nonneg("lr", lr)
        self.gamma = positive("gamma", gamma)
        self.total_steps = None if total_steps is None else positive_int("total_steps", total_steps)
        if self.total_steps is not None and self.gamma > 1:
            with np.errstate(over="ignore"):
                top = self.lr * np.power(self.gamma, float(self.total_steps))
            if not np.isfinite(top):
                raise ValueError(
                    f"gamma={gamma!r} overflows: lr * gamma**total_steps = "
                    f"{lr!r} * {gamma!r}**{self.total_steps} is not a finite float"
                )

    def _value(self, t: np.ndarray) -> np.ndarray:
        if self.lr == 0.0:  # 0 * inf would be NaN; the schedule is identically 0
            return np.zeros_like(t)
        return self.lr * np.power(self.gamma, t)

    def _params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"lr": self.lr, "gamma": self.gamma}
        if self.total_steps is not None:
            out["total_steps"] = self.total_steps
        return out


class Polynomial(Schedule):
    """Polynomial decay over ``total_steps`` = T:

    ``lr(t) = end + (lr - end) * (1 - t / T) ** power`` for ``0 <= t <= T``.
    ``power = 1`` is linear decay; with ``end = 0`` this is torch's ``PolynomialLR``.
    """

    def __init__(self, lr: float, total_steps: int, power: float = 1.0, end: float = 0.0) -> None:
        self.lr = nonneg("lr", lr)
        self.total_steps = positive_int("total_steps", total_steps)
        self.power = positive("power", power)
        self.end = nonneg("end", end)

    def _value(self, t: np.ndarray) -> np.ndarray:
        frac = 1.0 - np.minimum(t, self.total_steps) / self.total_steps
        return self.end + (self.lr - self.end) * np.power(frac, self.power)

    def _params(self) -> dict[str, Any]:
        return {"lr": self.lr, "total_steps": self.total_steps, "power": self.power, "end": self.end}


class Cosine(Schedule):
    """Cosine annealing without restarts over ``total_steps`` = T (Loshchilov & Hutter 2017, eq. (5)
    with a single cycle):

    ``lr(t) = eta_min + (lr - eta_min) * (1 + cos(pi * t / T)) / 2`` for ``0 <= t <= T``.

    The closed form of ``torch.optim.lr_scheduler.CosineAnnealingLR(T_max=T, eta_min=eta_min)``
    (``last_epoch == t``) for ``t <= T_max``.
    """

    def __init__(self, lr: float, total_steps: int, eta_min: float = 0.0) -> None:
        self.lr = nonneg("lr", lr)
        self.total_steps = positive_int("total_steps", total_steps)
        self.eta_min = nonneg("eta_min", eta_min)
        if self.eta_min > self.lr:
            raise ValueError(f"eta_min={eta_min!r} must be <= lr={lr!r}")

    def _value(self, t: np.ndarray) -> np.ndarray:
        return self.eta_min + (self.lr - self.eta_min) * (1 + np.cos(t * math.pi / self.total_steps)) / 2

    def _params(self) -> dict[str, Any]:
        return {"lr": self.lr, "total_steps": self.total_steps, "eta_min": self.eta_min}

