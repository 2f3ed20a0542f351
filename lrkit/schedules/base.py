"""The frame every schedule shares: :class:`Schedule`, the config registry (:func:`from_config`),
:class:`Scaled` (what ``schedule * c`` returns) and the argument checks of the schedule constructors.

The rules every schedule follows (see :mod:`lrkit.schedules`): ``t`` counts optimizer steps; ``schedule(t)``
takes a number (returns a ``float``) or an array (returns a float64 ``ndarray``, computed without a Python
loop); ``t`` is checked against ``[0, total_steps]``; a non-finite value is a ``ValueError``, never
returned; ``to_config()`` / :func:`from_config` round-trip through plain JSON. No torch here.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import math
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import numpy as np

__all__ = ["MOVED_MODULES", "PACKAGE", "Scaled", "Schedule", "fn_to_ref", "from_config", "import_ref", "nonneg",
           "positive", "positive_int", "positive_ints", "real", "ref_to_fn"]

_REGISTRY: dict[str, type[Schedule]] = {}
#: the package whose schedules get short config names (``"OneCycle"``, not ``"module:OneCycle"``)
PACKAGE = "lrkit.schedules"
#: modules that moved: a stored ``"module:qualname"`` reference (a schedule defined outside this package,
#: a CLR ``scale_fn``) written under the old module path is looked up under the new one
MOVED_MODULES: dict[str, str] = {
    "lrkit.finder": "lrkit.rangetest.sweep",  # Ramp, the range test's LR ramp ("lrkit.finder:Ramp")
    "lrkit.suggest": "lrkit.rangetest.result",
    "lrkit.accuracy": "lrkit.rangetest.accuracy_test",
    "lrkit.train": "lrkit.training.loop",
    "lrkit.scheduler": "lrkit.training.scheduler",
    "lrkit.optim": "lrkit.training.optim",
    "lrkit.distributed": "lrkit.training.distributed",
    "lrkit.layers": "lrkit.finetune.groups",
    "lrkit.discriminative": "lrkit.finetune.unfreeze",
    "lrkit.methods": "lrkit.recipe.methods",
    "lrkit.recipe_parts": "lrkit.recipe.parts",
    "lrkit.quickstart": "lrkit.recipe.quickstart",
    "lrkit.toy": "lrkit.notebook.toy",
    "lrkit.nbtools": "lrkit.notebook.tools",
    "lrkit.widget_base": "lrkit.notebook.explorer",
    "lrkit.widgets": "lrkit.notebook.explorers",
    "lrkit.modern_widgets": "lrkit.notebook.schedule_explorers",
    "lrkit.cliargs": "lrkit.cli.args",
    "lrkit.bench.transfer": "lrkit.bench.experiments.discriminative",
    "lrkit.bench.methods": "lrkit.bench.experiments.methods",
    "lrkit.bench.rangetests": "lrkit.bench.experiments.onecycle",
}


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


# --------------------------------------------------------------------------- argument checks
def real(name: str, value: Any) -> float:
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


def nonneg(name: str, value: Any) -> float:
    out = real(name, value)
    if out < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return out


def positive(name: str, value: Any) -> float:
    out = real(name, value)
    if out <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return out


def positive_int(name: str, value: Any, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return value


def positive_ints(name: str, value: Any) -> list[int]:
    """``value`` as a list of positive integers or ValueError naming ``name`` (also if not iterable)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValueError(f"{name} must be a sequence of positive integers, got {value!r}")
    try:
        items = list(value)
    except TypeError:  # e.g. a 0-d numpy array
        raise ValueError(f"{name} must be a sequence of positive integers, got {value!r}") from None
    return [positive_int(name, m) for m in items]


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


def fn_to_ref(fn: Callable[..., Any] | str | None) -> str | None:
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


def ref_to_fn(ref: str) -> Callable[..., Any]:
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
    ``t``) and :meth:`_params` (the JSON-able constructor arguments); defining one registers it for
    :func:`from_config`.

    Example:
        >>> import numpy as np
        >>> class Halving(Schedule):
        ...     # lr(t) = lr * 2^(-t / every): the LR halves every `every` iterations
        ...     def __init__(self, lr: float, every: int) -> None:
        ...         self.lr, self.every = positive("lr", lr), positive_int("every", every)
        ...     def _value(self, t: np.ndarray) -> np.ndarray:
        ...         return self.lr * np.power(2.0, -t / self.every)
        ...     def _params(self) -> dict:
        ...         return {"lr": self.lr, "every": self.every}
        >>> s = Halving(0.1, every=10)
        >>> s(10), s([0, 20]).tolist()             # a number, or an array, of iterations
        (0.05, [0.1, 0.025])
        >>> (s * 2)(10)                              # schedule * c is a Scaled schedule
        0.1
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

    Example:
        >>> from lrkit.schedules import Cosine, OneCycle
        >>> OneCycle(0.1, 1000).to_config()["name"]
        'OneCycle'
        >>> from_config({"name": "Cosine", "lr": 0.1, "total_steps": 100})(50)
        0.05
        >>> from_config({"name": "Cosin", "lr": 0.1, "total_steps": 100})
        Traceback (most recent call last):
        ...
        ValueError: config name 'Cosin' is not a known schedule; did you mean 'Cosine'?
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


class Scaled(Schedule):
    """``lr(t) = factor * schedule(t)`` (what ``schedule * factor`` returns).

    The momentum schedule (if any) is the inner one, unscaled.
    """

    def __init__(self, schedule: Schedule, factor: float) -> None:
        if not isinstance(schedule, Schedule):
            raise ValueError(f"schedule must be a Schedule, got {schedule!r}")
        self.factor = nonneg("factor", factor)
        if isinstance(schedule, Scaled):  # flatten
            self.factor = nonneg("factor", self.factor * schedule.factor)
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

