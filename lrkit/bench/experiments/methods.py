"""``lrkit bench run methods``: LR methods side by side on the fast recipe.

Do I still need a range test and a schedule? Every method of :data:`lrkit.recipe.METHODS` trains the same
net the same way, and only the LR method changes. The net is the 85 % recipe's half-width AirNet: batch
512, label smoothing, alternating flips, 45,000 training images, with 5,000 held out for validation. The
runs come at two budgets (epochs) per scale, with several seeds each. Lookahead averaging is off for every
method, so that schedule-free's own averaging is not stacked on another.

The reference is the best of a small grid. The recipe's one-cycle runs at hand-set peaks
(:data:`GRID`), and the grid LR with the best mean **validation** accuracy wins. The test set chooses
nothing.

What each run records: the test accuracy every half epoch (anytime curves), the final test and
validation accuracy with flip TTA, the LR the method used, the range test's steps, and the measured
times.

**Time to target** is counted in optimizer steps, the range test's steps included: every method does
the same work per step, so steps compare methods without depending on what else the machine runs. The
seconds are recorded beside them. The targets of a budget are relative: the reference's median final
test accuracy minus :data:`TARGET_GAPS` points. The targets are computed from the runs, not typed in.

**Performance profiles** (Dolan & Moré 2002, as AlgoPerf 2024 scores): a task is one (budget, target).
A method's time on a task is its median steps over seeds, or ∞ when the median seed does not reach the
target. :math:`\\rho_m(\\tau)` is the fraction of tasks that method ``m`` solves within ``τ`` × the fastest
method's time.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np

from ...rangetest.reading import CLR_RATIO, USE_RULES
from ...recipe import RECIPES, train_recipe
from ...recipe.methods import METHODS, Method, build_schedule, get_method, grid_method
from ...schedules import Constant
from ..analysis import Reading, ci95
from ..spec import Experiment, RunSpec
from ..store import BenchError, result_record

__all__ = ["BUDGETS", "EXPERIMENT", "GRID", "TARGET_GAPS", "analyse", "build_runs", "check_packages", "methods_figure",
           "methods_notes", "performance_profile", "train_method"]

#: epochs per run at each scale (two budgets each: the profiles run over both)
BUDGETS = {"smoke": (1, 2), "lite": (2, 4), "full": (4, 8)}
#: the reference grid: one-cycle peaks, a factor 4 apart, around the range test's usual suggestions
GRID = (0.25, 1.0, 4.0)
#: a budget's targets: the reference's median final test accuracy minus these gaps (points)
TARGET_GAPS = (0.5, 1.5, 3.0)
#: the recipe row that sets net, batch size and data
TARGET_ROW = 85
_SUBSET = {"smoke": {"n_per_class": 60, "test_per_class": 50, "val_per_class": 20}}


def _name(method: str, epochs: int) -> str:
    return f"{method}@{epochs}ep"


def split_name(run: str) -> tuple[str, int]:
    method, _, ep = run.rpartition("@")
    return method, int(ep.removesuffix("ep"))


def _shape(m: Method, total: int) -> dict[str, Any]:
    """The method's schedule at peak 1 (the run scales it by the LR it gets; schedule-free: a constant 1)."""
    one_cycle = {k: RECIPES[TARGET_ROW][k] for k in ("pct_start", "div_factor", "final_div_factor")}
    shape = build_schedule(m, 1.0, total, base=1.0 / CLR_RATIO, one_cycle=one_cycle)
    return (shape or Constant(1.0)).to_config()


