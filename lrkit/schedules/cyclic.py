"""Cyclical learning rates, Smith 2017 "Cyclical Learning Rates for Training Neural Networks" §3.1: the
triangle wave (:class:`Cyclic`), its inverse momentum, and the paper's three policies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .base import Schedule, fn_to_ref, nonneg, positive, ref_to_fn
from .compose import Decayed

__all__ = ['Cyclic', 'CyclicMomentum', 'exp_range', 'exp_range_keras', 'triangular', 'triangular2']


_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")
_SCALE_MODES = ("cycle", "iterations")


class _CyclicWave:
    """Shared geometry of the CLR triangle wave (Smith 2017, §3.1)."""

    def _init_wave(
        self,
        step_size_up: float,
        step_size_down: float | None,
        mode: str,
        gamma: float,
        scale_fn: Callable[[Any], Any] | str | None,
        scale_mode: str,
    ) -> None:
        self.step_size_up = positive("step_size_up", step_size_up)
        self.step_size_down = None if step_size_down is None else positive("step_size_down", step_size_down)
        self.gamma = positive("gamma", gamma)
        if self.gamma > 1:
            raise ValueError(f"gamma must be in (0, 1], got {gamma!r}")
        if isinstance(scale_fn, str):
            self._scale_fn = ref_to_fn(scale_fn)
        elif scale_fn is not None and not callable(scale_fn):
            raise ValueError(
                f"scale_fn must be callable, a 'module:qualname' string or None, got {scale_fn!r}"
            )
        else:
            self._scale_fn = scale_fn
        self.scale_fn = scale_fn
        if scale_fn is None and mode not in _CYCLIC_MODES:
            raise ValueError(f"mode must be one of {_CYCLIC_MODES}, got {mode!r}")
        if scale_mode not in _SCALE_MODES:
            raise ValueError(f"scale_mode must be one of {_SCALE_MODES}, got {scale_mode!r}")
        self.mode = mode
        self.scale_mode = scale_mode
        down = self.step_size_up if self.step_size_down is None else self.step_size_down
        self._total_size = self.step_size_up + down
        self._step_ratio = self.step_size_up / self._total_size

    def _wave(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(scale_factor, amplitude_scale)`` exactly as torch's ``CyclicLR``."""
        cycle = np.floor(1 + t / self._total_size)
        x = 1.0 + t / self._total_size - cycle
        r = self._step_ratio
        with np.errstate(divide="ignore", invalid="ignore"):
            sf = np.where(x <= r, x / r, (x - 1) / (r - 1))
        if self._scale_fn is not None:
            arg = cycle if self.scale_mode == "cycle" else t
            try:
                scale = np.asarray(self._scale_fn(arg), dtype=np.float64)
                if scale.shape != arg.shape:
                    scale = np.broadcast_to(scale, arg.shape)
            except Exception:  # noqa: BLE001 - fall back to a scalar-only function
                scale = np.vectorize(lambda v: float(self._scale_fn(v)), otypes=[np.float64])(arg)
        elif self.mode == "triangular":
            scale = np.ones_like(t)
        elif self.mode == "triangular2":
            scale = 1 / np.power(2.0, cycle - 1)
        else:  # exp_range: scale by iterations
            scale = np.power(self.gamma, t)
        return sf, scale

    def _wave_params(self) -> dict[str, Any]:
        return {
            "step_size_up": self.step_size_up,
            "step_size_down": self.step_size_down,
            "mode": self.mode,
            "gamma": self.gamma,
            "scale_fn": fn_to_ref(self.scale_fn),
            "scale_mode": self.scale_mode,
        }


class Cyclic(_CyclicWave, Schedule):
    """Cyclical learning rate, Smith 2017 "Cyclical Learning Rates for Training Neural Networks", §3.1.

    With ``L = step_size_up + step_size_down`` and ``r = step_size_up / L``::

        cycle = floor(1 + t / L);  x = 1 + t / L - cycle            (position in cycle, [0, 1))
        f = x / r  if x <= r  else (x - 1) / (r - 1)                 (triangle, 0 -> 1 -> 0)
        lr(t) = base_lr + (max_lr - base_lr) * f * s

    ``s = 1`` ('triangular'), ``s = 1 / 2**(cycle - 1)`` ('triangular2'), ``s = gamma**t``
    ('exp_range'), or ``s = scale_fn(cycle | t)`` according to ``scale_mode`` when a custom
    ``scale_fn`` is given (then ``mode`` is ignored, as in torch).  ``scale_fn`` is called
    with a float64 ndarray; a scalar-only function is vectorised automatically, and it
    must be a module-level function for :meth:`to_config` / pickling.  Identical to
    ``torch.optim.lr_scheduler.CyclicLR`` (``last_epoch == t``).

    The inverse momentum schedule (torch's ``cycle_momentum``) is
    ``m(t) = max_momentum - (max_momentum - base_momentum) * f * s``, see :meth:`momentum_schedule`.
    """

    def __init__(
        self,
        base_lr: float,
        max_lr: float,
        step_size_up: float = 2000,
        step_size_down: float | None = None,
        mode: str = "triangular",
        gamma: float = 1.0,
        scale_fn: Callable[[Any], Any] | str | None = None,
        scale_mode: str = "cycle",
        base_momentum: float = 0.8,
        max_momentum: float = 0.9,
    ) -> None:
        self.base_lr = nonneg("base_lr", base_lr)
        self.max_lr = nonneg("max_lr", max_lr)
        if self.max_lr < self.base_lr:
            raise ValueError(f"max_lr={max_lr!r} must be >= base_lr={base_lr!r}")
        self.base_momentum = nonneg("base_momentum", base_momentum)
        self.max_momentum = nonneg("max_momentum", max_momentum)
        if self.max_momentum < self.base_momentum:
            raise ValueError(f"max_momentum={max_momentum!r} must be >= base_momentum={base_momentum!r}")
        self._init_wave(step_size_up, step_size_down, mode, gamma, scale_fn, scale_mode)

    def _value(self, t: np.ndarray) -> np.ndarray:
        sf, scale = self._wave(t)
        base_height = (self.max_lr - self.base_lr) * sf
        return self.base_lr + base_height * scale

    def momentum_schedule(self) -> CyclicMomentum:
        """Momentum cycled inversely: ``max_momentum`` at ``base_lr``, ``base_momentum`` at ``max_lr``."""
        return CyclicMomentum(
            self.base_momentum,
            self.max_momentum,
            self.step_size_up,
            self.step_size_down,
            self.mode,
            self.gamma,
            self.scale_fn,
            self.scale_mode,
        )

    def _params(self) -> dict[str, Any]:
        return {
            "base_lr": self.base_lr,
            "max_lr": self.max_lr,
            **self._wave_params(),
            "base_momentum": self.base_momentum,
            "max_momentum": self.max_momentum,
        }


