"""What notebook 02 computes and draws beside its range tests (no training here: every function reads
RangeTests, Suggestions or Histories that the notebook made).

- :func:`ema_lag` — how far the causal EMA's lowest point sits right of the zero-phase curve's, and the EMA's
  mean lag in points and in decades;
- :func:`plot_lag` — the raw loss, the EMA and the zero-phase curve of one sweep, with both minima marked;
- :func:`plot_sweeps` — several sweeps side by side, each with the LR lrkit suggests, its interval and its status;
- :func:`plot_zero_phase` — the zero-phase curves of several sweeps on one axis (e.g. one per weight decay);
- :func:`tail_loss` / :func:`plot_runs` — the training loss at the end of a short run, and the runs' losses drawn
  against the step.

The checks of ``tests/system/test_notebooks.py`` recompute what the notebook says from the recorded numbers
with their own code, not with these functions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["ema_lag", "plot_lag", "plot_runs", "plot_sweeps", "plot_zero_phase", "tail_loss"]


def ema_lag(rt: Any) -> dict[str, float]:
    """How the causal EMA of ``rt`` (a :class:`~lrkit.rangetest.RangeTest`) lags its zero-phase curve.

    Returns ``{"per_decade", "lag_points", "lag_decades", "lr_ema_min", "lr_zero_phase_min", "shift_decades"}``:
    the sweep's points per decade of LR; the mean age of the EMA's weights, ``β / (1 − β)`` points with
    ``β = 1 − rt.smoothing``, and that many points in decades at this density; the LR of the EMA's lowest point,
    that of the zero-phase curve's (:meth:`~lrkit.rangetest.RangeTest.reading`), and ``log10`` of their ratio.
    """
    r = rt.reading()
    beta = 1.0 - float(rt.smoothing)
    lag_points = beta / (1.0 - beta)
    ema = np.asarray(rt.smoothed, dtype=float)[: len(r.x)]
    i_ema, i_zp = int(np.nanargmin(ema)), int(np.argmin(r.smooth))
    lr_ema, lr_zp = float(10 ** r.x[i_ema]), float(10 ** r.x[i_zp])
    return {"per_decade": r.per_decade, "lag_points": lag_points, "lag_decades": lag_points / r.per_decade,
            "lr_ema_min": lr_ema, "lr_zero_phase_min": lr_zp, "shift_decades": math.log10(lr_ema / lr_zp)}


def plot_lag(rt: Any, ax: Any = None) -> Any:
    """One sweep: raw losses, the causal EMA and the zero-phase curve lrkit reads, each curve's lowest point
    marked with a vertical line. Returns the Figure."""
    import matplotlib.pyplot as plt

    fig, ax = (plt.subplots(figsize=(7.5, 4)) if ax is None else (ax.figure, ax))
    r, lag = rt.reading(), ema_lag(rt)
    lr = 10 ** r.x
    ax.plot(lr, r.raw, ".", color="0.6", ms=3, label="raw loss (one batch per point)")
    ax.plot(lr, np.asarray(rt.smoothed)[: len(lr)], color="tab:orange", lw=1.5,
            label=f"causal EMA, smoothing {rt.smoothing:g}")
    ax.plot(lr[: len(r.smooth)], r.smooth, color="tab:blue", lw=2, label="zero-phase (centred, in decades)")
    ax.axvline(lag["lr_ema_min"], color="tab:orange", ls=":", label=f"EMA's lowest point {lag['lr_ema_min']:.2g}")
    ax.axvline(lag["lr_zero_phase_min"], color="tab:blue", ls=":",
               label=f"zero-phase lowest point {lag['lr_zero_phase_min']:.2g}")
    lo, hi = float(np.min(r.smooth)), float(np.max(r.raw[: len(r.smooth)]))
    ax.set_ylim(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo))
    ax.set(xscale="log", xlabel="learning rate (log scale)", ylabel="training loss",
           title=f"The EMA lags: its lowest point sits {lag['shift_decades']:.2f} decades to the right")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def plot_sweeps(panels: Mapping[str, tuple[Any, Any]], ncols: int = 2) -> Any:
    """One panel per ``{title: (RangeTest, Suggestion)}``: the sweep as :meth:`RangeTest.plot` draws it with
    ``used=`` the suggestion (a star, its interval, and a box when the curve does not pin the LR down).
    Returns the Figure."""
    import matplotlib.pyplot as plt

    if not panels:
        raise ValueError("plot_sweeps needs at least one (RangeTest, Suggestion) panel")
    n = len(panels)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.5 * ncols, 4.2 * nrows), squeeze=False)
    for ax, (title, (rt, s)) in zip(axes.flat, panels.items(), strict=False):
        rt.plot(ax=ax, suggestions=False, used=s)
        ax.set_title(f"{title}\nregime {s.regime}, status {s.status}", fontsize="medium")
        ax.legend(fontsize="x-small")
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def plot_zero_phase(sweeps: Mapping[str, Any], title: str, ax: Any = None) -> Any:
    """The zero-phase curve of every ``{label: RangeTest}`` on one axis, each with its end of descent (dot) and
    blow-up (cross) when the reading found them. Returns the Figure."""
    import matplotlib.pyplot as plt

    fig, ax = (plt.subplots(figsize=(7.5, 4)) if ax is None else (ax.figure, ax))
    for label, rt in sweeps.items():
        r = rt.reading()
        lr = 10 ** r.x[: len(r.smooth)]
        line, = ax.plot(lr, r.smooth, lw=1.8, label=f"{label} ({r.regime})")
        for at, marker in ((r.lr_end, "o"), (r.lr_blowup, "x")):
            if at is not None and at <= lr[-1]:
                ax.plot([at], [np.interp(np.log10(at), r.x[: len(r.smooth)], r.smooth)], marker, color=line.get_color(),
                        ms=8)
    ax.set(xscale="log", xlabel="learning rate (log scale)", ylabel="training loss (zero-phase)",
           title=title + "\n(dot: end of the descent; cross: blow-up)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def tail_loss(history: Any, share: float = 0.1) -> float:
    """The mean training loss of the last ``share`` of a run's steps (at least one); ``nan`` if any of them
    is not finite (the run blew up)."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share!r}")
    loss = np.asarray(history.train_loss if hasattr(history, "train_loss") else history, dtype=float)
    if loss.size == 0:
        raise ValueError("tail_loss needs a run with at least one step")
    tail = loss[-max(1, int(round(share * loss.size))):]
    return float(tail.mean()) if np.all(np.isfinite(tail)) else math.nan


def plot_runs(histories: Mapping[str, Any], title: str, ax: Any = None, cap: float = 10.0) -> Any:
    """The training loss of every ``{label: History}`` against the step (a running mean over 5 % of the
    steps; values above ``cap`` or not finite drawn at ``cap``), the final test accuracy in the legend.
    Returns the Figure."""
    import matplotlib.pyplot as plt

    fig, ax = (plt.subplots(figsize=(7.5, 4)) if ax is None else (ax.figure, ax))
    for label, h in histories.items():
        loss = np.asarray(h.train_loss, dtype=float)
        loss = np.where(np.isfinite(loss), np.minimum(loss, cap), cap)
        k = max(1, len(loss) // 20)
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        acc = f", test acc {100 * h.evals[-1]['acc']:.1f} %" if getattr(h, "evals", None) else ""
        ax.plot(np.arange(k, len(loss) + 1), smooth, label=f"{label}{acc}")
    ax.set(xlabel="step", ylabel=f"training loss (running mean; capped at {cap:g})", title=title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return fig
