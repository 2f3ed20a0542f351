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
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import math
from collections.abc import Callable, Iterable
from collections.abc import Sequence as _SequenceABC
from typing import Any, ClassVar

import numpy as np

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

_REGISTRY: dict[str, type[Schedule]] = {}
#: the package whose schedules get short config names (``"OneCycle"``, not ``"module:OneCycle"``)
PACKAGE = "lrkit.schedules"
#: modules that moved: a stored ``"module:qualname"`` reference (a schedule defined outside this package,
#: a CLR ``scale_fn``) written under the old module path is looked up under the new one
MOVED_MODULES: dict[str, str] = {}


def _in_package(module: str) -> bool:
    return module == PACKAGE or module.startswith(PACKAGE + ".")


def import_ref(ref: str) -> Any:
    """The object a ``"module:qualname"`` reference names (:data:`MOVED_MODULES` followed for an old
    module path). ``ImportError`` / ``AttributeError`` as ``importlib`` and ``getattr`` raise them."""
    mod, qual = ref.split(":", 1)
    try:
        obj: Any = importlib.import_module(mod)
    except ImportError:
        if mod not in MOVED_MODULES:
            raise
        obj = importlib.import_module(MOVED_MODULES[mod])
    for part in qual.split("."):
        obj = getattr(obj, part)
    return obj


# --------------------------------------------------------------------------- helpers
def _num(name: str, value: Any) -> float:
    """Return ``value`` as a finite float or raise ValueError naming ``name``."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return out


def _nonneg(name: str, value: Any) -> float:
    out = _num(name, value)
    if out < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return out


def _pos(name: str, value: Any) -> float:
    out = _num(name, value)
    if out <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return out


def _pos_int(name: str, value: Any, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return value


def _pos_int_list(name: str, value: Any) -> list[int]:
    """``value`` as a list of positive integers or ValueError naming ``name`` (also if not iterable)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValueError(f"{name} must be a sequence of positive integers, got {value!r}")
    try:
        items = list(value)
    except TypeError:  # e.g. a 0-d numpy array
        raise ValueError(f"{name} must be a sequence of positive integers, got {value!r}") from None
    return [_pos_int(name, m) for m in items]


