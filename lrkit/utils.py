"""Small things every part of lrkit shares: RNG state, atomic files, one JSON convention, versions,
and the argument checks whose messages name the argument.

- **RNG.** :func:`seed_everything`, :func:`get_rng_state` / :func:`set_rng_state` (python, numpy, torch
  CPU and CUDA).
- **Files are written whole or not at all.** :func:`atomic_write_bytes` / :func:`atomic_write_text` /
  :func:`atomic_torch_save` write a temporary file in the target's folder and ``os.replace`` it.
- **One JSON convention.** :func:`dumps` writes strict JSON; a non-finite float is written as
  ``{"__float__": "nan" | "inf" | "-inf"}``. :func:`loads` reads that back (and also accepts the bare
  ``NaN``/``Infinity`` tokens of files written before this convention). :func:`read_json` names the
  file when it is unreadable.
- **Checks.** :func:`check_int`, :func:`check_float`, :func:`check_choice`, :func:`did_you_mean`: a bad
  number or choice is a ``ValueError`` whose message starts with the argument's name (as torch's
  optimizers do); :func:`check_type`: an object of the wrong kind (a string where a model or an optimizer
  is expected) is a ``TypeError`` naming the argument.
"""

from __future__ import annotations

import difflib
import gzip
import json
import math
import os
import random
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "atomic_torch_save",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_choice",
    "check_float",
    "check_int",
    "check_type",
    "did_you_mean",
    "dumps",
    "get_rng_state",
    "jsonable",
    "loads",
    "read_json",
    "seed_everything",
    "set_rng_state",
    "versions",
]


# --------------------------------------------------------------------------------------------------
# Seeding and RNG state
# --------------------------------------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global RNG and torch (CPU and every CUDA device)."""
    import torch

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def get_rng_state() -> dict[str, Any]:
    """Snapshot of the python, numpy, torch-CPU and (when initialised) CUDA RNG states."""
    import torch

    state: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(),
                             "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore a snapshot taken by :func:`get_rng_state`.

    torch wants every RNG state as a CPU byte tensor; a snapshot read back with ``torch.load(...,
    map_location="cuda")`` (a checkpoint loaded onto the model's device) holds them on the GPU, so they
    are brought back to the CPU first.
    """
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state:
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


# --------------------------------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------------------------------
def _atomic(path: str | os.PathLike, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    return _atomic(path, lambda f: f.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj)`` to ``path``, atomically."""
    import torch

    return _atomic(path, lambda f: torch.save(obj, f))


# --------------------------------------------------------------------------------------------------
# JSON: one convention for non-finite floats
# --------------------------------------------------------------------------------------------------
_TAG = "__float__"


def jsonable(x: Any) -> Any:
    """Plain JSON types: numpy scalars/arrays → python, tuples → lists, objects with ``to_dict`` →
    dicts, non-finite floats → ``{"__float__": "nan" | "inf" | "-inf"}``; anything else → ``str``."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        if math.isfinite(x):
            return x
        return {_TAG: "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")}
    if x is None or isinstance(x, str):
        return x
    if hasattr(x, "to_dict"):
        return jsonable(x.to_dict())
    if hasattr(x, "__float__"):
        return jsonable(float(x))
    return str(x)


def _untag(x: Any) -> Any:
    if isinstance(x, dict):
        if len(x) == 1 and _TAG in x:
            return float(x[_TAG])
        return {k: _untag(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_untag(v) for v in x]
    return x


def dumps(obj: Any, **kwargs: Any) -> str:
    """Strict JSON text of ``obj`` under lrkit's convention (see :func:`jsonable`)."""
    return json.dumps(jsonable(obj), allow_nan=False, **kwargs)


def loads(text: str | bytes) -> Any:
    """Parse JSON written by :func:`dumps` (tagged non-finite floats become floats again)."""
    return _untag(json.loads(text))


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """:func:`loads` of a file (gunzipped when its name ends in ``.gz``); a missing, unreadable or corrupt
    file raises ``ValueError`` naming it."""
    path = Path(path)
    try:
        data = path.read_bytes()
        return loads(gzip.decompress(data) if path.suffix == ".gz" else data)
    except FileNotFoundError:
        raise ValueError(f"{what} {path} does not exist") from None
    except (OSError, ValueError, EOFError) as e:  # JSONDecodeError, UnicodeDecodeError, BadGzipFile: OSError
        raise ValueError(f"{what} {path} is unreadable or corrupt: {e}") from None


# --------------------------------------------------------------------------------------------------
# Argument checks (messages start with the argument's name)
# --------------------------------------------------------------------------------------------------
def _show(value: Any) -> str:
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    return repr(value)


def check_int(name: str, value: Any, *, min: int | None = None, max: int | None = None) -> int:
    """``value`` as an ``int`` (bools and floats refused) within ``[min, max]``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an int, got {_show(value)} ({type(value).__name__})")
    value = int(value)
    if min is not None and value < min:
        raise ValueError(f"{name} must be >= {min}, got {value}")
    if max is not None and value > max:
        raise ValueError(f"{name} must be <= {max}, got {value}")
    return value


def check_float(name: str, value: Any, *, min: float | None = None, max: float | None = None,
                min_open: bool = False, max_open: bool = False, allow_inf: bool = False) -> float:
    """``value`` as a finite ``float`` (``allow_inf``: +inf too) in the given (open or closed) range."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {_show(value)} ({type(value).__name__})")
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not (allow_inf and v > 0)):
        raise ValueError(f"{name} must be finite, got {v}")
    if min is not None and (v <= min if min_open else v < min):
        raise ValueError(f"{name} must be {'>' if min_open else '>='} {min:g}, got {v:g}")
    if max is not None and (v >= max if max_open else v > max):
        raise ValueError(f"{name} must be {'<' if max_open else '<='} {max:g}, got {v:g}")
    return v


def check_type(name: str, value: Any, cls: type | tuple[type, ...], what: str) -> Any:
    """``value`` if it is an instance of ``cls``, else ``TypeError`` naming the argument and saying ``what`` it
    must be (e.g. a string where a model is expected fails here, not deep inside torch)."""
    if not isinstance(value, cls):
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise TypeError(f"{name} must be {what}, got {type(value).__name__} {shown}")
    return value


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when ``value`` is close to one of ``choices``, else ``""``."""
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """``value`` if it is one of ``choices``, else ``ValueError`` listing them (with a "did you mean")."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {_show(value)}"
                         + (did_you_mean(value, choices) if isinstance(value, str) else ""))
    return value


# --------------------------------------------------------------------------------------------------
# Versions (stored with every result)
# --------------------------------------------------------------------------------------------------
def versions() -> dict[str, str]:
    """Versions of lrkit, torch, numpy and python, and the torch thread count."""
    import platform

    import torch

    from . import __version__

    return {"lrkit": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "machine": platform.machine(),
            "threads": str(torch.get_num_threads())}
