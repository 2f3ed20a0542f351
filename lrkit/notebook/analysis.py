"""What the notebooks read off their runs: the analysis a cell calls and shows the result of, so that
the notebook shows the call and not 30 lines of bookkeeping.

- range-test curves (02): :func:`curve_noise`, :func:`fall_in_noise`, :func:`interval_width`,
  :func:`describe_sweep`, :func:`flat_signs`, :func:`training_loss_sweep`;
- runs compared evaluation by evaluation (03–06): :func:`eval_curve`, :func:`times_ahead`,
  :func:`led_from`, :func:`restart_effects`;
- what a run's callbacks record (08): :func:`conv_weight_norm_recorder`, :func:`group_value_recorder`;
- figures (08): :func:`plot_weight_norms`, :func:`plot_wsd_anytime`; the ``methods`` bench (08):
  :func:`methods_bench`.

Every function takes results (Histories, RangeTests, evaluations) and returns numbers; the tests of
``tests/system/test_notebooks.py`` recompute what the notebooks' sentences say from the recorded
numbers, independently of these functions.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["conv_weight_norm_recorder", "curve_noise", "describe_sweep", "eval_curve", "fall_in_noise", "flat_signs",
           "group_value_recorder", "interval_width", "led_from", "methods_bench", "plot_weight_norms",
           "plot_wsd_anytime", "restart_effects", "times_ahead", "training_loss_sweep"]


# --------------------------------------------------------------------------------------------------
# Range-test curves (notebook 02)
# --------------------------------------------------------------------------------------------------
def curve_noise(loss: Iterable[float]) -> float:
    """Point-to-point noise of a raw loss curve: a robust standard deviation (1.4826 × the median
    absolute deviation) of successive differences, ÷ √2 (a difference of two noisy points has √2 × the noise)."""
    d = np.diff(np.asarray(loss, dtype=float))
    if d.size == 0:
        raise ValueError("curve_noise needs at least two points")
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2))


def fall_in_noise(rt: Any) -> float:
    """How far ``rt``'s smoothed loss fell below its start, in units of the raw loss's noise
    (:func:`curve_noise`)."""
    return float((rt.smoothed[0] - rt.smoothed.min()) / max(curve_noise(rt.loss), 1e-12))


def interval_width(s: Any) -> float:
    """How many-fold a suggestion's 90 % interval spans: ``high / low``."""
    return float(s.high / s.low)


def describe_sweep(name: str, rt: Any) -> Any:
    """Print one line about the sweep ``rt`` (points, why it stopped, noise, fall, lowest point, the
    constant-LR suggestion and its interval) and return that suggestion (``rt.suggest()``)."""
    s, i = rt.suggest(), int(np.argmin(rt.smoothed))
    print(f"{name:>16}: {len(rt)} points, stopped: {rt.reason}; noise {curve_noise(rt.loss):.3f}, smoothed loss fell "
          f"{fall_in_noise(rt):.1f}x the noise, lowest at point {i + 1}; rt.suggest() {s.lr:.3g}, "
          f"interval [{s.low:.3g}, {s.high:.3g}] ({interval_width(s):.1f}x)")
    return s


def flat_signs(rt: Any) -> dict[str, bool]:
    """The signs of a too-narrow or flat sweep, as ``{sign: True/False}``: it completed without diverging,
    its smoothed loss fell less than 3× its noise, its lowest point is the last one."""
    return {"completed without diverging": rt.reason == "completed",
            "fell less than 3x its noise": fall_in_noise(rt) < 3,
            "lowest at the last point": int(np.argmin(rt.smoothed)) == len(rt) - 1}


def training_loss_sweep(rt_val: Any) -> Any:
    """The training-loss curve of a validation-loss sweep (``lr_find(..., val_data=...)`` keeps the
    training loss of the same steps) as a :class:`~lrkit.rangetest.RangeTest` of its own."""
    from ..rangetest import RangeTest

    if getattr(rt_val, "loss_kind", None) != "val" or getattr(rt_val, "train_loss", None) is None:
        raise ValueError("training_loss_sweep needs a validation-loss sweep (lr_find with val_data=...)")
    return RangeTest(sweep_lr=rt_val.sweep_lr, loss=rt_val.train_loss, smoothing=rt_val.smoothing,
                     stopped_early=rt_val.stopped_early, reason=rt_val.reason)


# --------------------------------------------------------------------------------------------------
# Runs compared evaluation by evaluation (notebooks 03–06)
# --------------------------------------------------------------------------------------------------
def eval_curve(history: Any) -> dict[int, float]:
    """``{iteration: test accuracy}`` of a History's evaluations (or of a list of evaluation dicts)."""
    evals = history.evals if hasattr(history, "evals") else history
    return {int(e["iteration"]): float(e["acc"]) for e in evals}


def times_ahead(a: Any, b: Any, *, every: int | None = None) -> tuple[int, int]:
    """``(k, n)``: at ``k`` of the ``n`` evaluations after iteration 0 that both runs made, run ``a`` had the
    higher test accuracy. ``every``: count only iterations that are multiples of it (e.g. cycle ends)."""
    ca, cb = eval_curve(a), eval_curve(b)
    common = sorted(i for i in set(ca) & set(cb) if i > 0 and (not every or i % every == 0))
    return sum(ca[i] > cb[i] for i in common), len(common)


def led_from(a: Any, b: Any) -> int | None:
    """The first evaluation from which run ``a`` stays ahead of ``b`` to the end (both runs' common
    evaluations), or None when ``a`` is not ahead at the last one."""
    ca, cb = eval_curve(a), eval_curve(b)
    common = sorted(set(ca) & set(cb))
    return next((i for k, i in enumerate(common) if all(ca[j] > cb[j] for j in common[k:])), None)


