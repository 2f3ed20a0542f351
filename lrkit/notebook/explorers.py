"""Interactive explorers for the notebooks (what notebooks share that is not a widget: :mod:`lrkit.notebook.tools`).

Every explorer is a class with

* ``.widgets`` — a ``dict`` of controls (float controls are :class:`~lrkit.notebook.controls.ExactFloat`:
  a slider beside a text box holding the exact value; ints are sliders; choices are dropdowns), each
  observed: changing its ``value`` recomputes the explorer (``.last`` holds the newest result) and
  redraws the figure in place; controls that have no effect in the current mode are disabled, with
  the reason as their tooltip;
* ``.update(**values) -> {"data": ..., "figure": ...}`` — the pure part: values not given are taken
  from the widgets; works headless (no browser, no kernel), so tests call it directly;
* ``.display()`` — shows the controls and the figure in a notebook.

Redraw design (in place, no blanking): each explorer owns one matplotlib figure, updates its
artists, and pushes a PNG into an ``ipywidgets.Image`` — chosen over ipympl because it works under
the notebooks' ``%matplotlib inline``, needs no extra frontend extension, and survives papermill /
nbconvert in the saved widget state. See :mod:`lrkit.notebook.explorer` for the details and
:mod:`lrkit.notebook.controls` for why the values are exact.

Explorers here: :class:`GradientDescentExplorer` (notebook 01), :class:`RangeTestExplorer` (02),
:class:`DiscriminativeExplorer` (06); the schedule explorers (03, 04, 05, 08) are in
:mod:`lrkit.notebook.schedule_explorers`.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as W
import numpy as np

from ..plot import SUGGESTION_STYLE, plot_range_test
from ..rangetest import SUGGESTION_METHODS, RangeTest
from . import toy
from .controls import SLIDER_WIDTH, STYLE, dropdown, float_control, int_slider, log_control
from .explorer import Explorer
from .toy import plot_gradient_descent

__all__ = ["DiscriminativeExplorer", "GradientDescentExplorer", "RangeTestExplorer"]

_LAYOUT = {"width": SLIDER_WIDTH}


# --------------------------------------------------------------------------------------------------
# 01 — gradient descent on toy losses
# --------------------------------------------------------------------------------------------------
class GradientDescentExplorer(Explorer):
    """Gradient descent on a toy surface: the LR (log scale), the number of steps and the start point
    (``x0``; ``y0`` for the 2-D surfaces, disabled on 1-D ones), and a dropdown for the surface.

    ``data``: ``{"surface", "lr", "steps", "start", "final_loss", "gap", "diverged", "verdict",
    "w", "loss", "table"}`` (``table``: the first 5 update steps, see :func:`lrkit.notebook.toy.update_steps`).
    """

    figsize = (10.0, 3.8)

    def __init__(self, surface: str = "quadratic", lr: float = 0.1, steps: int = 20,
                 start: tuple[float, ...] | None = None) -> None:
        self._init = dict(surface=surface, lr=lr, steps=steps, start=start)
        super().__init__()

    def _make_widgets(self) -> dict[str, Any]:
        surf = toy.get_surface(self._init["surface"])
        start = self._init["start"] or surf.default_start
        return {
            "surface": dropdown(list(toy.SURFACES), surf.name, "surface"),
            "lr": log_control(self._init["lr"], -3, 0.5, "learning rate", step=0.01),
            "steps": int_slider(self._init["steps"], 1, 200, "steps"),
            "x0": float_control(float(start[0]), -5, 5, 0.05, "start w₁"),
            "y0": float_control(float(start[1]) if len(start) > 1 else 1.0, -2, 2, 0.01, "start w₂"),
        }

    def hints(self, values: dict[str, Any]) -> dict[str, str]:
        if toy.get_surface(values["surface"]).dim == 1:
            return {"y0": "start w₂ applies to 2-D surfaces only; pick one in 'surface'"}
        return {}

    def compute(self, surface: str, lr: float, steps: int, x0: float, y0: float) -> dict[str, Any]:
        surf = toy.get_surface(surface)
        start = (x0,) if surf.dim == 1 else (x0, y0)
        traj = toy.gradient_descent(surf, start, lr, steps)
        verdict = toy.classify_lr(surf, lr, start=start, steps=steps)
        return {"surface": surf.name, "lr": float(lr), "steps": int(steps), "start": list(start),
                "final_loss": traj.final_loss, "gap": traj.final_loss - surf.min_loss,
                "diverged": traj.diverged, "verdict": verdict, "lr_limit": surf.lr_limit,
                "w": traj.w, "loss": traj.loss, "table": toy.update_steps(surf, start, lr, min(5, steps))}

    def make_view(self, fig: Any) -> Any:
        return {"axes": fig.subplots(1, 2), "key": None}

    def draw(self, view: dict[str, Any], data: dict[str, Any], values: dict[str, Any]) -> None:
        a_path, a_loss = view["axes"]
        surf = toy.get_surface(data["surface"])
        traj = toy.gradient_descent(surf, data["start"], data["lr"], data["steps"])
        (lo, hi), *_ = surf.bounds
        wf = traj.w[np.isfinite(traj.w[:, 0]), 0]  # 1-D: the x range follows the path (as in the plot)
        key = (surf.name, max(min(lo, wf.min(initial=lo)), -50.0), min(max(hi, wf.max(initial=hi)), 50.0)) \
            if surf.dim == 1 else surf.name
        if view["key"] != key:  # new panels: another surface, or a 1-D path that leaves the drawn range
            for ax in (a_path, a_loss):
                ax.cla()
            plot_gradient_descent(traj, surf, axes=(a_path, a_loss))
            view["key"] = key
        else:  # same background: move the path (in-place artist updates)
            self._move_path(a_path, a_loss, surf, traj, data)
        stop = f", stopped after {len(traj.loss) - 1}: diverged" if traj.diverged else ""
        a_loss.set_title(f"progress over {data['steps']} steps{stop}")

    @staticmethod
    def _move_path(a_path: Any, a_loss: Any, surf: Any, traj: Any, data: dict[str, Any]) -> None:
        w = traj.w
        finite = np.all(np.isfinite(w), axis=1)
        lines = {ln.get_label(): ln for ln in a_path.lines}
        if surf.dim == 1:
            shown = finite & (np.abs(w[:, 0]) <= 50)
            lines["w after each step"].set_data(w[shown, 0], traj.loss[shown])
            lines["start"].set_data([w[0, 0]], [traj.loss[0]])
        else:
            (lo, hi), (ylo, yhi) = surf.bounds
            inside = finite & (w[:, 0] >= lo) & (w[:, 0] <= hi) & (w[:, 1] >= ylo) & (w[:, 1] <= yhi)
            lines["path"].set_data(w[inside, 0], w[inside, 1])
            lines["start"].set_data([w[0, 0]], [w[0, 1]])
        a_path.set_title(f"{surf.name}: lr = {traj.lr:.3g} → {data['verdict']}"
                         + (" (diverged)" if traj.diverged else ""))
        with np.errstate(invalid="ignore", over="ignore"):
            gap = np.clip(traj.loss - surf.min_loss, 1e-16, 1e300)
        a_loss.lines[0].set_data(np.arange(len(gap)), gap)
        a_loss.relim()
        a_loss.autoscale_view()

    def summary(self) -> str:
        d = self.last["data"]
        return (f"{d['surface']}: lr={d['lr']:g} (stable below 2/L = {d['lr_limit']:.3g}) "
                f"→ {d['verdict']}; "
                f"loss after {d['steps']} steps: {d['final_loss']:.4g}")


# --------------------------------------------------------------------------------------------------
# 02 — the LR range test
# --------------------------------------------------------------------------------------------------
class RangeTestExplorer(Explorer):
    """Re-read a :class:`lrkit.rangetest.RangeTest` with other smoothing / skipped ends.

    Controls: ``smoothing`` (EMA weight of the newest loss, log scale), ``skip_start`` and
    ``skip_end`` (points dropped at either end). The raw losses are re-smoothed, every suggestion is
    recomputed. ``data``: ``{"smoothing", "skip_start", "skip_end", "suggestions": {method: lr},
    "intervals": {method: [low, high]}, "errors": {method: message}}``.
    """

    figsize = (8.0, 4.2)

    def __init__(self, result: Any, n_boot: int = 100) -> None:
        self.result = result
        self.n_boot = n_boot
        super().__init__()

    def _make_widgets(self) -> dict[str, Any]:
        n = len(self.result)
        return {
            "smoothing": log_control(float(self.result.smoothing), -2.5, 0, "smoothing (EMA weight)"),
            "skip_start": int_slider(n // 10, 0, max(0, n // 2), "skip start"),
            "skip_end": int_slider(0, 0, max(0, n // 2), "skip end"),
        }

    def resmoothed(self, smoothing: float) -> Any:
        """A copy of the result whose smoothed curve uses ``smoothing``."""
        r = self.result
        return RangeTest(sweep_lr=r.sweep_lr, loss=r.loss, lr=r.lr, train_loss=r.train_loss,
                         loss_kind=r.loss_kind, mode=r.mode, smoothing=float(smoothing),
                         ref_group=r.ref_group,
                         stopped_early=r.stopped_early, reason=r.reason, config=r.config)

    def compute(self, smoothing: float, skip_start: int, skip_end: int) -> dict[str, Any]:
        r = self.resmoothed(smoothing)
        sugg, intervals, errors = {}, {}, {}
        for m in SUGGESTION_METHODS:
            try:
                s = r.suggest(m, skip_start=skip_start, skip_end=skip_end, n_boot=self.n_boot)
            except ValueError as e:
                errors[m] = str(e)
                continue
            sugg[m] = s.lr
            intervals[m] = [s.low, s.high]
        return {"smoothing": float(smoothing), "skip_start": int(skip_start), "skip_end": int(skip_end),
                "suggestions": sugg, "intervals": intervals, "errors": errors,
                "smoothed": r.smoothed}

    def make_view(self, fig: Any) -> Any:
        return fig.subplots()

    def draw(self, ax: Any, data: dict[str, Any], values: dict[str, Any]) -> None:
        ax.cla()
        r = self.resmoothed(data["smoothing"])
        plot_range_test(r, ax=ax, skip_start=data["skip_start"], skip_end=data["skip_end"], suggestions=False)
        marks = []
        for m, lr in data["suggestions"].items():  # the markers from the suggestions computed above
            color, marker = SUGGESTION_STYLE.get(m, ("black", "x"))
            lo, hi = data["intervals"][m]
            y = float(np.interp(np.log10(lr), np.log10(r.sweep_lr), r.smoothed))
            label = f"{m}: {lr:.2g}"
            if hi > lo:
                ax.axvspan(lo, hi, color=color, alpha=0.12)
                label += f" [{lo:.2g}, {hi:.2g}]"
            ax.plot([lr], [y], marker=marker, color=color, ms=8, ls="none", label=label)
            marks.append(y)
        lo, hi = ax.get_ylim()  # every suggestion marker stays in view
        finite = [y for y in marks if np.isfinite(y)]
        if finite and (min(finite) < lo or max(finite) > hi):
            pad = 0.05 * (max(hi, *finite) - min(lo, *finite))
            ax.set_ylim(min(lo, min(finite) - pad), max(hi, max(finite) + pad))
        ax.legend(fontsize="small")
        ax.figure.tight_layout()

    def summary(self) -> str:
        s = self.last["data"]["suggestions"]
        return "  ".join(f"{k}: {v:.3g}" for k, v in s.items()) or "no suggestion in this window"


# --------------------------------------------------------------------------------------------------
# 06 — discriminative LRs
# --------------------------------------------------------------------------------------------------
class DiscriminativeExplorer(Explorer):
    """Per-group LRs of a discriminative spread (:func:`lrkit.finetune.discriminative_lrs`) and
    which groups are trainable after ``freeze_to(k)``.

    Controls: ``rule`` (``'spread'`` = ``slice(lo, hi)``, ``'ulmfit'`` = ``hi`` with ``factor``,
    ``'fastai'`` = ``slice(hi)``), ``lo``, ``hi``, ``factor``, ``frozen`` (groups ``0 … k-1`` frozen);
    ``lo`` is disabled unless the rule is spread, ``factor`` unless it is ulmfit.
    ``groups`` is a :class:`~lrkit.finetune.LayerGroups` (its names and sizes are shown) or a
    list of group names. ``data``: ``{"names", "lrs", "trainable", "ratio"}``; with ``apply=True``
    ``freeze_to`` is applied to the real ``LayerGroups`` on every change.
    """

    figsize = (8.0, 3.8)

    def __init__(self, groups: Any, lo: float = 1e-4, hi: float = 1e-2, factor: float = 2.6,
                 rule: str = "spread", frozen: int = 0, apply: bool = False) -> None:
        self.groups = groups
        self.names = list(groups.names) if hasattr(groups, "names") else [str(g) for g in groups]
        self.sizes = list(groups.sizes()) if hasattr(groups, "sizes") else None
        self.apply = apply
        self._init = dict(lo=lo, hi=hi, factor=factor, rule=rule, frozen=frozen)
        super().__init__()

    def _make_widgets(self) -> dict[str, Any]:
        i = self._init
        return {
            "rule": dropdown(["spread", "ulmfit", "fastai"], i["rule"], "rule"),
            "lo": log_control(i["lo"], -6, 0, "lo (first group)"),
            "hi": log_control(i["hi"], -6, 0, "hi (last group)"),
            "factor": float_control(i["factor"], 1.0, 10.0, 0.1, "factor"),
            "frozen": W.IntSlider(value=i["frozen"], min=0, max=len(self.names) - 1,
                                  description="frozen groups", style=STYLE, layout=W.Layout(**_LAYOUT),
                                  continuous_update=False),
        }

    def hints(self, values: dict[str, Any]) -> dict[str, str]:
        rule = values["rule"]
        out = {}
        if rule != "spread":
            out["lo"] = f"the {rule} rule derives the lower LRs from hi; lo is used by 'spread' only"
        if rule != "ulmfit":
            out["factor"] = "factor (LR ratio between neighbouring groups) is used by 'ulmfit' only"
        return out

    def compute(self, rule: str, lo: float, hi: float, factor: float, frozen: int) -> dict[str, Any]:
        from ..finetune import discriminative_lrs

        n = len(self.names)
        lo_, hi_ = sorted((float(lo), float(hi)))
        if rule == "spread":
            lrs = discriminative_lrs(n, slice(lo_, hi_))
        elif rule == "ulmfit":
            lrs = discriminative_lrs(n, hi_, factor=float(factor))
        else:
            lrs = discriminative_lrs(n, slice(hi_))
        k = int(frozen)
        trainable = [j >= k for j in range(n)]
        if self.apply and hasattr(self.groups, "freeze_to"):
            self.groups.freeze_to(k)
        return {"names": self.names, "lrs": lrs, "trainable": trainable, "ratio": lrs[-1] / lrs[0],
                "rule": rule}

    def make_view(self, fig: Any) -> Any:
        return fig.subplots()

    def draw(self, ax: Any, data: dict[str, Any], values: dict[str, Any]) -> None:
        ax.cla()
        n, lrs, trainable = len(self.names), data["lrs"], data["trainable"]
        ax.bar(range(n), lrs, color=["tab:blue" if tr else "0.75" for tr in trainable])
        ax.set_yscale("log")
        labels = [f"{nm}\n{s / 1e3:.0f}k params" if self.sizes else nm
                  for nm, s in zip(self.names, self.sizes or [0] * n, strict=True)]
        ax.set_xticks(range(n), labels, fontsize=8)
        ax.set(ylabel="learning rate (log)", title=f"per-group LRs ({data['rule']}); grey = frozen")
        for j, v in enumerate(lrs):
            ax.annotate(f"{v:.2g}", (j, v), ha="center", va="bottom", fontsize=8)
        ax.figure.tight_layout()

    def summary(self) -> str:
        d = self.last["data"]
        return ", ".join(f"{n}: {v:.2g}{'' if t else ' (frozen)'}"
                         for n, v, t in zip(d["names"], d["lrs"], d["trainable"], strict=True))
