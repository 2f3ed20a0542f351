"""Torch glue: drive any optimizer per iteration from any :mod:`lrkit.schedules` schedule.

Usage (the one training loop, :func:`lrkit.training.fit`, does exactly this)::

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

import math
import warnings
import weakref
from collections.abc import Sequence as _SequenceABC
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from ..schedules import Schedule, from_config
from ..utils import check_float
from .self_tuning import LR_FREE, SCHEDULE_FREE, sets_own_lr

__all__ = ["ScheduledLR", "group_momentum", "momentum_key"]

_STATE_VERSION = 1


def _set_group_value(group: dict[str, Any], key: str, value: float) -> None:
    cur = group[key]
    if isinstance(cur, torch.Tensor):
        cur.fill_(value)
    else:
        group[key] = value


def momentum_key(group: dict[str, Any]) -> str | None:
    """``'betas'`` for the Adam family, ``'momentum'`` for SGD-like groups, else ``None``."""
    if "betas" in group:
        return "betas"
    if "momentum" in group:
        return "momentum"
    return None


def _set_momentum(group: dict[str, Any], value: float) -> None:
    key = momentum_key(group)
    if key == "momentum":
        _set_group_value(group, "momentum", value)
    elif key == "betas":
        betas = group["betas"]
        if isinstance(betas[0], torch.Tensor):
            betas[0].fill_(value)
        else:
            group["betas"] = (value, *tuple(betas)[1:])


def group_momentum(group: dict[str, Any]) -> float | None:
    """A param group's momentum: ``momentum`` (SGD-like) or ``betas[0]`` (the Adam family), else None."""
    key = momentum_key(group)
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


def _initial_lrs(groups: list[dict[str, Any]]) -> list[float]:
    """Every group's LR, checked: finite and >= 0 (a NaN here would poison every later LR)."""
    lrs = []
    for k, g in enumerate(groups):
        lr = g["lr"]
        try:
            value = math.nan if isinstance(lr, (bool, str)) else float(lr)
        except (TypeError, ValueError, RuntimeError):  # not a number (RuntimeError: a tensor of several values)
            value = math.nan
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"optimizer.param_groups[{k}]['lr'] must be a finite number >= 0, got {lr!r}")
        lrs.append(value)
    return lrs


def _per_group(name: str, value: Any, n: int, allow_none: bool) -> list[Any]:
    """``value`` (one Schedule, or a list with one per group) as a list of ``n`` entries."""
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


def _momentum_schedules(momentum: Any, schedules: list[Schedule]) -> list[Schedule | None]:
    """The momentum schedule of each group: ``None`` (none), ``'auto'`` (each LR schedule's own), a
    Schedule for all, or one per group."""
    if isinstance(momentum, str):
        if momentum != "auto":
            raise ValueError(f"momentum must be None, a Schedule, a list or 'auto', got {momentum!r}")
        moms = [s.momentum_schedule() for s in schedules]
        for k, m in enumerate(moms):
            if m is None:
                raise ValueError(f"momentum='auto' but the schedule of group {k} ({type(schedules[k]).__name__}) "
                                 "has no momentum schedule")
        return moms
    if momentum is None:
        return [None] * len(schedules)
    return _per_group("momentum", momentum, len(schedules), allow_none=True)


def _multipliers(multipliers: Any, init_lrs: list[float]) -> list[float]:
    """Each group's LR multiplier: 1 (``None``), its share of the largest LR (``'initial'``), or given."""
    n = len(init_lrs)
    if multipliers is None:
        return [1.0] * n
    if isinstance(multipliers, str):
        if multipliers != "initial":
            raise ValueError(f"multipliers must be None, 'initial' or a list of floats, got {multipliers!r}")
        top = max(init_lrs)
        if top <= 0:
            raise ValueError("multipliers='initial' needs at least one group with lr > 0")
        return [lr / top for lr in init_lrs]
    if isinstance(multipliers, bytes) or not hasattr(multipliers, "__len__"):
        raise ValueError(f"multipliers must be None, 'initial' or a list of floats, got {multipliers!r}")
    mults = [check_float(f"multipliers[{k}]", m, min=0.0) for k, m in enumerate(multipliers)]
    if len(mults) != n:
        raise ValueError(f"multipliers must have one entry per param group ({n}), got {len(mults)}")
    return mults


