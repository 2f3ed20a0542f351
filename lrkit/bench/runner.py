"""Run benchmark experiments: one JSON per (run, seed), written atomically, resumable.

Layout under ``out`` (default ``runs/bench``)::

    <experiment>/<scale>/manifest.json          format + lrkit version + the experiment's config hashes
    <experiment>/<scale>/<run>-seed<k>.json      one finished run (config, seed, versions, history, wall time)
    <experiment>/<scale>/.ckpt/<run>-seed<k>-<hash>.pt   the checkpoint of an unfinished run

A finished result with the same configuration is skipped (so rerunning resumes a killed
experiment); a result or manifest from another configuration or lrkit version is an error, never
silently overwritten. A killed run resumes from its last checkpoint (every ``checkpoint_every``
iterations), with nothing lost: :func:`lrkit.train.fit` restores model, optimizer, schedule, history
and RNG states, and lrkit's batch loader gives the same batches.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from .experiments import RunSpec, get_experiment

__all__ = ["BenchError", "RESULT_FORMAT", "load_results", "result_path", "result_record", "run_experiment",
           "run_one"]

RESULT_FORMAT = "lrkit-bench-result-1"
MANIFEST_FORMAT = "lrkit-bench-manifest-1"


class BenchError(RuntimeError):
    """A benchmark folder or result that cannot be used as asked."""


def result_path(out: Path, experiment: str, scale: str, run: str, seed: int) -> Path:
    return Path(out) / experiment / scale / f"{run}-seed{seed}.json"


def _check_manifest(folder: Path, experiment: str, scale: str, runs: list[RunSpec]) -> None:
    from ..train import atomic_write_text

    path = folder / "manifest.json"
    want = {"format": MANIFEST_FORMAT, "lrkit": __version__, "experiment": experiment, "scale": scale,
            "runs": {r.name: r.config_hash() for r in runs}}
    if path.exists():
        try:
            have = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise BenchError(f"{path} is corrupt ({e}); move the folder away or choose another --out") from e
        if have.get("format") != MANIFEST_FORMAT or have.get("lrkit") != __version__:
            raise BenchError(f"{folder} holds results of another lrkit version/format "
                             f"({have.get('format')}, lrkit {have.get('lrkit')}); use another --out")
        changed = sorted(k for k in want["runs"] if k in have.get("runs", {}) and have["runs"][k] != want["runs"][k])
        if changed:
            raise BenchError(f"{folder} holds results of another configuration for runs {changed}; "
                             "use another --out (results are never overwritten silently)")
        want["runs"] = {**have.get("runs", {}), **want["runs"]}
    atomic_write_text(path, json.dumps(want, indent=2))


def run_one(spec: RunSpec, seed: int, *, experiment: str, scale: str, out: Path, data: Any = None,
            data_dir: str | None = None, device: str | None = None, checkpoint_every: int | None = None,
            progress: bool = True) -> dict[str, Any]:
    """Train one RunSpec with one seed (resuming from its checkpoint) and write its result JSON."""
    from ..data import cifar10_loaders, load_cifar10
    from ..models import get_model
    from ..train import atomic_write_text, evaluate, fit, make_optimizer, seed_everything

    path = result_path(out, experiment, scale, spec.name, seed)
    if path.exists():
        res = load_result(path)
        if res["config"] != spec.to_dict():
            raise BenchError(f"{path} was produced by another configuration; not overwriting it")
        return res
    t0 = time.perf_counter()
    data = data if data is not None else load_cifar10(data_dir)
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    L = cifar10_loaders(data, batch_size=spec.batch_size, n_per_class=spec.n_per_class,
                        test_per_class=spec.test_per_class, augment=spec.augment,
                        preprocess=spec.preprocess, seed=seed, device=dev)
    seed_everything(seed)
    model = get_model(spec.model).to(dev)
    try:
        opt = make_optimizer(spec.optimizer, model)
    except ValueError as e:
        raise BenchError(f"run {spec.name}: {e}") from e
    ckpt = path.parent / ".ckpt" / f"{spec.name}-seed{seed}-{spec.config_hash()}.pt"
    every = checkpoint_every or max(spec.eval_every, min(spec.iterations, 500))
    initial = None
    if spec.kind == "accuracy_range_test":
        initial = evaluate(model, L.test)  # the point before training, at LR = start
    hist = fit(model, opt, L.train, iterations=spec.iterations, schedule=spec.build_schedule(),
               momentum=spec.momentum, eval_data=L.test, eval_every=spec.eval_every, device=dev,
               checkpoint=ckpt, checkpoint_every=every, resume=True, progress=progress, channels_last=True,
               desc=f"{experiment}/{spec.name}")
    result = result_record(spec, seed, experiment=experiment, scale=scale, hist=hist, data=data, device=dev,
                           started=t0)
    if spec.kind == "accuracy_range_test":
        from ..finder import AccuracyRangeTest

        lr_at = [hist.lr[e["iteration"] - 1][0] for e in hist.evals]
        art = AccuracyRangeTest(lr=[spec.extra.get("start_lr", 0.0), *lr_at],
                                acc=[initial["acc"], *[e["acc"] for e in hist.evals]],
                                loss=[initial["loss"], *[e["loss"] for e in hist.evals]])
        result["range_test"] = {"base_lr": art.base_lr, "max_lr": art.max_lr, "note": art.note,
                                "lr": art.lr.tolist(), "acc": art.acc.tolist()}
    atomic_write_text(path, json.dumps(result, default=float))
    if ckpt.exists():
        ckpt.unlink()
    return result


def result_record(spec: RunSpec, seed: int, *, experiment: str, scale: str, hist, data, device,
                  started: float) -> dict[str, Any]:
    """The result JSON of one finished run (``hist``: its :class:`lrkit.train.History`; ``started``:
    ``time.perf_counter()`` when this session began working on it)."""
    from ..train import versions

    return {
        "format": RESULT_FORMAT, "experiment": experiment, "scale": scale, "run": spec.name, "seed": seed,
        "config": spec.to_dict(), "versions": versions(), "data_source": data.source, "device": str(device),
        "history": hist.to_dict(), "final": hist.final_eval(),
        # wall time of the training itself, summed over resumed sessions (History.wall is cumulative)
        "train_seconds": hist.wall[-1] if hist.wall else None,
        "session_seconds": time.perf_counter() - started,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def load_result(path: Path) -> dict[str, Any]:
    try:
        res = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise BenchError(f"result {path} is unreadable or corrupt: {e}") from e
    if res.get("format") != RESULT_FORMAT:
        raise BenchError(f"{path} is not an lrkit bench result (format {res.get('format')!r})")
    return res


def load_results(out: Path, experiment: str, scale: str) -> list[dict[str, Any]]:
    folder = Path(out) / experiment / scale
    if not folder.is_dir():
        return []
    return [load_result(p) for p in sorted(folder.glob("*-seed*.json"))]


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

    An experiment with a ``custom_run`` (e.g. ``discriminative``) trains its runs itself, after the
    same checks (``only``, seeds, manifest) and into the same layout.
    """
    from ..data import load_cifar10

    exp = get_experiment(name)
    runs = exp.runs(scale)
    if only:
        unknown = sorted(set(only) - {r.name for r in runs})
        if unknown:
            raise BenchError(f"--only names runs {unknown} that {name} does not have: {[r.name for r in runs]}")
        runs = [r for r in runs if r.name in only]
    n_seeds = seeds if seeds is not None else exp.seeds[scale]
    if n_seeds < 1:
        raise BenchError(f"seeds must be >= 1, got {n_seeds}")
    out = Path(out)
    folder = out / name / scale
    folder.mkdir(parents=True, exist_ok=True)
    _check_manifest(folder, name, scale, exp.runs(scale))
    t0 = time.perf_counter()
    data = data if data is not None else load_cifar10(data_dir)
    if exp.custom_run is not None:  # an experiment with a protocol of its own (same layout and format)
        results = exp.custom_run(runs, experiment=name, scale=scale, folder=folder, data=data, seeds=n_seeds,
                                 device=device, progress=progress)
        return RunSummary(name, scale, results, time.perf_counter() - t0)
    results = []
    for spec in runs:
        for seed in range(n_seeds):
            res = run_one(spec, seed, experiment=name, scale=scale, out=out, data=data, device=device,
                          checkpoint_every=checkpoint_every, progress=progress)
            fin = res["final"] or {}
            print(f"{name}/{scale}/{spec.name} seed {seed}: {spec.iterations} it, "
                  f"test acc {100 * fin.get('acc', float('nan')):.2f} %, "
                  f"{res['train_seconds'] or 0:.0f} s", flush=True)
            results.append(res)
    return RunSummary(name, scale, results, time.perf_counter() - t0)
