"""What notebooks 05–08 compute beside their runs: the committed bench results an "in this run" sentence
compares with, and the small numpy models that show an optimizer's mechanism (no torch, no data).

- :func:`bench_arms` — the largest scale of a bench experiment that has every named run, each run's mean
  final accuracy and its paired difference from a baseline (06: the ULMFiT arms).
- :func:`largest_scale`, :func:`published_accuracy`, :func:`mean_curve`, :func:`measured_vs_published`,
  :func:`seed_comparison` — 07: a reproduction's published numbers in the measured unit, drawn beside the
  measured curves, and two runs compared by seed.
- :func:`train_vs_heldout`, :func:`plot_train_vs_heldout` — 05: training against held-out loss through a run,
  and the gap between them (Gugger's figure for one-cycle).
- :func:`scale_invariant_sgd` — SGD with weight decay on a scale-invariant loss (a conv feeding a
  BatchNorm): the weight norm settles where η/λ puts it, the angular step at √(2ηλ) (08 §5).
- :func:`adam_bias_correction` — the size of Adam's step with and without its bias correction (08).
- :func:`decay_under_adam` — weight decay through Adam's gradient (Adam + L2) against decoupled (AdamW) (08).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["adam_bias_correction", "bench_arms", "decay_under_adam", "largest_scale", "mean_curve",
           "measured_vs_published", "plot_train_vs_heldout", "published_accuracy", "scale_invariant_sgd",
           "seed_comparison", "train_vs_heldout"]


# --------------------------------------------------------------------------------------------------
# Committed bench results
# --------------------------------------------------------------------------------------------------
def bench_arms(experiment: str, arms: tuple[str, ...], baseline: str, results_dir: str | os.PathLike | None = None,
               scales: tuple[str, ...] = ("paper", "full", "lite", "smoke")) -> dict[str, Any]:
    """The largest of ``scales`` under ``results_dir`` (default: the repository's ``benchmarks/results``) at which
    ``experiment`` has results of ``baseline`` and of every run in ``arms``, and what they measured there:

    ``{"scale", "root", "seeds": {run: n}, "acc": {run: mean final test accuracy %},
    "paired": {arm: mean over shared seeds of (arm − baseline) final accuracy, pp}}``; ``scale`` is None (and the
    dicts empty) when no scale has them all. Pairing by seed is what the bench's notes do
    (:func:`lrkit.bench.analysis.paired_final`).
    """
    from ..bench.store import load_results
    from .tools import default_results_dir

    root = Path(results_dir) if results_dir is not None else default_results_dir()
    want = (baseline, *arms)
    for scale in scales:
        by: dict[str, dict[int, float]] = {}
        for r in load_results(root, experiment, scale):
            if r.get("final"):
                by.setdefault(r["run"], {})[r["seed"]] = 100 * r["final"]["acc"]
        if all(by.get(run) for run in want):
            base = by[baseline]
            paired = {}
            for arm in arms:
                shared = sorted(set(by[arm]) & set(base))
                paired[arm] = float(np.mean([by[arm][s] - base[s] for s in shared])) if shared else math.nan
            return {"scale": scale, "root": str(root), "seeds": {k: len(by[k]) for k in want},
                    "acc": {k: float(np.mean(list(by[k].values()))) for k in want}, "paired": paired}
    return {"scale": None, "root": str(root), "seeds": {}, "acc": {}, "paired": {}}


def largest_scale(experiment: str, results_dir: str | os.PathLike | None = None,
                  scales: tuple[str, ...] = ("paper", "full", "lite", "smoke")) -> str | None:
    """The first of ``scales`` (largest first) with stored results of ``experiment``, or None."""
    from ..bench.store import load_results
    from .tools import default_results_dir

    root = Path(results_dir) if results_dir is not None else default_results_dir()
    return next((s for s in scales if load_results(root, experiment, s)), None)


def published_accuracy(ref: Any, run: str) -> tuple[float | None, str]:
    """The paper's number for ``run`` as a test accuracy (%), and a note on how it was obtained:
    ``(value, "")`` for an accuracy, ``(100 − error, "100 − the published error")`` for a test error, and
    ``(None, why)`` when the paper has no such row or its number is not a CIFAR-10 test accuracy."""
    if run not in ref.values:
        return None, "no published row (a variant lrkit adds, or lrkit's own comparison)"
    v = float(ref.values[run])
    if ref.metric.startswith("test accuracy"):
        return v, ""
    if ref.metric.startswith("test error"):
        return 100.0 - v, "100 − the published error"
    return None, f"published as {ref.metric}: not comparable"


def mean_curve(results: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, mean test accuracy %) over the seeds of one run, on the evaluations every seed made."""
    per = [{round(float(e["epoch"]), 6): 100 * float(e["acc"]) for e in r["history"]["evals"]} for r in results]
    common = sorted(set.intersection(*(set(p) for p in per))) if per else []
    return np.array(common), np.array([np.mean([p[e] for p in per]) for e in common])


def measured_vs_published(experiment: str, scale: str, results: list[dict[str, Any]] | None = None,
                          results_dir: str | os.PathLike | None = None, ax: Any = None):
    """Test accuracy (mean over seeds) against epoch for every run of ``experiment`` at ``scale`` (``results``:
    its stored results, loaded from ``results_dir`` when not given), with each published number
    (:func:`published_accuracy`) as a star where the paper read it — its iteration or epoch × the scale's
    factor. Returns the Figure."""
    import matplotlib.pyplot as plt

    from ..bench import get_experiment, load_results, reference
    from .tools import default_results_dir

    exp = get_experiment(experiment)
    ref, factor = reference(exp.reference), exp.factors.get(scale, 1.0)
    root = Path(results_dir) if results_dir is not None else default_results_dir()
    by: dict[str, list[dict[str, Any]]] = {}
    for r in results if results is not None else load_results(root, experiment, scale):
        by.setdefault(r["run"], []).append(r)
    fig, ax = (plt.subplots(figsize=(8, 4.2)) if ax is None else (ax.figure, ax))
    for k, (run, rs) in enumerate(sorted(by.items())):
        ep, acc = mean_curve(rs)
        ax.plot(ep, acc, color=f"C{k}", lw=1.3, label=f"{run} ({len(rs)} seed{'s' if len(rs) > 1 else ''})")
        value, _ = published_accuracy(ref, run)
        if value is None:
            continue
        spe = rs[0]["history"].get("steps_per_epoch") or 1
        at = (ref.iterations[run] * factor / spe if run in ref.iterations
              else ref.epochs.get(run, 0) * factor if run in ref.epochs else float(ep[-1]))
        ax.plot([at], [value], marker="*", ms=15, color=f"C{k}", mec="black", ls="none")
    ax.plot([], [], marker="*", ms=12, color="white", mec="black", ls="none",
            label="published" + (f", at the paper's point × {factor:g}" if factor != 1 else ""))
    ax.set(xlabel="epoch", ylabel="test accuracy (%)", title=f"{experiment}, scale {scale}: measured and published")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def seed_comparison(experiment: str, scale: str, a: str, b: str,
                    results_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """``a`` against ``b`` (final test accuracy %, by seed): each seed's pair, the paired difference's mean and
    95 % t-interval half-width, and the half-width of an unpaired comparison of the same numbers (the standard
    error √(s_a²/n + s_b²/n) times the same t-quantile, ``t``)."""
    from ..bench.analysis import ci95
    from ..bench.store import load_results
    from .tools import default_results_dir

    root = Path(results_dir) if results_dir is not None else default_results_dir()
    acc: dict[str, dict[int, float]] = {a: {}, b: {}}
    for r in load_results(root, experiment, scale):
        if r["run"] in acc and r.get("final"):
            acc[r["run"]][r["seed"]] = 100 * r["final"]["acc"]
    seeds = sorted(set(acc[a]) & set(acc[b]))
    d = [acc[a][s] - acc[b][s] for s in seeds]
    xa, xb = np.array([acc[a][s] for s in seeds]), np.array([acc[b][s] for s in seeds])
    n = len(seeds)
    sd = float(np.std(d, ddof=1)) if n > 1 else math.nan
    t = ci95(d) * math.sqrt(n) / sd if n > 1 and sd > 0 else math.nan   # the t-quantile ci95 used (n − 1 df)
    se = math.sqrt(xa.var(ddof=1) / n + xb.var(ddof=1) / n) if n > 1 else math.nan
    return {"seeds": seeds, "a": acc[a], "b": acc[b], "n": n, "mean": float(np.mean(d)) if d else math.nan,
            "paired_half": ci95(d), "unpaired_half": float(t * se), "t": float(t)}


# --------------------------------------------------------------------------------------------------
# Optimizer mechanisms on numpy toys (08)
# --------------------------------------------------------------------------------------------------
def scale_invariant_sgd(lr: float, wd: float, steps: int, *, dim: int = 100, noise: float = 1.0,
                        seed: int = 0) -> dict[str, Any]:
    """Plain SGD with weight decay on a **scale-invariant** loss, as a conv feeding a BatchNorm sees it: the
    gradient is orthogonal to ``w`` and shrinks as 1/‖w‖. Here it is pure noise (``noise`` per coordinate,
    projected off ``w``), the situation near a minimum. Each step is ``w ← (1 − ηλ) w − η g``.

    Then ‖w‖² grows by η²‖g‖² per step and decay takes 2ηλ‖w‖² away, so the norm settles at
    ``‖w‖⁴ = η σ² (d − 1) / (2λ)`` — set by the **ratio** η/λ — and the angle the weights turn per step,
    η‖g‖/‖w‖ (the effective LR), settles at ``√(2ηλ)`` — set by the **product** ηλ (van Laarhoven 2017;
    with momentum μ, √(2ηλ/(1 + μ))). Returns the norm after every step (``norm``, from 1), the angle of every
    step (``angle``, radians) and both predictions (``norm_eq``, ``angle_eq``).
    """
    if lr <= 0 or wd <= 0 or steps < 1 or dim < 2:
        raise ValueError(f"need lr > 0, wd > 0, steps >= 1, dim >= 2 (got {lr}, {wd}, {steps}, {dim})")
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(dim)
    w /= np.linalg.norm(w)
    norm, angle = np.empty(steps + 1), np.empty(steps)
    norm[0] = 1.0
    for t in range(steps):
        n = np.linalg.norm(w)
        u, xi = w / n, noise * rng.standard_normal(dim)
        g = (xi - (xi @ u) * u) / n
        new = (1 - lr * wd) * w - lr * g
        norm[t + 1] = np.linalg.norm(new)
        angle[t] = math.acos(min(1.0, float(new @ w) / (norm[t + 1] * n)))
        w = new
    return {"norm": norm, "angle": angle, "norm_eq": (lr * noise ** 2 * (dim - 1) / (2 * wd)) ** 0.25,
            "angle_eq": math.sqrt(2 * lr * wd)}


def adam_bias_correction(steps: int, beta1: float = 0.9, beta2: float = 0.999) -> dict[str, np.ndarray]:
    """Adam's first steps on a constant gradient g (Kingma & Ba 2015, §3): the averages start at 0, so
    ``m_t = (1 − β₁^t) g`` and ``v_t = (1 − β₂^t) g²`` are biased towards 0. Adam divides them by ``1 − β^t``;
    without that, the step ``m_t / √v_t`` is ``(1 − β₁^t) / √(1 − β₂^t)`` times the corrected one (``ratio``).
    Returns ``t`` (1 … steps), ``m_bias`` = 1 − β₁^t, ``v_bias`` = 1 − β₂^t and ``ratio``."""
    if steps < 1 or not (0 <= beta1 < 1 and 0 <= beta2 < 1):
        raise ValueError(f"need steps >= 1 and betas in [0, 1) (got {steps}, {beta1}, {beta2})")
    t = np.arange(1, steps + 1, dtype=float)
    m_bias, v_bias = 1 - beta1 ** t, 1 - beta2 ** t
    return {"t": t, "m_bias": m_bias, "v_bias": v_bias, "ratio": m_bias / np.sqrt(v_bias)}


def decay_under_adam(steps: int, *, lr: float = 1e-3, wd: float = 0.1, scales: tuple[float, ...] = (10.0, 0.01),
                     dim: int = 50, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                     seed: int = 0) -> dict[str, dict[float, np.ndarray]]:
    """Weight decay through Adam's gradient (**Adam + L2**: ``g + λw`` goes into the moments) against
    **decoupled** decay (**AdamW**, Loshchilov & Hutter 2019: ``w ← w − ηλw`` beside Adam's step), on weights
    whose gradients are pure noise of a different scale per group (``scales``), all starting at 1.

    With L2, Adam divides the decay term by √v̂ as well: a group with large gradients is barely decayed, a
    group with small gradients is pulled to 0 at about η per step. AdamW shrinks every weight by the same
    factor (1 − ηλ) per step. Returns ``{"adam_l2": {scale: mean |w| after every step}, "adamw": {...}}``.
    """
    if steps < 1 or lr <= 0 or wd < 0:
        raise ValueError(f"need steps >= 1, lr > 0, wd >= 0 (got {steps}, {lr}, {wd})")
    b1, b2 = betas
    out: dict[str, dict[float, np.ndarray]] = {"adam_l2": {}, "adamw": {}}
    for kind in out:
        rng = np.random.default_rng(seed)
        for s in scales:
            w, m, v = np.ones(dim), np.zeros(dim), np.zeros(dim)
            trace = np.empty(steps + 1)
            trace[0] = 1.0
            for t in range(1, steps + 1):
                g = s * rng.standard_normal(dim) + (wd * w if kind == "adam_l2" else 0.0)
                m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
                step = lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
                w = w - step - (lr * wd * w if kind == "adamw" else 0.0)
                trace[t] = np.abs(w).mean()
            out[kind][s] = trace
    return out


# --------------------------------------------------------------------------------------------------
# Training against held-out loss (05)
# --------------------------------------------------------------------------------------------------
def train_vs_heldout(history: Any, window: int | None = None) -> dict[str, np.ndarray]:
    """The training loss beside the held-out loss at every evaluation after step 0 of a
    :class:`~lrkit.training.History`: ``train`` is the mean training loss of the ``window`` steps before the
    evaluation (default: the steps since the previous one), ``heldout`` the evaluation's loss, ``gap`` their
    difference (held-out − training), ``iteration`` where each evaluation was made.

    The training loss is measured on augmented batches in training mode while the weights move; the held-out
    loss on clean images in evaluation mode at fixed weights. A gap that opens means the net fits its training
    images better than new ones (Gugger's "The 1cycle policy" reads one-cycle's regularisation off it)."""
    loss = np.asarray(history.train_loss, dtype=float)
    # each loss's step: the History's iterations, or its position when they were not recorded (a hand-made History)
    steps = np.asarray(history.iteration) if len(history.iteration) == len(loss) else np.arange(len(loss))
    evals = [e for e in history.evals if e["iteration"] > 0]
    its = np.array([e["iteration"] for e in evals])
    train = []
    for k, it in enumerate(its):
        w = window or int(it - (its[k - 1] if k else 0))
        keep = (steps >= it - w) & (steps < it)
        train.append(float(loss[keep].mean()) if keep.any() else math.nan)
    heldout = np.array([e["loss"] for e in evals], dtype=float)
    train_arr = np.array(train)
    return {"iteration": its, "train": train_arr, "heldout": heldout, "gap": heldout - train_arr}


def plot_train_vs_heldout(runs: dict[str, Any], window: int | None = None):
    """One panel per run: training and held-out loss (:func:`train_vs_heldout`) with the gap shaded, and the
    run's LR on a second axis. Returns the Figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(4.6 * len(runs), 3.8), sharey=True, squeeze=False)
    for ax, (name, h) in zip(axes[0], runs.items(), strict=True):
        c = train_vs_heldout(h, window)
        ax.plot(c["iteration"], c["train"], "o-", ms=3, color="C0", label="training loss (mean since last eval)")
        ax.plot(c["iteration"], c["heldout"], "s-", ms=3, color="C3", label="held-out loss")
        ax.fill_between(c["iteration"], c["train"], c["heldout"], color="C3", alpha=0.12, label="gap")
        ax.set(xlabel="iteration", title=name)
        lr_ax = ax.twinx()
        lr_ax.plot(np.asarray(h.iteration), [g[0] for g in h.lr], color="0.6", lw=1, ls="--")
        lr_ax.set_ylabel("LR (dashed)", color="0.4")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("loss")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig
