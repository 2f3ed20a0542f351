"""Matplotlib figures for lrkit results.

Matplotlib is imported lazily inside the functions; this module never selects a
backend (no ``matplotlib.use`` at import time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from lrkit.schedules import Schedule


def plot_schedule(
    schedules: Schedule | Mapping[str, Schedule] | Sequence[Schedule],
    total_steps: int | None = None,
    steps_per_epoch: int | None = None,
    momentum: bool = False,
    log_y: bool = False,
    labels: Sequence[str] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Plot one or several LR schedules against the iteration ``t``.

    Args:
        schedules: a schedule, a list of schedules, or a dict ``label -> schedule``.
        total_steps: iterations to draw (``t = 0 .. total_steps - 1``); defaults to the
            largest finite ``total_steps`` among the schedules.  Required if all are infinite.
        steps_per_epoch: if given, a secondary x axis on top shows epochs (``t / steps_per_epoch``).
        momentum: also draw each schedule's momentum schedule
            (:meth:`~lrkit.schedules.Schedule.momentum_schedule`) in a second axes below.
        log_y: logarithmic LR axis.
        labels: legend labels for a list of schedules (default: the class names).
        ax: draw the LR curves into this axes (with ``momentum=True`` the momentum axes
            is appended below it in the same figure).

    Returns:
        The matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    from lrkit.schedules import Schedule

    if isinstance(schedules, Schedule):
        items = [(labels[0] if labels else type(schedules).__name__, schedules)]
    elif isinstance(schedules, Mapping):
        items = [(str(k), v) for k, v in schedules.items()]
    else:
        scheds = list(schedules)
        if labels is not None and len(labels) != len(scheds):
            raise ValueError(f"labels must have {len(scheds)} entries, got {len(labels)}")
        names = list(labels) if labels is not None else [type(s).__name__ for s in scheds]
        items = list(zip(names, scheds, strict=False))
    if not items:
        raise ValueError("schedules must contain at least one schedule")
    for name, s in items:
        if not isinstance(s, Schedule):
            raise ValueError(f"schedules: {name!r} is not a Schedule")
    if total_steps is None:
        finite = [s.total_steps for _, s in items if s.total_steps is not None]
        if not finite:
            raise ValueError("total_steps is required when every schedule is infinite")
        total_steps = max(finite)
    if total_steps <= 0:
        raise ValueError(f"total_steps must be > 0, got {total_steps}")
    if steps_per_epoch is not None and steps_per_epoch <= 0:
        raise ValueError(f"steps_per_epoch must be > 0, got {steps_per_epoch}")

    if ax is None:
        if momentum:
            fig, (ax_lr, ax_m) = plt.subplots(2, 1, sharex=True, figsize=(8, 6))
        else:
            fig, ax_lr = plt.subplots(figsize=(8, 4))
            ax_m = None
    else:
        ax_lr = ax
        fig = ax.figure
        ax_m = None
        if momentum:
            from mpl_toolkits.axes_grid1 import make_axes_locatable

            ax_m = make_axes_locatable(ax_lr).append_axes("bottom", size="60%", pad=0.5, sharex=ax_lr)

    def _curve(s: Schedule) -> tuple[np.ndarray, np.ndarray]:
        stop = total_steps if s.total_steps is None else min(total_steps, s.total_steps)
        t = np.arange(stop, dtype=np.float64)
        return t, np.asarray(s(t))

    for name, s in items:
        t, y = _curve(s)
        ax_lr.plot(t, y, label=name)
    if log_y:
        ax_lr.set_yscale("log")
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_title("Learning-rate schedule" + ("s" if len(items) > 1 else ""))
    ax_lr.grid(True, alpha=0.3)
    if len(items) > 1 or labels:
        ax_lr.legend()
    bottom = ax_lr
    if ax_m is not None:
        drawn = False
        for name, s in items:
            ms = s.momentum_schedule()
            if ms is None:
                continue
            t, y = _curve(ms)
            ax_m.plot(t, y, label=name)
            drawn = True
        if not drawn:
            ax_m.text(0.5, 0.5, "no momentum schedule", ha="center", va="center", transform=ax_m.transAxes)
        ax_m.set_ylabel("momentum")
        ax_m.grid(True, alpha=0.3)
        bottom = ax_m
    bottom.set_xlabel("iteration t (optimizer steps)")
    if steps_per_epoch is not None:
        spe = float(steps_per_epoch)
        sec = ax_lr.secondary_xaxis("top", functions=(lambda x: x / spe, lambda e: e * spe))
        sec.set_xlabel("epoch")
    return fig


# ------------------------------------------------------------------ LR range test (lrkit.rangetest)
SUGGESTION_STYLE = {"steepest": ("tab:red", "v"), "valley": ("tab:green", "o"),
                    "minimum": ("tab:purple", "s"), "robust": ("tab:orange", "D"),
                    "constant": ("tab:green", "o"), "one_cycle": ("tab:red", "^"), "clr": ("tab:purple", "s")}
#: what ``plot_range_test(suggestions=True)`` marks: the LR for each use
DEFAULT_MARKS = ("constant", "one_cycle", "clr")


def _suggestions_to_mark(result: Any, suggestions: bool | Sequence[str], skip_start: int | None,
                         skip_end: int) -> list[tuple[str, Any]]:
    from .rangetest.reading import USES

    names = DEFAULT_MARKS if suggestions is True else (() if not suggestions else tuple(suggestions))
    out = []
    for m in names:
        try:
            s = (result.suggest(for_=m, skip_end=skip_end) if m in USES
                 else result.suggest(m, skip_start=skip_start, skip_end=skip_end))
        except ValueError:
            continue
        out.append((m, s))
    return out


def _y_range(ax: Axes, ys: np.ndarray, marks_y: list[float]) -> None:
    finite = ys[np.isfinite(ys)]
    if len(finite) > 1:
        imin = int(np.nanargmin(ys))
        # the curve down to its minimum, and every suggestion marked, stay in view
        top = max([float(np.nanmax(ys[: imin + 1]))] + [y for y in marks_y if np.isfinite(y)])
        bottom = min([float(finite.min())] + [y for y in marks_y if np.isfinite(y)])
        pad = 0.08 * max(top - bottom, 1e-12)
        ax.set_ylim(bottom - pad, top + 3 * pad)


def plot_range_test(result: Any, ax: Axes | None = None, suggestions: bool | Sequence[str] = True,
                    skip_start: int | None = None, skip_end: int = 0, raw: bool = True, used: Any = None) -> Figure:
    """Loss against the reference group's LR (log x) for a :class:`lrkit.rangetest.RangeTest`.

    Draws the raw losses (faint), the causal EMA every finder reads (dashed), and the zero-phase curve
    lrkit reads (:mod:`lrkit.rangetest.reading`), with the end of its descent and its blow-up as dotted
    lines. ``suggestions=True`` marks the LR for each use (constant, one-cycle peak, CLR's max); a list
    names uses or classic methods to mark instead. ``used`` (a :class:`~lrkit.rangetest.Suggestion`, or a
    use) is the LR a run actually took: a star with its interval shaded, and — when its status is not
    ``"ok"`` — a box saying that the curve does not pin the LR down, and why. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    fig, ax = (plt.subplots(figsize=(7, 4)) if ax is None else (ax.figure, ax))
    n = len(result)
    lo = result.default_skip_start() if skip_start is None else int(skip_start)
    hi = n - int(skip_end)
    x, ys, yr = result.sweep_lr[lo:hi], result.smoothed[lo:hi], result.loss[lo:hi]
    kind = "validation" if result.loss_kind == "val" else "training"
    if raw and len(x):
        ax.plot(x, yr, ".", color="0.6", ms=3, alpha=0.6, label=f"{kind} loss (raw)")
    ax.plot(x, ys, color="0.45", lw=1.0, ls="--", label=f"EMA, β={1 - result.smoothing:.3g} (lags)")
    if len(x) and (x > 0).all():
        ax.set_xscale("log")
    reading = _draw_reading(ax, result, skip_end)
    marks = []
    if n >= 3:
        for m, s in _suggestions_to_mark(result, suggestions, skip_start, skip_end):
            y = float(np.interp(np.log10(s.lr), np.log10(result.sweep_lr[:hi]), result.smoothed[:hi]))
            marks.append((m, s, y))
    if isinstance(used, str):
        used = result.suggest(for_=used)
    _y_range(ax, ys, [y for _, _, y in marks])
    for m, s, y in marks:
        color, marker = SUGGESTION_STYLE.get(m, ("black", "x"))
        label = f"{m}: {s.lr:.2g}"
        if s.high > s.low and used is None:
            ax.axvspan(s.low, s.high, color=color, alpha=0.10)
            label += f" [{s.low:.2g}, {s.high:.2g}]"
        ax.plot([s.lr], [y], marker=marker, color=color, ms=8, ls="none", label=label)
    if used is not None:
        _draw_used(ax, result, used, hi)
    ax.set_xlabel("learning rate" + (f" (group {result.ref_group})" if result.lr.shape[1] > 1 else ""))
    ax.set_ylabel(f"{kind} loss")
    title = f"LR range test ({result.mode} sweep, {n} steps)"
    if reading is not None:
        title += f": {reading.regime}"
    if result.stopped_early:
        title += f" — stopped: {result.reason}"
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def _draw_reading(ax: Axes, result: Any, skip_end: int) -> Any:
    """The zero-phase curve and the reading's landmarks; the reading (None if the sweep is too short)."""
    try:
        r = result.reading(skip_end=skip_end)
    except ValueError:
        return None
    xs = 10 ** r.x[: len(r.smooth)]
    ax.plot(xs, r.smooth, color="tab:blue", lw=1.8, label="zero-phase (what lrkit reads)")
    if r.lr_end is not None:
        ax.axvline(r.lr_end, color="tab:blue", ls=":", lw=1, label=f"end of descent {r.lr_end:.2g}")
    if r.lr_blowup is not None:
        ax.axvline(r.lr_blowup, color="tab:red", ls=":", lw=1, label=f"blow-up {r.lr_blowup:.2g}")
    return r


def _draw_used(ax: Axes, result: Any, s: Any, hi: int) -> None:
    y = float(np.interp(np.log10(s.lr), np.log10(result.sweep_lr[:hi]), result.smoothed[:hi]))
    ax.axvspan(s.low, s.high, color="gold", alpha=0.25)
    ax.plot([s.lr], [y], marker="*", color="black", mfc="gold", ms=16, ls="none",
            label=f"used ({s.method}): {s.lr:.3g} [{s.low:.2g}, {s.high:.2g}]")
    if getattr(s, "status", "ok") != "ok":
        ax.text(0.02, 0.03, f"{s.status}: the curve does not pin the LR down", transform=ax.transAxes,
                fontsize="small", va="bottom", bbox={"boxstyle": "round", "fc": "lightyellow", "ec": "0.6"})


def plot_accuracy_range_test(result: Any, ax: Axes | None = None) -> Figure:
    """Accuracy against LR (linear x) for a :class:`lrkit.rangetest.AccuracyRangeTest`, with the
    smoothed curve and the suggested ``base_lr``/``max_lr`` marked. Returns the Figure."""
    import matplotlib.pyplot as plt

    fig, ax = (plt.subplots(figsize=(7, 4)) if ax is None else (ax.figure, ax))
    ax.plot(result.lr, 100 * np.asarray(result.acc), "o", color="0.5", ms=4, label="accuracy")
    ax.plot(result.lr, 100 * np.asarray(result.smoothed_acc), color="tab:blue", label="smoothed")
    if result.base_lr is not None and result.max_lr is not None:
        ax.axvspan(result.base_lr, result.max_lr, color="tab:green", alpha=0.15,
                   label=f"base_lr={result.base_lr:.3g}, max_lr={result.max_lr:.3g}")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("evaluation accuracy (%)")
    ax.set_title("Accuracy range test (linear LR increase)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def plot_history(history: Any, *, title: str | None = None, log_lr: bool = False,
                 by_epoch: bool = False) -> Figure:
    """Three panels against iteration (or epoch): the LR of every param group, the training loss
    (raw and smoothed), and the evaluation accuracy (with loss on a twin axis) of a
    :class:`~lrkit.training.History`."""
    import matplotlib.pyplot as plt

    it = np.asarray(history.iteration, dtype=float)
    spe = history.steps_per_epoch
    if by_epoch and not spe:
        raise ValueError("by_epoch needs a History with steps_per_epoch")
    scale = 1.0 / spe if by_epoch else 1.0
    xlabel = "epoch" if by_epoch else "iteration"
    fig, (a_lr, a_loss, a_acc) = plt.subplots(1, 3, figsize=(14, 3.8))
    lrs = np.asarray(history.lr, dtype=float).reshape(len(it), -1) if len(it) else np.zeros((0, 1))
    for g in range(lrs.shape[1]):
        a_lr.plot(it * scale, lrs[:, g], label=f"group {g}" if lrs.shape[1] > 1 else None)
    if lrs.shape[1] > 1:
        a_lr.legend(fontsize=8)
    if log_lr:
        a_lr.set_yscale("log")
    a_lr.set(xlabel=xlabel, ylabel="learning rate", title="learning rate")
    loss = np.asarray(history.train_loss, dtype=float)
    if len(loss):
        a_loss.plot(it[: len(loss)] * scale, loss, alpha=0.3, lw=0.8, label="per step")
        k = max(1, len(loss) // 50)
        if k > 1:
            smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
            a_loss.plot(it[k - 1: len(loss)] * scale, smooth, label=f"mean of {k}")
        a_loss.legend(fontsize=8)
    a_loss.set(xlabel=xlabel, ylabel="loss", title="training loss")
    if history.evals:
        ex = np.asarray([e["iteration"] for e in history.evals], dtype=float) * scale
        a_acc.plot(ex, [100 * e["acc"] for e in history.evals], "o-", color="C2", label="accuracy")
        a_acc.set_ylabel("eval accuracy (%)")
        twin = a_acc.twinx()
        twin.plot(ex, [e["loss"] for e in history.evals], "s--", color="C3", alpha=0.6, label="loss")
        twin.set_ylabel("eval loss")
    a_acc.set(xlabel=xlabel, title="evaluation")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_layer_lrs(history: Any, names: Sequence[str] | None = None, *, events: Sequence[Any] | None = None,
                   log_y: bool = True, ax: Axes | None = None, title: str | None = None) -> Figure:
    """The LR of every layer group against iteration (discriminative fine-tuning).

    ``history``: a :class:`~lrkit.training.History` (its ``lr``) or an ``[iterations, groups]`` array.
    ``names``: one label per group (e.g. :attr:`lrkit.finetune.LayerGroups.names`).
    ``events``: iterations to mark with vertical lines (e.g. the ``(iteration, open groups)`` pairs
    of :attr:`lrkit.finetune.GradualUnfreezing.events`; a pair is labelled with its count).
    """
    import matplotlib.pyplot as plt

    lrs = np.asarray(getattr(history, "lr", history), dtype=float)
    if lrs.ndim == 1:
        lrs = lrs[:, None]
    if names is not None and len(names) != lrs.shape[1]:
        raise ValueError(f"names has {len(names)} entries for {lrs.shape[1]} groups")
    fig = ax.figure if ax is not None else plt.subplots(figsize=(6.5, 3.8))[0]
    ax = ax if ax is not None else fig.axes[0]
    it = np.asarray(getattr(history, "iteration", np.arange(len(lrs))), dtype=float)
    for g in range(lrs.shape[1]):
        ax.plot(it, lrs[:, g], label=names[g] if names is not None else f"group {g}")
    for ev in events or ():
        x, lab = (ev[0], f"{ev[1]} open") if isinstance(ev, (tuple, list)) else (ev, None)
        ax.axvline(x, color="0.6", ls=":", lw=1)
        if lab:
            ax.annotate(lab, (x, 1.0), xycoords=("data", "axes fraction"), fontsize=7, rotation=90,
                        va="top", ha="right", color="0.4")
    if log_y:
        ax.set_yscale("log")
    ax.set(xlabel="iteration", ylabel="learning rate", title=title or "per-group learning rates")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# accuracy curves (notebooks 03-06)
def plot_accuracy_curves(histories: Mapping[str, Any], *, reference: Mapping[str, float] | None = None,
                         reference_label: str = "paper", chance: float | None = 0.1, ax: Any = None,
                         title: str = "test accuracy while training"):
    """Evaluation accuracy (%) against iteration for several :class:`~lrkit.training.History` runs,
    with optional horizontal lines for published numbers (``reference``: label -> accuracy %)."""
    import matplotlib.pyplot as plt

    fig, ax = (plt.subplots(figsize=(8, 4.5)) if ax is None else (ax.figure, ax))
    colors = {}
    for k, (name, h) in enumerate(histories.items()):
        ev = h.evals
        colors[name] = f"C{k}"
        ax.plot([e["iteration"] for e in ev], [100 * e["acc"] for e in ev], "o-", ms=3, color=f"C{k}",
                label=f"{name} (final {100 * ev[-1]['acc']:.1f} %)" if ev else name)
    # one dashed line per distinct published value, labelled in the legend (names sharing a value
    # share a line): annotations at equal heights used to print on top of each other
    by_value: dict[float, list[str]] = {}
    for name, v in (reference or {}).items():
        by_value.setdefault(float(v), []).append(str(name))
    for k, (v, names) in enumerate(sorted(by_value.items(), reverse=True)):
        color = colors.get(names[0], f"C{len(colors) + k}") if len(names) == 1 else "0.35"
        ax.axhline(v, ls="--", lw=1, color=color, alpha=0.7,
                   label=f"{reference_label} {', '.join(names)}: {v:g} %")
    if chance is not None:
        ax.axhline(100 * chance, color="0.5", lw=1, ls=":", label="chance")
    ax.set(xlabel="iteration", ylabel="test accuracy (%)", title=title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return fig
