"""Reading stored results: the curve-reading helpers every experiment's notes and figures use.

Everything here works on the result JSONs the runner writes (:mod:`lrkit.bench.store`), as plain data:
a run's evaluation curve (:func:`curve`), when it first reaches an accuracy (:func:`first_reaching`),
its accuracy at an iteration (:func:`acc_at`), per-run summaries over seeds (:func:`summarise`),
differences paired by seed with a 95 % t-interval (:func:`paired`, :func:`ci95`), the anytime
comparison of notebooks 04/05 (:func:`anytime_notes`). A :class:`Reading` bundles what an experiment's
``notes`` and ``figure`` get. No torch, no plotting.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from .references import Reference, reference

__all__ = ["Reading", "acc_at", "anytime_notes", "as_published", "ci95", "curve", "first_reaching", "lr_text", "paired",
           "paired_final", "plus_minus", "published", "reading", "summarise"]


# --------------------------------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------------------------------
def curve(res: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(iterations, test accuracies) of a run's evaluations."""
    ev = res["history"]["evals"]
    return np.array([e["iteration"] for e in ev], dtype=float), np.array([e["acc"] for e in ev], dtype=float)


def first_reaching(res: dict[str, Any], target: float) -> int | None:
    """First evaluated iteration whose test accuracy is ≥ ``target`` (None if never)."""
    it, acc = curve(res)
    hit = np.nonzero(acc >= target - 1e-12)[0]
    return int(it[hit[0]]) if len(hit) else None


def acc_at(res: dict[str, Any], iteration: int) -> float | None:
    """Test accuracy of the last evaluation at or before ``iteration`` (None if there is none)."""
    it, acc = curve(res)
    k = np.nonzero(it <= iteration)[0]
    return float(acc[k[-1]]) if len(k) else None


# --------------------------------------------------------------------------------------------------
# Runs over seeds
# --------------------------------------------------------------------------------------------------
#: two-sided 95 % Student-t quantiles by sample size n (n - 1 degrees of freedom)
_T95 = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776, 6: 2.571, 7: 2.447, 8: 2.365, 9: 2.306, 10: 2.262, 11: 2.228,
        12: 2.201, 13: 2.179, 14: 2.160, 15: 2.145, 16: 2.131, 17: 2.120, 18: 2.110, 19: 2.101, 20: 2.093,
        21: 2.086, 26: 2.060, 31: 2.042, 41: 2.021, 61: 2.000, 121: 1.980}


def ci95(values: Any) -> float:
    """Half-width of the 95 % t-interval of the mean of ``values`` (NaN for fewer than two). For n between
    table entries the next smaller n's quantile is used, which errs wide.

    Example:
        >>> round(ci95([1.0, 2.0, 3.0]), 3)        # 4.303 · 1 / √3
        2.484
    """
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n < 2:
        return float("nan")
    t = _T95[max(k for k in _T95 if k <= n)]
    return float(t * x.std(ddof=1) / np.sqrt(n))


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


def paired(summ: dict[str, dict[str, Any]], arm: str, base: str, *, arm_at: int | None = None,
           base_at: int | None = None) -> tuple[float, float, int]:
    """``arm``'s test accuracy minus ``base``'s (pp), paired by seed: (mean, 95 % t-interval half-width,
    seeds). Each run's accuracy is its final one, or its last evaluation at or before ``*_at``."""
    def acc(r, at):
        return acc_at(r, at) if at is not None else (r["final"] or {}).get("acc")

    b = {r["seed"]: acc(r, base_at) for r in summ[base]["results"]}
    d = [100 * (acc(r, arm_at) - b[r["seed"]]) for r in summ[arm]["results"]
         if r["seed"] in b and acc(r, arm_at) is not None and b[r["seed"]] is not None]
    if not d:
        return float("nan"), float("nan"), 0
    return float(np.mean(d)), ci95(d), len(d)