def build_runs(scale: str, factor: float = 1.0) -> list[RunSpec]:
    """One run per (budget, method), the grid included."""
    sub = _SUBSET.get(scale, {})
    val = sub.get("val_per_class", 500)
    n_train = 10 * (sub["n_per_class"] if "n_per_class" in sub else 5000 - val)
    batch = 512 if not sub else 64
    spe = n_train // batch  # RecipeLoader drops the last partial batch
    overrides = {"average": None, "curve_every": 0.5, "batch_size": batch}
    if sub:
        overrides.update(widths=[8, 16, 16], whiten_images=200, eval_batch_size=100, bn_recompute_batches=2,
                         find={"start_lr": 1e-2, "end_lr": 30.0, "num_iter": 10, "smoothing": 0.2, "val_batches": 1})
    runs = []
    for epochs in BUDGETS[scale]:
        for m in [*METHODS.values(), *(grid_method(lr) for lr in GRID)]:
            runs.append(RunSpec(
                _name(m.name, epochs), model="airnet_half" if not sub else "AirNet(8, 16, 16)",
                optimizer={"name": m.optimizer, **m.options},
                schedule=_shape(m, epochs * spe),
                iterations=epochs * spe, batch_size=batch, eval_every=max(1, round(spe / 2)), kind="recipe_method",
                n_per_class=sub.get("n_per_class"), test_per_class=sub.get("test_per_class"),
                extra={"method": m.to_dict(), "rule_spec": USE_RULES[m.rule] if m.rule else None,
                       "target": TARGET_ROW, "val_per_class": val,
                       "overrides": {**overrides, "epochs": epochs}}))
    return runs


def check_packages() -> None:
    """The optional optimizers must be importable before anything trains."""
    import importlib.util

    missing = [p for p in ("schedulefree", "prodigyopt", "dadaptation") if importlib.util.find_spec(p) is None]
    if missing:
        raise BenchError(f"the methods experiment needs {', '.join(missing)}: pip install 'lrkit[modern]'")


def train_method(spec: RunSpec, seed: int, ctx: Any, started: float) -> dict[str, Any]:
    """Train one (method, budget, seed) through :func:`lrkit.recipe.train_recipe` and return its result."""
    e = spec.extra
    res = train_recipe(e["target"], ctx.data, seed=seed, device=ctx.device, progress=ctx.progress,
                       val_per_class=e["val_per_class"], overrides=e["overrides"],
                       method=Method.from_dict(e["method"]), n_per_class=spec.n_per_class,
                       test_per_class=spec.test_per_class)
    rec = result_record(spec, seed, experiment=ctx.experiment, scale=ctx.scale, hist=res.history, data=ctx.data,
                        device=ctx.device, started=started)
    # the curve (test, every half epoch, no TTA) is the run's evaluation history; the final is with TTA
    rec["history"]["evals"] = [{k: p[k] for k in ("iteration", "epoch", "loss", "acc")} for p in res.curve]
    rt_steps = len(res.range_test) if res.range_test is not None else 0
    rec.update(final={k: res.final_test[k] for k in ("loss", "acc", "n")}, final_val=res.final_val,
               curve=res.curve, train_seconds=res.seconds["training"], seconds=res.seconds, flops=res.flops,
               peak_lr=res.peak_lr, base_lr=res.info.get("base_lr"), peak_source=res.peak_source,
               range_test_steps=rt_steps, steps_per_epoch=res.info["steps_per_epoch"])
    return rec


# --------------------------------------------------------------------------------------------------
# Analysis
# --------------------------------------------------------------------------------------------------
def performance_profile(times: dict[str, list[float]], taus: Any) -> dict[str, np.ndarray]:
    """Dolan–Moré profiles: ``times[m][k]`` is method ``m``'s time on task ``k`` (∞: not solved). Returns
    ``ρ_m(τ)`` for each ``τ`` in ``taus``, the fraction of tasks that ``m`` solves within ``τ`` × the
    best time on that task. A task that no method solves counts for nobody."""
    names = list(times)
    if not names:
        return {}
    t = np.array([times[m] for m in names], dtype=float)
    if t.ndim != 2 or np.any(t <= 0):
        raise ValueError("times must be one list of positive times per method, all of the same length")
    best = t.min(axis=0)
    with np.errstate(invalid="ignore"):
        ratio = t / best  # inf where not solved; nan where nobody solved (inf/inf)
    taus = np.asarray(taus, dtype=float)
    with np.errstate(invalid="ignore"):
        return {m: np.array([(np.nan_to_num(ratio[i], nan=np.inf) <= tau).mean() for tau in taus])
                for i, m in enumerate(names)}


def steps_to(res: dict[str, Any], target: float) -> float:
    """Range-test steps + training steps until the curve first reaches ``target`` (%); ∞ if it never does."""
    for p in res.get("curve", []):
        if 100 * p["acc"] >= target:
            return float(res.get("range_test_steps", 0) + p["iteration"])
    return math.inf