def restart_effects(sgdr: Any, other: Any, restarts: Iterable[int]) -> dict[str, int]:
    """What SGDR's restarts did, read off the evaluations: ``n`` restarts with an evaluation on each side
    (the one before it after iteration 0), ``fell``: after how many of them accuracy dropped, ``ahead``:
    at how many of those cycle ends (the last evaluation before the restart) SGDR led ``other``."""
    acc, ref = eval_curve(sgdr), eval_curve(other)
    its = sorted(acc)
    n = fell = ahead = 0
    for r in restarts:
        before, after = [i for i in its if i <= r], [i for i in its if i > r]
        if before and after and before[-1] > 0:
            n += 1
            fell += acc[after[0]] < acc[before[-1]]
            ahead += acc[before[-1]] > ref.get(before[-1], float("inf"))
    return {"n": n, "fell": fell, "ahead": ahead}


# --------------------------------------------------------------------------------------------------
# What callbacks record (notebook 08)
# --------------------------------------------------------------------------------------------------
def conv_weight_norm_recorder(model: Any, into: list[float]) -> Callable[[int, Any], None]:
    """A ``fit`` callback that appends Σ‖w‖² over ``model``'s convolution weights to ``into`` after
    every step (the norm that sets a BatchNorm net's effective LR)."""
    import torch

    convs = [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    if not convs:
        raise ValueError("conv_weight_norm_recorder: the model has no Conv2d layer")

    def record(it: int, history: Any) -> None:
        into.append(float(sum((w.detach() ** 2).sum() for w in convs)))

    return record


def group_value_recorder(optimizer: Any, key: str, into: list[float], group: int = 0) -> Callable[[int, Any], None]:
    """A ``fit`` callback that appends ``optimizer.param_groups[group][key]`` to ``into`` after every step
    (e.g. Prodigy's step-size estimate ``"d"``)."""
    if key not in optimizer.param_groups[group]:
        raise ValueError(f"param group {group} has no {key!r} (it has {sorted(optimizer.param_groups[group])})")

    def record(it: int, history: Any) -> None:
        into.append(float(optimizer.param_groups[group][key]))

    return record


def plot_weight_norms(norms: Mapping[str, list[float]], lr: float) -> Any:
    """Two panels: Σ‖w‖² of the convolutions per run, and the effective LR η / Σ‖w‖² (up to a constant)."""
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.6))
    for name, n2 in norms.items():
        a1.plot(n2, label=name)
        a2.plot(lr / np.asarray(n2), label=name)
    a1.set(xlabel="iteration", ylabel="Σ‖w‖² of the convs", title="weight norm")
    a2.set(xlabel="iteration", ylabel="η / Σ‖w‖²", title="effective LR (up to a constant)", yscale="log")
    a1.legend()
    return fig


def plot_wsd_anytime(anytime: Mapping[str, Any], cosine: Any) -> Any:
    """WSD's anytime models (:func:`lrkit.training.run_wsd_branches`): the constant-LR trunk, each cooldown
    branch at its place on the iteration axis, and a full-length warmup + cosine run beside them."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    ev = anytime["trunk"].evals
    ax.plot([e["iteration"] for e in ev], [100 * e["acc"] for e in ev], "o-", ms=3, label="constant-LR trunk")
    for s, h in anytime["branches"].items():
        ax.plot([s + e["iteration"] for e in h.evals], [100 * e["acc"] for e in h.evals], "s--", ms=3,
                label=f"cooldown from step {s}")
    ax.plot([e["iteration"] for e in cosine.evals], [100 * e["acc"] for e in cosine.evals], "-", color="k", lw=1,
            label="warmup + cosine (full length)")
    ax.set(xlabel="iteration", ylabel="test accuracy (%)", title="WSD's anytime models")
    ax.legend(fontsize=8)
    return fig


# --------------------------------------------------------------------------------------------------
# The methods bench (notebook 08 §8)
# --------------------------------------------------------------------------------------------------
def methods_bench(results_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """The stored results of ``lrkit bench run methods`` at the largest scale that has some (``full``, then
    ``lite``) under ``results_dir`` (default: the repository's ``benchmarks/results``):
    ``{"scale", "runs", "root", "analysis", "budgets"}`` where ``budgets`` holds, per epoch budget, the best
    method without a grid search, the grid's best and one-cycle from the range test (mean test accuracy
    in %); ``scale`` is None when there are no results."""
    from ..bench.experiments.methods import analyse
    from ..bench.store import load_results
    from .tools import default_results_dir

    root = Path(results_dir) if results_dir else default_results_dir()
    for scale in ("full", "lite"):
        runs = load_results(root, "methods", scale)
        if runs:
            break
    else:
        return {"scale": None, "runs": [], "root": str(root), "analysis": None, "budgets": {}}
    a = analyse(runs)
    budgets = {}
    for ep, b in a["budgets"].items():
        rows, ref = b["rows"], b["reference"]
        named = {m: v for m, v in rows.items() if not m.startswith("grid_")}
        if not named or not ref or "one_cycle_rt" not in rows:
            budgets[ep] = None
            continue
        best = max(named, key=lambda m: named[m]["acc"])
        budgets[ep] = {"best": best, "best_acc": named[best]["acc"], "grid": ref, "grid_acc": rows[ref]["acc"],
                       "one_cycle_rt_acc": rows["one_cycle_rt"]["acc"]}
    return {"scale": scale, "runs": runs, "root": str(root), "analysis": a, "budgets": budgets}
