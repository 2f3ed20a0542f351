"""Run benchmark experiments: the one (run spec × seed) loop every experiment goes through.

For each run spec and seed the runner calls :func:`run_one`, which returns the stored result when it
exists with the same configuration (:func:`lrkit.bench.store.cached`) or trains it with the trainer
of the spec's ``kind`` (:data:`TRAINERS`) and stores it. A killed run resumes from its last
checkpoint (every ``checkpoint_every`` iterations), with nothing lost: :func:`lrkit.train.fit`
restores model, optimizer, schedule, history and RNG states, and lrkit's batch loader gives the same
batches. Layout and file formats: :mod:`lrkit.bench.store`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..utils import check_int
from .experiments import get_experiment
from .spec import RunSpec
from .store import BenchError, cached, check_manifest, result_path, result_record, stored, write_manifest
from .transfer import train_arm

__all__ = ["Context", "RunSummary", "TRAINERS", "run_experiment", "run_one", "run_unit"]


@dataclass
class Context:
    """What every run of one experiment shares: where results go, the data, the device."""

    experiment: str
    scale: str
    out: Path
    data: Any
    device: Any
    checkpoint_every: int | None = None
    progress: bool = True
    extras: dict[str, Any] = field(default_factory=dict)  # what an experiment's ``prepare`` leaves for its runs

    @property
    def folder(self) -> Path:
        return self.out / self.experiment / self.scale


def _device(device: str | None):
    import torch

    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def train_spec(spec: RunSpec, seed: int, ctx: Context, started: float) -> dict[str, Any]:
    """Train a plain run (``kind`` ``"train"`` or ``"accuracy_range_test"``) and return its result."""
    from ..data import cifar10_loaders
    from ..models import get_model
    from ..optim import make_optimizer
    from ..train import evaluate, fit
    from ..utils import seed_everything

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
    initial = None
    if spec.kind == "accuracy_range_test":
        initial = evaluate(model, L.test)  # the point before training, at LR = start
    # channels_last: 1.6x faster per step of the Caffe net on this CPU (BENCHMARKS.md §1)
    hist = fit(model, opt, L.train, iterations=spec.iterations, schedule=spec.build_schedule(),
               momentum=spec.momentum, eval_data=L.test, eval_every=spec.eval_every, device=dev,
               checkpoint=ckpt, checkpoint_every=every, resume=True, progress=ctx.progress, channels_last=True,
               desc=f"{ctx.experiment}/{spec.name}")
    result = result_record(spec, seed, experiment=ctx.experiment, scale=ctx.scale, hist=hist, data=ctx.data,
                           device=dev, started=started)
    if spec.kind == "accuracy_range_test":
        from ..suggest import AccuracyRangeTest

        art = AccuracyRangeTest.from_history(hist, initial, start_lr=spec.extra.get("start_lr", 0.0))
        result["range_test"] = {"base_lr": art.base_lr, "max_lr": art.max_lr, "note": art.note,
                                "lr": art.lr.tolist(), "acc": art.acc.tolist()}
    if ckpt.exists():
        ckpt.unlink()
    return result


#: how a run of each ``RunSpec.kind`` is trained: ``trainer(spec, seed, ctx, started) -> result``
TRAINERS: dict[str, Callable[[RunSpec, int, Context, float], dict[str, Any]]] = {
    "train": train_spec, "accuracy_range_test": train_spec, "transfer": train_arm}


def run_unit(spec: RunSpec, seed: int, ctx: Context) -> dict[str, Any]:
    """The result of ``spec`` with ``seed``: stored, or trained (resuming a checkpoint) and stored."""
    if spec.kind not in TRAINERS:
        raise BenchError(f"run {spec.name}: unknown kind {spec.kind!r}; choose one of {sorted(TRAINERS)}")
    path = result_path(ctx.out, ctx.experiment, ctx.scale, spec.name, seed)
    t0 = time.perf_counter()
    return cached(path, spec.to_dict(), lambda: TRAINERS[spec.kind](spec, seed, ctx, t0))


def run_one(spec: RunSpec, seed: int, *, experiment: str, scale: str, out: str | Path, data: Any = None,
            data_dir: str | None = None, device: str | None = None, checkpoint_every: int | None = None,
            progress: bool = True) -> dict[str, Any]:
    """:func:`run_unit` outside an experiment: one spec, one seed, results under ``out``."""
    from ..data import load_cifar10

    data = data if data is not None else load_cifar10(data_dir)
    return run_unit(spec, seed, Context(experiment, scale, Path(out), data, _device(device), checkpoint_every,
                                        progress))


@dataclass
class RunSummary:
    experiment: str
    scale: str
    results: list[dict[str, Any]]
    seconds: float


def run_experiment(name: str, scale: str = "smoke", *, out: str | Path = "runs/bench", data_dir: str | None = None,
                   data: Any = None, device: str | None = None, seeds: int | None = None,
                   only: list[str] | None = None, checkpoint_every: int | None = None,
                   progress: bool = True) -> RunSummary:
    """Run every RunSpec of experiment ``name`` at ``scale`` for ``seeds`` seeds (0, 1, …).

    Everything that can be checked without data — the experiment, the scale, ``only``, ``seeds``,
    the folder's manifest — is checked before CIFAR-10 is loaded; the manifest is written after.
    """
    from ..data import load_cifar10

    exp = get_experiment(name)
    runs = exp.runs(scale)
    if only:
        unknown = sorted(set(only) - {r.name for r in runs})
        if unknown:
            raise BenchError(f"--only names runs {unknown} that {name} does not have: {[r.name for r in runs]}")
        runs = [r for r in runs if r.name in only]
    n_seeds = check_int("seeds", seeds if seeds is not None else exp.seeds[scale], min=1)
    if checkpoint_every is not None:
        check_int("checkpoint_every", checkpoint_every, min=1)
    out = Path(out)
    folder = out / name / scale
    check_manifest(folder, name, scale, exp.runs(scale))
    if exp.check is not None:
        exp.check()
    for spec in runs:  # a stored result of another configuration: refused before anything trains
        for seed in range(n_seeds):
            stored(result_path(out, name, scale, spec.name, seed), spec.to_dict())
    dev = _device(device)
    t0 = time.perf_counter()
    data = data if data is not None else load_cifar10(data_dir)
    write_manifest(folder, name, scale, exp.runs(scale))
    ctx = Context(name, scale, out, data, dev, checkpoint_every, progress)
    if exp.prepare is not None:
        runs = exp.prepare(runs, ctx)
    results = []
    for spec in runs:
        for seed in range(n_seeds):
            done = result_path(out, name, scale, spec.name, seed).exists()
            res = run_unit(spec, seed, ctx)
            fin = res["final"] or {}
            print(f"{name}/{scale}/{spec.name} seed {seed}: {spec.iterations} it, "
                  f"test acc {100 * fin.get('acc', float('nan')):.2f} %, "
                  + ("done already" if done else f"{res['train_seconds'] or 0:.0f} s"), flush=True)
            results.append(res)
    return RunSummary(name, scale, results, time.perf_counter() - t0)
