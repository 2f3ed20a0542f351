"""Exact, in-memory save and restore of a training run's state: :class:`preserve_training_state`.

The range test is a short training run on the user's own model and optimizer; afterwards they must be
exactly as they were (torch-lr-finder's issue #11: state not restored). Nothing is written to disk:
the snapshot holds the parameters, buffers, gradients and train/eval flags, the optimizer's state
dict, step hooks and the attributes an LR scheduler patches onto it, the GradScaler's state and the
RNG states, and puts them back bit for bit — also when the block raises or is interrupted.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from ..utils import get_rng_state, set_rng_state

__all__ = ["preserve_training_state", "put_back", "scheduler_attached"]

_HOOK_ATTRS = ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks")
_PATCHED_ATTRS = ("step", "_opt_called")  # what torch's LRScheduler sets on the optimizer instance


def scheduler_attached(optimizer: torch.optim.Optimizer) -> bool:
    """True if a torch ``LRScheduler`` has been attached to ``optimizer``.

    A scheduler wraps ``optimizer.step`` (the wrapper carries ``_wrapped_by_lr_sched``) and sets
    ``initial_lr`` in every param group.
    """
    return bool(getattr(optimizer.step, "_wrapped_by_lr_sched", False)) or any(
        "initial_lr" in g for g in optimizer.param_groups)


def put_back(t: torch.Tensor, value: torch.Tensor) -> None:
    """Give ``t`` (the same tensor object) the values *and the layout* of ``value``.

    ``copy_`` alone keeps ``t``'s current strides: a model that ``fit`` moved to ``channels_last``
    (``model.to(memory_format=…)`` swaps each parameter's ``.data``) would keep that memory format, and
    later training and checkpoints with it. So when the strides differ, ``t`` gets a copy of ``value``
    as its data."""
    if t.stride() == value.stride():
        t.copy_(value)
    else:
        t.data = value.clone()


class preserve_training_state:
    """Context manager: on exit, put model, optimizer, scaler and RNGs back exactly as on entry.

    Restored bit for bit (whether the block finishes, raises or is interrupted): every parameter
    and buffer (same tensor objects, values and memory format put back by :func:`put_back`;
    parameters/buffers added or removed in the block are undone), every ``.grad``, every module's
    ``training`` flag, the optimizer's ``state_dict`` (momentum buffers, Adam moments and steps, all
    param-group hyper-parameters; keys added to groups — e.g. ``initial_lr`` — disappear), its step
    hooks and the instance attributes a torch LR scheduler patches in (``step``, ``_opt_called``), the scaler's
    attributes, and the python / numpy / torch / CUDA RNG states.

    With ``suspend_hooks=True`` the optimizer's own step pre/post hooks are removed inside the block
    (and put back on exit), so e.g. a :class:`~lrkit.training.ScheduledLR` does not count the
    sweep's steps. Global optimizer hooks are left alone.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                 scaler: Any = None, *, suspend_hooks: bool = False):
        self.model, self.optimizer, self.scaler = model, optimizer, scaler
        self.suspend_hooks = suspend_hooks

    def __enter__(self) -> preserve_training_state:
        self._modes = [(m, m.training) for m in self.model.modules()]
        self._containers = [(m, dict(m._parameters), dict(m._buffers)) for m in self.model.modules()]
        self._values: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] = {}
        with torch.no_grad():
            for _, params, buffers in self._containers:
                for t in list(params.values()) + list(buffers.values()):
                    if t is not None and id(t) not in self._values:
                        g = t.grad.detach().clone() if t.grad is not None else None
                        self._values[id(t)] = (t, t.detach().clone(), g)
        opt = self.optimizer
        if opt is not None:
            self._opt_state = copy.deepcopy(opt.state_dict())
            self._opt_attrs = {k: opt.__dict__[k] for k in _PATCHED_ATTRS if k in opt.__dict__}
            self._hooks = {a: dict(getattr(opt, a)) for a in _HOOK_ATTRS if hasattr(opt, a)}
            if self.suspend_hooks:
                for a in self._hooks:
                    getattr(opt, a).clear()
        if self.scaler is not None:
            self._scaler_dict = copy.deepcopy(self.scaler.__dict__)
        self._rng = get_rng_state()
        return self

    def restore(self) -> None:
        with torch.no_grad():
            for m, params, buffers in self._containers:
                m._parameters.clear()
                m._parameters.update(params)
                m._buffers.clear()
                m._buffers.update(buffers)
            for t, value, grad in self._values.values():
                put_back(t, value)
                t.grad = grad.clone() if grad is not None else None
        for m, mode in self._modes:
            m.training = mode
        opt = self.optimizer
        if opt is not None:
            opt.load_state_dict(copy.deepcopy(self._opt_state))
            for k in _PATCHED_ATTRS:
                if k in self._opt_attrs:
                    opt.__dict__[k] = self._opt_attrs[k]
                else:
                    opt.__dict__.pop(k, None)
            for a, hooks in self._hooks.items():
                d = getattr(opt, a)
                d.clear()
                d.update(hooks)
        if self.scaler is not None:
            self.scaler.__dict__.clear()
            self.scaler.__dict__.update(copy.deepcopy(self._scaler_dict))
        set_rng_state(self._rng)

    def __exit__(self, *exc) -> bool:
        self.restore()
        return False
