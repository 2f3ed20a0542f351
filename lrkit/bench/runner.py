"""Run benchmark experiments: the one (run spec × seed) loop every experiment goes through.

For each run spec and seed the runner calls :func:`run_one`, which returns the stored result when it
exists with the same configuration (:func:`lrkit.bench.store.cached`) or trains it with the trainer
of the spec's ``kind`` (:data:`TRAINERS`) and stores it. A killed run resumes from its last
checkpoint (every ``checkpoint_every`` iterations), with nothing lost: :func:`lrkit.train.fit`
restores model, optimizer, schedule, history and RNG states, and lrkit's batch loader gives the same
batches. Layout and file formats: :mod:`lrkit.bench.store`.

The units run through an executor (:mod:`lrkit.bench.executors`): ``serial`` (default) in this process;
``local`` / ``submitit`` / ``ray`` in worker processes, each getting a :class:`Unit` (plain data) and
running :func:`run_unit_in_worker` — the same :func:`run_unit` into the same folder, on the data it loads
itself (once per process). An experiment's ``prepare`` runs here first; workers find its artifacts in the
folder. A unit whose result is stored already is read here, never dispatched.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..utils import check_int
from .executors import check_executor, get_executor, run_all
from .experiments import get_experiment
from .methods import train_method
from .rangetests import KEY as RT_KEY
from .rangetests import range_test_lr
from .spec import RunSpec
from .store import BenchError, cached, check_manifest, result_path, result_record, stored, write_manifest
from .transfer import train_arm

__all__ = ["Context", "RunSummary", "SYNTHETIC", "TRAINERS", "Unit", "load_data", "run_experiment", "run_one",
           "run_unit", "run_unit_in_worker"]

#: a data source ``"synthetic:N_TRAIN,N_TEST,SEED"`` (per class) names :func:`lrkit.data.synthetic_cifar10` (tests)
SYNTHETIC = "synthetic:"


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
    from ..training import evaluate, fit, make_optimizer
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
    schedule, chosen = spec.build_schedule(), None
    if RT_KEY in spec.extra:  # the schedule is a shape with peak 1, scaled by the range test's LR
        chosen = {k: v for k, v in range_test_lr(spec, ctx).items() if k not in ("config", "sweep_lr", "loss")}
        schedule = schedule * chosen["lr"]
    callbacks = [_EvalAt(spec.extra["eval_at"], model, L.test, dev)] if spec.extra.get("eval_at") else []
    # channels_last: 1.6x faster per step of the Caffe net on this CPU (BENCHMARKS.md §1)
    hist = fit(model, opt, L.train, iterations=spec.iterations, schedule=schedule,
               momentum=spec.momentum, eval_data=L.test, eval_every=spec.eval_every, device=dev,
               checkpoint=ckpt, checkpoint_every=every, resume=True, progress=ctx.progress, channels_last=True,
               callbacks=callbacks, desc=f"{ctx.experiment}/{spec.name}")
    result = result_record(spec, seed, experiment=ctx.experiment, scale=ctx.scale, hist=hist, data=ctx.data,
                           device=dev, started=started)
    if chosen is not None:
        result["chosen_lr"] = chosen
    if spec.kind == "accuracy_range_test":
        from ..rangetest import AccuracyRangeTest

        art = AccuracyRangeTest.from_history(hist, initial, start_lr=spec.extra.get("start_lr", 0.0))
        result["range_test"] = {"base_lr": art.base_lr, "max_lr": art.max_lr, "note": art.note,
                                "lr": art.lr.tolist(), "acc": art.acc.tolist()}
    if ckpt.exists():
        ckpt.unlink()
    return result


class _EvalAt:
    """A ``fit`` callback: also evaluate after the iterations in ``at`` (e.g. SGDR's restart points), so a
    curve can be read exactly there; an iteration ``fit`` evaluates anyway is not evaluated twice."""

    def __init__(self, at, model, data, device):
        self.at, self.model, self.data, self.device = set(at), model, data, device

    def __call__(self, it: int, h) -> None:
        from ..training import Runtime, evaluate

        done = it + 1
        if done in self.at and not (h.evals and h.evals[-1]["iteration"] == done):
            ev = evaluate(self.model, self.data, runtime=Runtime(self.device, channels_last=True))
            spe = h.steps_per_epoch
            h.evals.append({"iteration": done, "epoch": done / spe if spe else None, **ev})


#: how a run of each ``RunSpec.kind`` is trained: ``trainer(spec, seed, ctx, started) -> result``
TRAINERS: dict[str, Callable[[RunSpec, int, Context, float], dict[str, Any]]] = {
    "train": train_spec, "accuracy_range_test": train_spec, "transfer": train_arm, "recipe_method": train_method}


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


def load_data(source: str | None) -> Any:
    """CIFAR-10 from ``source`` (a folder; None: ``LRKIT_DATA_DIR``, the cache, a download), or the synthetic
    stand-in ``"synthetic:N_TRAIN,N_TEST,SEED"`` (:func:`lrkit.data.synthetic_cifar10`, for tests)."""
    from ..data import load_cifar10, synthetic_cifar10

    if isinstance(source, str) and source.startswith(SYNTHETIC):
        try:
            n_train, n_test, seed = (int(v) for v in source[len(SYNTHETIC):].split(","))
        except ValueError:
            raise ValueError(f"data source {source!r}: expected '{SYNTHETIC}N_TRAIN,N_TEST,SEED' "
                             "(images per class, seed)") from None
        return synthetic_cifar10(n_train, n_test, seed=seed)
    return load_cifar10(source)


@dataclass(frozen=True, repr=False)
class Unit:
    """One (run spec, seed) of an experiment as plain data: all a worker needs to rebuild its :class:`Context`
    (``data``: a source for :func:`load_data`; ``device``: as given, None resolved by the worker)."""

    experiment: str
    scale: str
    spec: RunSpec
    seed: int
    out: str
    data: str | None
    device: str | None = None
    checkpoint_every: int | None = None

    def __repr__(self) -> str:
        return f"{self.experiment}/{self.scale}/{self.spec.name} seed {self.seed}"


_DATA: dict[str | None, Any] = {}  # a worker process's data, loaded once (by source)


def run_unit_in_worker(unit: Unit) -> dict[str, Any]:
    """:func:`run_unit` of ``unit`` in a worker process: loads the data once per process (no progress bars)."""
    if unit.data not in _DATA:
        _DATA.clear()
        _DATA[unit.data] = load_data(unit.data)
    ctx = Context(unit.experiment, unit.scale, Path(unit.out), _DATA[unit.data], _device(unit.device),
                  unit.checkpoint_every, progress=False)
    return run_unit(unit.spec, unit.seed, ctx)


@dataclass
class RunSummary:
    experiment: str
    scale: str
    results: list[dict[str, Any]]
    seconds: float


def run_experiment(name: str, scale: str = "smoke", *, out: str | Path = "runs/bench", data_dir: str | None = None,
                   data: Any = None, device: str | None = None, seeds: int | None = None,
                   only: list[str] | None = None, checkpoint_every: int | None = None,
                   progress: bool = True, executor: str = "serial", workers: int | None = None,
                   threads: int | None = None, executor_options: dict[str, Any] | None = None) -> RunSummary:
    """Run every RunSpec of experiment ``name`` at ``scale`` for ``seeds`` seeds (0, 1, …).

    Everything that can be checked without data — the experiment, the scale, ``only``, ``seeds``, the
    executor, the folder's manifest — is checked before CIFAR-10 is loaded; the manifest is written after.

    ``executor`` (:mod:`lrkit.bench.executors`): ``"serial"`` trains the units here, one after another;
    ``"local"``, ``"submitit"``, ``"ray"`` send the units not stored yet to ``workers`` workers with
    ``threads`` torch threads each (``executor_options``: the engine's options). Workers load the data
    themselves from ``data_dir`` (a folder, or ``"synthetic:N,M,SEED"``): an in-memory ``data`` is for the
    serial executor only. Results are the same files, in the same order, as a serial run's.
    """
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
    options = dict(executor_options or {})
    check_executor(executor, workers=workers, threads=threads, **options)
    if executor != "serial" and data is not None:
        raise ValueError(f"data= (in memory) is for executor='serial' only; the {executor} executor's workers load "
                         f"the data themselves: give data_dir (a folder, or '{SYNTHETIC}N_TRAIN,N_TEST,SEED')")
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
    data = data if data is not None else load_data(data_dir)
    write_manifest(folder, name, scale, exp.runs(scale))
    ctx = Context(name, scale, out, data, dev, checkpoint_every, progress)
    if exp.prepare is not None:
        runs = exp.prepare(runs, ctx)
    units = [(spec, seed) for spec in runs for seed in range(n_seeds)]
    done = [result_path(out, name, scale, spec.name, seed).exists() for spec, seed in units]

    def report(i: int, res: dict[str, Any]) -> None:
        spec, seed = units[i]
        fin = res["final"] or {}
        print(f"{name}/{scale}/{spec.name} seed {seed}: {spec.iterations} it, "
              f"test acc {100 * fin.get('acc', float('nan')):.2f} %, "
              + ("done already" if done[i] else f"{res['train_seconds'] or 0:.0f} s"), flush=True)

    if executor == "serial":
        with get_executor("serial", threads=threads) as ex:
            results = run_all(ex, lambda u: run_unit(u[0], u[1], ctx), units, on_result=report)
        return RunSummary(name, scale, results, time.perf_counter() - t0)
    # worker processes: stored results are read here; the others go out as plain data
    results = [run_unit(spec, seed, ctx) if done[i] else None for i, (spec, seed) in enumerate(units)]
    for i in range(len(units)):
        if done[i]:
            report(i, results[i])
    pending = [i for i in range(len(units)) if not done[i]]
    if pending:
        source = data_dir if isinstance(data_dir, str) and data_dir.startswith(SYNTHETIC) else \
            str(Path(data.source).resolve())
        todo = [Unit(name, scale, spec, seed, str(out.resolve()), source, device, checkpoint_every)
                for spec, seed in (units[i] for i in pending)]
        if executor == "submitit":
            options.setdefault("folder", str((folder / ".submitit").resolve()))
        elif workers is None:  # no more workers than units
            workers = max(1, min(os.cpu_count() or 1, len(todo)))
        with get_executor(executor, workers=workers, threads=threads, **options) as ex:
            got = run_all(ex, run_unit_in_worker, todo, on_result=lambda j, res: report(pending[j], res))
        for i, res in zip(pending, got, strict=True):
            results[i] = res
    return RunSummary(name, scale, results, time.perf_counter() - t0)
