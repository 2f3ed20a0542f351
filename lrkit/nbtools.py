"""What the notebooks share that is not a widget: recording a notebook's key numbers, checking its
parameters, finding the data, and training one model per schedule.

- :class:`Recorder` — ``rec = Recorder(RESULTS_PATH)``, ``rec("name", value)``: the numbers a notebook's
  test checks, written as JSON (lrkit's convention, :func:`lrkit.utils.dumps`). Notebooks call it in
  one final, collapsed cell, so nothing of it shows in the tutorial.
- :func:`check_parameters` — type-checks the papermill parameters a notebook received.
- :func:`data_available` — is CIFAR-10 on this machine?
- :func:`run_schedules` — the comparison experiments: one fresh model per schedule through ``fit``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .schedules import Schedule
from .utils import atomic_write_text, dumps, jsonable

__all__ = ["Recorder", "check_parameters", "data_available", "run_schedules"]


class Recorder:
    """Collects a notebook's key results and writes them to ``path`` as JSON after every call.

    ``rec = Recorder(RESULTS_PATH)``; ``rec("suggested_lr", 0.01)``. With ``path=None`` the values are
    only kept in ``rec.data`` (interactive use). The file is replaced atomically.
    """

    def __init__(self, path: str | os.PathLike | None = None, **meta: Any) -> None:
        import sys

        self.path = Path(path) if path else None
        # sys.prefix shows which environment the kernel ran in (the runner checks it is its own)
        self.data: dict[str, Any] = {"meta": jsonable({**meta, "python_prefix": sys.prefix})}
        self._write()

    def __call__(self, name: str, value: Any) -> Any:
        self.data[str(name)] = jsonable(value)
        self._write()
        return value

    record = __call__

    def _write(self) -> None:
        if self.path is None:
            return
        atomic_write_text(self.path, dumps(self.data, indent=1))


def check_parameters(**params: Any) -> dict[str, Any]:
    """Type-check a notebook's parameters (what papermill injected); returns them unchanged.

    ``SMOKE`` must be a bool; ``SEED`` an int ≥ 0; a name ending in ``_DIR`` or ``_PATH`` a string
    or None; ``THREADS`` and every other int-valued size a positive int or None; a float parameter a
    finite number. A wrong one is a ``ValueError`` naming it (``-p SMOKE yes`` is refused, not taken as
    true).
    """
    import math

    for name, v in params.items():
        if name == "SMOKE":
            ok, want = isinstance(v, bool), "True or False"
        elif name == "SEED":
            ok, want = isinstance(v, int) and not isinstance(v, bool) and v >= 0, "an int >= 0"
        elif name.endswith(("_DIR", "_PATH")):
            ok, want = v is None or isinstance(v, (str, os.PathLike)), "a path (str) or None"
        elif isinstance(v, float):
            ok, want = math.isfinite(v) and v > 0, "a finite number > 0"
        elif isinstance(v, (list, tuple, str)):
            ok, want = True, ""
        else:
            ok, want = v is None or (isinstance(v, int) and not isinstance(v, bool) and v > 0), "an int > 0 or None"
        if not ok:
            raise ValueError(f"notebook parameter {name} must be {want}, got {v!r} ({type(v).__name__})")
    return params


def data_available(data_dir: str | os.PathLike | None = None) -> bool:
    """True if CIFAR-10 can be found locally (``data_dir``, ``LRKIT_DATA_DIR`` or the cache)."""
    from .data import DataNotFoundError, find_cifar10

    try:
        find_cifar10(data_dir, download=False)
    except DataNotFoundError:
        return False
    return True


# --------------------------------------------------------------------------------------------------
# Experiments shared by the notebooks
# --------------------------------------------------------------------------------------------------
def run_schedules(make_model: Callable[[], Any], make_optimizer: Callable[[Any, float], Any],
                  train: Any, schedules: Mapping[str, Schedule], *, iterations: int,
                  eval_data: Any = None, eval_every: int | None = None, seed: int = 0,
                  momentum: Any = None, callbacks: Mapping[str, Any] | None = None,
                  progress: bool = False) -> dict[str, Any]:
    """Train a fresh ``make_model()`` for every schedule (same seed, same batches) and return
    ``{name: lrkit.train.History}``.

    ``make_optimizer(model, lr0)`` builds the optimizer; the schedule then drives every group's LR
    through :func:`lrkit.train.fit` (``momentum`` is passed on; ``"auto"`` cycles the momentum of
    the schedules that define a momentum schedule and leaves it alone for the others).
    ``callbacks`` maps a run name to extra ``fit`` callbacks.
    """
    from .train import fit
    from .utils import seed_everything

    out = {}
    for name, sched in schedules.items():
        seed_everything(seed)
        model = make_model()
        opt = make_optimizer(model, float(sched(0)))
        n = iterations if sched.total_steps is None else min(iterations, sched.total_steps)
        mom = None if (momentum == "auto" and sched.momentum_schedule() is None) else momentum
        out[name] = fit(model, opt, train, iterations=n, schedule=sched, momentum=mom,
                        eval_data=eval_data, eval_every=eval_every, progress=progress, desc=name,
                        callbacks=list((callbacks or {}).get(name, ())))
    return out


