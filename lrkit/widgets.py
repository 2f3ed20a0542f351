"""Interactive explorers for the notebooks (what notebooks share that is not a widget: :mod:`lrkit.nbtools`).

Every explorer is a class with

* ``.widgets`` — a ``dict`` of controls (float controls are :class:`~lrkit.widget_base.ExactFloat`:
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
nbconvert in the saved widget state. See :mod:`lrkit.widget_base` for the details and for why the
values are exact.

Explorers: :class:`GradientDescentExplorer` (notebook 01), :class:`RangeTestExplorer` (02),
:class:`CyclicExplorer` (03), :class:`SGDRExplorer` (04), :class:`OneCycleExplorer` (05),
:class:`DiscriminativeExplorer` (06).
"""

from __future__ import annotations

from typing import Any

import ipywidgets as W
import numpy as np

from . import toy
from .plot import SUGGESTION_STYLE, plot_gradient_descent, plot_range_test
from .rangetest import SUGGESTION_METHODS, RangeTest
from .schedules import CosineWarmRestarts, Cyclic, OneCycle, Schedule
from .widget_base import SLIDER_WIDTH, STYLE, Explorer, float_control, log_control

__all__ = ["Explorer", "GradientDescentExplorer", "RangeTestExplorer", "ScheduleExplorer", "CyclicExplorer",
           "SGDRExplorer", "OneCycleExplorer", "DiscriminativeExplorer"]

_LAYOUT = {"width": SLIDER_WIDTH}


def _int_slider(value: int, lo: int, hi: int, description: str, step: int = 1) -> Any:
    return W.IntSlider(value=int(value), min=lo, max=max(hi, int(value)), step=step, description=description,
                       style=STYLE, layout=W.Layout(**_LAYOUT), continuous_update=False)


def _dropdown(options: list[str], value: str, description: str) -> Any:
    return W.Dropdown(options=options, value=value, description=description, style=STYLE)