def analyse(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per budget: each method's final test/validation accuracy (mean, 95 % t-interval), its LR, the
    reference (the grid's best by validation), the targets, steps to each target (median), and the
    profile tasks (one per budget × target). The profile's ``times`` hold the methods with runs at every
    budget that has a reference; ``left_out`` names those with runs at some budgets only."""
    by: dict[int, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        m, ep = split_name(r["run"])
        by[ep][m].append(r)
    out: dict[str, Any] = {"budgets": {}, "tasks": [], "times": defaultdict(list)}
    for ep in sorted(by):
        rows = {}
        for m, rs in sorted(by[ep].items()):
            acc = np.array([100 * r["final"]["acc"] for r in rs])
            val = np.array([100 * r["final_val"]["acc"] for r in rs if r.get("final_val")])
            rows[m] = {"seeds": len(rs), "acc": float(acc.mean()), "acc_ci": ci95(acc),
                       "acc_median": float(np.median(acc)), "val": float(val.mean()) if len(val) else math.nan,
                       "lr": float(np.median([r["peak_lr"] for r in rs])), "results": rs,
                       "train_seconds": float(np.median([r["train_seconds"] for r in rs]))}
        grid = {m: v for m, v in rows.items() if m.startswith("grid_")}
        ref = max(grid, key=lambda m: rows[m]["val"]) if grid else None
        targets = [rows[ref]["acc_median"] - g for g in TARGET_GAPS] if ref else []
        for v in rows.values():
            v["steps"] = [float(np.median([steps_to(r, tg) for r in v["results"]])) for tg in targets]
        out["budgets"][ep] = {"rows": rows, "reference": ref, "targets": targets}
    # the profile compares methods on the same tasks: one without runs at some budget is left out, not
    # counted as failing there (a bench still running, or run with --only)
    scored = [ep for ep, b in out["budgets"].items() if b["reference"]]
    profiled = [m for m in METHODS if all(m in out["budgets"][ep]["rows"] for ep in scored)]
    out["left_out"] = [m for m in METHODS if m not in profiled and any(m in b["rows"] for b in out["budgets"].values())]
    for ep in scored:
        b = out["budgets"][ep]
        for k, tg in enumerate(b["targets"]):
            out["tasks"].append(f"{ep} epochs, ≥ {tg:.2f} %")
            for m in profiled:
                out["times"][m].append(b["rows"][m]["steps"][k])
            out["times"]["best grid"].append(b["rows"][b["reference"]]["steps"][k])
    out["times"] = dict(out["times"])
    return out


def _label(m: str) -> str:
    return METHODS[m].label if m in METHODS else get_method(m).label if m.startswith("grid_") else m


def methods_notes(results: list[dict[str, Any]]) -> list[str]:
    """The methods table per budget and the profile's areas, as markdown lines."""
    a = analyse(results)
    notes = []
    for ep, b in a["budgets"].items():
        rows, ref = b["rows"], b["reference"]
        tg = ", ".join(f"{t:.2f} %" for t in b["targets"])
        if ref:
            notes.append(f"**{ep} epochs.** Reference: {_label(ref)} (best grid peak by validation accuracy; the "
                         f"{len([m for m in rows if m.startswith('grid_')])} grid runs per seed it took are not "
                         f"counted in its steps); targets {tg} (its median final test accuracy − "
                         f"{', '.join(map(str, TARGET_GAPS))}).")
        else:
            notes.append(f"**{ep} epochs.** No reference yet (the grid's runs are not stored), so no targets.")
        notes.append("")
        notes.append("| method | seeds | LR used (median) | test acc % (mean ± 95 % CI) | val acc % | steps to "
                     "targets (median; range test incl.) | train s (median) |")
        notes.append("|---|---:|---:|---:|---:|---:|---:|")
        for m in sorted(rows, key=lambda m: -rows[m]["acc"]):
            v = rows[m]
            steps = " / ".join("—" if not math.isfinite(s) else f"{s:.0f}" for s in v["steps"])
            ci = f" ± {v['acc_ci']:.2f}" if math.isfinite(v["acc_ci"]) else ""
            notes.append(f"| {_label(m)} | {v['seeds']} | {v['lr']:.3g} | {v['acc']:.2f}{ci} | {v['val']:.2f} | "
                         f"{steps} | {v['train_seconds']:.0f} |")
        notes.append("")
    if a["tasks"]:
        prof = performance_profile(a["times"], np.linspace(1, 4, 301))
        area = {m: float(np.mean(r)) for m, r in prof.items()}  # mean of ρ over an even τ grid
        ranked = sorted(area, key=lambda m: -area[m])
        notes.append("Performance profile over " + f"{len(a['tasks'])} tasks ({'; '.join(a['tasks'])}): "
                     + ", ".join(f"{_label(m)} {area[m]:.2f}" for m in ranked)
                     + " (area under ρ(τ) for τ ∈ [1, 4], normalised to 1 = fastest on every task).")
    if a["left_out"]:
        notes.append("")
        notes.append("Not in the profile (no runs at every budget yet): " + ", ".join(map(_label, a["left_out"])) + ".")
    return notes


def methods_figure(results: list[dict[str, Any]], scale: str):
    """Anytime curves (mean test accuracy against epoch, largest budget) and the performance profile."""
    import matplotlib.pyplot as plt

    a = analyse(results)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.6))
    if not a["budgets"]:
        return fig
    ep = max(a["budgets"])
    b = a["budgets"][ep]
    fam_style = {"range test": "-", "schedule-free": "--", "LR-free": ":", "grid": "-."}
    order = [*METHODS, "best grid"]
    color = {m: plt.cm.tab20(i / len(order)) for i, m in enumerate(order)}  # the same colour in both panels
    for m, v in sorted(b["rows"].items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)):
        if m.startswith("grid_") and m != b["reference"]:
            continue
        key = "best grid" if m.startswith("grid_") else m
        curves = [r["curve"] for r in v["results"]]
        n = min(len(c) for c in curves)
        x = [p["epoch"] for p in curves[0][:n]]
        y = np.mean([[100 * p["acc"] for p in c[:n]] for c in curves], axis=0)
        ax1.plot(x, y, fam_style.get(get_method(m).family, "-"), color=color[key], lw=1.4, marker="o", ms=3,
                 label=_label(m) + (" (best grid)" if key == "best grid" else ""))
    if b["targets"]:
        ax1.set_ylim(min(b["targets"]) - 8, None)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("test accuracy % (no TTA; mean over seeds)")
    ax1.set_title(f"anytime curves, {ep}-epoch budget ({scale})")
    taus = np.linspace(1, 4, 301)
    prof = performance_profile(a["times"], taus)
    for m in order:
        if m in prof:
            fam = get_method(m).family if m in METHODS else "grid"
            ax2.step(taus, prof[m], where="post", lw=1.6, color=color[m], ls=fam_style.get(fam, "-"), label=_label(m))
    ax2.set_xlabel("τ (steps to target ÷ the fastest method's)")
    ax2.set_ylabel("fraction of tasks solved within τ")
    ax2.set_ylim(-0.02, 1.02)
    ax2.set_title(f"performance profile: {len(a['tasks'])} tasks (budget × target)")
    if ax2.get_legend_handles_labels()[0]:
        ax2.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def _notes(r: Reading) -> list[str]:
    return methods_notes(r.results)


def _figure(r: Reading) -> Any:
    return methods_figure(r.results, r.scale)


EXPERIMENT = Experiment(
    "methods", "LR methods on the fast recipe: range test, schedules, schedule-free, LR-free", "methods",
    "The 85 % recipe's half-width AirNet (batch 512, 45k training / 5k validation images) trained "
    "with each LR method of lrkit.recipe.METHODS and a one-cycle grid (the reference: best "
    "validation accuracy), at two budgets; test accuracy every half epoch; steps to targets "
    "and performance profiles (lrkit.bench.experiments.methods).",
    {}, build_runs, seeds={"smoke": 1, "lite": 3, "full": 3},
    unavailable={"paper": "the methods come from several papers; there is no one protocol"},
    check=check_packages, trainer=train_method, notes=_notes, figure=_figure)
