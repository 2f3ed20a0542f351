"""Suggestion quality of LR finders: how good is the LR each finder suggests, on real CIFAR-10 tasks?

For every task (model + optimizer + LR policy) the script

1. trains from one fixed initialisation at every LR of a log grid (for one-cycle tasks the grid
   value is ``max_lr``) with :func:`lrkit.train.fit`, and measures the accuracy on a held-out
   **validation** split (carved out of the CIFAR-10 training set; the test set is never used);
2. runs the LR range test of every finder from the *same* initialisation, on the *same* pre-drawn
   training batches (same number of iterations), with the same start/end LR and each library's own
   default divergence stop:

   - lrkit :func:`lrkit.finder.lr_find` → ``'robust'`` (with its interval), ``'valley'``,
     ``'steepest'``, ``'minimum'``;
   - torch-lr-finder ``LRFinder.range_test`` → the LR ``plot(suggest_lr=True)`` returns (steepest
     gradient; drawn on an off-screen Agg figure), if ``torch_lr_finder`` imports;
   - fastai ``Learner.lr_find(suggest_funcs=(valley,))`` → ``valley``, if ``fastai`` imports
     (run the script with a Python that has fastai, else the column reads n/a);
   - Lightning ``Tuner.lr_find`` → ``suggestion()`` (steepest gradient over the LR), if
     ``lightning`` imports;

   (the peers are driven by ``benchmarks/peers.py``);
3. scores each suggestion by its **regret** = best grid accuracy − accuracy at the suggested LR, the
   latter read off the grid's accuracy-vs-log10(LR) curve by linear interpolation in log10 LR,
   clamped to the end values outside the grid (:func:`regret`). Regret is ≥ 0 by construction.

Two sets of tasks. The **evaluation** tasks (``role='eval'``) are the benchmark: its table and mean
regret. The **tuning** tasks (``role='tuning'``: other model/optimizer/policy combinations) are where
lrkit's ``'robust'`` rule was chosen: the bootstrap of each point rule (``robust[valley]``,
``robust[steepest]``, ``robust[minimum]``) is scored there only, and the one with the lowest mean
regret is what ``suggest('robust')`` uses (:data:`lrkit.finder.ROBUST_BASE`). The script checks that
the library's choice is still the tuning tasks' winner and says so in ``table.md``. lrkit's
suggestions are recomputed from the stored sweep curves with the installed lrkit, so a changed rule
needs no new sweep.

Every (task, grid LR) training and every (task, finder) sweep is written as its own JSON (atomically,
:func:`lrkit.train.atomic_write_text`) under ``--out`` (default
``benchmarks/results/suggestion_quality/<scale>``) and re-used when it already exists with the same
config, so a killed run resumes; an existing file with a *different* config is an error (delete it
or use another ``--out``), never overwritten. At the end ``table.md``, ``summary.json`` and one
figure per task (``<task>.png``) are (re)written from those JSONs.

    python benchmarks/bench_suggestion_quality.py --scale smoke      # < 1 min, used by the tests
    python benchmarks/bench_suggestion_quality.py --scale lite       # ~20-40 min on 1 CPU thread

CIFAR-10 is found through ``LRKIT_DATA_DIR`` (or lrkit's cache); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/peers.py

import peers  # noqa: E402

from lrkit.bench import store  # noqa: E402
from lrkit.bench.store import BenchError  # noqa: E402
from lrkit.utils import atomic_write_text  # noqa: E402

ROOT = Path(__file__).resolve().parent
LRKIT_METHODS = ("robust", "valley", "steepest", "minimum")
METHODS = tuple(f"lrkit:{m}" for m in LRKIT_METHODS) + ("torch-lr-finder:steepest", "fastai:valley",
                                                         "lightning:steepest")
ROBUST_BASES = ("valley", "steepest", "minimum")  # the candidates for lrkit's robust rule
CANDIDATES = tuple(f"lrkit:robust[{b}]" for b in ROBUST_BASES)


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


# --------------------------------------------------------------------------------------------------
# Tasks and scales
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    name: str
    model: str
    optimizer: str  # 'sgd' (momentum 0.9) or 'adam'
    policy: str  # 'constant' or 'onecycle' (grid value = max_lr)
    grid_lo: float  # log10 of the grid ends
    grid_hi: float
    sweep_start: float
    sweep_end: float
    weight_decay: float = 0.0
    role: str = "eval"  # 'eval': the benchmark's table; 'tuning': where the robust rule is chosen


TASKS = {  # SGD: momentum 0.9; the sweep range is shared by every finder of a task
    t.name: t for t in (
        Task("caffe_sgd_const", "caffe_cifar10_full", "sgd", "constant", -3.5, -0.5, 1e-6, 10.0, 5e-4),
        Task("fastnet_sgd_1cycle", "fastnet", "sgd", "onecycle", -2.5, 0.5, 1e-6, 10.0, 5e-4),
        Task("caffe_adam_const", "caffe_cifar10_full", "adam", "constant", -5.0, -2.0, 1e-7, 1.0, 0.0),
        # held-out tuning tasks: other model/optimizer/policy pairs (the robust rule is chosen here)
        Task("resnet20_sgd_const", "resnet20", "sgd", "constant", -3.0, 0.0, 1e-6, 10.0, 5e-4, "tuning"),
        Task("caffe_sgd_1cycle", "caffe_cifar10_full", "sgd", "onecycle", -3.0, 0.0, 1e-6, 10.0, 5e-4, "tuning"),
        Task("fastnet_adam_const", "fastnet", "adam", "constant", -4.5, -1.5, 1e-7, 1.0, 0.0, "tuning"),
    )
}

SCALES = {
    # n_per_class / val_per_class: training / validation images per class (val carved from train)
    "smoke": dict(n_per_class=8, val_per_class=5, batch_size=16, grid_points=2, epochs=None,
                  iterations=5, sweep_iters=20, seed=0),
    "lite": dict(n_per_class=400, val_per_class=100, batch_size=128, grid_points=7, epochs=3,
                 iterations=None, sweep_iters=100, seed=0),
}


def grid_lrs(task: Task, points: int) -> list[float]:
    return [float(f"{v:.4g}") for v in 10.0 ** np.linspace(task.grid_lo, task.grid_hi, points)]


# --------------------------------------------------------------------------------------------------
# Result files: one JSON per unit of work, resumable, never overwritten with another config
# --------------------------------------------------------------------------------------------------
def cached(path: Path, config: dict[str, Any], compute) -> dict[str, Any]:
    """The stored ``{"config", "result", "seconds"}`` record at ``path`` if its config equals ``config``,
    else ``compute()`` it and store it (lrkit's results store: :func:`lrkit.bench.store.cached`)."""
    def timed() -> dict[str, Any]:
        t0 = time.perf_counter()
        result = compute()
        return {"result": result, "seconds": time.perf_counter() - t0}

    return store.cached(path, config, timed)


# --------------------------------------------------------------------------------------------------
# Models, optimizers, data
# --------------------------------------------------------------------------------------------------
def make_model(task: Task, seed: int) -> nn.Module:
    from lrkit.models import get_model
    from lrkit.utils import seed_everything

    seed_everything(seed)
    return get_model(task.model)


def make_opt(task: Task, params, lr: float) -> torch.optim.Optimizer:
    return opt_factory(task)(params, lr=lr)


def opt_factory(task: Task):
    if task.optimizer == "sgd":
        return partial(torch.optim.SGD, momentum=0.9, weight_decay=task.weight_decay)
    if task.optimizer == "adam":
        return partial(torch.optim.Adam, weight_decay=task.weight_decay)
    raise ValueError(task.optimizer)


def make_loaders(data, sc: dict[str, Any]):
    from lrkit.data import cifar10_loaders

    return cifar10_loaders(data, batch_size=sc["batch_size"], n_per_class=sc["n_per_class"],
                           val_per_class=sc["val_per_class"], test_per_class=1, augment=False,
                           preprocess="channel", seed=sc["seed"])


def sweep_batches(loader, n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    out: list = []
    while len(out) < n:
        for b in loader:
            out.append(b)
            if len(out) == n:
                break
    return out


# --------------------------------------------------------------------------------------------------
# Units of work
# --------------------------------------------------------------------------------------------------
def train_at(task: Task, lr: float, loaders, sc: dict[str, Any]) -> dict[str, Any]:
    from lrkit.schedules import OneCycle
    from lrkit.train import fit

    model = make_model(task, sc["seed"])
    opt = make_opt(task, model.parameters(), lr)
    iters = sc["iterations"] or int(round(sc["epochs"] * len(loaders.train)))
    schedule = OneCycle(lr, iters) if task.policy == "onecycle" else None
    momentum = "auto" if task.policy == "onecycle" else None
    loaders.train._epoch = 0  # every run sees the same batch order
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = fit(model, opt, loaders.train, iterations=iters, schedule=schedule, momentum=momentum,
                eval_data=loaders.val, progress=False, desc=f"{task.name} lr={lr:g}")
    ev = h.final_eval()
    acc = float(ev["acc"])
    loss = float(ev["loss"])
    tl = [float(v) for v in h.train_loss]
    return {"val_acc": acc, "val_loss": loss if math.isfinite(loss) else None, "iterations": iters,
            "final_train_loss": tl[-1] if math.isfinite(tl[-1]) else None}


def sweep_lrkit(task: Task, batches, sc) -> dict[str, Any]:
    from lrkit.finder import lr_find

    model = make_model(task, sc["seed"])
    opt = make_opt(task, model.parameters(), task.sweep_start)
    rt = lr_find(model, batches, opt, start_lr=task.sweep_start, end_lr=task.sweep_end,
                 num_iter=len(batches), progress=False)
    return {"points": len(rt), "reason": rt.reason, "lr": rt.sweep_lr.tolist(),
            "loss": [v if math.isfinite(v) else None for v in rt.loss.tolist()],
            "smoothing": rt.smoothing, "suggestions": lrkit_suggestions(rt)}


def lrkit_suggestions(rt) -> dict[str, dict[str, float]]:
    """Every lrkit rule on a RangeTest: the four named methods and the robust candidates."""
    out = {}
    for m in LRKIT_METHODS:
        s = rt.suggest(m)
        out[m] = {"lr": s.lr, "low": s.low, "high": s.high}
    for b in ROBUST_BASES:
        s = rt.suggest("robust", base=b)
        out[f"robust[{b}]"] = {"lr": s.lr, "low": s.low, "high": s.high}
    return out


def lrkit_from_record(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Recompute lrkit's suggestions from a stored sweep curve with the installed lrkit (the curve
    holds only finite points: lr_find stops at the first non-finite loss)."""
    from lrkit.suggest import RangeTest

    rt = RangeTest(sweep_lr=result["lr"], loss=[math.nan if v is None else v for v in result["loss"]],
                   smoothing=result.get("smoothing", 0.05))
    return lrkit_suggestions(rt)


def sweep_peer(peer: str, task: Task, batches, sc) -> dict[str, Any]:
    """One peer library's range test (``benchmarks/peers.py``) with its own default divergence stop."""
    model = make_model(task, sc["seed"])
    sw = peers.SWEEPS[peer](model, opt_factory(task), nn.CrossEntropyLoss(), batches, task.sweep_start,
                            task.sweep_end, diverge=True)
    return {"points": sw.points, "lr": sw.lr, "loss": sw.loss, "suggestions": {sw.rule: {"lr": sw.suggestion}}}


FINDERS = {"lrkit": sweep_lrkit, **{p: partial(sweep_peer, p) for p in peers.PEERS}}


def finder_available(name: str) -> str | None:
    """None if the finder can run here, else why not."""
    return None if name == "lrkit" else peers.available(name)


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------
def fmt_lr(x: float) -> str:
    return f"{x:.2g}"


def summarize(task_results: dict[str, dict[str, Any]],
              methods: Sequence[str] = METHODS) -> tuple[str, dict[str, Any]]:
    """Markdown table and summary dict (per-task regrets, mean regret per method) of ``methods``."""
    header = ["task", "best grid LR (val acc)"] + list(methods)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    regrets: dict[str, list[float]] = {m: [] for m in methods}
    summary: dict[str, Any] = {"tasks": {}}
    for name, r in task_results.items():
        lrs, accs = r["grid_lrs"], r["grid_accs"]
        ib = int(np.argmax(accs))
        edge = " ⚠ grid edge" if ib in (0, len(lrs) - 1) and len(lrs) > 2 else ""
        row = [name, f"{fmt_lr(lrs[ib])} ({100 * accs[ib]:.1f}%){edge}"]
        ts = {"best_lr": lrs[ib], "best_acc": accs[ib], "grid_lrs": lrs, "grid_accs": accs, "methods": {}}
        for m in methods:
            s = r["suggestions"].get(m)
            if s is None or s.get("lr") is None:
                row.append("n/a" if s is None else "none")
                continue
            g = 100 * regret(lrs, accs, s["lr"])
            regrets[m].append(g)
            cell = f"{fmt_lr(s['lr'])} ({g:.1f} pp)"
            if m.startswith("lrkit:robust"):
                cell = f"{fmt_lr(s['lr'])} [{fmt_lr(s['low'])}, {fmt_lr(s['high'])}] ({g:.1f} pp)"
            row.append(cell)
            ts["methods"][m] = {**s, "regret_pp": g}
        lines.append("| " + " | ".join(row) + " |")
        summary["tasks"][name] = ts
    n_tasks = len(task_results)
    mean_row = ["**mean regret**", ""]
    summary["mean_regret_pp"] = {}
    for m in methods:
        v = regrets[m]
        if not v:
            mean_row.append("n/a")
            continue
        mu = float(np.mean(v))
        summary["mean_regret_pp"][m] = mu
        mean_row.append(f"**{mu:.2f} pp**" + ("" if len(v) == n_tasks else f" ({len(v)}/{n_tasks} tasks)"))
    lines.append("| " + " | ".join(mean_row) + " |")
    complete = {m: v for m, v in summary["mean_regret_pp"].items() if len(regrets[m]) == n_tasks}
    if complete:
        best = min(complete.values())
        winners = [m for m, v in complete.items() if v == best]
        summary["lowest_mean_regret"] = winners
        summary["robust_is_lowest"] = "lrkit:robust" in winners
    return "\n".join(lines), summary


def plot_task(name: str, r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    lrs, accs = np.asarray(r["grid_lrs"]), 100 * np.asarray(r["grid_accs"])
    ax.semilogx(lrs, accs, "o-", color="k", label="grid (val acc)")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, m in enumerate(METHODS):
        s = r["suggestions"].get(m)
        if not s or s.get("lr") is None:
            continue
        c = colors[i % len(colors)]
        ax.axvline(s["lr"], color=c, ls="--", lw=1.2, label=f"{m} {fmt_lr(s['lr'])}")
        if m == "lrkit:robust" and s["low"] < s["high"]:
            ax.axvspan(s["low"], s["high"], color=c, alpha=0.12)
    ax.set_xlabel("learning rate (max_lr for one-cycle)")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(name)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------------
def run(scale: str = "lite", out: str | Path | None = None, tasks: Sequence[str] | None = None,
        finders: Sequence[str] | None = None, data=None, threads: int | None = 1,
        log=print) -> dict[str, Any]:
    """Run (or resume) the benchmark; returns the summary dict (also written as summary.json)."""
    from lrkit.data import load_cifar10

    if threads:
        torch.set_num_threads(threads)
    sc = SCALES[scale]
    out = Path(out) if out is not None else ROOT / "results" / "suggestion_quality" / scale
    tasks = list(tasks or TASKS)
    finders = list(finders or FINDERS)
    if data is None:
        data = load_cifar10(download=False)
    loaders = make_loaders(data, sc)
    common = {"scale": scale, **sc, "data_source": Path(str(loaders.source)).name,
              "n_train": loaders.train.num_examples, "n_val": loaders.val.num_examples}
    notes = []
    avail = {f: finder_available(f) for f in finders}
    for f, why in avail.items():
        if why:
            notes.append(f"{f}: n/a ({why})")
            log(f"note: {f} is n/a here ({why})")
    t_start = time.perf_counter()
    task_results = {}
    compute_s = 0.0  # seconds recorded in the result files (the cost of the run, across resumes)
    for tname in tasks:
        task = TASKS[tname]
        # the role is not part of the work unit: it only decides which table a task goes into
        tcfg = {**common, "task": {k: v for k, v in asdict(task).items() if k != "role"}}
        lrs = grid_lrs(task, sc["grid_points"])
        accs = []
        for lr in lrs:
            t0 = time.perf_counter()
            rec = cached(out / tname / f"train_lr{lr:.4g}.json", {**tcfg, "kind": "train", "lr": lr},
                         lambda lr=lr, task=task: train_at(task, lr, loaders, sc))
            accs.append(rec["result"]["val_acc"])
            log(f"[{time.perf_counter() - t_start:7.1f}s] {tname} train lr={lr:.4g}: "
                f"val acc {100 * accs[-1]:.1f}% ({time.perf_counter() - t0:.1f}s this call)")
        loaders.train._epoch = 0
        batches = sweep_batches(loaders.train, sc["sweep_iters"])
        suggestions: dict[str, Any] = {}
        for f in finders:
            if avail[f]:
                continue
            t0 = time.perf_counter()
            scfg = {**tcfg, "kind": "sweep", "finder": f, "start_lr": task.sweep_start,
                    "end_lr": task.sweep_end, "num_iter": sc["sweep_iters"]}
            try:
                rec = cached(out / tname / f"sweep_{f}.json", scfg,
                             lambda f=f, t=task, b=batches: FINDERS[f](t, b, sc))
            except BenchError:
                raise
            except Exception as e:  # noqa: BLE001 - a foreign finder failing is reported, not fatal
                notes.append(f"{tname} {f} failed: {type(e).__name__}: {e}")
                log(f"note: {tname} {f} failed: {type(e).__name__}: {e}")
                continue
            found = lrkit_from_record(rec["result"]) if f == "lrkit" else rec["result"]["suggestions"]
            for m, s in found.items():
                suggestions[f"{f}:{m}"] = s
            log(f"[{time.perf_counter() - t_start:7.1f}s] {tname} sweep {f}: "
                f"{rec['result']['points']} points, "
                + ", ".join(f"{m}={s['lr']:.3g}" if s["lr"] is not None else f"{m}=none"
                            for m, s in found.items())
                + f" ({time.perf_counter() - t0:.1f}s this call)")
        task_results[tname] = {"grid_lrs": lrs, "grid_accs": accs, "suggestions": suggestions}
        compute_s += sum(json.loads(p.read_text()).get("seconds", 0.0) for p in (out / tname).glob("*.json"))
        plot_task(tname, task_results[tname], out / f"{tname}.png")
    from lrkit.suggest import ROBUST_BASE

    evals = {k: v for k, v in task_results.items() if TASKS[k].role == "eval"}
    tuning = {k: v for k, v in task_results.items() if TASKS[k].role == "tuning"}
    table, summary = summarize(evals)
    every = summarize(task_results, METHODS + CANDIDATES)[1]["tasks"]  # every task, every method
    summary["tasks"] = {k: {**v, "role": TASKS[k].role} for k, v in every.items()}
    tuning_md = ""
    if tuning:
        t_table, t_summary = summarize(tuning, CANDIDATES + METHODS[1:])
        cand = {m: v for m, v in t_summary["mean_regret_pp"].items() if m in CANDIDATES}
        chosen = min(cand, key=cand.get).removeprefix("lrkit:robust[").rstrip("]") if cand else None
        summary["tuning"] = {"tasks": sorted(tuning), "mean_regret_pp": t_summary["mean_regret_pp"],
                             "best_candidate": chosen, "library_robust_base": ROBUST_BASE,
                             "library_matches": chosen == ROBUST_BASE}
        tuning_md = (f"\n## Choosing the robust rule (held-out tuning tasks: {', '.join(sorted(tuning))})\n\n"
                     f"{t_table}\n\nLowest mean regret among the robust candidates: `robust[{chosen}]`; "
                     f"lrkit's `ROBUST_BASE` is `{ROBUST_BASE}` → "
                     f"{'matches' if chosen == ROBUST_BASE else 'DIFFERS (update lrkit.finder.ROBUST_BASE)'}.\n")
    summary.update(scale=scale, notes=notes, wall_seconds_this_call=time.perf_counter() - t_start,
                   compute_seconds_recorded=compute_s,
                   regret_definition="best grid val acc - val acc at the suggested LR, interpolated "
                                     "linearly in log10(LR) over the grid, clamped outside it; in pp")
    md = (f"# Suggestion quality ({scale})\n\n"
          f"{common['n_train']} training / {common['n_val']} validation images (validation carved out of "
          f"the CIFAR-10 training set), {sc['grid_points']} grid LRs per task, "
          f"{sc['epochs'] or sc['iterations']} {'epochs' if sc['epochs'] else 'iterations'}, batch "
          f"{sc['batch_size']}, seed {sc['seed']}; every finder sweeps {sc['sweep_iters']} iterations "
          f"on the same batches from the same init. Cells: suggested LR (regret in percentage points = "
          f"best grid val acc − val acc at the suggestion, linear interpolation in log10 LR, clamped "
          f"outside the grid). ⚠ grid edge: the best grid LR is an end point of the grid, so the "
          f"optimum may lie outside it. Compute time recorded in the result files: {compute_s:.0f} s "
          f"({torch.get_num_threads()} torch thread(s)).\n\n## Evaluation tasks: "
          f"{', '.join(evals) or 'none'}\n\n{table}\n")
    if notes:
        md += "\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    if "robust_is_lowest" in summary:
        md += (f"\nLowest mean regret: {', '.join(summary['lowest_mean_regret'])} — lrkit robust is "
               f"{'' if summary['robust_is_lowest'] else 'NOT '}the lowest.\n")
    md += tuning_md
    atomic_write_text(out / "table.md", md)
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1))
    log(md)
    return summary


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", choices=list(SCALES), default="lite")
    ap.add_argument("--out", default=None,
                    help="results dir (default benchmarks/results/suggestion_quality/<scale>)")
    ap.add_argument("--tasks", nargs="*", choices=list(TASKS), default=None)
    ap.add_argument("--finders", nargs="*", choices=list(FINDERS), default=None)
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    args = ap.parse_args(argv)
    try:
        return run(args.scale, args.out, args.tasks, args.finders, threads=args.threads)
    except BenchError as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
