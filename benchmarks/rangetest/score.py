"""Score LR suggestions on the benchmark's stored units: each task's seed-mean response curve, every finder's
regret on it, the fit of lrkit's reading on the tuning half, and the tables of BENCHMARKS.md §3."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import grid as G
from . import tasks as R

SEEDS = 2
#: lrkit's per-use rules before this benchmark (bootstrapped, on the causal EMA): the comparison with the past
OLD_RULES = {"constant": "min/10", "one_cycle": "min/3", "clr": "steepest"}


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------
def _complete(task: R.Task, full: dict[float, list[float]], sweeps: dict, seeds: int) -> bool:
    """Every unit of the task has run: no grid LR left to train, every finder's default sweep for every seed."""
    from . import units

    grid_done = not G.next_points(G.grid_points_of(task), full, seeds, R.chance(task))
    return grid_done and all((f, s, "default") in sweeps for f in units.FINDERS for s in range(seeds))


def load_task(task: R.Task, out: Path, seeds: int = SEEDS, complete_only: bool = True) -> dict[str, Any] | None:
    """The task's seed-mean response curve and its sweeps ``{(finder, seed, variant): record}`` (None while
    fewer than 5 grid LRs have every seed, and with ``complete_only`` while any of its units has not run: a task
    enters a report whole or not at all)."""
    from lrkit.utils import read_json

    pts: dict[float, list[float | None]] = {}
    sweeps: dict[tuple[str, int, str], dict[str, Any]] = {}
    for s in range(seeds):
        folder = out / "tasks" / task.name / f"seed{s}"
        for p in folder.glob("train_lr*.json"):
            rec = read_json(p)
            pts.setdefault(float(rec["config"]["lr"]), [None] * seeds)[s] = rec["val_acc"]
        for p in folder.glob("sweep_*.json"):
            rec = read_json(p)
            sweeps[rec["config"]["finder"], s, rec["config"]["variant"]] = rec
    full = {lr: a for lr, a in pts.items() if all(v is not None for v in a)}
    if len(full) < 5:
        return None
    if complete_only and not _complete(task, full, sweeps, seeds):
        return None
    lrs, acc = G.response(full, seeds)
    return {"task": task, "lrs": lrs, "acc": acc, "sweeps": sweeps, "chance": R.chance(task),
            "best_lr": float(lrs[int(np.argmax(acc))]), "best_acc": float(acc.max())}


def load_role(role: str, out: Path, seeds: int = SEEDS) -> list[dict[str, Any]]:
    got = [load_task(t, out, seeds) for t in R.TASKS.values() if t.role == role]
    return [g for g in got if g is not None]


# --------------------------------------------------------------------------------------------------
# Finders: (task record, use, seed, variant) -> LR, or None when the finder gave none
# --------------------------------------------------------------------------------------------------
Finder = Callable[..., float | None]


def _named(f: Finder, name: str) -> Finder:
    f.__name__ = name
    return f


def peer(finder: str, rule: str, name: str | None = None) -> Finder:
    def f(rec, use, seed, variant="default"):
        sw = rec["sweeps"].get((finder, seed, variant))
        v = None if sw is None else sw["suggestions"].get(rule)
        return None if v is None or not (v > 0 and math.isfinite(v)) else float(v)

    return _named(f, name or f"{finder} {rule}")


def _lrkit_sweep(rec, seed, variant):
    sw = rec["sweeps"].get(("lrkit", seed, variant))
    if sw is None or len(sw["lr"]) < 5:
        return None
    return sw["lr"], [math.nan if v is None else v for v in sw["loss"]]


def lrkit_reading(use_offset: dict[str, float] | None = None, flat_offset: float | None = None,
                  name: str = "lrkit") -> Finder:
    """lrkit's reading (:mod:`lrkit.rangetest.reading`), with the library's offsets or the given ones."""
    from lrkit.rangetest.reading import log10_lr_for_use, read_sweep

    def f(rec, use, seed, variant="default"):
        got = _lrkit_sweep(rec, seed, variant)
        if got is None:
            return None
        try:
            return 10 ** log10_lr_for_use(read_sweep(*got), use, use_offset, flat_offset)
        except ValueError:
            return None

    return _named(f, name)


def lrkit_before(name: str = "lrkit before (min/10, min/3, steepest)") -> Finder:
    from lrkit.rangetest import RangeTest

    def f(rec, use, seed, variant="default"):
        got = _lrkit_sweep(rec, seed, variant)
        if got is None:
            return None
        try:
            return RangeTest(sweep_lr=got[0], loss=got[1]).suggest("robust", base=OLD_RULES[use]).lr
        except ValueError:
            return None

    return _named(f, name)


