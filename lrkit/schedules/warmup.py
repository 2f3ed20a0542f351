"""Warm-ups in front of a schedule (Goyal et al. 2017 §2.2), and warmup-stable-decay (WSD), the
anytime schedule of MiniCPM (Hu et al. 2024) and Hägele et al. 2024.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .base import Schedule, from_config, nonneg, positive, positive_int, real
from .classic import Constant

__all__ = ['ExponentialWarmup', 'LinearWarmup', 'WSD', 'warmup']


class _Warmup(Schedule):
    """Shared frame of :class:`LinearWarmup` and :class:`ExponentialWarmup`: a ramp of
    W = ``warmup_steps`` iterations from ``warmup_start`` to the target value in front of a
    schedule S.  Subclasses define :meth:`_ramp` (the values for ``t < W``)."""

    def __init__(
        self, schedule: Schedule, warmup_steps: int, warmup_start: float = 0.0, prefix: bool = False
    ) -> None:
        if not isinstance(schedule, Schedule):
            raise ValueError(f"schedule must be a Schedule, got {schedule!r}")
        self.schedule = schedule
        self.warmup_steps = positive_int("warmup_steps", warmup_steps, allow_zero=True)
        self.warmup_start = self._check_start(warmup_start)
        self.prefix = bool(prefix)
        inner_total = schedule.total_steps
        if inner_total is None:
            self.total_steps = None
        elif self.prefix:
            self.total_steps = inner_total + self.warmup_steps
        else:
            if self.warmup_steps > inner_total:
                raise ValueError(
                    f"warmup_steps={self.warmup_steps} exceeds the schedule's total_steps={inner_total}"
                )
            self.total_steps = inner_total
        with np.errstate(over="ignore", invalid="ignore"):
            target = float(schedule._eval(np.asarray(0.0 if self.prefix else float(self.warmup_steps))))
        if not math.isfinite(target):
            raise ValueError(f"schedule {schedule!r} has a non-finite warm-up target value {target!r}")
        self._target = target

    @staticmethod
    def _check_start(value: Any) -> float:
        return nonneg("warmup_start", value)

    def _ramp(self, t: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _value(self, t: np.ndarray) -> np.ndarray:
        w = self.warmup_steps
        out = np.empty_like(t)
        warm = t < w
        if w:
            out[warm] = self._ramp(t[warm])
        rest = ~warm
        out[rest] = self.schedule._eval(t[rest] - w if self.prefix else t[rest])
        return out

    def _params(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule.to_config(),
            "warmup_steps": self.warmup_steps,
            "warmup_start": self.warmup_start,
            "prefix": self.prefix,
        }

    @classmethod
    def _from_params(cls, params: dict[str, Any]) -> Schedule:
        params = dict(params)
        params["schedule"] = from_config(params["schedule"])
        return cls(**params)


class LinearWarmup(_Warmup):
    """Linear warm-up of length W = ``warmup_steps`` in front of another schedule S.

    ``prefix=False`` (default, like timm's ``warmup_prefix=False``): for ``t < W``
    ``lr(t) = warmup_start + (S(W) - warmup_start) * t / W`` and ``lr(t) = S(t)`` after.
    ``prefix=True``: S starts after the warm-up, ``lr(t) = S(t - W)`` for ``t >= W``,
    and the warm-up ramps to ``S(0)``; ``total_steps`` grows by W.
    Goyal et al. 2017, "Accurate, Large Minibatch SGD", §2.2 (gradual warmup).
    With ``prefix=True`` this equals torch's
    ``SequentialLR([LinearLR(start_factor=warmup_start / S(0), total_iters=W), <S>], milestones=[W])``.
    """

    def _ramp(self, t: np.ndarray) -> np.ndarray:
        w = self.warmup_steps
        return self.warmup_start + (self._target - self.warmup_start) * t / w


class ExponentialWarmup(_Warmup):
    """Exponential (geometric) warm-up of length W = ``warmup_steps`` in front of a schedule S.

    The target is as in :class:`LinearWarmup`: ``S(W)`` (``prefix=False``) or ``S(0)``
    (``prefix=True``, S then starts after the warm-up and ``total_steps`` grows by W).
    For ``t < W``::

        lr(t) = warmup_start * (target / warmup_start) ** (t / W)

    i.e. the LR is multiplied by ``gamma = (target / warmup_start) ** (1 / W)`` every step
    (torch's ``ExponentialLR(gamma)`` started at ``warmup_start``) and reaches the target at
    ``t = W``; afterwards ``lr(t) = S(t)`` (or ``S(t - W)`` with ``prefix=True``).
    ``warmup_start`` and the target must be ``> 0`` (a geometric ramp cannot start or end at 0).
    """

    def __init__(
        self, schedule: Schedule, warmup_steps: int, warmup_start: float, prefix: bool = False
    ) -> None:
        super().__init__(schedule, warmup_steps, warmup_start, prefix)
        if self.warmup_steps and self._target <= 0:
            raise ValueError(
                f"schedule: the warm-up target value must be > 0 for an exponential warm-up, "
                f"got {self._target!r} from {schedule!r}"
            )

    @staticmethod
    def _check_start(value: Any) -> float:
        return positive("warmup_start", value)

    def _ramp(self, t: np.ndarray) -> np.ndarray:
        return self.warmup_start * np.power(self._target / self.warmup_start, t / self.warmup_steps)


_WARMUP_KINDS = ("linear", "exponential")


def warmup(
    schedule: Schedule, steps: int, kind: str = "linear", start: float | None = None, prefix: bool = False
) -> LinearWarmup | ExponentialWarmup:
    """Put a warm-up of ``steps`` iterations in front of ``schedule``.

    ``kind="linear"`` -> :class:`LinearWarmup` (Goyal et al. 2017 §2.2; ``start`` defaults to 0),
    ``kind="exponential"`` -> :class:`ExponentialWarmup` (``start > 0`` is required).  ``prefix``
    as in those classes (``True``: the schedule starts after the warm-up).
    """
    if kind not in _WARMUP_KINDS:
        raise ValueError(f"kind must be one of {_WARMUP_KINDS}, got {kind!r}")
    if kind == "linear":
        return LinearWarmup(schedule, steps, 0.0 if start is None else nonneg("start", start), prefix=prefix)
    if start is None:
        raise ValueError("start must be given (> 0) for kind='exponential'")
    return ExponentialWarmup(schedule, steps, positive("start", start), prefix=prefix)


# --------------------------------------------------------------------------- WSD
_COOLDOWNS = ("linear", "cosine", "1-sqrt")


class WSD(Schedule):
    """Warmup-stable-decay (WSD): linear warm-up, a long constant phase, a short cooldown.

    MiniCPM (Hu et al. 2024, arXiv 2404.06395, §4) and Hägele et al. 2024 "Scaling Laws and
    Compute-Optimal Training Beyond Fixed Training Durations" (arXiv 2405.18392, §3: a
    constant LR plus a short cooldown matches cosine; the 1-sqrt shape is best, ~20 % cooldown).
    With ``T = total_steps``, ``W = warmup_steps``, ``C = cooldown_steps`` and the cooldown
    start ``D = T - C``::

        lr(t) = warmup_start + (lr - warmup_start) * t / W      t < W        (warm-up)
        lr(t) = lr                                              W <= t < D   (stable)
        lr(t) = end + (lr - end) * f(s),  s = (t - D) / C       D <= t <= T  (cooldown)

    with ``f(s) = 1 - s`` ("linear"), ``0.5 * (1 + cos(pi * s))`` ("cosine") or
    ``1 - sqrt(s)`` ("1-sqrt"), so ``lr(D) = lr`` and ``lr(T) = end``.  Give exactly one of
    ``cooldown_steps`` and ``cooldown_frac`` (then ``C = floor(cooldown_frac * T + 0.5)``);
    ``W + C <= T`` is required.  With ``warmup_start = end = r * lr`` this equals
    ``transformers.get_wsd_schedule(..., min_lr_ratio=r)``.

    WSD is an *anytime* schedule: one run at the constant LR (:meth:`stable_run`) and short
    cooldowns branched off its checkpoints (:meth:`branch`) give a finished model at any
    chosen length, each equal to the WSD schedule of that length.
    """

    def __init__(
        self,
        lr: float,
        total_steps: int,
        warmup_steps: int = 0,
        cooldown_steps: int | None = None,
        cooldown: str = "linear",
        warmup_start: float = 0.0,
        end: float = 0.0,
        cooldown_frac: float | None = None,
    ) -> None:
        self.lr = positive("lr", lr)
        self.total_steps = positive_int("total_steps", total_steps)
        self.warmup_steps = positive_int("warmup_steps", warmup_steps, allow_zero=True)
        if (cooldown_steps is None) == (cooldown_frac is None):
            raise ValueError(
                "give exactly one of cooldown_steps and cooldown_frac, "
                f"got cooldown_steps={cooldown_steps!r}, cooldown_frac={cooldown_frac!r}"
            )
        if cooldown_frac is not None:
            self.cooldown_frac: float | None = real("cooldown_frac", cooldown_frac)
            if not 0 < self.cooldown_frac <= 1:
                raise ValueError(f"cooldown_frac must be in (0, 1], got {cooldown_frac!r}")
            steps = math.floor(self.cooldown_frac * self.total_steps + 0.5)
            if steps < 1:
                raise ValueError(
                    f"cooldown_frac={cooldown_frac!r} * total_steps={self.total_steps} gives no cooldown step"
                )
            self.cooldown_steps = steps
        else:
            self.cooldown_frac = None
            self.cooldown_steps = positive_int("cooldown_steps", cooldown_steps)
        if self.warmup_steps + self.cooldown_steps > self.total_steps:
            which = "cooldown_steps" if cooldown_frac is None else "cooldown_frac"
            raise ValueError(
                f"warmup_steps={self.warmup_steps} + cooldown ({which}: {self.cooldown_steps} steps) "
                f"must be <= total_steps={self.total_steps}"
            )
        if cooldown not in _COOLDOWNS:
            raise ValueError(f"cooldown must be one of {_COOLDOWNS}, got {cooldown!r}")
        self.cooldown = cooldown
        self.warmup_start = nonneg("warmup_start", warmup_start)
        self.end = nonneg("end", end)
        if self.end > self.lr:
            raise ValueError(f"end={end!r} must be <= lr={lr!r}")

    @property
    def decay_start(self) -> int:
        """First iteration of the cooldown, ``D = total_steps - cooldown_steps``."""
        return self.total_steps - self.cooldown_steps

    def _shape(self, s: np.ndarray) -> np.ndarray:
        if self.cooldown == "linear":
            return 1.0 - s
        if self.cooldown == "cosine":
            return 0.5 * (1.0 + np.cos(math.pi * s))
        return 1.0 - np.sqrt(s)

    def _value(self, t: np.ndarray) -> np.ndarray:
        w, d, c = self.warmup_steps, self.decay_start, self.cooldown_steps
        out = np.full_like(t, self.lr)
        if w:
            warm = t < w
            out[warm] = self.warmup_start + (self.lr - self.warmup_start) * t[warm] / w
        cool = t > d  # at t == d (s = 0) the value is exactly lr, as in the stable phase
        s = (t[cool] - d) / c
        out[cool] = self.end + (self.lr - self.end) * self._shape(s)
        return out

    def branch(self, decay_start: int) -> WSD:
        """The cooldown branch started at iteration ``decay_start`` of the same constant-LR run.

        Same warm-up, stable LR, cooldown length and shape and ``end``; its
        ``total_steps = decay_start + cooldown_steps``.  It equals :meth:`stable_run` (and
        this schedule, if ``decay_start <= self.decay_start``) for ``t <= decay_start`` —
        so it can be trained from that checkpoint of the constant run.
        ``decay_start`` must be ``>= warmup_steps``.
        """
        d = positive_int("decay_start", decay_start, allow_zero=True)
        if d < self.warmup_steps:
            raise ValueError(f"decay_start={decay_start!r} must be >= warmup_steps={self.warmup_steps}")
        return WSD(
            self.lr,
            d + self.cooldown_steps,
            warmup_steps=self.warmup_steps,
            cooldown_steps=self.cooldown_steps,
            cooldown=self.cooldown,
            warmup_start=self.warmup_start,
            end=self.end,
        )

    def stable_run(self) -> LinearWarmup:
        """The shared trunk without cooldown: the warm-up then ``lr`` forever (an infinite schedule)."""
        return LinearWarmup(Constant(self.lr), self.warmup_steps, self.warmup_start)

    def _params(self) -> dict[str, Any]:
        cool: dict[str, Any] = (
            {"cooldown_steps": self.cooldown_steps}
            if self.cooldown_frac is None
            else {"cooldown_frac": self.cooldown_frac}
        )
        return {
            "lr": self.lr,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            **cool,
            "cooldown": self.cooldown,
            "warmup_start": self.warmup_start,
            "end": self.end,
        }

