"""Render benchmark results: figures (measured vs published) and a markdown table.

Everything here is computed from the result JSONs written by :mod:`lrkit.bench.runner`.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from ..utils import ci95
from .experiments import EXPERIMENTS, SCALES, get_experiment
from .methods import methods_figure, methods_notes
from .references import reference
from .store import load_results

__all__ = ["experiment_notes", "first_reaching", "paired", "published", "report", "summarise"]


def _lr(x: float | None) -> str:
    return "none" if x is None else f"{x:.3g}"


def _curve(res: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    ev = res["history"]["evals"]
    return np.array([e["iteration"] for e in ev], dtype=float), np.array([e["acc"] for e in ev], dtype=float)


def first_reaching(res: dict[str, Any], target: float) -> int | None:
    """First evaluated iteration whose test accuracy is ≥ ``target`` (None if never)."""
    it, acc = _curve(res)
    hit = np.nonzero(acc >= target - 1e-12)[0]
    return int(it[hit[0]]) if len(hit) else None


def _acc_at(res: dict[str, Any], iteration: int) -> float | None:
    """Test accuracy of the last evaluation at or before ``iteration`` (None if there is none)."""
    it, acc = _curve(res)
    k = np.nonzero(it <= iteration)[0]
    return float(acc[k[-1]]) if len(k) else None


def paired(summ: dict[str, dict[str, Any]], arm: str, base: str, *, arm_at: int | None = None,
           base_at: int | None = None) -> tuple[float, float, int]:
    """``arm``'s test accuracy minus ``base``'s (pp), paired by seed: (mean, 95 % t-interval half-width,
    seeds). Each run's accuracy is its final one, or its last evaluation at or before ``*_at``."""
    def acc(r, at):
        return _acc_at(r, at) if at is not None else (r["final"] or {}).get("acc")

    b = {r["seed"]: acc(r, base_at) for r in summ[base]["results"]}
    d = [100 * (acc(r, arm_at) - b[r["seed"]]) for r in summ[arm]["results"]
         if r["seed"] in b and acc(r, arm_at) is not None and b[r["seed"]] is not None]
    if not d:
        return float("nan"), float("nan"), 0
    return float(np.mean(d)), ci95(d), len(d)


def _pm(m: float, half: float, n: int) -> str:
    return f"{m:+.2f} pp" + (f" ± {half:.2f} (95 % t-interval over {n} seeds, paired)" if n > 1 else " (1 seed)")


def published(ref: Any, run: str) -> str:
    """The paper's number for ``run`` (with its iteration count when the paper gives one), or ``""``."""
    if run not in ref.values:
        return ""
    return f"{ref.values[run]:g}" + (f" @ {ref.iterations[run]:,} it" if run in ref.iterations else "")


