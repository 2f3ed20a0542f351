"""Torch glue: drive any optimizer per iteration from any :mod:`lrkit.schedules` schedule.

Usage (the one training loop in :mod:`lrkit.train` does exactly this)::

    sched = ScheduledLR(optimizer, OneCycle(0.1, total_steps), momentum="auto")
    for batch in loader:
        ...
        scaler.step(optimizer)        # or optimizer.step(); may be skipped by AMP
        scaler.update()
        sched.step()                  # sets the LR for the *next* optimizer step
    torch.save({"sched": sched.state_dict(), ...}, path)

Semantics
---------
* ``sched.t`` is the number of optimizer steps that really happened since the
  scheduler was created (plus those restored by :meth:`ScheduledLR.load_state_dict`).
  It is counted by an ``optimizer.register_step_post_hook`` hook, so a step skipped
  by an AMP ``GradScaler`` (which does not call ``optimizer.step()`` when gradients
  contain inf/NaN, pytorch#44511) does not advance the schedule.
* :meth:`ScheduledLR.step` sets every group's LR to ``schedule(t) * multiplier``
  for the current count ``t``; calling it twice without an optimizer step in
  between changes nothing.  (Stepping only the scheduler therefore does not move
  along the schedule; use the pure schedule, e.g. ``schedule(np.arange(n))`` or
  :func:`lrkit.plot.plot_schedule`, to look at the curve.)
* Construction sets the LR for ``t = 0`` without counting a step, so the first
  optimizer step uses ``schedule(0)`` (no double step at the start, pytorch#23480),
  and never emits torch's "lr_scheduler.step() before optimizer.step()" warning.
* For a finite schedule, stepping the optimizer more than ``total_steps`` times
  makes :meth:`step` raise ``ValueError`` (like torch's ``OneCycleLR``).
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Sequence as _SequenceABC
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from .optim import LR_FREE, SCHEDULE_FREE, sets_own_lr
from .schedules import Schedule, from_config
from .utils import check_float

__all__ = ["ScheduledLR"]

_STATE_VERSION = 1


def _set_group_value(group: dict[str, Any], key: str, value: float) -> None:
    cur = group[key]
    if isinstance(cur, torch.Tensor):
        cur.fill_(value)
    else:
        group[key] = value


def _momentum_key(group: dict[str, Any]) -> str | None:
    """``'betas'`` for the Adam family, ``'momentum'`` for SGD-like groups, else ``None``."""
    if "betas" in group:
        return "betas"
    if "momentum" in group:
        return "momentum"
    return None


def _set_momentum(group: dict[str, Any], value: float) -> None:
    key = _momentum_key(group)
    if key == "momentum":
        _set_group_value(group, "momentum", value)
    elif key == "betas":
        betas = group["betas"]
        if isinstance(betas[0], torch.Tensor):
            betas[0].fill_(value)
        else:
            group["betas"] = (value, *tuple(betas)[1:])


def _get_momentum(group: dict[str, Any]) -> float | None:
    key = _momentum_key(group)
    if key == "momentum":
        return float(group["momentum"])
    if key == "betas":
        return float(group["betas"][0])
    return None


def _warn_own_lr(optimizer: Optimizer, momentum: bool) -> None:
    why = sets_own_lr(optimizer)
    if why is None:
        return
    name = type(optimizer).__name__
    what = {LR_FREE: "the multiplier of the step size it estimates (default 1.0), not the step size",
            SCHEDULE_FREE: "the base LR of its warmup and of the weights of its average (lr_max), not a "
                           "step size to decay"}[why]
    extra = ("; the momentum schedule also changes the β its train()/eval() switch interpolates with"
             if momentum and why == SCHEDULE_FREE else "")
    warnings.warn(f"ScheduledLR: {name} sets its own LR ({why}); the schedule still writes group['lr'], "
                  f"which for {name} is {what}{extra}", UserWarning, stacklevel=3)


class ScheduledLR(LRScheduler):
    """A ``torch.optim.lr_scheduler.LRScheduler`` that sets per-iteration LRs (and
    optionally momentum) from pure :class:`lrkit.schedules.Schedule` objects.

    For parameter group ``g`` and ``t`` = number of real optimizer steps so far::

        group_g["lr"]       = schedule_g(t) * multiplier_g
        group_g[momentum]   = momentum_g(t)        (momentum or betas[0])

    Args:
        optimizer: any torch optimizer.
        schedule: one :class:`Schedule` for all groups, or a list with one per group.
        momentum: ``None`` (leave momentum alone), a :class:`Schedule` or a list with
            one per group (``None`` entries leave that group alone), or ``'auto'``
            to use each schedule's own inverse momentum schedule
            (:meth:`Schedule.momentum_schedule`; ``ValueError`` if a schedule has none).
            It sets ``group["momentum"]`` for SGD-like groups (SGD, RMSprop, ...) and
            ``betas[0]`` for the Adam family; groups with neither (e.g. Adagrad) are
            left unchanged, and if *no* group has momentum a ``UserWarning`` is
            issued once at construction instead of crashing (pytorch#73910, #19003).
        multipliers: ``None`` -> 1.0 for every group; ``"initial"`` -> keep the
            groups' current LR ratios (discriminative LRs): ``lr_g / max_g lr_g``;
            or a list of floats, one per group.

    Optimizers that set their own LR (:func:`lrkit.optim.sets_own_lr`) are driven all
    the same — ``group["lr"]`` is written — but it means something else there, and a
    ``UserWarning`` says so once, at construction:

    * Prodigy / D-Adaptation (LR-free): ``lr`` multiplies the step size the optimizer
      estimates (default 1.0), so the schedule scales that estimate; it does not set
      the step size.
    * schedule-free: ``lr`` is the base LR of its built-in warmup (``warmup_steps``)
      and, through ``lr_max``, weights its average; a schedule on top is compatible
      but is not what the method needs. A momentum schedule would also change the
      β that ``optimizer.train()`` / ``eval()`` interpolate with.

    Attributes:
        t: number of optimizer steps counted so far (the iteration index of the
            next optimizer step).
        last_epoch: the ``t`` the current LRs were computed for.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        schedule: Schedule | _SequenceABC[Schedule],
        momentum: Schedule | _SequenceABC[Schedule | None] | str | None = None,
        multipliers: _SequenceABC[float] | str | None = None,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        groups = optimizer.param_groups
        n = len(groups)
        self.schedules: list[Schedule] = self._per_group("schedule", schedule, n, allow_none=False)  # type: ignore[assignment]
        if isinstance(momentum, str):
            if momentum != "auto":
                raise ValueError(f"momentum must be None, a Schedule, a list or 'auto', got {momentum!r}")
            moms = [s.momentum_schedule() for s in self.schedules]
            for k, m in enumerate(moms):
                if m is None:
                    raise ValueError(
                        f"momentum='auto' but the schedule of group {k} ({type(self.schedules[k]).__name__}) "
                        "has no momentum schedule"
                    )
            self.momentum_schedules: list[Schedule | None] = moms
        elif momentum is None:
            self.momentum_schedules = [None] * n
        else:
            self.momentum_schedules = self._per_group("momentum", momentum, n, allow_none=True)
        if any(m is not None for m in self.momentum_schedules) and all(
            _momentum_key(g) is None for g in groups
        ):
            warnings.warn(
                f"momentum: {type(optimizer).__name__} has neither 'momentum' nor 'betas'; "
                "the momentum schedule is ignored",
                UserWarning,
                stacklevel=2,
            )
        init_lrs = [float(g["lr"]) for g in groups]
        if multipliers is None:
            mults = [1.0] * n
        elif isinstance(multipliers, str):
            if multipliers != "initial":
                raise ValueError(
                    f"multipliers must be None, 'initial' or a list of floats, got {multipliers!r}"
                )
            top = max(init_lrs)
            if top <= 0:
                raise ValueError("multipliers='initial' needs at least one group with lr > 0")
            mults = [lr / top for lr in init_lrs]
        else:
            if isinstance(multipliers, (str, bytes)) or not hasattr(multipliers, "__len__"):
                raise ValueError(f"multipliers must be None, 'initial' or a list of floats, got {multipliers!r}")
            mults = [check_float(f"multipliers[{k}]", m, min=0.0) for k, m in enumerate(multipliers)]
            if len(mults) != n:
                raise ValueError(f"multipliers must have one entry per param group ({n}), got {len(mults)}")
        self.multipliers: list[float] = mults
        _warn_own_lr(optimizer, any(m is not None for m in self.momentum_schedules))
        self._count = 0
        self_ref = weakref.ref(self)

        def _count_step(opt: Optimizer, args: Any, kwargs: Any) -> None:
            sched = self_ref()
            if sched is not None:
                sched._count += 1

        self._hook_handle = optimizer.register_step_post_hook(_count_step)
        super().__init__(optimizer, last_epoch=-1)

    @staticmethod
    def _per_group(name: str, value: Any, n: int, allow_none: bool) -> list[Any]:
        if isinstance(value, Schedule):
            return [value] * n
        if isinstance(value, (list, tuple)):
            if len(value) != n:
                raise ValueError(f"{name} must have one entry per param group ({n}), got {len(value)}")
            for v in value:
                if not (isinstance(v, Schedule) or (allow_none and v is None)):
                    raise ValueError(f"{name} entries must be Schedule objects, got {v!r}")
            return list(value)
        raise ValueError(f"{name} must be a Schedule or a list of them, got {value!r}")

    # ------------------------------------------------------------------ stepping
    @property
    def t(self) -> int:
        """Number of optimizer steps counted so far (index of the next optimizer step)."""
        return self._count

    def _apply(self, t: int) -> None:
        lrs = [float(s(t)) * m for s, m in zip(self.schedules, self.multipliers, strict=False)]
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=False):
            _set_group_value(group, "lr", lr)
        for group, ms in zip(self.optimizer.param_groups, self.momentum_schedules, strict=False):
            if ms is not None and _momentum_key(group) is not None:
                _set_momentum(group, float(ms(t)))
        self.last_epoch = t
        self._last_lr = [
            g["lr"].clone() if isinstance(g["lr"], torch.Tensor) else g["lr"]
            for g in self.optimizer.param_groups
        ]

    def step(self, epoch: int | None = None) -> None:  # type: ignore[override]
        """Set the LRs (and momenta) for the next optimizer step from the real step count ``t``."""
        if epoch is not None:
            raise TypeError("ScheduledLR.step() takes no epoch; t counts real optimizer steps")
        self._step_count = getattr(self, "_step_count", 0) + 1
        self._apply(self._count)

    def get_lr(self) -> list[float]:
        """LRs for the current count ``t`` (what :meth:`step` would set)."""
        return [float(s(self._count)) * m for s, m in zip(self.schedules, self.multipliers, strict=False)]

    def get_last_momentum(self) -> list[float | None]:
        """Current momentum (or beta1) of each group, ``None`` for groups without one."""
        return [_get_momentum(g) for g in self.optimizer.param_groups]

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Plain-data state: step count, multipliers and schedule configs (picklable, torch.save-able)."""
        return {
            "version": _STATE_VERSION,
            "t": int(self._count),
            "last_epoch": int(self.last_epoch),
            "step_count": int(getattr(self, "_step_count", 0)),
            "multipliers": [float(m) for m in self.multipliers],
            "schedules": [s.to_config() for s in self.schedules],
            "momentum": [None if m is None else m.to_config() for m in self.momentum_schedules],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state saved by :meth:`state_dict` and re-apply the LRs/momenta for
        ``last_epoch`` to the optimizer, so training continues exactly where it stopped."""
        n = len(self.optimizer.param_groups)
        for key in ("schedules", "multipliers", "momentum"):
            if len(state_dict[key]) != n:
                raise ValueError(
                    f"state_dict[{key!r}] has {len(state_dict[key])} entries, optimizer has {n} groups"
                )
        self.schedules = [from_config(c) for c in state_dict["schedules"]]
        self.momentum_schedules = [None if c is None else from_config(c) for c in state_dict["momentum"]]
        self.multipliers = [float(m) for m in state_dict["multipliers"]]
        self._count = int(state_dict["t"])
        self._step_count = int(state_dict.get("step_count", 1))
        self._apply(int(state_dict["last_epoch"]))

    def close(self) -> None:
        """Remove the optimizer step hook (the scheduler stops counting)."""
        self._hook_handle.remove()

    def __repr__(self) -> str:
        return f"ScheduledLR(t={self._count}, schedules={self.schedules!r}, multipliers={self.multipliers!r})"
