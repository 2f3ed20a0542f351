"""Suggestion quality of LR finders: how well does the LR each finder suggests train, for the use it feeds?

For every task (a net, an optimizer, a schedule — the *use*: a constant LR, the peak of one-cycle or
of warmup + cosine, or CLR's upper bound — and a batch size) and every seed, the script

1. trains from the seed's initialisation, on the seed's batch order, at every LR of a log grid of
   ``GRID_POINTS`` LRs over ≥ 3 decades (the grid value is the constant LR, the one-cycle / cosine
   peak, or CLR's ``max_lr`` with ``base_lr = max_lr / 6``), with :func:`lrkit.training.fit`, and
   measures the accuracy on a held-out **validation** split (carved out of the CIFAR-10 training
   set; the test set is never used);
2. runs the range test of every finder from the *same* initialisation, on the *same* batches, with
   the same start/end LR and each library's own default divergence stop:

   - lrkit :func:`lrkit.rangetest.lr_find` → ``rt.suggest(for_=<use>)`` (the rule lrkit documents for the
     use, :data:`lrkit.rangetest.USE_RULES`) and every candidate rule (every rule of
     :data:`lrkit.rangetest.rules.RULES` × 1/10, 1/3, 1, 3, 10, bootstrapped);
   - torch-lr-finder ``LRFinder.range_test`` → ``plot(suggest_lr=True)``'s LR;
   - fastai ``Learner.lr_find`` → its four rules ``minimum``, ``steep``, ``valley``, ``slide``;
   - Lightning ``Tuner.lr_find`` → ``suggestion()``;

   each peer's LR is used the way the peer documents it: as the LR of ``fit`` / the optimizer, as
   ``lr_max`` of ``fit_one_cycle`` (fastai) and as ``max_lr`` of a one-cycle or cyclical schedule
   (none of the peers has a separate CLR rule);
3. scores each suggestion by its **regret** = best grid accuracy − accuracy at the suggested LR, read
   off that seed's accuracy-vs-log10(LR) curve by linear interpolation, clamped to the end values
   outside the grid (:func:`regret`, ≥ 0 by construction), in percentage points.

**Tuning and evaluation.** The tasks with ``role='tuning'`` are where lrkit's rule for each use is
chosen: the candidate with the lowest mean tuning regret. The tasks with ``role='eval'`` — other
nets, optimizers, schedules and batch sizes — are the benchmark: per use and per finder, the mean
regret over (task, seed) with a 95 % t-interval over seeds (each seed's mean over the use's tasks).
``table.md`` says whether lrkit's documented rule has the lowest mean regret for each use, and whether
the rule the tuning tasks choose is the one the library ships.

Every (task, seed, LR) training and every (task, seed, finder) sweep is one JSON under ``--out``,
written atomically by lrkit's results store (:func:`lrkit.bench.store.cached`) and reused when its
config matches; a file of another config is an error, never overwritten. So a killed run resumes,
and runs go through :mod:`lrkit.bench.executors` (``--executor local --workers 2``). lrkit's
suggestions are recomputed from the stored sweep curves, so a changed rule needs no new sweep.

    python benchmarks/bench_suggestion_quality.py --scale smoke        # seconds, used by the tests
    python benchmarks/bench_suggestion_quality.py --scale full --executor local --workers 2

The peers run when they import (torch-lr-finder is in lrkit's [dev]; fastai and Lightning are heavy:
run the script with a Python that has them, see BENCHMARKS.md §3). CIFAR-10 comes from
``LRKIT_DATA_DIR`` (or lrkit's cache); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/peers.py

import peers  # noqa: E402

from lrkit.bench import store  # noqa: E402
from lrkit.bench.store import BenchError  # noqa: E402
from lrkit.utils import atomic_write_text, dumps, read_json  # noqa: E402

ROOT = Path(__file__).resolve().parent
FACTORS = {"/10": 0.1, "/3": 1 / 3, "": 1.0, "*3": 3.0, "*10": 10.0}
CANDIDATES = tuple(f"{r}{f}" for r in ("min", "valley", "steepest") for f in FACTORS)
PEER_RULES = {"torch-lr-finder": ("steepest",), "fastai": ("minimum", "steep", "valley", "slide"),
              "lightning": ("steepest",)}
#: the use a task's schedule feeds (warmup + cosine uses the one-cycle peak rule)
USE_OF = {"constant": "constant", "one_cycle": "one_cycle", "cosine": "one_cycle", "clr": "clr"}
T95 = {1: math.nan, 2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776, 6: 2.571}


# --------------------------------------------------------------------------------------------------
# Regret (pure)
# --------------------------------------------------------------------------------------------------
def interp_acc(grid_lrs: Sequence[float], grid_accs: Sequence[float], lr: float) -> float:
    """Accuracy at ``lr`` read off the grid: linear in log10(LR), clamped outside the grid."""
    x = np.log10(np.asarray(grid_lrs, dtype=np.float64))
    y = np.asarray(grid_accs, dtype=np.float64)
    if x.shape != y.shape or len(x) == 0:
        raise ValueError("grid_lrs and grid_accs must be non-empty and of the same length")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    order = np.argsort(x)
    return float(np.interp(math.log10(lr), x[order], y[order]))


def regret(grid_lrs: Sequence[float], grid_accs: Sequence[float], lr: float) -> float:
    """Best grid accuracy − :func:`interp_acc` at ``lr`` (same unit as the accuracies; ≥ 0)."""
    return float(np.max(grid_accs)) - interp_acc(grid_lrs, grid_accs, lr)


def mean_ci(values: Sequence[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95 % t-interval (NaN for one value)."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return math.nan, math.nan
    if len(v) == 1:
        return float(v[0]), math.nan
    return float(v.mean()), float(T95.get(len(v), 1.96) * v.std(ddof=1) / math.sqrt(len(v)))


# --------------------------------------------------------------------------------------------------
# Tasks and scales
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    name: str
    role: str        # 'eval': the benchmark; 'tuning': where lrkit's rules are chosen
    model: str
    optimizer: str   # 'sgd' | 'nesterov' (momentum 0.9, weight decay 5e-4) | 'adam' | 'adamw' (wd 0.05)
    schedule: str    # 'constant' | 'one_cycle' | 'cosine' (10 % linear warmup) | 'clr' (triangular2)
    batch_size: int
    grid: tuple[float, float]   # log10 of the grid's ends
    sweep: tuple[float, float]  # the range test's start and end LR (shared by every finder)

    @property
    def use(self) -> str:
        return USE_OF[self.schedule]


_SGD, _ADAM = (-3.5, -0.3), (-5.0, -1.8)
_SGD_PEAK, _ADAM_PEAK = (-2.8, 0.4), (-4.5, -1.3)
TASKS = {t.name: t for t in (
    # evaluation: nets × optimizers × uses × batch sizes
    Task("caffe_sgd_const_b100", "eval", "caffe_cifar10_full", "sgd", "constant", 100, _SGD, (1e-6, 10.0)),
    Task("resnet20_nesterov_1cycle_b64", "eval", "resnet20", "nesterov", "one_cycle", 64, _SGD_PEAK, (1e-6, 10.0)),
    Task("fastnet_adamw_1cycle_b128", "eval", "fastnet", "adamw", "one_cycle", 128, _ADAM_PEAK, (1e-7, 1.0)),
    Task("mlp_adam_const_b64", "eval", "mlp", "adam", "constant", 64, _ADAM, (1e-7, 1.0)),
    Task("fastnet_sgd_clr_b128", "eval", "fastnet", "sgd", "clr", 128, _SGD_PEAK, (1e-6, 10.0)),
    Task("caffe_adam_1cycle_b256", "eval", "caffe_cifar10_full", "adam", "one_cycle", 256, _ADAM_PEAK, (1e-7, 1.0)),
    Task("resnet20_adamw_const_b64", "eval", "resnet20", "adamw", "constant", 64, _ADAM, (1e-7, 1.0)),
    Task("mlp_nesterov_clr_b512", "eval", "mlp", "nesterov", "clr", 512, _SGD_PEAK, (1e-6, 10.0)),
    Task("caffe_nesterov_cosine_b128", "eval", "caffe_cifar10_full", "nesterov", "cosine", 128, _SGD_PEAK,
         (1e-6, 10.0)),
    # tuning: where lrkit's rule for each use is chosen
    Task("fastnet_sgd_const_b64", "tuning", "fastnet", "sgd", "constant", 64, _SGD, (1e-6, 10.0)),
    Task("caffe_adam_const_b128", "tuning", "caffe_cifar10_full", "adam", "constant", 128, _ADAM, (1e-7, 1.0)),
    Task("fastnet_nesterov_1cycle_b64", "tuning", "fastnet", "nesterov", "one_cycle", 64, _SGD_PEAK,
         (1e-6, 10.0)),
    Task("mlp_adamw_1cycle_b256", "tuning", "mlp", "adamw", "one_cycle", 256, _ADAM_PEAK, (1e-7, 1.0)),
    Task("resnet20_adam_clr_b64", "tuning", "resnet20", "adam", "clr", 64, _ADAM_PEAK, (1e-7, 1.0)),
    Task("mlp_sgd_clr_b256", "tuning", "mlp", "sgd", "clr", 256, _SGD_PEAK, (1e-6, 10.0)),
)}

SCALES = {
    # training / validation images per class (validation carved out of the training set), grid points,
    # seeds, iterations per training run, range-test points
    "smoke": dict(n_per_class=8, val_per_class=5, grid_points=3, seeds=2, iterations=4, sweep_iters=20,
                  tasks=("caffe_sgd_const_b100", "mlp_adam_const_b64", "mlp_sgd_clr_b256")),
    "full": dict(n_per_class=500, val_per_class=100, grid_points=9, seeds=3, iterations=200, sweep_iters=100,
                 tasks=tuple(TASKS)),
}


def grid_lrs(task: Task, points: int) -> list[float]:
    return [float(f"{v:.4g}") for v in 10.0 ** np.linspace(task.grid[0], task.grid[1], points)]


# --------------------------------------------------------------------------------------------------
# Units of work (module-level and picklable, so that an executor can run them in workers)
# --------------------------------------------------------------------------------------------------
_DATA: dict[str, Any] = {}


def _data(data_dir: str | None) -> Any:
    """CIFAR-10, loaded once per process."""
    from lrkit.data import load_cifar10

    key = str(data_dir)
    if key not in _DATA:
        _DATA[key] = load_cifar10(data_dir, download=False)
    return _DATA[key]


def _loaders(task: Task, seed: int, sc: dict[str, Any], data: Any):
    """The task's (train, val) loaders: the split is fixed (seed 0); ``seed`` sets the batch order."""
    from lrkit.data import BatchLoader, cifar10_loaders

    L = cifar10_loaders(data, batch_size=task.batch_size, n_per_class=sc["n_per_class"],
                        val_per_class=sc["val_per_class"], test_per_class=1, augment=False,
                        preprocess="channel", seed=0)
    train = BatchLoader(L.train.x, L.train.y, min(task.batch_size, L.train.num_examples), shuffle=True,
                        preprocess=L.preprocess, seed=seed)
    return train, L.val