def summarise(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per run name: iterations, seeds, final accuracy mean/std, training seconds."""
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        by[r["run"]].append(r)
    out = {}
    for name, rs in by.items():
        accs = np.array([100 * r["final"]["acc"] for r in rs if r.get("final")])
        out[name] = {"iterations": rs[0]["config"]["iterations"], "seeds": len(rs),
                     "acc_mean": float(accs.mean()) if len(accs) else float("nan"),
                     "acc_std": float(accs.std(ddof=1)) if len(accs) > 1 else 0.0,
                     "seconds": float(sum(r.get("train_seconds") or 0 for r in rs)),
                     "results": rs}
    return out


def _smith_table1_notes(summ: dict[str, dict[str, Any]], ref) -> list[str]:
    notes = []
    if "fixed" in summ and "triangular2" in summ:
        target = summ["fixed"]["acc_mean"] / 100
        fixed_it = summ["fixed"]["iterations"]
        hits = [first_reaching(r, target) for r in summ["triangular2"]["results"]]
        if all(h is not None for h in hits):
            h = max(hits)
            notes.append(f"triangular2 reaches fixed's final accuracy ({100 * target:.2f} %) at iteration {h} "
                         f"= 1/{fixed_it / h:.2f} of fixed's {fixed_it} (paper: 1/2.8) → "
                         f"{'yes' if fixed_it / h >= 2.8 else 'no'}, within 1/2.8")
        else:
            best = max(np.max(_curve(r)[1]) for r in summ["triangular2"]["results"])
            notes.append(f"triangular2 does not reach fixed's final accuracy ({100 * target:.2f} %) within its "
                         f"{summ['triangular2']['iterations']} iterations (best {100 * best:.2f} %) → no")
    if "fixed" in summ and "triangular2" in summ:
        m, half, n = paired(summ, "triangular2", "fixed")
        ok = m >= 0 if n < 2 else m + half >= 0  # not significantly worse
        notes.append(f"triangular2 at {summ['triangular2']['iterations']:,} iterations vs fixed at "
                     f"{summ['fixed']['iterations']:,}: {summ['triangular2']['acc_mean']:.2f} % vs "
                     f"{summ['fixed']['acc_mean']:.2f} %, {_pm(m, half, n)} → matches fixed's accuracy with "
                     f"1/{summ['fixed']['iterations'] / summ['triangular2']['iterations']:.1f} of its iterations: "
                     f"**{'yes' if ok else 'no'}**")
    if "fixed" in summ:
        fixed_res = summ["fixed"]["results"]
        for name in ("triangular2", "decay", "exp_range"):
            if name not in summ:
                continue
            n = summ[name]["iterations"]
            at = [_acc_at(r, n) for r in fixed_res]
            if all(a is not None for a in at):
                notes.append(f"at equal iterations ({n:,}): {name} {summ[name]['acc_mean']:.2f} % vs fixed "
                             f"{100 * float(np.mean(at)):.2f} %")
    measured = [k for k in ref.values if k in summ]
    if len(measured) >= 2:
        ours = sorted(measured, key=lambda k: -summ[k]["acc_mean"])
        theirs = sorted(measured, key=lambda k: -ref.values[k])
        paper = theirs[0]
        for a, b in zip(theirs, theirs[1:], strict=False):  # the paper's ties are written as such
            paper += f" {'=' if ref.values[a] == ref.values[b] else '>'} {b}"
        # the same ordering: no pair the paper orders strictly is measured the other way round
        same = all(ours.index(a) < ours.index(b) for a in measured for b in measured
                   if ref.values[a] > ref.values[b])
        tie_note = " (up to the paper's ties)" if "=" in paper else ""
        notes.append(f"ordering measured: {' > '.join(ours)}; paper: {paper} → "
                     f"{'same' if same else 'differs'}{tie_note}")
    return notes


def _anytime_notes(summ: dict[str, dict[str, Any]], baseline: str) -> list[str]:
    notes = []
    if baseline not in summ:
        return notes
    target = summ[baseline]["acc_mean"] / 100
    base_it = summ[baseline]["iterations"]
    for name, s in summ.items():
        if name == baseline:
            continue
        hits = [first_reaching(r, target) for r in s["results"]]
        if all(h is not None for h in hits):
            h = max(hits)
            notes.append(f"{name} reaches {baseline}'s final accuracy ({100 * target:.2f} %) at iteration {h}: "
                         f"{base_it / h:.2f}× sooner than {baseline}'s {base_it}")
        else:
            notes.append(f"{name} never reaches {baseline}'s final accuracy ({100 * target:.2f} %)")
    return notes


def _paired_diff(summ: dict[str, dict[str, Any]], arm: str, baseline: str) -> tuple[float, float, int]:
    """Mean and std (pp) over the seeds both ran of ``arm``'s final accuracy minus ``baseline``'s."""
    base = {r["seed"]: r["final"]["acc"] for r in summ[baseline]["results"] if r.get("final")}
    d = np.array([100 * (r["final"]["acc"] - base[r["seed"]]) for r in summ[arm]["results"]
                  if r.get("final") and r["seed"] in base])
    if not len(d):
        return float("nan"), float("nan"), 0
    return float(d.mean()), float(d.std(ddof=1)) if len(d) > 1 else 0.0, len(d)


def _sgdr_restart_notes(summ: dict[str, dict[str, Any]], base: str = "step_lr0.1") -> list[str]:
    """At every restart point of each SGDR run: its test error against the step schedule's at the same
    iteration (paired by seed), and the paper's claim — SGDR reaches the step schedule's final error
    2–4× sooner."""
    notes = []
    if base not in summ:
        return notes
    spe = (summ[base]["results"][0]["history"].get("steps_per_epoch") or 1)
    final_err = 100 - summ[base]["acc_mean"]
    for name, s in summ.items():
        restarts = s["results"][0]["config"]["extra"].get("restarts")
        if name == base or not restarts:
            continue
        cells = []
        for at in restarts:
            m, half, n = paired(summ, name, base, arm_at=at, base_at=at)
            err = 100 - 100 * float(np.mean([_acc_at(r, at) for r in s["results"]]))
            cells.append(f"ep {at / spe:.1f}: {err:.2f} % vs {err + m:.2f} % ({-m:+.2f}"
                         + (f" ± {half:.2f})" if n > 1 else ")"))
        over = f"mean over {s['seeds']} seeds; difference ± 95 % paired t-interval" if s["seeds"] > 1 else "1 seed"
        notes.append(f"{name} test error at its restart points vs {base} at the same epoch ({over}): "
                     + "; ".join(cells))
        hits = [first_reaching(r, 1 - final_err / 100) for r in s["results"]]
        base_ep = summ[base]["iterations"] / spe
        if all(h is not None for h in hits):
            ep = max(hits) / spe
            notes.append(f"{name} reaches {base}'s final error ({final_err:.2f} %) at epoch {ep:.1f} (latest seed) "
                         f"= {base_ep / ep:.2f}× sooner than {base}'s {base_ep:.0f} epochs → 2–4× sooner: "
                         f"**{'yes' if base_ep / ep >= 2 else 'no'}**")
        else:
            notes.append(f"{name} does not reach {base}'s final error ({final_err:.2f} %) in every seed within its "
                         f"{s['iterations'] / spe:.1f} epochs → 2–4× sooner: **no**")
    return notes


def _super_convergence_notes(summ: dict[str, dict[str, Any]], base: str = "piecewise_lr0.35") -> list[str]:
    """Each one-cycle run (1/8 of the iterations) against piecewise constant, paired by seed: at
    their own final iterations (the claim), and at equal iterations (piecewise constant's evaluation
    at the one-cycle run's last iteration)."""
    notes = []
    for name in [n for n in summ if n != base]:
        if base not in summ:
            break
        m, half, n = paired(summ, name, base)
        ok = m >= 0 if n < 2 else m + half >= 0
        lr = summ[name]["results"][0].get("chosen_lr")
        peak = f" (peak {lr['lr']:.3g} from the range test)" if lr else ""
        its = summ[name]["iterations"]
        notes.append(f"{name}{peak} at {its:,} iterations vs {base} at "
                     f"{summ[base]['iterations']:,}: {summ[name]['acc_mean']:.2f} % vs {summ[base]['acc_mean']:.2f} %, "
                     f"{_pm(m, half, n)} → equal or better accuracy with "
                     f"1/{summ[base]['iterations'] / its:.0f} of the iterations: "
                     f"**{'yes' if ok else 'no'}**")
        at = [_acc_at(r, its) for r in summ[base]["results"]]
        if all(a is not None for a in at):
            m, half, n = paired(summ, name, base, base_at=its)
            notes.append(f"at equal iterations ({its:,}): {name} {summ[name]['acc_mean']:.2f} % vs {base} "
                         f"{100 * float(np.mean(at)):.2f} %, {_pm(m, half, n)}")
    return notes


def _discriminative_notes(summ: dict[str, dict[str, Any]]) -> list[str]:
    """Each arm against ``full`` (paired by seed) and ULMFiT's claim: ``gradual`` beats ``full``."""
    notes = []
    for prefix in ("", "in1k-"):
        full = f"{prefix}full"
        if full not in summ:
            continue
        for arm in summ:
            if arm == full or not arm.startswith(prefix) or (not prefix and arm.startswith("in1k-")):
                continue
            m, sd, n = _paired_diff(summ, arm, full)
            notes.append(f"{arm} vs {full}: {m:+.2f} pp (mean over {n} seeds of the per-seed difference, "
                         f"std {sd:.2f})")
        gradual = f"{prefix}gradual"
        m, sd, n = _paired_diff(summ, gradual, full) if gradual in summ else (0.0, 0.0, 0)
        if n:
            notes.append(f"ULMFiT's claim — discriminative LRs + gradual unfreezing + STLR ({gradual}) beat "
                         f"fine-tuning the whole model at one LR ({full}): **{'yes' if m > 0 else 'no'}**, "
                         f"{summ[gradual]['acc_mean']:.2f} % vs {summ[full]['acc_mean']:.2f} % "
                         f"({m:+.2f} ± {sd:.2f} pp over {n} seeds)")
    lrs = {r["run"]: r.get("chosen_lr") for s in summ.values() for r in s["results"][:1]}
    chosen = [f"{arm} {c['lr']:.3g} [{c['low']:.3g}, {c['high']:.3g}]" for arm, c in lrs.items() if c]
    if chosen:
        notes.append("LRs from the range test (top group; suggestion [interval]): " + ", ".join(chosen))
    return notes


def experiment_notes(name: str, summ: dict[str, dict[str, Any]],
                     results: list[dict[str, Any]] | None = None) -> list[str]:
    """The report's measured findings for experiment ``name`` (one markdown line each, without the
    paper's claim): ``summ`` is :func:`summarise` of ``results`` (the stored result JSONs of one
    scale). Smith's Table 1: does triangular2 reach fixed's final accuracy in ≤ 1/2.8 of its
    iterations, accuracies at equal iterations, the ordering; SGDR / one-cycle: when each run first
    reaches the baseline's final accuracy; discriminative: each arm minus ``full``, paired by seed,
    and ULMFiT's claim; Fig. 3: the range test's bounds.
    """
    ref = reference(get_experiment(name).reference)
    if name == "smith2017-table1":
        return _smith_table1_notes(summ, ref)
    if name == "sgdr":  # full / paper: read at the restart points; lite: when each run first reaches step's
        if any(s["results"][0]["config"].get("extra", {}).get("restarts") for s in summ.values()):
            return _sgdr_restart_notes(summ)
        return _anytime_notes(summ, "step_lr0.1")
    if name == "onecycle":
        if "piecewise_lr0.35" in summ:  # full / paper: Smith & Topin's protocol
            return _super_convergence_notes(summ) + _anytime_notes(summ, "piecewise_lr0.35")
        return _anytime_notes(summ, "piecewise_constant") + _anytime_notes(summ, "one_cycle")
    if name == "discriminative":
        return _discriminative_notes(summ)
    if name == "methods":
        return methods_notes(results or [r for s in summ.values() for r in s["results"]])
    if name == "smith2017-fig3":
        notes = []
        for r in results or [r for s in summ.values() for r in s["results"]]:
            rt = r.get("range_test", {})
            notes.append(f"seed {r['seed']}: base_lr {_lr(rt.get('base_lr'))}, max_lr {_lr(rt.get('max_lr'))} "
                         f"(paper: {ref.values['base_lr']} / {ref.values['max_lr']}); {rt.get('note', '')}")
        return notes
    return []


def report(out: str | Path = "runs/bench", *, experiments: list[str] | None = None, scales: tuple[str, ...] = SCALES,
           figures: str | Path | None = None, headline: str | Path | None = None, save: bool = True) -> str:
    """Markdown report of every result under ``out``; figures into ``figures`` (default out/figures).

    ``save``: also write the markdown to ``out/report.md`` (False: only return it — e.g. a notebook
    reading committed results without touching them; then pass ``figures`` too).

    ``headline``: also save the smith2017-table1 figure of the largest available scale there (the
    README's picture).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out = Path(out)
    figdir = Path(figures) if figures is not None else out / "figures"
    lines = ["# lrkit bench report", ""]
    headline_fig = None
    for name in experiments or list(EXPERIMENTS):
        exp = get_experiment(name)
        ref = reference(exp.reference)
        for scale in scales:
            results = load_results(out, name, scale)
            if not results:
                continue
            summ = summarise(results)
            factor = f" (factor {exp.factors[scale]:g})" if scale in exp.factors else ""
            lines += [f"## {exp.title} — scale `{scale}`{factor}", "",
                      f"Reference: {ref.paper}, {ref.where} (arXiv {ref.arxiv}). {ref.protocol}", ""]
            lines += ["| run | iterations | seeds | test acc % (mean ± std) | published | train time |",
                      "|---|---:|---:|---:|---:|---:|"]
            for run, s in summ.items():
                lines.append(f"| {run} | {s['iterations']:,} | {s['seeds']} | {s['acc_mean']:.2f} ± {s['acc_std']:.2f} "
                             f"| {published(ref, run)} | {s['seconds'] / 60:.1f} min |")
            lines.append("")
            notes = experiment_notes(name, summ, results)
            if ref.claim:
                notes.append(f"paper's claim: {ref.claim}")
            lines += [n if not n or n.startswith("|") else f"- {n}" for n in notes] + [""]  # tables stay tables
            fig = _figure(name, scale, summ, results, ref, exp.factors.get(scale, 1.0))
            figdir.mkdir(parents=True, exist_ok=True)
            path = figdir / f"{name}-{scale}.png"
            fig.savefig(path, dpi=100, bbox_inches="tight")
            lines += [f"![{name} {scale}]({path.as_posix()})", ""]
            if name == "smith2017-table1":
                if headline_fig is not None:
                    plt.close(headline_fig)
                headline_fig = fig
            else:
                plt.close(fig)
    if headline is not None and headline_fig is not None:
        Path(headline).parent.mkdir(parents=True, exist_ok=True)
        headline_fig.savefig(headline, dpi=80, bbox_inches="tight")
    if headline_fig is not None:
        plt.close(headline_fig)
    if len(lines) == 2:
        lines.append(f"No results under {out}.")
    text = "\n".join(lines)
    if save:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.md").write_text(text)
    return text


def _figure(name: str, scale: str, summ, results, ref, factor: float):
    import matplotlib.pyplot as plt

    if name == "discriminative":
        return _discriminative_figure(scale, summ)
    if name == "methods":
        return methods_figure(results, scale)
    if name == "smith2017-fig3":
        fig, ax = plt.subplots(figsize=(7, 4))
        for r in results:
            rt = r.get("range_test") or {}
            ax.plot(rt.get("lr", []), 100 * np.asarray(rt.get("acc", [])), "o-", ms=3,
                    label=f"measured, seed {r['seed']}")
            for key, ls in (("base_lr", "--"), ("max_lr", ":")):
                if rt.get(key) is not None:
                    ax.axvline(rt[key], color="C0", ls=ls, lw=1)
        for key, ls in (("base_lr", "--"), ("max_lr", ":")):
            ax.axvline(ref.values[key], color="C3", ls=ls, lw=1.5, label=f"paper {key} {ref.values[key]}")
        ax.set(xlabel="learning rate", ylabel="test accuracy (%)",
               title=f"Accuracy-based LR range test ({scale}) vs Smith 2017 Fig. 3")
        ax.legend(fontsize=8)
        return fig
    fig, ax = plt.subplots(figsize=(8, 4.5))
    use_error = name == "sgdr"
    for i, (run, s) in enumerate(summ.items()):
        for j, r in enumerate(s["results"]):
            it, acc = _curve(r)
            y = 100 * (1 - acc) if use_error else 100 * acc
            spe = r["history"].get("steps_per_epoch") or 1
            x = it / spe if name in ("sgdr", "onecycle") else it
            ax.plot(x, y, color=f"C{i}", alpha=0.9 if j == 0 else 0.4, label=run if j == 0 else None)
        if run in ref.values and name == "smith2017-table1":
            x_pub = ref.iterations.get(run, s["iterations"] / factor) * factor
            ax.plot([x_pub], [ref.values[run]], marker="*", ms=14, color=f"C{i}", mec="k", ls="none")
    if name == "smith2017-table1":
        ax.plot([], [], marker="*", ms=12, color="w", mec="k", ls="none",
                label=f"published final accuracy (at paper iterations × {factor:g})")
        ax.set(xlabel="iteration", ylabel="test accuracy (%)")
    elif name == "sgdr":
        pub = {k: v for k, v in ref.values.items() if k in ("default_lr0.1", "T0=1,Tm=2", "T0=10,Tm=2")}
        for v in pub.values():  # the three values lie within 0.2 points: one label for all of them
            ax.axhline(v, ls=":", lw=1, color="gray")
        if pub:
            ax.annotate("paper (WRN-28-10, 200 epochs): " + ", ".join(f"{k} {v} %" for k, v in pub.items()),
                        (0, max(pub.values())), fontsize=7, va="bottom")
        ax.set(xlabel="epoch", ylabel="test error (%)", yscale="log")
    else:
        ax.set(xlabel="epoch", ylabel="test accuracy (%)")
    ax.set_title(f"{EXPERIMENTS[name].title} — {scale}", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def _discriminative_figure(scale: str, summ):
    """Final accuracy per arm (bars: mean ± std, dots: seeds); the gradual arm's per-group LRs."""
    import matplotlib.pyplot as plt

    from ..plot import plot_layer_lrs

    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 4.2))
    order = [r.name for r in get_experiment("discriminative").runs(scale)]  # the protocol's order
    arms = sorted(summ, key=lambda arm: order.index(arm) if arm in order else len(order))
    for i, arm in enumerate(arms):
        accs = [100 * r["final"]["acc"] for r in summ[arm]["results"] if r.get("final")]
        a.bar(i, summ[arm]["acc_mean"], yerr=summ[arm]["acc_std"], color=f"C{i}", alpha=0.7, capsize=4)
        a.plot([i] * len(accs), accs, "k.", ms=5)
    a.set_xticks(range(len(arms)), arms, rotation=20, fontsize=8)
    lo = min((100 * r["final"]["acc"] for s in summ.values() for r in s["results"] if r.get("final")), default=0)
    a.set_ylim(max(0.0, lo - 10), None)
    a.set(ylabel="vehicle test accuracy (%)", title=f"fine-tuning arms — {scale} (mean ± std, dots: seeds)")
    if "gradual" in summ:
        r = min(summ["gradual"]["results"], key=lambda r: r["seed"])
        plot_layer_lrs(r["history"]["lr"], r.get("groups"), events=r.get("unfreeze_events"), ax=b,
                       title="gradual: STLR × per-group ratio (2.6), unfreezing events")
    else:
        b.set_axis_off()
    fig.tight_layout()
    return fig