def paired_final(summ: dict[str, dict[str, Any]], arm: str, baseline: str) -> tuple[float, float, int]:
    """Mean and std (pp) over the seeds both ran of ``arm``'s final accuracy minus ``baseline``'s."""
    base = {r["seed"]: r["final"]["acc"] for r in summ[baseline]["results"] if r.get("final")}
    d = np.array([100 * (r["final"]["acc"] - base[r["seed"]]) for r in summ[arm]["results"]
                  if r.get("final") and r["seed"] in base])
    if not len(d):
        return float("nan"), float("nan"), 0
    return float(d.mean()), float(d.std(ddof=1)) if len(d) > 1 else 0.0, len(d)


def anytime_notes(summ: dict[str, dict[str, Any]], baseline: str) -> list[str]:
    """When each run first reaches ``baseline``'s final accuracy (the anytime comparison)."""
    notes: list[str] = []
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


# --------------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------------
def lr_text(x: float | None) -> str:
    return "none" if x is None else f"{x:.3g}"


def plus_minus(m: float, half: float, n: int) -> str:
    """``"+1.23 pp ± 0.45 (95 % t-interval over 3 seeds, paired)"`` (or ``"(1 seed)"``)."""
    return f"{m:+.2f} pp" + (f" ± {half:.2f} (95 % t-interval over {n} seeds, paired)" if n > 1 else " (1 seed)")


def published(ref: Reference, run: str) -> str:
    """The paper's number for ``run`` (with its iteration count when the paper gives one, how it was read
    when not at the end, and its unit when it is not a test accuracy %), or ``""``."""
    if run not in ref.values:
        return ""
    text = f"{ref.values[run]:g}" + (f" @ {ref.iterations[run]:,} it" if run in ref.iterations else "")
    if ref.reading(run) != "final":
        text += f" ({ref.reading(run)})"
    return text + ("" if ref.metric == "test accuracy %" else f" [{ref.metric}]")


def as_published(r: Reading, run: str) -> float | None:
    """``run``'s test accuracy (%, mean over its seeds) read the way the paper read its number: at the end, the
    best evaluation up to the paper's iteration on the paper's test grid, or the evaluation at that iteration
    (:meth:`Reference.reading`); iterations × the scale's factor. None when there is no such evaluation."""
    s = r.summary.get(run)
    if s is None:
        return None
    kind = r.ref.reading(run)
    if kind == "final" or run not in r.ref.iterations:
        return s["acc_mean"]
    it = int(round(r.ref.iterations[run] * r.factor))
    vals = []
    for res in s["results"]:
        its, acc = curve(res)
        if kind == "at":
            k = np.nonzero(its == it)[0]
            if not len(k):
                return None
            vals.append(acc[k[0]])
        else:
            grid = max(1, int(round((r.ref.test_every or 1) * r.factor)))
            keep = (its <= it) & (its % grid == 0)
            if not keep.any():
                return None
            vals.append(acc[keep].max())
    return 100 * float(np.mean(vals))


# --------------------------------------------------------------------------------------------------
# What an experiment's notes and figure read
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reading:
    """The stored results of one experiment at one scale, as its ``notes`` and ``figure`` get them:
    the :class:`~lrkit.bench.spec.Experiment`, the scale and its factor, the result records, their
    :func:`summarise`, and the paper's :class:`~lrkit.bench.references.Reference`."""

    experiment: Any
    scale: str
    factor: float
    results: list[dict[str, Any]]
    summary: dict[str, dict[str, Any]]
    ref: Reference

    def notes(self) -> list[str]:
        """The experiment's findings on these results (one markdown line each; none without ``notes``)."""
        return self.experiment.notes(self) if self.experiment.notes is not None else []


def reading(experiment: Any, scale: str, results: list[dict[str, Any]]) -> Reading:
    """The :class:`Reading` of ``results`` (one scale of ``experiment``)."""
    return Reading(experiment, scale, experiment.factors.get(scale, 1.0), results, summarise(results),
                   reference(experiment.reference))
