"""Run benchmark experiments: the one (run spec × seed) loop every experiment goes through.

For each run spec and seed the runner calls :func:`run_unit`, which returns the stored result when it
exists with the same configuration (:func:`lrkit.bench.store.cached`) or trains it with the
experiment's trainer (``Experiment.trainer``, else the plain one of :mod:`lrkit.bench.plain`) and stores
it. A killed run resumes from its last checkpoint (every ``checkpoint_every`` iterations), with nothing
lost: :func:`lrkit.training.fit` restores model, optimizer, schedule, history and RNG states, and lrkit's
batch loader gives the same batches. Layout and file formats: :mod:`lrkit.bench.store`.

The units run through an executor (:mod:`lrkit.bench.executors`): ``serial`` (default) in this process;
``local`` / ``submitit`` / ``ray`` in worker processes, each getting a :class:`Unit` (plain data) and
running :func:`run_unit_in_worker` — the same :func:`run_unit` into the same folder, with the same trainer
(pickled by reference), on the data it loads itself (once per process). An experiment's ``prepare`` runs
here first; workers find its artifacts in the folder. A unit whose result is stored already is read here,
never dispatched.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..training.runtime import default_device
from ..utils import check_int
from .executors import check_executor, get_executor, run_all
from .experiments import get_experiment
from .plain import train_plain
from .spec import Experiment, RunSpec
from .store import BenchError, cached, check_manifest, on_disk, result_path, stored, write_manifest

__all__ = ["Context", "RunSummary", "SYNTHETIC", "Trainer", "Unit", "load_data", "run_experiment", "run_one",
           "run_unit", "run_unit_in_worker", "trainer_of"]

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


#: what every trainer is: ``trainer(spec, seed, ctx, started) -> result`` (:attr:`Experiment.trainer`)
Trainer = Callable[[RunSpec, int, Context, float], dict[str, Any]]


def trainer_of(exp: Experiment) -> Trainer:
    """``exp``'s trainer: its own, else the plain one (:func:`lrkit.bench.plain.train_plain`)."""
    return exp.trainer if exp.trainer is not None else train_plain


def run_unit(spec: RunSpec, seed: int, ctx: Context, trainer: Trainer = train_plain) -> dict[str, Any]:
    """The result of ``spec`` with ``seed``: stored, or trained by ``trainer`` (resuming a checkpoint) and stored."""
    path = result_path(ctx.out, ctx.experiment, ctx.scale, spec.name, seed)
    t0 = time.perf_counter()
    return cached(path, spec.to_dict(), lambda: trainer(spec, seed, ctx, t0))


def run_one(spec: RunSpec, seed: int, *, experiment: str, scale: str, out: str | Path, data: Any = None,
            data_dir: str | None = None, device: str | None = None, checkpoint_every: int | None = None,
            progress: bool = True, trainer: Trainer = train_plain) -> dict[str, Any]:
    """:func:`run_unit` outside an experiment: one spec, one seed, results under ``out``."""
    from ..data import load_cifar10

    data = data if data is not None else load_cifar10(data_dir)
    return run_unit(spec, seed, Context(experiment, scale, Path(out), data, default_device(device), checkpoint_every,
                                        progress), trainer)


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
    (``data``: a source for :func:`load_data`; ``device``: as given, None resolved by the worker) and the
    trainer (a module-level function: pickled by reference)."""

    experiment: str
    scale: str
    spec: RunSpec
    seed: int
    out: str
    data: str | None
    device: str | None = None
    checkpoint_every: int | None = None
    trainer: Trainer = train_plain

    def __repr__(self) -> str:
        return f"{self.experiment}/{self.scale}/{self.spec.name} seed {self.seed}"


_DATA: dict[str | None, Any] = {}  # a worker process's data, loaded once (by source)


def run_unit_in_worker(unit: Unit) -> dict[str, Any]:
    """:func:`run_unit` of ``unit`` in a worker process: loads the data once per process (no progress bars)."""
    if unit.data not in _DATA:
        _DATA.clear()
        _DATA[unit.data] = load_data(unit.data)
    ctx = Context(unit.experiment, unit.scale, Path(unit.out), _DATA[unit.data], default_device(unit.device),
                  unit.checkpoint_every, progress=False)
    return run_unit(unit.spec, unit.seed, ctx, unit.trainer)


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
    trainer = trainer_of(exp)
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
    dev = default_device(device)
    t0 = time.perf_counter()
    data = data if data is not None else load_data(data_dir)
    write_manifest(folder, name, scale, exp.runs(scale))
    ctx = Context(name, scale, out, data, dev, checkpoint_every, progress)
    if exp.prepare is not None:
        runs = exp.prepare(runs, ctx)
    units = [(spec, seed) for spec in runs for seed in range(n_seeds)]
    done = [on_disk(result_path(out, name, scale, spec.name, seed)) is not None for spec, seed in units]

    def report(i: int, res: dict[str, Any]) -> None:
        spec, seed = units[i]
        fin = res["final"] or {}
        print(f"{name}/{scale}/{spec.name} seed {seed}: {spec.iterations} it, "
              f"test acc {100 * fin.get('acc', float('nan')):.2f} %, "
              + ("done already" if done[i] else f"{res['train_seconds'] or 0:.0f} s"), flush=True)

    if executor == "serial":
        with get_executor("serial", threads=threads) as ex:
            results = run_all(ex, lambda u: run_unit(u[0], u[1], ctx, trainer), units, on_result=report)
        return RunSummary(name, scale, results, time.perf_counter() - t0)
    # worker processes: stored results are read here; the others go out as plain data
    results = [run_unit(spec, seed, ctx, trainer) if done[i] else None for i, (spec, seed) in enumerate(units)]
    for i in range(len(units)):
        if done[i]:
            report(i, results[i])
    pending = [i for i in range(len(units)) if not done[i]]
    if pending:
        source = data_dir if isinstance(data_dir, str) and data_dir.startswith(SYNTHETIC) else \
            str(Path(data.folder).resolve())
        todo = [Unit(name, scale, spec, seed, str(out.resolve()), source, device, checkpoint_every, trainer)
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