PEER_DEFAULTS = {"fastai valley (default)": ("fastai", "valley"),
                 "torch-lr-finder (default)": ("torch-lr-finder", "steepest"),
                 "Lightning (default)": ("lightning", "steepest")}
PEER_RULES = {**{f"fastai {r}": ("fastai", r) for r in ("minimum", "steep", "valley", "slide")},
              "torch-lr-finder steepest": ("torch-lr-finder", "steepest"),
              "Lightning steepest": ("lightning", "steepest")}


def finders() -> dict[str, Finder]:
    """lrkit (as shipped), lrkit before this benchmark, and each peer's default."""
    out = {"lrkit": lrkit_reading(), "lrkit before": lrkit_before()}
    return out | {k: peer(*v, name=k) for k, v in PEER_DEFAULTS.items()}


# --------------------------------------------------------------------------------------------------
# Regret
# --------------------------------------------------------------------------------------------------
def task_regret(rec: dict[str, Any], finder: Finder, seeds: int = SEEDS) -> tuple[float, float]:
    """(mean regret in points, mean normalised regret) over the seeds' suggestions, on the task's seed-mean curve;
    a finder that gives no LR scores the worse of the grid's lowest accuracy and chance."""
    use = rec["task"].use
    pp, nr = [], []
    for s in range(seeds):
        lr = finder(rec, use, s)
        if lr is None:
            a = float(min(rec["acc"][0], rec["chance"]))
            r = (100 * (rec["best_acc"] - a), (rec["best_acc"] - a) / max(rec["best_acc"] - rec["chance"], 1e-9))
        else:
            r = G.regret(rec["lrs"], rec["acc"], lr, rec["chance"])
        pp.append(r[0])
        nr.append(r[1])
    return float(np.mean(pp)), float(np.mean(nr))


def regrets(recs: list[dict[str, Any]], finder: Finder) -> np.ndarray:
    """``[task, (points, normalised)]``."""
    return np.array([task_regret(r, finder) for r in recs]).reshape(-1, 2)


def bootstrap_ci(diffs: np.ndarray, n: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """95 % interval of the mean of ``diffs`` over tasks resampled with replacement."""
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, len(diffs), size=(n, len(diffs)))].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def compare(recs: list[dict[str, Any]], a: Finder, b: Finder) -> dict[str, Any]:
    """``a`` minus ``b``, paired per task: normalised and in points, with task-bootstrap 95 % intervals;
    tasks where ``a`` is better / worse by more than 0.5 points."""
    ra, rb = regrets(recs, a), regrets(recs, b)
    d = ra - rb
    return {"n": len(recs), "norm": float(d[:, 1].mean()), "norm_ci": bootstrap_ci(d[:, 1]),
            "pp": float(d[:, 0].mean()), "pp_ci": bootstrap_ci(d[:, 0]),
            "wins": int(np.sum(d[:, 0] < -0.5)), "losses": int(np.sum(d[:, 0] > 0.5))}


# --------------------------------------------------------------------------------------------------
# The fit on the tuning half
# --------------------------------------------------------------------------------------------------
def fit(recs: list[dict[str, Any]], grid_step: float = 0.05) -> dict[str, Any]:
    """The reading's two tables from the tuning half: FLAT_OFFSET is the median, over every tuning sweep that
    shows both, of log10(end of descent / blow-up); each use's offset minimises that use's mean normalised regret
    (a grid of ``grid_step`` decades over [−1.5, 1.5])."""
    from lrkit.rangetest.reading import USES, read_sweep

    both = []
    for rec in recs:
        for s in range(SEEDS):
            got = _lrkit_sweep(rec, s, "default")
            if got is None:
                continue
            r = read_sweep(*got)
            if r.x_end is not None and r.i_blowup is not None:
                both.append(r.anchor - float(r.x[r.i_blowup]))  # the end of the descent, density-corrected
    flat = round(float(np.median(both)), 2)
    offsets, scores = {}, {}
    for use in USES:
        mine = [rec for rec in recs if rec["task"].use == use]
        cands = np.round(np.arange(-1.5, 1.5 + 1e-9, grid_step), 2)
        res = [(float(regrets(mine, lrkit_reading({u: c for u in USES}, flat))[:, 1].mean()), float(c)) for c in cands]
        best = min(res)
        offsets[use], scores[use] = best[1], {"tuning_norm_regret": best[0], "tasks": len(mine)}
    return {"use_offset": offsets, "flat_offset": flat, "flat_from_sweeps": len(both), "scores": scores}