class ScheduledLR(LRScheduler):
    """A ``torch.optim.lr_scheduler.LRScheduler`` that sets per-iteration LRs (and
    optionally momentum) from pure :class:`lrkit.schedules.Schedule` objects.

    For parameter group ``g`` and ``t`` = number of real optimizer steps so far::

        group_g["lr"]       = schedule_g(t) * multiplier_g
        group_g[momentum]   = momentum_g(t)        (momentum or betas[0])

    Args:
        optimizer: any torch optimizer (its groups' LRs must be finite and >= 0).
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
        warn_own_lr: warn (once, here) when the optimizer sets its own LR
            (:func:`~lrkit.training.self_tuning.sets_own_lr`): ``group["lr"]`` is written all the same,
            but it means something else there (:mod:`lrkit.training.self_tuning`). A caller that has
            said so already — the range test — passes False.

    Attributes:
        t: number of optimizer steps counted so far (the iteration index of the
            next optimizer step).
        last_epoch: the ``t`` the current LRs were computed for.

    Example:
        >>> import torch
        >>> from lrkit.schedules import Cosine
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        >>> sched = ScheduledLR(opt, Cosine(0.1, total_steps=4))
        >>> for _ in range(2):
        ...     opt.step()                     # (after backward)
        ...     sched.step()                   # the LR of the next step: Cosine(t)
        >>> sched.t, round(opt.param_groups[0]["lr"], 4)
        (2, 0.05)
    """

    def __init__(
        self,
        optimizer: Optimizer,
        schedule: Schedule | _SequenceABC[Schedule],
        momentum: Schedule | _SequenceABC[Schedule | None] | str | None = None,
        multipliers: _SequenceABC[float] | str | None = None,
        *,
        warn_own_lr: bool = True,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        groups = optimizer.param_groups
        init_lrs = _initial_lrs(groups)
        self.schedules: list[Schedule] = _per_group("schedule", schedule, len(groups), allow_none=False)
        self.momentum_schedules: list[Schedule | None] = _momentum_schedules(momentum, self.schedules)
        if any(m is not None for m in self.momentum_schedules) and all(momentum_key(g) is None for g in groups):
            warnings.warn(
                f"momentum: {type(optimizer).__name__} has neither 'momentum' nor 'betas'; "
                "the momentum schedule is ignored",
                UserWarning,
                stacklevel=2,
            )
        self.multipliers: list[float] = _multipliers(multipliers, init_lrs)
        if warn_own_lr:
            _warn_own_lr(optimizer, any(m is not None for m in self.momentum_schedules))
        self._count = 0
        self_ref = weakref.ref(self)

        def _count_step(opt: Optimizer, args: Any, kwargs: Any) -> None:
            sched = self_ref()
            if sched is not None:
                sched._count += 1

        self._hook_handle = optimizer.register_step_post_hook(_count_step)
        super().__init__(optimizer, last_epoch=-1)

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
            if ms is not None and momentum_key(group) is not None:
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
        return [group_momentum(g) for g in self.optimizer.param_groups]

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
        ``last_epoch`` to the optimizer, so training continues exactly where it stopped.

        A state that is not one :meth:`state_dict` wrote — not a dict, empty, another version, missing
        entries, or another scheduler's (a torch ``LRScheduler``'s) — is a ``ValueError`` naming
        ``state_dict``, and nothing is changed."""
        _check_state(state_dict, len(self.optimizer.param_groups))
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


_STATE_KEYS = ("t", "last_epoch", "multipliers", "schedules", "momentum")


def _check_state(state: Any, n_groups: int) -> None:
    """``ValueError`` naming ``state_dict`` unless ``state`` is a ScheduledLR state for ``n_groups`` groups."""
    if not isinstance(state, dict) or not state:
        raise ValueError(f"state_dict must be a non-empty dict written by ScheduledLR.state_dict(), got {state!r}")
    if state.get("version") != _STATE_VERSION:
        raise ValueError(f"state_dict is not a ScheduledLR state (version {state.get('version')!r}, "
                         f"expected {_STATE_VERSION}; keys {sorted(map(str, state))})")
    missing = [k for k in _STATE_KEYS if k not in state]
    if missing:
        raise ValueError(f"state_dict lacks {missing}: not a complete ScheduledLR state")
    for key in ("schedules", "multipliers", "momentum"):
        if len(state[key]) != n_groups:
            raise ValueError(f"state_dict[{key!r}] has {len(state[key])} entries, optimizer has {n_groups} groups")