class CyclicMomentum(_CyclicWave, Schedule):
    """CLR momentum, cycled inversely to :class:`Cyclic` (torch ``CyclicLR(cycle_momentum=True)``):

    ``m(t) = max_momentum - (max_momentum - base_momentum) * f(t) * s(t)`` with ``f, s`` as in
    :class:`Cyclic`.  Smith 2018, "A disciplined approach ... Part 1", §4.
    """

    def __init__(
        self,
        base_momentum: float,
        max_momentum: float,
        step_size_up: float = 2000,
        step_size_down: float | None = None,
        mode: str = "triangular",
        gamma: float = 1.0,
        scale_fn: Callable[[Any], Any] | str | None = None,
        scale_mode: str = "cycle",
    ) -> None:
        self.base_momentum = nonneg("base_momentum", base_momentum)
        self.max_momentum = nonneg("max_momentum", max_momentum)
        if self.max_momentum < self.base_momentum:
            raise ValueError(f"max_momentum={max_momentum!r} must be >= base_momentum={base_momentum!r}")
        self._init_wave(step_size_up, step_size_down, mode, gamma, scale_fn, scale_mode)

    def _value(self, t: np.ndarray) -> np.ndarray:
        sf, scale = self._wave(t)
        base_height = (self.max_momentum - self.base_momentum) * sf
        return self.max_momentum - base_height * scale

    def _params(self) -> dict[str, Any]:
        return {"base_momentum": self.base_momentum, "max_momentum": self.max_momentum, **self._wave_params()}


def triangular(
    base_lr: float, max_lr: float, step_size_up: float, step_size_down: float | None = None, **kwargs: Any
) -> Cyclic:
    """CLR 'triangular' policy (Smith 2017 §3.1): constant amplitude, ``s = 1``."""
    return Cyclic(base_lr, max_lr, step_size_up, step_size_down, mode="triangular", **kwargs)


def triangular2(
    base_lr: float, max_lr: float, step_size_up: float, step_size_down: float | None = None, **kwargs: Any
) -> Cyclic:
    """CLR 'triangular2' policy (Smith 2017 §3.1): amplitude halves each cycle, ``s = 2**-(cycle-1)``."""
    return Cyclic(base_lr, max_lr, step_size_up, step_size_down, mode="triangular2", **kwargs)


def exp_range(
    base_lr: float,
    max_lr: float,
    step_size_up: float,
    gamma: float,
    step_size_down: float | None = None,
) -> Decayed:
    """CLR 'exp_range' policy as Smith 2017 defines it (§3.1): "the learning rate varies between the
    minimum and maximum boundaries and each boundary value declines by an exponential factor of
    gamma^iteration", i.e. **both** bounds shrink::

        lr(t) = gamma**t * (base_lr + (max_lr - base_lr) * f(t))      (f: the triangle wave of Cyclic)

    §4.2.1 and §4.2.2 of the paper rely on it: exp_range's troughs follow the exp policy's LR.
    The form where only the amplitude decays (Keras' CLR, ``torch.optim.lr_scheduler.CyclicLR``) is
    :func:`exp_range_keras`.
    """
    return Decayed(triangular(base_lr, max_lr, step_size_up, step_size_down), gamma)


def exp_range_keras(
    base_lr: float,
    max_lr: float,
    step_size_up: float,
    gamma: float,
    step_size_down: float | None = None,
    **kwargs: Any,
) -> Cyclic:
    """CLR 'exp_range' as Keras' CLR callback (bckenstler/CLR) and ``torch.optim.lr_scheduler.CyclicLR``
    define it: only the amplitude decays, ``s = gamma**t``, and the lower bound stays at ``base_lr``::

        lr(t) = base_lr + (max_lr - base_lr) * f(t) * gamma**t

    Smith 2017's own definition (§3.1) decays both bounds: :func:`exp_range`.
    """
    return Cyclic(base_lr, max_lr, step_size_up, step_size_down, mode="exp_range", gamma=gamma, **kwargs)