# --------------------------------------------------------------------------------------------------
# Tables (markdown)
# --------------------------------------------------------------------------------------------------
def pooled_table(recs) -> list[str]:
    rows = ["| finder | mean normalised regret | mean regret (pp) | median (pp) | worst task (pp) | tasks ≤ 2 pp |",
            "|---|---:|---:|---:|---:|---:|"]
    for name, f in finders().items():
        r = regrets(recs, f)
        rows.append(f"| {name} | {r[:, 1].mean():.3f} | {r[:, 0].mean():.2f} | {np.median(r[:, 0]):.2f} | "
                    f"{r[:, 0].max():.1f} | {int((r[:, 0] <= 2).sum())} / {len(r)} |")
    return rows


def paired_table(recs) -> list[str]:
    rows = ["| lrkit minus | normalised [95 % task bootstrap] | points [95 %] | tasks lrkit better / worse "
            "(> 0.5 pp) |",
            "|---|---:|---:|---:|"]
    f = finders()
    for name in [k for k in f if k != "lrkit"]:
        c = compare(recs, f["lrkit"], f[name])
        rows.append(f"| {name} | {c['norm']:+.3f} [{c['norm_ci'][0]:+.3f}, {c['norm_ci'][1]:+.3f}] | "
                    f"{c['pp']:+.2f} [{c['pp_ci'][0]:+.2f}, {c['pp_ci'][1]:+.2f}] | {c['wins']} / {c['losses']} |")
    return rows


def per_use_table(recs) -> list[str]:
    from lrkit.rangetest.reading import USES

    groups = {u: [r for r in recs if r["task"].use == u] for u in USES}
    rows = ["| finder | " + " | ".join(f"{u} ({len(g)} tasks)" for u, g in groups.items()) + " |",
            "|---|" + "---:|" * len(groups)]
    for name, f in finders().items():
        cells = [f"{regrets(g, f)[:, 1].mean():.3f}" if g else "" for g in groups.values()]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    cells = []
    for g in groups.values():  # the best peer rule per use, picked after seeing this half
        if not g:
            cells.append("")
            continue
        name, (finder, rule) = min(PEER_RULES.items(), key=lambda kv: regrets(g, peer(*kv[1]))[:, 1].mean())
        cells.append(f"{regrets(g, peer(finder, rule))[:, 1].mean():.3f} ({name})")
    rows.append("| best peer rule per use, picked after the fact | " + " | ".join(cells) + " |")
    return rows


def regime_of(rec, seed: int = 0) -> str:
    from lrkit.rangetest.reading import read_sweep

    got = _lrkit_sweep(rec, seed, "default")
    try:
        return read_sweep(*got).regime if got else "n/a"
    except ValueError:
        return "n/a"


def per_regime_table(recs) -> list[str]:
    groups: dict[str, list] = {}
    for r in recs:
        groups.setdefault(regime_of(r), []).append(r)
    names = sorted(groups)
    rows = ["| finder | " + " | ".join(f"{g} ({len(groups[g])} tasks)" for g in names) + " |",
            "|---|" + "---:|" * len(names)]
    for name, f in finders().items():
        rows.append(f"| {name} | " + " | ".join(f"{regrets(groups[g], f)[:, 1].mean():.3f}" for g in names) + " |")
    return rows


def stability_table(recs) -> list[str]:
    rows = ["| finder | seed 0 vs seed 1 | num_iter 100 vs 300 | start_lr 1e-6 (SGD) / 1e-7 (Adam) vs 1e-5 |",
            "|---|---:|---:|---:|"]
    pairs = (((0, "default"), (1, "default")), ((0, "default"), (0, "long")), ((0, "default"), (0, "start5")))
    for name, f in finders().items():
        cells = []
        for a, b in pairs:
            d = [abs(math.log10(x / y)) for r in recs
                 if (x := f(r, r["task"].use, *a)) and (y := f(r, r["task"].use, *b))]
            cells.append(f"{np.median(d):.2f} / {np.quantile(d, 0.9):.2f} ({len(d)} tasks)" if d else "n/a")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return rows


def report(role: str, out: Path) -> str:
    recs = load_role(role, out)
    names = ", ".join(f"`{r['task'].name}`" for r in recs)
    return "\n".join([f"### {role} half: {len(recs)} tasks", "", f"Tasks (every unit run): {names}.", "",
                      "Pooled:", "", *pooled_table(recs), "",
                      "Paired per task:", "", *paired_table(recs), "", "Per use (mean normalised regret):", "",
                      *per_use_table(recs), "", "Per regime of the curve (mean normalised regret):", "",
                      *per_regime_table(recs), "",
                      "Stability: |log10| of the ratio of two suggestions, median / 90th percentile over tasks:", "",
                      *stability_table(recs), ""])