def _model(task: Task, seed: int):
    from lrkit.models import get_model
    from lrkit.utils import seed_everything

    seed_everything(seed)
    return get_model(task.model)


def opt_factory(task: Task) -> Callable[..., Any]:
    """``make(params, lr=...)`` for the task's optimizer (what the peers call too)."""
    import torch

    kind = task.optimizer
    if kind in ("sgd", "nesterov"):
        return lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=5e-4,
                                                  nesterov=kind == "nesterov")
    if kind == "adam":
        return lambda params, lr: torch.optim.Adam(params, lr=lr)
    return lambda params, lr: torch.optim.AdamW(params, lr=lr, weight_decay=0.05)


def schedule_of(task: Task, lr: float, iterations: int):
    """The task's schedule with grid value ``lr`` (None: constant)."""
    from lrkit import schedules as S

    if task.schedule == "one_cycle":
        return S.OneCycle(lr, iterations)
    if task.schedule == "cosine":
        return S.warmup(S.Cosine(lr, iterations), max(1, iterations // 10), kind="linear", start=0.0)
    if task.schedule == "clr":
        from lrkit.rangetest import CLR_RATIO

        return S.triangular2(lr / CLR_RATIO, lr, max(1, iterations // 4))
    return None


def _config(kind: str, task: Task, seed: int, scale: str, sc: dict[str, Any], **kw: Any) -> dict[str, Any]:
    work = {k: v for k, v in sc.items() if k not in ("tasks", "seeds", "grid_points")}
    return {"kind": kind, "task": asdict(task), "seed": seed, "scale": scale, **work, **kw}


def unit_train(task_name: str, lr: float, seed: int, scale: str, out: str, data_dir: str | None) -> float:
    """Validation accuracy of the task trained at grid value ``lr`` with ``seed`` (stored, or trained)."""
    task, sc = TASKS[task_name], SCALES[scale]
    path = Path(out) / task_name / f"seed{seed}" / f"train_lr{lr:.4g}.json"

    def compute() -> dict[str, Any]:
        from lrkit.training import fit

        train, val = _loaders(task, seed, sc, _data(data_dir))
        model = _model(task, seed)
        opt = opt_factory(task)(model.parameters(), lr=lr)
        sched = schedule_of(task, lr, sc["iterations"])
        mom = "auto" if task.schedule in ("one_cycle", "clr") else None
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            h = fit(model, opt, train, iterations=sc["iterations"], schedule=sched, momentum=mom,
                    eval_data=val, progress=False, channels_last=task.model != "mlp")
        ev = h.final_eval()
        return {"val_acc": float(ev["acc"]), "val_loss": float(ev["loss"]), "final_train_loss": h.train_loss[-1],
                "seconds": time.perf_counter() - t0}

    return store.cached(path, _config("train", task, seed, scale, sc, lr=lr), compute)["val_acc"]


def unit_sweep(task_name: str, finder: str, seed: int, scale: str, out: str, data_dir: str | None) -> dict[str, Any]:
    """One finder's range test on the task from the seed's init and batches (stored, or run)."""
    task, sc = TASKS[task_name], SCALES[scale]
    path = Path(out) / task_name / f"seed{seed}" / f"sweep_{finder}.json"

    def compute() -> dict[str, Any]:
        import torch

        train, _ = _loaders(task, seed, sc, _data(data_dir))
        batches = [train.get_batch(i) for i in range(sc["sweep_iters"])]
        model = _model(task, seed)
        t0 = time.perf_counter()
        if finder == "lrkit":
            from lrkit.rangetest import lr_find

            rt = lr_find(model, batches, opt_factory(task)(model.parameters(), lr=task.sweep[0]),
                         start_lr=task.sweep[0], end_lr=task.sweep[1], num_iter=len(batches), progress=False)
            res = {"lr": rt.sweep_lr.tolist(), "loss": rt.loss.tolist(), "smoothing": rt.smoothing,
                   "reason": rt.reason, "suggestions": {}}
        else:
            try:
                sw = peers.SWEEPS[finder](model, opt_factory(task), torch.nn.CrossEntropyLoss(), batches,
                                          task.sweep[0], task.sweep[1], diverge=True)
            except Exception as e:  # noqa: BLE001 - a peer failing is reported (it has no suggestion), not fatal
                return {"lr": [], "loss": [], "suggestions": {}, "error": f"{type(e).__name__}: {e}", "points": 0,
                        "seconds": time.perf_counter() - t0}
            res = {"lr": sw.lr, "loss": sw.loss, "suggestions": sw.suggestions}
        return {**res, "points": len(res["lr"]), "seconds": time.perf_counter() - t0}

    return store.cached(path, _config("sweep", task, seed, scale, sc, finder=finder, start_lr=task.sweep[0],
                                      end_lr=task.sweep[1]), compute)


def _call(unit: tuple[Callable[..., Any], tuple[Any, ...]]) -> Any:
    fn, args = unit
    return fn(*args)


# --------------------------------------------------------------------------------------------------
# lrkit's suggestions, recomputed from a stored sweep
# --------------------------------------------------------------------------------------------------
def lrkit_suggestions(sweep: dict[str, Any], use: str) -> dict[str, float]:
    """``{"lrkit": the documented rule for use, "cand:<rule>": each candidate (bootstrapped)}``."""
    from lrkit.rangetest import RangeTest

    rt = RangeTest(sweep_lr=sweep["lr"], loss=[math.nan if v is None else v for v in sweep["loss"]],
                   smoothing=sweep.get("smoothing", 0.05))
    out = {"lrkit": rt.suggest(for_=use).lr}
    for c in CANDIDATES:
        out[f"cand:{c}"] = rt.suggest("robust", base=c).lr
    return out


def peer_suggestions(finder: str, sweep: dict[str, Any]) -> dict[str, float]:
    return {f"{finder}:{rule}": lr for rule, lr in sweep["suggestions"].items() if lr is not None}


# --------------------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------------------
def summarize(per: dict[tuple[str, int], dict[str, Any]], tasks: Sequence[str], methods: Sequence[str]
              ) -> dict[str, Any]:
    """Per use and method: mean regret (pp) over (task, seed) and its 95 % t-interval over seeds."""
    out: dict[str, Any] = {}
    for use in ("constant", "one_cycle", "clr"):
        names = [t for t in tasks if TASKS[t].use == use]
        if not names:
            continue
        seeds = sorted({s for (t, s) in per if t in names})
        res = {}
        for m in methods:
            by_seed = []
            for s in seeds:
                v = [per[t, s]["regret"][m] for t in names if (t, s) in per and m in per[t, s]["regret"]]
                if len(v) == len(names):
                    by_seed.append(float(np.mean(v)))
            if len(by_seed) == len(seeds) and seeds:
                mean, half = mean_ci(by_seed)
                res[m] = {"mean_pp": mean, "ci95_pp": half, "per_seed_pp": by_seed}
        out[use] = {"tasks": names, "seeds": seeds, "methods": res}
    return out


def _fmt(r: dict[str, Any] | None) -> str:
    if r is None:
        return "n/a"
    ci = "" if math.isnan(r["ci95_pp"]) else f" ± {r['ci95_pp']:.1f}"
    return f"{r['mean_pp']:.2f}{ci}"


def render(summary: dict[str, Any], methods: Sequence[str], title: str) -> str:
    lines = [f"### {title}", "", "| use (tasks) | " + " | ".join(methods) + " |", "|---|" + "---:|" * len(methods)]
    for use, u in summary.items():
        lines.append(f"| {use} ({len(u['tasks'])} × {len(u['seeds'])} seeds) | "
                     + " | ".join(_fmt(u["methods"].get(m)) for m in methods) + " |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------------
FINDERS = ("lrkit", *peers.PEERS)


def run(scale: str = "full", out: str | Path | None = None, *, tasks: Sequence[str] | None = None,
        finders: Sequence[str] | None = None, data_dir: str | None = None, executor: str = "serial",
        workers: int | None = None, threads: int | None = 1, log: Callable[..., None] = print) -> dict[str, Any]:
    """Run (or resume) the benchmark; returns the summary (also written as summary.json and table.md)."""
    import torch

    from lrkit.rangetest import USE_RULES

    sc = SCALES[scale]
    out = Path(out) if out is not None else ROOT / "results" / "suggestion_quality" / scale
    tasks = list(tasks or sc["tasks"])
    finders = [f for f in (finders or FINDERS)]
    unknown = sorted(set(tasks) - set(TASKS)) + sorted(set(finders) - set(FINDERS))
    if unknown:
        raise BenchError(f"unknown tasks or finders: {unknown}")
    notes, avail = [], {}
    for f in finders:
        avail[f] = None if f == "lrkit" else peers.available(f)
        if avail[f]:
            notes.append(f"{f}: n/a here ({avail[f]})")
            log(f"note: {f} is n/a here ({avail[f]})")
    _data(data_dir)  # fail here, before any work, if the data is missing
    if threads:
        torch.set_num_threads(threads)
    seeds = range(sc["seeds"])
    t_start = time.perf_counter()
    # the tuning tasks first (they choose the rules), each task's sweeps right after its grid
    order = sorted(tasks, key=lambda t: TASKS[t].role != "tuning")
    units = [(unit_train, (t, lr, s, scale, str(out), data_dir)) for t in order for s in seeds
             for lr in grid_lrs(TASKS[t], sc["grid_points"])]
    units += [(unit_sweep, (t, f, s, scale, str(out), data_dir)) for t in order for s in seeds for f in finders
              if not avail[f]]
    units.sort(key=lambda u: order.index(u[1][0]))  # stable: per task, its trainings then its sweeps
    if executor == "serial":
        done = [fn(*a) for fn, a in units]
    else:
        from lrkit.bench.executors import get_executor, run_all

        with get_executor(executor, workers=workers, threads=threads) as ex:
            done = run_all(ex, _call, units)
    trains = [a for (fn, a) in units if fn is unit_train]
    accs = [d for (fn, _), d in zip(units, done, strict=True) if fn is unit_train]
    sweeps = [a for (fn, a) in units if fn is unit_sweep]
    sw = [d for (fn, _), d in zip(units, done, strict=True) if fn is unit_sweep]
    acc_of = {(a[0], a[1], a[2]): v for a, v in zip(trains, accs, strict=True)}
    sweep_of = {(a[0], a[1], a[2]): v for a, v in zip(sweeps, sw, strict=True)}
    per: dict[tuple[str, int], dict[str, Any]] = {}
    methods: list[str] = ["lrkit"]
    for t in tasks:
        task = TASKS[t]
        lrs = grid_lrs(task, sc["grid_points"])
        for s in seeds:
            accs_ts = [acc_of[t, lr, s] for lr in lrs]
            sugg: dict[str, float] = {}
            for f in finders:
                if (t, f, s) not in sweep_of:
                    continue
                rec = sweep_of[t, f, s]
                if rec.get("error"):
                    notes.append(f"{t} seed {s}: {f} failed: {rec['error']}")
                got = lrkit_suggestions(rec, task.use) if f == "lrkit" else peer_suggestions(f, rec)
                sugg.update(got)
                methods += [m for m in got if m not in methods]
            per[t, s] = {"grid_lrs": lrs, "grid_accs": accs_ts, "suggestions": sugg,
                         "regret": {m: 100 * regret(lrs, accs_ts, lr) for m, lr in sugg.items()},
                         "best_at_edge": int(np.argmax(accs_ts)) in (0, len(lrs) - 1)}
    cands = [m for m in methods if m.startswith("cand:")]
    shown = [m for m in methods if not m.startswith("cand:")]
    ev = [t for t in tasks if TASKS[t].role == "eval"]
    tu = [t for t in tasks if TASKS[t].role == "tuning"]
    s_eval = summarize(per, ev, methods)
    s_tune = summarize(per, tu, methods)
    chosen = {use: min(cands, key=lambda m: u["methods"].get(m, {"mean_pp": math.inf})["mean_pp"])
              .removeprefix("cand:") for use, u in s_tune.items() if cands}
    verdicts = {}
    for use, u in s_eval.items():
        done = {m: r["mean_pp"] for m, r in u["methods"].items() if m in shown}
        best = min(done.values()) if done else math.nan
        verdicts[use] = {"lowest": sorted(m for m, v in done.items() if v == best),
                         "lrkit_is_lowest": "lrkit" in done and done["lrkit"] == best,
                         "library_rule": USE_RULES[use], "tuning_choice": chosen.get(use),
                         "library_matches_tuning": chosen.get(use) == USE_RULES[use]}
    compute_s = sum(float(read_json(p).get("seconds") or 0.0) for p in out.rglob("seed*/*.json"))
    summary = {"scale": scale, **{k: v for k, v in sc.items() if k != "tasks"}, "tasks": tasks,
               "finders": finders, "notes": notes, "eval": s_eval, "tuning": s_tune, "verdicts": verdicts,
               "per_task": {f"{t}/seed{s}": v for (t, s), v in per.items()},
               "compute_seconds_recorded": compute_s, "wall_seconds_this_call": time.perf_counter() - t_start}
    md = [f"# Suggestion quality ({scale})", "",
          f"{sc['n_per_class']} training / {sc['val_per_class']} validation images per class (validation carved "
          f"out of the CIFAR-10 training set), {sc['grid_points']} grid LRs per task, {sc['seeds']} seeds (a seed "
          f"sets the initial weights and the batch order), {sc['iterations']} iterations per training run; every "
          f"finder sweeps {sc['sweep_iters']} iterations on the same batches from the same init. Cells: mean "
          f"regret in pp over (task, seed) ± the 95 % t-interval over seeds. Compute recorded in the result "
          f"files: {compute_s / 3600:.2f} h of {threads or torch.get_num_threads()}-thread work.", "",
          render(s_eval, shown, f"Evaluation tasks ({len(ev)})"), ""]
    for use, v in verdicts.items():
        md.append(f"- **{use}**: lowest mean regret: {', '.join(v['lowest'])} → lrkit's rule (`{v['library_rule']}`) "
                  f"is {'' if v['lrkit_is_lowest'] else 'NOT '}the lowest. Tuning tasks choose `{v['tuning_choice']}`"
                  f" → {'matches' if v['library_matches_tuning'] else 'DIFFERS from'} the library.")
    edges = sorted({t for (t, s), v in per.items() if v["best_at_edge"]})
    md += ["", f"Best grid LR at a grid edge (task/seed): {', '.join(edges) or 'none'}.", "",
           render(s_tune, shown + cands, f"Tuning tasks ({len(tu)}): where the rules are chosen"), ""]
    md += [f"- {n}" for n in notes]
    atomic_write_text(out / "table.md", "\n".join(md) + "\n")
    atomic_write_text(out / "summary.json", dumps(summary, indent=1))
    log("\n".join(md))
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--scale", choices=list(SCALES), default="full")
    ap.add_argument("--out", default=None, help="results folder (default benchmarks/results/suggestion_quality/SCALE)")
    ap.add_argument("--tasks", nargs="*", choices=list(TASKS), default=None)
    ap.add_argument("--finders", nargs="*", choices=list(FINDERS), default=None)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--executor", default="serial", help="serial, local, submitit or ray (lrkit.bench.executors)")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    args = ap.parse_args(argv)
    try:
        run(args.scale, args.out, tasks=args.tasks, finders=args.finders, data_dir=args.data_dir,
            executor=args.executor, workers=args.workers, threads=args.threads)
    except (BenchError, ValueError, OSError) as e:
        print(f"bench_suggestion_quality: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
