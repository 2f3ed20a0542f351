"""Training runs side by side: one fresh model per schedule (:func:`run_schedules`), and WSD's anytime
models — one constant-LR trunk with cooldown branches off its checkpoints (:func:`run_wsd_branches`).

What notebooks 03–05 and 08 compare; each run goes through :func:`~lrkit.training.fit` with the same
seed and the same batches, so the schedule is the only difference.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from ..schedules import WSD, Schedule
from ..utils import get_rng_state, seed_everything, set_rng_state
from .loop import fit

__all__ = ["run_schedules", "run_wsd_branches"]


def run_schedules(make_model: Callable[[], Any], make_optimizer: Callable[[Any, float], Any],
                  train: Any, schedules: Mapping[str, Schedule], *, iterations: int,
                  eval_data: Any = None, eval_every: int | None = None, seed: int = 0,
                  momentum: Any = None, callbacks: Mapping[str, Any] | None = None,
                  progress: bool = False, device: Any = None) -> dict[str, Any]:
    """Train a fresh ``make_model()`` for every schedule (same seed, same batches) and return
    ``{name: History}``.

    ``make_optimizer(model, lr0)`` builds the optimizer; the schedule then drives every group's LR
    through :func:`~lrkit.training.fit` (``momentum`` is passed on; ``"auto"`` cycles the momentum of
    the schedules that define a momentum schedule and leaves it alone for the others).
    ``callbacks`` maps a run name to extra ``fit`` callbacks. ``device``: every model is moved there
    before its optimizer is built, and ``fit`` trains and evaluates there (default: where
    ``make_model()`` puts it).
    """
    out = {}
    for name, sched in schedules.items():
        seed_everything(seed)
        model = _placed(make_model(), device)
        opt = make_optimizer(model, float(sched(0)))
        n = iterations if sched.total_steps is None else min(iterations, sched.total_steps)
        mom = None if (momentum == "auto" and sched.momentum_schedule() is None) else momentum
        out[name] = fit(model, opt, train, iterations=n, schedule=sched, momentum=mom,
                        eval_data=eval_data, eval_every=eval_every, progress=progress, desc=name,
                        callbacks=list((callbacks or {}).get(name, ())), device=device)
    return out


def _placed(model: Any, device: Any) -> Any:
    """``model`` on ``device`` (unchanged when ``device`` is None)."""
    return model if device is None else model.to(device)

class _From:
    """A batch source that starts at batch ``start`` of ``loader`` (``get_batch(i)`` is the loader's
    ``get_batch(start + i)``): a branch continues the trunk's batch stream."""

    def __init__(self, loader: Any, start: int):
        self.loader, self.start = loader, int(start)
        self.steps_per_epoch = getattr(loader, "steps_per_epoch", None)

    def get_batch(self, i: int) -> Any:
        return self.loader.get_batch(self.start + i)

    def __len__(self) -> int:
        return len(self.loader)


def run_wsd_branches(make_model: Callable[[], Any], make_optimizer: Callable[[Any, float], Any], train: Any,
                     wsd: Any, starts: Any, *, eval_data: Any = None, eval_every: int | None = None, seed: int = 0,
                     progress: bool = False, device: Any = None) -> dict[str, Any]:
    """WSD's anytime models: the constant-LR trunk once, and one cooldown branch from each of ``starts``.

    The trunk is ``wsd.stable_run()``, the warm-up followed by ``wsd.lr``, trained up to the last start.
    Branch ``s`` continues the trunk from its step ``s``: the same weights, optimizer state, RNG state and
    batch stream (``train`` must have ``get_batch(i)``, as lrkit's BatchLoader does). It then cools down
    over ``wsd.cooldown_steps`` steps, so it is trained exactly like ``wsd.branch(s)`` from scratch.
    Returns ``{"trunk": History, "branches": {s: History of the cooldown}}``. A branch's iterations count
    from 0, and step ``k`` of branch ``s`` is step ``s + k`` of its WSD schedule. ``device``: as in
    :func:`run_schedules` (every model is moved there before its optimizer is built or loaded).
    """
    if not hasattr(train, "get_batch"):
        raise ValueError("run_wsd_branches needs a batch source with get_batch(i) (lrkit.data.BatchLoader), so "
                         "that a branch continues the trunk's batches")
    starts = sorted({int(s) for s in starts})
    if not starts or starts[0] < max(1, wsd.warmup_steps):
        raise ValueError(f"starts must be non-empty and >= the warm-up ({wsd.warmup_steps} steps), got {starts}")
    seed_everything(seed)
    model = _placed(make_model(), device)
    opt = make_optimizer(model, float(wsd.lr))
    snaps: dict[int, Any] = {}

    def snapshot(it: int, h: Any) -> None:
        if it + 1 in starts:
            snaps[it + 1] = (copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict()), get_rng_state())

    trunk = fit(model, opt, train, iterations=starts[-1], schedule=wsd.stable_run(), eval_data=eval_data,
                eval_every=eval_every, callbacks=[snapshot], progress=progress, desc="trunk", device=device)
    cooldown = WSD(wsd.lr, wsd.cooldown_steps, cooldown_steps=wsd.cooldown_steps, cooldown=wsd.cooldown, end=wsd.end)
    branches = {}
    for s in starts:
        m = _placed(make_model(), device)
        m.load_state_dict(snaps[s][0])
        o = make_optimizer(m, float(wsd.lr))
        o.load_state_dict(snaps[s][1])
        set_rng_state(snaps[s][2])
        branches[s] = fit(m, o, _From(train, s), iterations=wsd.cooldown_steps, schedule=cooldown,
                          eval_data=eval_data, eval_every=eval_every, progress=progress, desc=f"branch {s}",
                          device=device)
    return {"trunk": trunk, "branches": branches}