# --------------------------------------------------------------------------------------------------
# 01 — gradient descent on toy losses
# --------------------------------------------------------------------------------------------------
class GradientDescentExplorer(Explorer):
    """Gradient descent on a toy surface: the LR (log scale), the number of steps and the start point
    (``x0``; ``y0`` for the 2-D surfaces, disabled on 1-D ones), and a dropdown for the surface.

    ``data``: ``{"surface", "lr", "steps", "start", "final_loss", "gap", "diverged", "verdict",
    "w", "loss", "table"}`` (``table``: the first 5 update steps, see :func:`lrkit.toy.update_steps`).
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
            "surface": _dropdown(list(toy.SURFACES), surf.name, "surface"),
            "lr": log_control(self._init["lr"], -3, 0.5, "learning rate", step=0.01),
            "steps": _int_slider(self._init["steps"], 1, 200, "steps"),
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
    """Re-read a :class:`lrkit.suggest.RangeTest` with other smoothing / skipped ends.

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
            "skip_start": _int_slider(n // 10, 0, max(0, n // 2), "skip start"),
            "skip_end": _int_slider(0, 0, max(0, n // 2), "skip end"),
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
# 03 / 04 / 05 — schedule explorers
# --------------------------------------------------------------------------------------------------
class ScheduleExplorer(Explorer):
    """Base for the schedule explorers: ``build(**values)`` makes the schedule, ``compute`` evaluates
    it over ``total_steps`` iterations (vectorised); the figure's LR (and momentum) lines are updated
    in place with ``set_data``.

    ``data``: ``{"schedule": config dict, "t": ndarray, "lr": ndarray, "momentum": ndarray | None,
    "stats": {...}}``.
    """

    log_y = False
    has_momentum = False

    def build(self, **values: Any) -> Schedule:  # pragma: no cover - abstract
        raise NotImplementedError

    def stats(self, sched: Schedule, t: np.ndarray, lr: np.ndarray, values: dict[str, Any]) -> dict[str, Any]:
        return {}

    def compute(self, **values: Any) -> dict[str, Any]:
        sched = self.build(**values)
        n = int(values["total_steps"])
        t = np.arange(n, dtype=np.float64)
        lr = sched(t)
        ms = sched.momentum_schedule()
        mom = ms(t) if ms is not None else None
        return {"schedule": sched.to_config(), "t": t, "lr": lr, "momentum": mom,
                "stats": {"mean_lr": float(lr.mean()), "max_lr": float(lr.max()), "min_lr": float(lr.min()),
                          "final_lr": float(lr[-1]), **self.stats(sched, t, lr, values)}}

    def make_view(self, fig: Any) -> Any:
        if self.has_momentum:
            self.figsize = (8.0, 5.2)
            fig.set_size_inches(*self.figsize)
            ax, ax_m = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        else:
            ax, ax_m = fig.subplots(), None
        (line,) = ax.plot([], [], color="tab:blue", lw=1.5)
        if self.log_y:
            ax.set_yscale("log")
        ax.set_ylabel("learning rate")
        ax.grid(True, alpha=0.3)
        # the numbers a linear axis hides (a final LR of 1e-7 looks like 0)
        note = ax.text(1.0, 1.015, "", transform=ax.transAxes, ha="right", va="bottom", fontsize=8, color="0.3")
        view = {"ax": ax, "lr": line, "ax_m": ax_m, "note": note}
        if ax_m is not None:
            (view["m"],) = ax_m.plot([], [], color="tab:orange", lw=1.5)
            ax_m.set_ylabel("momentum")
            ax_m.grid(True, alpha=0.3)
        (ax_m or ax).set_xlabel("iteration t (optimizer steps)")
        return view

    def draw(self, view: dict[str, Any], data: dict[str, Any], values: dict[str, Any]) -> None:
        ax = view["ax"]
        view["lr"].set_data(data["t"], data["lr"])
        lr = data["lr"]
        view["note"].set_text(f"start {lr[0]:.3g} · max {lr.max():.3g} · min {lr.min():.3g} · final {lr[-1]:.3g}")
        ax.set_title(f"{data['schedule'].get('name', type(self).__name__)}: LR over "
                     f"{len(data['t']):,} iterations", fontsize=11, loc="left")
        ax.relim()
        ax.autoscale_view()
        if view["ax_m"] is not None and data["momentum"] is not None:
            view["m"].set_data(data["t"], data["momentum"])
            view["ax_m"].relim()
            view["ax_m"].autoscale_view()
        ax.figure.tight_layout()

    def summary(self) -> str:
        s = self.last["data"]["stats"]
        return "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in s.items())


class CyclicExplorer(ScheduleExplorer):
    """CLR (Smith 2017): ``mode`` (triangular / triangular2 / exp_range), ``base_lr``, ``max_lr``,
    ``step_size``, ``gamma`` (exp_range only; disabled otherwise) and ``total_steps``."""

    def __init__(self, base_lr: float = 0.001, max_lr: float = 0.006, step_size: int = 2000,
                 mode: str = "triangular", gamma: float = 0.99994, total_steps: int = 20000) -> None:
        self._init = dict(base_lr=base_lr, max_lr=max_lr, step_size=step_size, mode=mode, gamma=gamma,
                          total_steps=total_steps)
        super().__init__()

    def _make_widgets(self) -> dict[str, Any]:
        i = self._init
        return {
            "mode": _dropdown(["triangular", "triangular2", "exp_range"], i["mode"], "mode"),
            "base_lr": log_control(i["base_lr"], -5, 0, "base_lr"),
            "max_lr": log_control(i["max_lr"], -5, 0, "max_lr"),
            "step_size": _int_slider(i["step_size"], 10, 10_000, "step size", step=10),
            "gamma": float_control(i["gamma"], 0.999, 1.0, 0.00001, "gamma",
                                   tooltip="exp_range: the amplitude shrinks by gamma**t"),
            "total_steps": _int_slider(i["total_steps"], 100, 70_000, "iterations", step=100),
        }

    def hints(self, values: dict[str, Any]) -> dict[str, str]:
        return {} if values["mode"] == "exp_range" else {"gamma": "gamma is used by mode exp_range only"}

    def build(self, mode: str, base_lr: float, max_lr: float, step_size: int, gamma: float,
              total_steps: int) -> Cyclic:
        lo, hi = sorted((float(base_lr), float(max_lr)))
        return Cyclic(lo, hi, step_size_up=int(step_size), mode=mode, gamma=float(gamma))

    def stats(self, sched, t, lr, values):
        return {"cycles": float(len(t) / (2 * int(values["step_size"])))}


class SGDRExplorer(ScheduleExplorer):
    """SGDR (Loshchilov & Hutter 2017): ``T_0``, ``T_mult``, ``eta_max``, ``eta_min``, ``cycle_decay``,
    ``total_steps``; ``stats`` lists the restarts inside the window."""

    def __init__(self, T_0: int = 10, T_mult: float = 2.0, eta_max: float = 0.05, eta_min: float = 0.0,
                 cycle_decay: float = 1.0, total_steps: int = 150) -> None:
        self._init = dict(T_0=T_0, T_mult=T_mult, eta_max=eta_max, eta_min=eta_min, cycle_decay=cycle_decay,
                          total_steps=total_steps)
        super().__init__()

    def _make_widgets(self) -> dict[str, Any]:
        i = self._init
        return {
            "T_0": _int_slider(i["T_0"], 1, 200, "T_0"),
            "T_mult": float_control(i["T_mult"], 1.0, 4.0, 0.1, "T_mult"),
            "eta_max": log_control(i["eta_max"], -4, 0, "η_max"),
            "eta_min": float_control(i["eta_min"], 0.0, 0.01, 0.0005, "η_min"),
            "cycle_decay": float_control(i["cycle_decay"], 0.3, 1.0, 0.05, "peak decay / cycle"),
            "total_steps": _int_slider(i["total_steps"], 10, 1000, "length", step=10),
        }

    def build(self, T_0: int, T_mult: float, eta_max: float, eta_min: float, cycle_decay: float,
              total_steps: int) -> CosineWarmRestarts:
        return CosineWarmRestarts(int(T_0), float(T_mult), eta_max=float(eta_max),
                                  eta_min=min(float(eta_min), float(eta_max)), cycle_decay=float(cycle_decay))

    def stats(self, sched, t, lr, values):
        n = len(t)
        starts = [s for s in sched.cycle_starts(64) if s < n]
        return {"restarts": [s for s in starts if s > 0], "cycles": len(starts)}

    def summary(self) -> str:
        s = self.last["data"]["stats"]
        return f"{s['cycles']} cycle(s); restarts at {s['restarts']}; mean LR {s['mean_lr']:.4g}"


class OneCycleExplorer(ScheduleExplorer):
    """1cycle (Smith & Topin 2019): ``max_lr``, ``pct_start``, ``div_factor``, ``final_div_factor``
    (log₁₀ slider), ``base_momentum``/``max_momentum``, ``three_phase``, ``total_steps``."""

    has_momentum = True

    def __init__(self, max_lr: float = 0.1, total_steps: int = 1000, pct_start: float = 0.3,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, base_momentum: float = 0.85,
                 max_momentum: float = 0.95, three_phase: bool = False) -> None:
        self._init = dict(max_lr=max_lr, total_steps=total_steps, pct_start=pct_start, div_factor=div_factor,
                          final_div_factor=final_div_factor, base_momentum=base_momentum,
                          max_momentum=max_momentum, three_phase=three_phase)
        super().__init__()

    def _make_widgets(self) -> dict[str, Any]:
        i = self._init
        return {
            "max_lr": log_control(i["max_lr"], -4, 1, "max_lr"),
            "pct_start": float_control(i["pct_start"], 0.05, 0.45, 0.01, "pct_start"),
            "div_factor": log_control(i["div_factor"], 0, 3, "div_factor"),
            "final_div_factor": log_control(i["final_div_factor"], 0, 6, "final_div_factor", step=0.1),
            "base_momentum": float_control(i["base_momentum"], 0.5, 0.99, 0.01, "base momentum"),
            "max_momentum": float_control(i["max_momentum"], 0.5, 0.99, 0.01, "max momentum"),
            "three_phase": W.Checkbox(value=i["three_phase"], description="three phase", style=STYLE),
            "total_steps": _int_slider(i["total_steps"], 50, 10_000, "iterations", step=10),
        }

    def build(self, max_lr: float, pct_start: float, div_factor: float, final_div_factor: float,
              base_momentum: float, max_momentum: float, three_phase: bool, total_steps: int) -> OneCycle:
        lo, hi = sorted((float(base_momentum), float(max_momentum)))
        pct = min(float(pct_start), 0.45) if three_phase else float(pct_start)
        return OneCycle(float(max_lr), int(total_steps), pct_start=pct, div_factor=float(div_factor),
                        final_div_factor=float(final_div_factor), three_phase=bool(three_phase),
                        base_momentum=lo, max_momentum=hi)

    def stats(self, sched, t, lr, values):
        return {"start_lr": float(lr[0]), "peak_at": int(np.argmax(lr))}


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
            "rule": _dropdown(["spread", "ulmfit", "fastai"], i["rule"], "rule"),
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
        from .finetune import discriminative_lrs

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
