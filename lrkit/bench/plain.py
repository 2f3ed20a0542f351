"""The plain trainer of the bench: one :class:`~lrkit.bench.spec.RunSpec` trained by :func:`lrkit.training.fit`.

:func:`train_plain` is the trainer of every experiment that does not bring its own
(``Experiment.trainer``): loaders and model from the spec, seeded; the optimizer from plain data;
checkpoints every ``checkpoint_every`` iterations (resumed after a kill, nothing lost); the result record
of :mod:`lrkit.bench.store`. Experiments that need a little more use its three phases —
:func:`start_run`, :func:`fit_run`, :func:`finish_run` — around their own step (a schedule scaled by a
range test's LR, an evaluation before training, extra evaluation points).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data import cifar10_loaders
from ..models import get_model
from ..schedules import Schedule
from ..training import Callback, History, Runtime, evaluate, fit, make_optimizer
from ..utils import seed_everything
from .spec import RunSpec
from .store import BenchError, result_record

__all__ = ["EvalAt", "PlainRun", "finish_run", "fit_run", "start_run", "train_plain"]


@dataclass
class PlainRun:
    """One run of a spec with one seed, set up: its loaders, model, optimizer and checkpoint."""

    spec: RunSpec
    seed: int
    loaders: Any
    model: Any
    optimizer: Any
    checkpoint: Path
    checkpoint_every: int


def start_run(spec: RunSpec, seed: int, ctx: Any) -> PlainRun:
    """Loaders (``seed``'s subset and batch order), the seeded model, the optimizer, the checkpoint path."""
    dev = ctx.device
    L = cifar10_loaders(ctx.data, batch_size=spec.batch_size, n_per_class=spec.n_per_class,
                        test_per_class=spec.test_per_class, augment=spec.augment,
                        preprocess=spec.preprocess, seed=seed, device=dev)
    seed_everything(seed)
    model = get_model(spec.model).to(dev)
    try:
        opt = make_optimizer(spec.optimizer, model)
    except ValueError as e:
        raise BenchError(f"run {spec.name}: {e}") from e
    ckpt = ctx.folder / ".ckpt" / f"{spec.name}-seed{seed}-{spec.config_hash()}.pt"
    every = ctx.checkpoint_every or max(spec.eval_every, min(spec.iterations, 500))
    return PlainRun(spec, seed, L, model, opt, ckpt, every)


def fit_run(run: PlainRun, ctx: Any, *, schedule: Schedule | None = None) -> History:
    """``fit`` of the run: its schedule (the spec's unless given) and momentum, evaluation every
    ``eval_every`` iterations and at ``spec.extra["eval_at"]`` (:class:`EvalAt`), checkpoints, resumed from
    the last one."""
    spec = run.spec
    callbacks = [EvalAt(spec.extra["eval_at"], run.model, run.loaders.test, ctx.device)] \
        if spec.extra.get("eval_at") else []
    # channels_last: 1.6x faster per step of the Caffe net on this CPU (BENCHMARKS.md §1)
    return fit(run.model, run.optimizer, run.loaders.train, iterations=spec.iterations,
               schedule=schedule if schedule is not None else spec.build_schedule(), momentum=spec.momentum,
               eval_data=run.loaders.test, eval_every=spec.eval_every, device=ctx.device, checkpoint=run.checkpoint,
               checkpoint_every=run.checkpoint_every, resume=True, progress=ctx.progress, channels_last=True,
               callbacks=callbacks, desc=f"{ctx.experiment}/{spec.name}")


def finish_run(run: PlainRun, ctx: Any, hist: History, started: float, **extra: Any) -> dict[str, Any]:
    """The result record (with ``extra`` entries after the standard ones); the checkpoint removed."""
    result = result_record(run.spec, run.seed, experiment=ctx.experiment, scale=ctx.scale, hist=hist, data=ctx.data,
                           device=ctx.device, started=started)
    result.update(extra)
    if run.checkpoint.exists():
        run.checkpoint.unlink()
    return result


def train_plain(spec: RunSpec, seed: int, ctx: Any, started: float) -> dict[str, Any]:
    """Train ``spec`` with ``seed`` (the runner's default trainer) and return its result record."""
    run = start_run(spec, seed, ctx)
    return finish_run(run, ctx, fit_run(run, ctx), started)


class EvalAt(Callback):
    """A ``fit`` callback: also evaluate after the iterations in ``at`` (e.g. SGDR's restart points), so a
    curve can be read exactly there; an iteration ``fit`` evaluates anyway is not evaluated twice."""

    def __init__(self, at, model, data, device):
        self.at, self.model, self.data, self.device = set(at), model, data, device

    def __call__(self, it: int, h) -> None:
        done = it + 1
        if done in self.at and not (h.evals and h.evals[-1]["iteration"] == done):
            ev = evaluate(self.model, self.data, runtime=Runtime(self.device, channels_last=True))
            spe = h.steps_per_epoch
            h.evals.append({"iteration": done, "epoch": done / spe if spe else None, **ev})
