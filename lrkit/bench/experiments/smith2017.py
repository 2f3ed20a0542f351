"""Smith 2017, "Cyclical Learning Rates for Training Neural Networks" (arXiv 1506.01186): Table 1 (CLR
policies against a fixed LR on Caffe's CIFAR-10 net) and Fig. 3 (the accuracy-based LR range test).

Two experiments, each with its runs at every scale, its notes and its figure: :data:`TABLE1` (trained by
the plain trainer) and :data:`FIG3` (a linear LR ramp read as an accuracy range test). Caffe's solver
and data as in the paper's prototxt; the ``lite`` and ``smoke`` scales multiply every iteration count,
step size and milestone by one factor.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import schedules as S
from ...rangetest import AccuracyRangeTest
from ...training import evaluate
from ..analysis import Reading, as_published, curve, first_reaching, lr_text, paired, plus_minus, published
from ..figures import curves_figure
from ..plain import finish_run, fit_run, start_run
from ..spec import Experiment, RunSpec, scaled

__all__ = ["FIG3", "TABLE1", "smith_table2_triangular2"]

_CAFFE_SOLVER = {"name": "caffe_sgd", "lr": 0.001, "momentum": 0.9, "weight_decay": 0.004, "multipliers": True}
_SMITH_DATA = {"preprocess": "pixel_mean", "augment": False, "batch_size": 100}


_FULL_IS_LITE = "lite and paper already train on all of CIFAR-10"


def _smith_subset(scale: str) -> dict[str, Any]:
    # smoke runs on a subset so that CI stays within its budget; lite/paper use all of CIFAR-10
    return {"n_per_class": 100, "test_per_class": 50} if scale == "smoke" else {}


def smith_table2_triangular2(f: float = 1.0) -> S.Sequence:
    """The triangular2 run behind Smith 2017's Table 1 (81.4 % after 25,000 iterations): the three
    stages of his **Table 2** ("Hyper-parameter settings for CIFAR-10 example in Figure 1", attached to
    the claim by §4.1.1), each with its own cycle clock, as Appendix A's ``start_lr_policy`` restarts
    it — bounds 0.001–0.005 (stepsize 2,000) on 0–16k, 0.0001–0.0005 (1,000) on 16k–22k,
    0.00001–0.00005 (500) on 22k–25k. Every iteration count is multiplied by ``f`` (lite / smoke)."""
    stages = [(0.001, 0.005, 2000), (0.0001, 0.0005, 1000), (0.00001, 0.00005, 500)]
    return S.Sequence([S.triangular2(lo, hi, scaled(step * f)) for lo, hi, step in stages],
                      [scaled(16_000 * f), scaled(22_000 * f)])


def _smith_table1(scale: str, f: float) -> list[RunSpec]:
    step = scaled(2000 * f)
    # paper: the full test set every 500 iterations, often enough to draw Fig. 1's curves (Caffe's
    # solver tests every 1,000: every other point)
    ev = {"smoke": scaled(10_000 * f), "lite": scaled(1000 * f), "paper": 500}[scale]
    common = dict(model="caffe_cifar10_full", optimizer=_CAFFE_SOLVER, eval_every=ev, **_SMITH_DATA,
                  **_smith_subset(scale))
    fixed_it, short_it = scaled(70_000 * f), scaled(25_000 * f)
    decay_steps = scaled(4000 * f)
    # Caffe's "exp" policy: base_lr · γ^t; with the iteration count scaled by f, γ is scaled so that
    # the LR at the end of the run is the paper's: γ_f = γ^(1/f)
    gamma = 0.99994 ** (1 / f)
    return [
        RunSpec("fixed", schedule=S.MultiStep(0.001, [scaled(60_000 * f), scaled(65_000 * f)], 0.1).to_config(),
                iterations=fixed_it, **common),
        # Table 2's three stages: the run Table 1's triangular2 row reports (§4.1.1)
        RunSpec("triangular2", schedule=smith_table2_triangular2(f).to_config(), iterations=short_it, **common),
        # the ablation: Table 2's stages with a constant LR in each (its two ÷10 drops without the cycles)
        RunSpec("constant_stages",
                schedule=S.MultiStep(0.001, [scaled(16_000 * f), scaled(22_000 * f)], 0.1).to_config(),
                iterations=short_it, **common),
        # a variant, kept: one stage 0.001–0.006 for 25k, as §3.1's prose describes Figure 1 (the LR never
        # falls below 0.001)
        RunSpec("triangular2_flat", schedule=S.triangular2(0.001, 0.006, step).to_config(),
                iterations=short_it, **common),
        RunSpec("decay", schedule=S.Sequence([S.Polynomial(0.007, decay_steps, 1.0, 0.001), S.Constant(0.001)],
                                             [decay_steps]).to_config(),
                iterations=short_it, **common),
        RunSpec("exp", schedule=S.Exponential(0.001, gamma).to_config(), iterations=fixed_it, **common),
        # §3.1's exp_range (both bounds × γ^t), run to 70k as Fig. 4; the paper reads it at 42k
        RunSpec("exp_range", schedule=S.exp_range(0.001, 0.006, step, gamma).to_config(),
                iterations=fixed_it, **common),
        # a variant, kept: the Keras / torch CyclicLR form (only the amplitude decays), stopped at 42k
        RunSpec("exp_range_keras", schedule=S.exp_range_keras(0.001, 0.006, step, gamma).to_config(),
                iterations=scaled(42_000 * f), **common),
    ]


def _smith_fig3(scale: str, f: float) -> list[RunSpec]:
    # "LR range test": 8 epochs of 50,000 images at batch 100 = 4,000 iterations, LR 0 → 0.02 linearly
    iters = scaled(4000 * f)
    return [RunSpec("range_test", model="caffe_cifar10_full", optimizer=_CAFFE_SOLVER,
                    schedule=S.LinearWarmup(S.Constant(0.02), iters - 1, 0.0).to_config(),
                    iterations=iters, eval_every=scaled(iters / 40), kind="accuracy_range_test",
                    extra={"start_lr": 0.0, "end_lr": 0.02}, **_SMITH_DATA, **_smith_subset(scale))]


# --------------------------------------------------------------------------------------------------
# Table 1: what the report says, and its figure
# --------------------------------------------------------------------------------------------------
def table1_notes(r: Reading) -> list[str]:
    """Each policy read as the paper read it; does Table 2's triangular2 reach fixed's final accuracy in ≤ 1/2.8 of
    its iterations (§4.1.1), paired by seed; the same ratio measured the other way round; the constant-stages
    ablation; equal iterations; the ordering."""
    return [*_readings_table(r), *_claim_notes(r), *_ratio_notes(r), *_ablation_notes(r), *_equal_iteration_notes(r),
            *_ordering_notes(r)]


def _readings_table(r: Reading) -> list[str]:
    summ, ref = r.summary, r.ref
    rows = ["| policy | seeds | final % | best % (on the paper's 1,000-it test grid) | read as the paper read it | "
            "published | the paper's reading |", "|---|---:|---:|---:|---:|---:|---|"]
    grid = max(1, int(round((ref.test_every or 1) * r.factor)))
    for run, s in summ.items():
        bests = []
        for res in s["results"]:
            its, acc = curve(res)
            keep = its % grid == 0
            bests.append(100 * acc[keep].max() if keep.any() else float("nan"))
        paper = as_published(r, run) if run in ref.values else None
        rows.append(f"| {run} | {s['seeds']} | {s['acc_mean']:.2f} ± {s['acc_std']:.2f} | {np.mean(bests):.2f} | "
                    f"{'' if paper is None else f'{paper:.2f}'} | {published(ref, run)} | "
                    f"{ref.reading_source.get(run, '')} |")
    return rows + [""]


def _claim_notes(r: Reading) -> list[str]:
    summ = r.summary
    if "fixed" not in summ or "triangular2" not in summ:
        return []
    fixed_final = {res["seed"]: res["final"]["acc"] for res in summ["fixed"]["results"]}
    reached = {res["seed"]: first_reaching(res, fixed_final[res["seed"]]) for res in summ["triangular2"]["results"]
               if res["seed"] in fixed_final}
    m, half, n = paired(summ, "triangular2", "fixed")
    it_t, it_f = summ["triangular2"]["iterations"], summ["fixed"]["iterations"]
    ok = (m >= 0) if n < 2 else (m + half >= 0)  # not significantly below fixed's final accuracy
    hit = ", ".join(f"seed {k}: " + ("never" if v is None else f"iteration {v:,}") for k, v in sorted(reached.items()))
    return [f"**the claim** — triangular2 at {it_t:,} iterations minus fixed at {it_f:,} "
            f"(1/{it_f / it_t:.1f} of its iterations): {plus_minus(m, half, n)} → matches fixed's final accuracy: "
            f"**{'yes' if ok else 'no'}**. First evaluation at or above the same seed's fixed final: {hit}."]


def _ratio_notes(r: Reading) -> list[str]:
    """The claim's ratio measured directly: the iterations fixed needs to reach each shorter run's final accuracy
    (the same seed's), over that run's iterations — the paper's "2.8×" is 70,000 / 25,000."""
    summ, notes = r.summary, []
    if "fixed" not in summ:
        return notes
    fixed = {res["seed"]: res for res in summ["fixed"]["results"]}
    for name in ("triangular2", "constant_stages"):
        if name not in summ or summ[name]["iterations"] >= summ["fixed"]["iterations"]:
            continue
        its = summ[name]["iterations"]
        reached = {res["seed"]: first_reaching(fixed[res["seed"]], res["final"]["acc"])
                   for res in summ[name]["results"] if res["seed"] in fixed}
        if not reached:
            continue
        per_seed = ", ".join(f"seed {k}: " + ("never" if v is None else f"{v:,} ({v / its:.2f}×)")
                             for k, v in sorted(reached.items()))
        ratios = [v / its for v in reached.values() if v is not None]
        lo, hi = (f"{min(ratios):.2f}", f"{max(ratios):.2f}") if ratios else ("", "")
        summary = "never" if not ratios else f"{lo}×" if lo == hi else f"{lo}–{hi}×"
        if ratios and len(ratios) < len(reached):
            summary += f", never in {len(reached) - len(ratios)} of {len(reached)} seeds"
        notes.append(f"iterations fixed needs to reach {name}'s final accuracy (same seed), over {name}'s "
                     f"{its:,}: {per_seed} → {summary} (the paper's ratio: "
                     f"{summ['fixed']['iterations'] / its:.1f}×)")
    return notes


def _ablation_notes(r: Reading) -> list[str]:
    summ = r.summary
    if "triangular2" not in summ or "constant_stages" not in summ:
        return []
    m, half, n = paired(summ, "triangular2", "constant_stages")
    notes = [f"**the ablation** — Table 2's triangular2 minus the same three stages at a constant LR (0.001 → 0.0001 "
             f"→ 0.00001 at the same iterations): {plus_minus(m, half, n)}: the cycles "
             + ("add accuracy beyond the two LR drops" if (n > 1 and m - half > 0) else
                "do not add accuracy measurably beyond the two LR drops" if n > 1 else "(one seed: no verdict)")]
    if "fixed" in summ:
        m2, half2, n2 = paired(summ, "constant_stages", "fixed")
        notes.append(f"constant stages at {summ['constant_stages']['iterations']:,} minus fixed at "
                     f"{summ['fixed']['iterations']:,}: {plus_minus(m2, half2, n2)}")
    return notes


def _equal_iteration_notes(r: Reading) -> list[str]:
    summ, notes = r.summary, []
    if "fixed" not in summ:
        return notes
    for name, s in summ.items():
        if name == "fixed" or s["iterations"] >= summ["fixed"]["iterations"]:
            continue
        m, half, n = paired(summ, name, "fixed", base_at=s["iterations"])
        notes.append(f"at equal iterations ({s['iterations']:,}): {name} minus fixed {plus_minus(m, half, n)}")
    return notes


def _ordering_notes(r: Reading) -> list[str]:
    ref = r.ref
    measured = {k: as_published(r, k) for k in ref.values if k in r.summary}
    measured = {k: v for k, v in measured.items() if v is not None}
    if len(measured) < 2:
        return []
    ours = sorted(measured, key=lambda k: -measured[k])
    theirs = sorted(measured, key=lambda k: -ref.values[k])
    paper = theirs[0]
    for a, b in zip(theirs, theirs[1:], strict=False):  # the paper's ties are written as such
        paper += f" {'=' if ref.values[a] == ref.values[b] else '>'} {b}"
    # the same ordering: no pair the paper orders strictly is measured the other way round
    same = all(ours.index(a) < ours.index(b) for a in measured for b in measured if ref.values[a] > ref.values[b])
    tie_note = " (up to the paper's ties)" if "=" in paper else ""
    return [f"ordering measured (each read as the paper read it): {' > '.join(ours)}; paper: {paper} → "
            f"{'same' if same else 'differs'}{tie_note}"]


def table1_figure(r: Reading) -> Any:
    """Every policy's test curve, with the published accuracy as a star where the paper read it (its iteration ×
    the scale's factor); a star's value is the paper's reading (final, best, or at that iteration)."""
    def star(ax: Any, i: int, run: str, s: dict[str, Any]) -> None:
        if run in r.ref.values:
            x_pub = r.ref.iterations.get(run, s["iterations"] / r.factor) * r.factor
            ax.plot([x_pub], [r.ref.values[run]], marker="*", ms=14, color=f"C{i}", mec="k", ls="none")

    def legend_entry(ax: Any) -> None:
        ax.plot([], [], marker="*", ms=12, color="w", mec="k", ls="none",
                label=f"published (Table 1), where the paper read it (× {r.factor:g})")
        ax.set_ylim(bottom=max(ax.get_ylim()[0], 40))

    return curves_figure(r, mark=star, extra=legend_entry)


# --------------------------------------------------------------------------------------------------
# Fig. 3: the accuracy range test
# --------------------------------------------------------------------------------------------------
def train_fig3(spec: RunSpec, seed: int, ctx: Any, started: float) -> dict[str, Any]:
    """The ramp of ``spec`` trained like a plain run, with the evaluation before the first step (at
    ``start_lr``); the result holds the accuracy range test read off it (``range_test``)."""
    run = start_run(spec, seed, ctx)
    initial = evaluate(run.model, run.loaders.test)  # the point before training, at LR = start
    hist = fit_run(run, ctx)
    art = AccuracyRangeTest.from_history(hist, initial, start_lr=spec.extra.get("start_lr", 0.0))
    return finish_run(run, ctx, hist, started, range_test={"base_lr": art.base_lr, "max_lr": art.max_lr,
                                                           "note": art.note, "lr": art.lr.tolist(),
                                                           "acc": art.acc.tolist()})


def fig3_notes(r: Reading) -> list[str]:
    """The bounds each seed's test reads off, beside the paper's."""
    notes = []
    for res in r.results:
        rt = res.get("range_test", {})
        notes.append(f"seed {res['seed']}: base_lr {lr_text(rt.get('base_lr'))}, max_lr {lr_text(rt.get('max_lr'))} "
                     f"(paper: {r.ref.values['base_lr']} / {r.ref.values['max_lr']}); {rt.get('note', '')}")
    return notes


def fig3_figure(r: Reading) -> Any:
    """Accuracy against LR of each seed, the bounds read off (blue) and the paper's (red)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for res in r.results:
        rt = res.get("range_test") or {}
        ax.plot(rt.get("lr", []), 100 * np.asarray(rt.get("acc", [])), "o-", ms=3,
                label=f"measured, seed {res['seed']}")
        for key, ls in (("base_lr", "--"), ("max_lr", ":")):
            if rt.get(key) is not None:
                ax.axvline(rt[key], color="C0", ls=ls, lw=1)
    for key, ls in (("base_lr", "--"), ("max_lr", ":")):
        ax.axvline(r.ref.values[key], color="C3", ls=ls, lw=1.5, label=f"paper {key} {r.ref.values[key]}")
    ax.set(xlabel="learning rate", ylabel="test accuracy (%)",
           title=f"Accuracy-based LR range test ({r.scale}) vs Smith 2017 Fig. 3")
    ax.legend(fontsize=8)
    return fig


TABLE1 = Experiment(
    "smith2017-table1", "Smith 2017 Table 1: CLR policies vs fixed LR (Caffe CIFAR-10 net)", "smith2017-table1",
    "Five LR policies on Caffe's cifar10_full net with Caffe's SGD; final test accuracy.",
    {"smoke": 0.002, "lite": 0.1, "paper": 1.0}, _smith_table1, unavailable={"full": _FULL_IS_LITE},
    notes=table1_notes, figure=table1_figure, headline=True)

FIG3 = Experiment(
    "smith2017-fig3", "Smith 2017 Fig. 3: accuracy-based LR range test", "smith2017-fig3",
    "LR raised linearly 0 → 0.02 over 8 epochs; base/max LR read from the accuracy curve.",
    {"smoke": 0.025, "lite": 1.0, "paper": 1.0}, _smith_fig3, unavailable={"full": _FULL_IS_LITE},
    trainer=train_fig3, notes=fig3_notes, figure=fig3_figure)