def _as_t(t: Any, total_steps: int | None) -> tuple[np.ndarray, bool]:
    """Validate ``t`` and return it as a float64 array plus a "was scalar" flag."""
    arr = np.asarray(t)
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise ValueError(f"t must be a real number or an array of them, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.size:
        if not np.all(np.isfinite(arr)):
            raise ValueError("t must be finite")
        if arr.min() < 0:
            raise ValueError(f"t must be >= 0, got {arr.min()!r}")
        if total_steps is not None and arr.max() > total_steps:
            raise ValueError(
                f"t must be <= total_steps={total_steps} for this finite schedule, got {arr.max()!r}"
            )
    return arr, arr.ndim == 0


def _fn_to_ref(fn: Callable[..., Any] | str | None) -> str | None:
    """Describe a module-level function as ``"module:qualname"`` (JSON-able)."""
    if fn is None or isinstance(fn, str):
        return fn
    mod, qual = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
    if not mod or not qual or "<" in qual:
        raise TypeError(
            f"scale_fn {fn!r} is not a module-level function and cannot be serialised; "
            "use a named function defined at module level"
        )
    return f"{mod}:{qual}"


def _ref_to_fn(ref: str) -> Callable[..., Any]:
    if ":" not in ref:
        raise ValueError(f"scale_fn reference must look like 'module:qualname', got {ref!r}")
    obj = import_ref(ref)
    if not callable(obj):
        raise ValueError(f"scale_fn reference {ref!r} is not callable")
    return obj


# --------------------------------------------------------------------------- base
class Schedule:
    """Base class: a pure function ``t -> lr`` of the iteration ``t``.

    Subclasses implement :meth:`_value` (vectorised over a float64 array of valid
    ``t``) and :meth:`_params` (the JSON-able constructor arguments).
    """

    total_steps: int | None = None
    config_name: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        ours = _in_package(cls.__module__)
        if ours and cls.__name__.startswith("_"):  # private bases: not configurable
            return
        if "config_name" not in cls.__dict__:
            # a schedule of lrkit.schedules (any of its modules) is stored by its class name alone, so
            # the stored configs — and the benchmark results' hashes — do not depend on the file it is in
            cls.config_name = cls.__name__ if ours else f"{cls.__module__}:{cls.__qualname__}"
        _REGISTRY[cls.config_name] = cls

    # -- evaluation ---------------------------------------------------------------
    def __call__(self, t: Any) -> float | np.ndarray:
        """Value at iteration ``t`` (scalar -> float, array-like -> float64 ndarray).

        Raises ``ValueError`` naming the schedule and the first offending ``t`` if a value
        is not finite (an overflow such as ``Exponential(0.1, 10.0)(400)``): an inf/NaN
        learning rate is never handed out silently.
        """
        arr, scalar = _as_t(t, self.total_steps)
        with np.errstate(over="ignore", invalid="ignore"):
            out = self._eval(arr)
        bad = ~np.isfinite(out)
        if bad.any():
            k = int(np.flatnonzero(bad.ravel())[0])
            t_bad, v_bad = float(arr.ravel()[k]), float(out.ravel()[k])
            raise ValueError(
                f"schedule {type(self).__name__} gives a non-finite value {v_bad!r} at t={t_bad!r} "
                f"(overflow or invalid arithmetic): {self!r}"
            )
        return float(out) if scalar else out

    def _eval(self, t: np.ndarray) -> np.ndarray:
        out = np.asarray(self._value(t), dtype=np.float64)
        if out.shape != t.shape:
            out = np.broadcast_to(out, t.shape)
        return np.array(out, dtype=np.float64, copy=True)

    def _value(self, t: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def momentum_schedule(self) -> Schedule | None:
        """The momentum schedule cycled inversely to this LR schedule, or ``None``."""
        return None

    # -- serialisation --------------------------------------------------------------
    def _params(self) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement _params() to support to_config()")

    @classmethod
    def _from_params(cls, params: dict[str, Any]) -> Schedule:
        return cls(**params)

    def to_config(self) -> dict[str, Any]:
        """A plain JSON-able dict ``{"name": <class>, **constructor_params}``."""
        return {"name": self.config_name, **self._params()}

    # -- algebra / display ----------------------------------------------------------
    def __mul__(self, factor: float) -> Scaled:
        """``schedule * c`` -> :class:`Scaled` ``(schedule, c)``: ``lr(t) = c * schedule(t)``."""
        if isinstance(factor, Schedule):
            return NotImplemented
        return Scaled(self, factor)

    __rmul__ = __mul__

    def __repr__(self) -> str:
        try:
            params = self._params()
        except Exception:  # noqa: BLE001 - repr must not fail
            return f"{type(self).__name__}()"
        inner = ", ".join(f"{k}={v!r}" for k, v in params.items())
        return f"{type(self).__name__}({inner})"


def _check_config_keys(cls: type[Schedule], name: str, params: dict[str, Any]) -> None:
    """ValueError naming the schedule and the keys if ``params`` do not fit ``cls.__init__``."""
    try:
        sig = inspect.signature(cls.__init__)
    except (TypeError, ValueError):  # pragma: no cover - builtin/odd __init__: let the call decide
        return
    ps = [p for p in list(sig.parameters.values())[1:] if p.kind not in (p.VAR_POSITIONAL,)]
    if any(p.kind is p.VAR_KEYWORD for p in ps):
        accepted = None
    else:
        accepted = {p.name for p in ps if p.kind is not p.POSITIONAL_ONLY}
    if accepted is not None:
        unknown = sorted(k for k in params if k not in accepted)
        if unknown:
            raise ValueError(
                f"config for schedule {name!r} has unknown key(s) {unknown}; "
                f"{cls.__name__} accepts {sorted(accepted)}"
            )
    missing = [
        p.name
        for p in ps
        if p.default is p.empty and p.kind not in (p.VAR_KEYWORD,) and p.name not in params
    ]
    if missing:
        raise ValueError(f"config for schedule {name!r} is missing required key(s) {missing}")


def from_config(config: dict[str, Any]) -> Schedule:
    """Rebuild a schedule from :meth:`Schedule.to_config` output.

    ``config["name"]`` is a class name of this module (e.g. ``"OneCycle"``) or
    ``"module:qualname"`` for a :class:`Schedule` subclass defined elsewhere.  Every
    failure is a ``ValueError`` naming the config name: an unknown name (with a
    "did you mean ...?" hint from :func:`difflib.get_close_matches`), a module or
    attribute that cannot be imported, an unknown or missing constructor key.
    """
    if not isinstance(config, dict) or "name" not in config:
        raise ValueError(f"config must be a dict with a 'name' key, got {config!r}")
    params = dict(config)
    name = params.pop("name")
    if not isinstance(name, str):
        raise ValueError(f"config name must be a string, got {name!r}")
    cls: Any = _REGISTRY.get(name)
    if cls is None and ":" in name:
        mod, qual = name.split(":", 1)
        try:
            cls = import_ref(name)
        except ImportError as exc:
            raise ValueError(f"config name {name!r}: cannot import module {mod!r} ({exc})") from None
        except AttributeError:
            raise ValueError(f"config name {name!r}: {mod!r} has no attribute {qual!r}") from None
    if cls is None:
        known = sorted(k for k in _REGISTRY if ":" not in k)
        close = difflib.get_close_matches(name, known, n=1) or difflib.get_close_matches(
            name.lower(), [k.lower() for k in known], n=1
        )
        hint = ""
        if close:
            match = next(k for k in known if k.lower() == close[0].lower())
            hint = f"; did you mean {match!r}?"
        raise ValueError(f"config name {name!r} is not a known schedule{hint}")
    if not (isinstance(cls, type) and issubclass(cls, Schedule)):
        raise ValueError(f"config name {name!r} does not name a Schedule subclass (got {cls!r})")
    _check_config_keys(cls, name, params)
    try:
        return cls._from_params(params)
    except TypeError as exc:  # a wrongly typed value that the constructor did not validate
        raise ValueError(f"config for schedule {name!r} is invalid: {exc}") from None


# --------------------------------------------------------------------------- simple
class Constant(Schedule):
    """``lr(t) = lr`` for every ``t``."""

    def __init__(self, lr: float) -> None:
        self.lr = _nonneg("lr", lr)

    def _value(self, t: np.ndarray) -> np.ndarray:
        return np.full_like(t, self.lr)

    def _params(self) -> dict[str, Any]:
        return {"lr": self.lr}


class Step(Schedule):
    """Step decay: ``lr(t) = lr * gamma ** floor(t / step_size)`` (torch ``StepLR`` per iteration)."""

    def __init__(self, lr: float, step_size: int, gamma: float = 0.1) -> None:
        self.lr = _nonneg("lr", lr)
        self.step_size = _pos_int("step_size", step_size)
        self.gamma = _pos("gamma", gamma)

    def _value(self, t: np.ndarray) -> np.ndarray:
        return self.lr * np.power(self.gamma, np.floor(t / self.step_size))

    def _params(self) -> dict[str, Any]:
        return {"lr": self.lr, "step_size": self.step_size, "gamma": self.gamma}


class MultiStep(Schedule):
    """``lr(t) = lr * gamma ** #{m in milestones : m <= t}`` (torch ``MultiStepLR`` per iteration)."""

    def __init__(self, lr: float, milestones: _SequenceABC[int], gamma: float = 0.1) -> None:
        self.lr = _nonneg("lr", lr)
        ms = _pos_int_list("milestones", milestones)
        if any(b <= a for a, b in zip(ms, ms[1:], strict=False)):
            raise ValueError(f"milestones must be strictly increasing, got {ms!r}")
        self.milestones = ms
        self.gamma = _pos("gamma", gamma)

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
        self.lr = _nonneg("lr", lr)
        self.gamma = _pos("gamma", gamma)
        self.total_steps = None if total_steps is None else _pos_int("total_steps", total_steps)
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
        self.lr = _nonneg("lr", lr)
        self.total_steps = _pos_int("total_steps", total_steps)
        self.power = _pos("power", power)
        self.end = _nonneg("end", end)

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
        self.lr = _nonneg("lr", lr)
        self.total_steps = _pos_int("total_steps", total_steps)
        self.eta_min = _nonneg("eta_min", eta_min)
        if self.eta_min > self.lr:
            raise ValueError(f"eta_min={eta_min!r} must be <= lr={lr!r}")

    def _value(self, t: np.ndarray) -> np.ndarray:
        return self.eta_min + (self.lr - self.eta_min) * (1 + np.cos(t * math.pi / self.total_steps)) / 2

    def _params(self) -> dict[str, Any]:
        return {"lr": self.lr, "total_steps": self.total_steps, "eta_min": self.eta_min}


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
        self.warmup_steps = _pos_int("warmup_steps", warmup_steps, allow_zero=True)
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
        return _nonneg("warmup_start", value)

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
        return _pos("warmup_start", value)

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
        return LinearWarmup(schedule, steps, 0.0 if start is None else _nonneg("start", start), prefix=prefix)
    if start is None:
        raise ValueError("start must be given (> 0) for kind='exponential'")
    return ExponentialWarmup(schedule, steps, _pos("start", start), prefix=prefix)


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
        self.lr = _pos("lr", lr)
        self.total_steps = _pos_int("total_steps", total_steps)
        self.warmup_steps = _pos_int("warmup_steps", warmup_steps, allow_zero=True)
        if (cooldown_steps is None) == (cooldown_frac is None):
            raise ValueError(
                "give exactly one of cooldown_steps and cooldown_frac, "
                f"got cooldown_steps={cooldown_steps!r}, cooldown_frac={cooldown_frac!r}"
            )
        if cooldown_frac is not None:
            self.cooldown_frac: float | None = _num("cooldown_frac", cooldown_frac)
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
            self.cooldown_steps = _pos_int("cooldown_steps", cooldown_steps)
        if self.warmup_steps + self.cooldown_steps > self.total_steps:
            which = "cooldown_steps" if cooldown_frac is None else "cooldown_frac"
            raise ValueError(
                f"warmup_steps={self.warmup_steps} + cooldown ({which}: {self.cooldown_steps} steps) "
                f"must be <= total_steps={self.total_steps}"
            )
        if cooldown not in _COOLDOWNS:
            raise ValueError(f"cooldown must be one of {_COOLDOWNS}, got {cooldown!r}")
        self.cooldown = cooldown
        self.warmup_start = _nonneg("warmup_start", warmup_start)
        self.end = _nonneg("end", end)
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
        d = _pos_int("decay_start", decay_start, allow_zero=True)
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


# --------------------------------------------------------------------------- cyclic
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
        self.step_size_up = _pos("step_size_up", step_size_up)
        self.step_size_down = None if step_size_down is None else _pos("step_size_down", step_size_down)
        self.gamma = _pos("gamma", gamma)
        if self.gamma > 1:
            raise ValueError(f"gamma must be in (0, 1], got {gamma!r}")
        if isinstance(scale_fn, str):
            self._scale_fn = _ref_to_fn(scale_fn)
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
            "scale_fn": _fn_to_ref(self.scale_fn),
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
        self.base_lr = _nonneg("base_lr", base_lr)
        self.max_lr = _nonneg("max_lr", max_lr)
        if self.max_lr < self.base_lr:
            raise ValueError(f"max_lr={max_lr!r} must be >= base_lr={base_lr!r}")
        self.base_momentum = _nonneg("base_momentum", base_momentum)
        self.max_momentum = _nonneg("max_momentum", max_momentum)
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
        self.base_momentum = _nonneg("base_momentum", base_momentum)
        self.max_momentum = _nonneg("max_momentum", max_momentum)
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


# --------------------------------------------------------------------------- SGDR
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
        self.T_0 = _pos("T_0", T_0)
        if float(self.T_0).is_integer():
            self.T_0 = int(self.T_0)
        self.T_mult = _num("T_mult", T_mult)
        if self.T_mult < 1:
            raise ValueError(f"T_mult must be >= 1, got {T_mult!r}")
        self.eta_max = _nonneg("eta_max", eta_max)
        self.eta_min = _nonneg("eta_min", eta_min)
        if self.eta_min > self.eta_max:
            raise ValueError(f"eta_min={eta_min!r} must be <= eta_max={eta_max!r}")
        self.cycle_decay = _pos("cycle_decay", cycle_decay)
        self.warmup_steps = _pos_int("warmup_steps", warmup_steps, allow_zero=True)
        self.warmup_start = _nonneg("warmup_start", warmup_start)
        self.warmup_prefix = bool(warmup_prefix)
        self.cycle_limit = None if cycle_limit is None else _pos_int("cycle_limit", cycle_limit)

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


# --------------------------------------------------------------------------- 1cycle
_ANNEAL = ("cos", "linear")


class OneCycle(Schedule):
    """1cycle policy, Smith & Topin 2019 "Super-Convergence" §3 / Smith 2018 §4.

    Identical to ``torch.optim.lr_scheduler.OneCycleLR`` (``last_epoch == t``).  With
    ``T = total_steps``, ``p = pct_start``, ``lr0 = max_lr / div_factor`` and
    ``lr_min = lr0 / final_div_factor``, the phases end at (torch's boundaries)

    * two-phase:   ``e0 = p*T - 1`` (lr0 -> max_lr), ``e1 = T - 1`` (max_lr -> lr_min)
    * three-phase: ``e0 = p*T - 1`` (lr0 -> max_lr), ``e1 = 2*p*T - 2`` (max_lr -> lr0),
      ``e2 = T - 1`` (lr0 -> lr_min)

    and inside phase k (the first with ``t <= e_k``, else the last), with
    ``pct = (t - e_{k-1}) / (e_k - e_{k-1})`` (``e_{-1} = 0``):
    ``cos``: ``lr = end + (start - end) / 2 * (cos(pi * pct) + 1)``; ``linear``:
    ``lr = (end - start) * pct + start``.  ``t == T`` is allowed (see module docs).
    Momentum goes ``max -> base -> max`` (three-phase: ``max -> base -> max -> max``),
    see :meth:`momentum_schedule`.
    """

    def __init__(
        self,
        max_lr: float,
        total_steps: int,
        pct_start: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        anneal: str = "cos",
        three_phase: bool = False,
        base_momentum: float = 0.85,
        max_momentum: float = 0.95,
    ) -> None:
        self.max_lr = _pos("max_lr", max_lr)
        self.total_steps = _pos_int("total_steps", total_steps)
        self.pct_start = _num("pct_start", pct_start)
        if not 0 < self.pct_start < 1:
            raise ValueError(f"pct_start must be in (0, 1), got {pct_start!r}")
        self.div_factor = _pos("div_factor", div_factor)
        self.final_div_factor = _pos("final_div_factor", final_div_factor)
        if anneal not in _ANNEAL:
            raise ValueError(f"anneal must be one of {_ANNEAL}, got {anneal!r}")
        self.anneal = anneal
        self.three_phase = bool(three_phase)
        self.base_momentum = _nonneg("base_momentum", base_momentum)
        self.max_momentum = _nonneg("max_momentum", max_momentum)
        if self.max_momentum < self.base_momentum:
            raise ValueError(f"max_momentum={max_momentum!r} must be >= base_momentum={base_momentum!r}")
        T, p = self.total_steps, self.pct_start
        initial = self.max_lr / self.div_factor
        minimum = initial / self.final_div_factor
        bm, mm = self.base_momentum, self.max_momentum
        if self.three_phase:
            # (end_step, start_lr, end_lr, start_momentum, end_momentum)
            self._phases = [
                (float(p * T) - 1, initial, self.max_lr, mm, bm),
                (float(2 * p * T) - 2, self.max_lr, initial, bm, mm),
                (float(T - 1), initial, minimum, mm, mm),
            ]
        else:
            self._phases = [
                (float(p * T) - 1, initial, self.max_lr, mm, bm),
                (float(T - 1), self.max_lr, minimum, bm, mm),
            ]
        start = 0.0
        extra = " and 2*pct_start*total_steps < total_steps + 1" if self.three_phase else ""
        for end, *_ in self._phases:
            if not end > start:
                raise ValueError(
                    f"pct_start={pct_start!r} with total_steps={T} gives an empty phase "
                    f"(need pct_start*total_steps > 1{extra})"
                )
            start = end

    def _anneal(self, start: float, end: float, pct: np.ndarray) -> np.ndarray:
        if self.anneal == "cos":
            cos_out = np.cos(np.pi * pct) + 1
            return end + (start - end) / 2.0 * cos_out
        return (end - start) * pct + start

    def _phase_values(self, t: np.ndarray, which: int) -> np.ndarray:
        out = np.empty_like(t)
        done = np.zeros(t.shape, dtype=bool)
        start = 0.0
        last = len(self._phases) - 1
        for k, phase in enumerate(self._phases):
            end = phase[0]
            mask = ~done if k == last else (~done & (t <= end))
            pct = (t[mask] - start) / (end - start)
            out[mask] = self._anneal(phase[which], phase[which + 1], pct)
            done |= mask
            start = end
        return out

    def _value(self, t: np.ndarray) -> np.ndarray:
        return self._phase_values(t, 1)

    def momentum_schedule(self) -> OneCycleMomentum:
        """Momentum cycled inversely to the LR (torch ``OneCycleLR(cycle_momentum=True)``)."""
        return OneCycleMomentum(**self._params())

    def _params(self) -> dict[str, Any]:
        return {
            "max_lr": self.max_lr,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
            "anneal": self.anneal,
            "three_phase": self.three_phase,
            "base_momentum": self.base_momentum,
            "max_momentum": self.max_momentum,
        }


class OneCycleMomentum(OneCycle):
    """The momentum half of :class:`OneCycle` (same constructor, same phases):
    ``max_momentum -> base_momentum -> max_momentum`` (three-phase: ``... -> max_momentum``)."""

    def _value(self, t: np.ndarray) -> np.ndarray:
        return self._phase_values(t, 3)

    def momentum_schedule(self) -> None:  # type: ignore[override]
        return None


# --------------------------------------------------------------------------- STLR
class SlantedTriangular(Schedule):
    """Slanted triangular LR, Howard & Ruder 2018 "ULMFiT", §3.2 eq. (3).

    With ``T = total_steps`` and ``cut = floor(T * cut_frac)``::

        p = t / cut                                        if t < cut
        p = 1 - (t - cut) / (cut * (1 / cut_frac - 1))     otherwise
        lr(t) = max_lr * (1 + p * (ratio - 1)) / ratio

    (exactly the paper's formula; when ``T * cut_frac`` is not an integer the last
    values can dip slightly below ``max_lr / ratio``).
    """

    def __init__(self, max_lr: float, total_steps: int, cut_frac: float = 0.1, ratio: float = 32) -> None:
        self.max_lr = _pos("max_lr", max_lr)
        self.total_steps = _pos_int("total_steps", total_steps)
        self.cut_frac = _num("cut_frac", cut_frac)
        if not 0 < self.cut_frac < 1:
            raise ValueError(f"cut_frac must be in (0, 1), got {cut_frac!r}")
        self.ratio = _num("ratio", ratio)
        if self.ratio < 1:
            raise ValueError(f"ratio must be >= 1, got {ratio!r}")
        self.cut = math.floor(self.total_steps * self.cut_frac)
        if self.cut < 1:
            raise ValueError(
                f"cut_frac={cut_frac!r} * total_steps={total_steps} must be >= 1 (cut = floor(T*cut_frac))"
            )

    def _value(self, t: np.ndarray) -> np.ndarray:
        cut = self.cut
        p = np.where(t < cut, t / cut, 1 - (t - cut) / (cut * (1 / self.cut_frac - 1)))
        return self.max_lr * (1 + p * (self.ratio - 1)) / self.ratio

    def _params(self) -> dict[str, Any]:
        return {
            "max_lr": self.max_lr,
            "total_steps": self.total_steps,
            "cut_frac": self.cut_frac,
            "ratio": self.ratio,
        }


# --------------------------------------------------------------------------- composition
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
        ms = _pos_int_list("milestones", milestones)
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


class Scaled(Schedule):
    """``lr(t) = factor * schedule(t)`` (what ``schedule * factor`` returns).

    The momentum schedule (if any) is the inner one, unscaled.
    """

    def __init__(self, schedule: Schedule, factor: float) -> None:
        if not isinstance(schedule, Schedule):
            raise ValueError(f"schedule must be a Schedule, got {schedule!r}")
        self.factor = _nonneg("factor", factor)
        if isinstance(schedule, Scaled):  # flatten
            self.factor = _nonneg("factor", self.factor * schedule.factor)
            schedule = schedule.schedule
        self.schedule = schedule
        self.total_steps = schedule.total_steps

    def _value(self, t: np.ndarray) -> np.ndarray:
        return self.factor * self.schedule._eval(t)

    def momentum_schedule(self) -> Schedule | None:
        return self.schedule.momentum_schedule()

    def _params(self) -> dict[str, Any]:
        return {"schedule": self.schedule.to_config(), "factor": self.factor}

    @classmethod
    def _from_params(cls, params: dict[str, Any]) -> Schedule:
        return cls(from_config(params["schedule"]), params["factor"])


class Decayed(Schedule):
    """``lr(t) = gamma**t * schedule(t)``: every value of ``schedule`` shrinks by ``gamma`` per iteration.

    Smith 2017's exp_range (§3.1) is a triangle wave decayed so (:func:`exp_range`). ``gamma`` is in
    (0, 1]. The momentum schedule (if any) is the inner one, undecayed.
    """

    def __init__(self, schedule: Schedule, gamma: float) -> None:
        if not isinstance(schedule, Schedule):
            raise ValueError(f"schedule must be a Schedule, got {schedule!r}")
        self.gamma = _pos("gamma", gamma)
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
