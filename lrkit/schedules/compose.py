"""Schedules made of schedules: one after another (:class:`Sequence`, a pure ``SequentialLR``) and
decayed by ``gamma**t`` (:class:`Decayed`, Smith's exp_range). ``schedule * c`` (:class:`~lrkit.schedules.base.Scaled`)
lives beside :class:`~lrkit.schedules.base.Schedule`, whose ``*`` returns it.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence as _SequenceABC
from typing import Any

import numpy as np

from .base import Schedule, from_config, positive, positive_ints

__all__ = ['Decayed', 'Sequence']


class Sequence(Schedule):
    """Run schedules one after another (a pure ``torch.optim.lr_scheduler.SequentialLR``).

    With milestones ``m_1 < ... < m_{n-1}`` (and ``m_0 = 0``), for ``m_k <= t < m_{k+1}``:
    ``lr(t) = schedules[k](t - m_k)`` — each schedule restarts its own clock at its milestone.
    A finite schedule (not the last) must cover its segment:
    ``total_steps >= m_{k+1} - m_k - 1``.  ``total_steps`` is ``m_{n-1} + last.total_steps``
    (``None`` if the last schedule is infinite).
    """

    def __init__(self, schedules: _SequenceABC[Schedule], milestones: _SequenceABC[int]) -> None:
        if isinstance(schedules, Schedule) or not isinstance(schedules, Iterable):
            raise ValueError(f"schedules must be a non-empty list of Schedule objects, got {schedules!r}")
        scheds = list(schedules)
        if not scheds or not all(isinstance(s, Schedule) for s in scheds):
            raise ValueError("schedules must be a non-empty list of Schedule objects")
        ms = positive_ints("milestones", milestones)
        if len(ms) != len(scheds) - 1:
            raise ValueError(
                f"milestones must have len(schedules) - 1 = {len(scheds) - 1} entries, got {len(ms)}"
            )
        if any(b <= a for a, b in zip(ms, ms[1:], strict=False)):
            raise ValueError(f"milestones must be strictly increasing, got {ms!r}")
        bounds = [0, *ms]
        for k, s in enumerate(scheds[:-1]):
            seg = bounds[k + 1] - bounds[k]
            if s.total_steps is not None and s.total_steps < seg - 1:
                raise ValueError(
                    f"milestones: schedule {k} has total_steps={s.total_steps} but its segment is {seg} steps"
                )
        self.schedules = scheds
        self.milestones = ms
        last = scheds[-1].total_steps
        self.total_steps = None if last is None else bounds[-1] + last

    def _value(self, t: np.ndarray) -> np.ndarray:
        bounds = [0, *self.milestones]
        k = np.searchsorted(np.asarray(self.milestones, dtype=np.float64), t, side="right")
        out = np.empty_like(t)
        for idx, s in enumerate(self.schedules):
            mask = k == idx
            if mask.any():
                out[mask] = s._eval(t[mask] - bounds[idx])
        return out

    def momentum_schedule(self) -> Sequence | None:
        """Sequence of the parts' momentum schedules if every part has one, else ``None``."""
        moms = [s.momentum_schedule() for s in self.schedules]
        if any(m is None for m in moms):
            return None
        return Sequence(moms, self.milestones)  # type: ignore[arg-type]

    def _params(self) -> dict[str, Any]:
        return {"schedules": [s.to_config() for s in self.schedules], "milestones": list(self.milestones)}

    @classmethod
    def _from_params(cls, params: dict[str, Any]) -> Schedule:
        return cls([from_config(c) for c in params["schedules"]], params["milestones"])


class Decayed(Schedule):
    """``lr(t) = gamma**t * schedule(t)``: every value of ``schedule`` shrinks by ``gamma`` per iteration.

    Smith 2017's exp_range (§3.1) is a triangle wave decayed so (:func:`exp_range`). ``gamma`` is in
    (0, 1]. The momentum schedule (if any) is the inner one, undecayed.
    """

    def __init__(self, schedule: Schedule, gamma: float) -> None:
        if not isinstance(schedule, Schedule):
            raise ValueError(f"schedule must be a Schedule, got {schedule!r}")
        self.gamma = positive("gamma", gamma)
        if self.gamma > 1:
            raise ValueError(f"gamma must be in (0, 1], got {gamma!r}")
        self.schedule = schedule
        self.total_steps = schedule.total_steps

    def _value(self, t: np.ndarray) -> np.ndarray:
        return np.power(self.gamma, t) * self.schedule._eval(t)

    def momentum_schedule(self) -> Schedule | None:
        return self.schedule.momentum_schedule()

    def _params(self) -> dict[str, Any]:
        return {"schedule": self.schedule.to_config(), "gamma": self.gamma}

    @classmethod
    def _from_params(cls, params: dict[str, Any]) -> Schedule:
        return cls(from_config(params["schedule"]), params["gamma"])
