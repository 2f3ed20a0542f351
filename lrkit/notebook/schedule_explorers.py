"""The schedule explorers of the notebooks: one schedule family each, drawn as the controls move —
:class:`CyclicExplorer` (notebook 03), :class:`SGDRExplorer` (04), :class:`OneCycleExplorer` (05) and
:class:`WSDExplorer` (08: warm-up and warmup-stable-decay with its anytime branches), on the common
:class:`ScheduleExplorer` (same controls, same in-place redraw as :mod:`lrkit.notebook.explorers`).

:class:`WSDExplorer` draws the chosen schedule, a warm-up followed by one of the following:

* **WSD** (stable, then a cooldown of ``cooldown_frac`` of the run, with a linear, cosine or 1-sqrt shape);
* **cosine**, down to 0;
* **constant**.

With WSD, it also draws ``branches`` cooldowns that branch off the same constant-LR run at evenly spaced
points (:meth:`lrkit.schedules.WSD.branch`). They are the "anytime" models that one run yields. The
warm-up is linear from 0, or exponential from ``lr × 10^-3``.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as W
import numpy as np

from ..schedules import WSD, Constant, Cosine, CosineWarmRestarts, Cyclic, OneCycle, Schedule, warmup
from .controls import SLIDER_WIDTH, STYLE, dropdown, float_control, int_slider, log_control
from .explorer import Explorer

__all__ = ["CyclicExplorer", "OneCycleExplorer", "SGDRExplorer", "ScheduleExplorer", "WSDExplorer"]

_LAYOUT = {"width": SLIDER_WIDTH}


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
            "mode": dropdown(["triangular", "triangular2", "exp_range"], i["mode"], "mode"),
            "base_lr": log_control(i["base_lr"], -5, 0, "base_lr"),
            "max_lr": log_control(i["max_lr"], -5, 0, "max_lr"),
            "step_size": int_slider(i["step_size"], 10, 10_000, "step size", step=10),
            "gamma": float_control(i["gamma"], 0.999, 1.0, 0.00001, "gamma",
                                   tooltip="exp_range: the amplitude shrinks by gamma**t"),
            "total_steps": int_slider(i["total_steps"], 100, 70_000, "iterations", step=100),
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
            "T_0": int_slider(i["T_0"], 1, 200, "T_0"),
            "T_mult": float_control(i["T_mult"], 1.0, 4.0, 0.1, "T_mult"),
            "eta_max": log_control(i["eta_max"], -4, 0, "η_max"),
            "eta_min": float_control(i["eta_min"], 0.0, 0.01, 0.0005, "η_min"),
            "cycle_decay": float_control(i["cycle_decay"], 0.3, 1.0, 0.05, "peak decay / cycle"),
            "total_steps": int_slider(i["total_steps"], 10, 1000, "length", step=10),
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
            "total_steps": int_slider(i["total_steps"], 50, 10_000, "iterations", step=10),
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




_AFTER = ("wsd", "cosine", "constant")


class WSDExplorer(ScheduleExplorer):
    """Warm-up + WSD, cosine or constant. The controls are ``lr``, ``total_steps``, ``warmup_kind``,
    ``warmup_frac``, ``after`` (one of ``wsd``, ``cosine``, ``constant``), ``cooldown`` (the shape),
    ``cooldown_frac`` and ``branches``. The cooldown controls are disabled unless ``after == "wsd"``.

    ``data["branches"]`` lists ``{"start", "t", "lr"}``, one per branch. ``data["stats"]`` has
    ``warmup_steps``, ``decay_start``, ``branch_starts`` and ``mean_lr``. The mean LR is a rough
    measure of how far the weights travel.
    """

    figsize = (8.0, 4.2)

    def __init__(self, lr: float = 0.4, total_steps: int = 1000, warmup_kind: str = "linear",
                 warmup_frac: float = 0.1, after: str = "wsd", cooldown: str = "1-sqrt", cooldown_frac: float = 0.2,
                 branches: int = 3) -> None:
        self._init = dict(lr=lr, total_steps=total_steps, warmup_kind=warmup_kind, warmup_frac=warmup_frac,
                          after=after, cooldown=cooldown, cooldown_frac=cooldown_frac, branches=branches)
        super().__init__()

    def _make_widgets(self) -> dict[str, Any]:
        i = self._init
        return {
            "lr": log_control(i["lr"], -4, 1, "peak LR"),
            "total_steps": int_slider(i["total_steps"], 100, 10_000, "iterations", step=50),
            "warmup_kind": dropdown(["linear", "exponential"], i["warmup_kind"], "warm-up"),
            "warmup_frac": float_control(i["warmup_frac"], 0.0, 0.5, 0.01, "warm-up share"),
            "after": dropdown(list(_AFTER), i["after"], "then"),
            "cooldown": dropdown(["1-sqrt", "linear", "cosine"], i["cooldown"], "cooldown shape"),
            "cooldown_frac": float_control(i["cooldown_frac"], 0.05, 0.5, 0.01, "cooldown share"),
            "branches": int_slider(i["branches"], 0, 6, "branches"),
        }

    def hints(self, values: dict[str, Any]) -> dict[str, str]:
        if values["after"] == "wsd":
            return {}
        why = "only WSD has a cooldown and branches"
        return {"cooldown": why, "cooldown_frac": why, "branches": why}

    @staticmethod
    def _warm(values: dict[str, Any]) -> int:
        n = int(values["total_steps"])
        return min(int(round(float(values["warmup_frac"]) * n)), n - 1)

    def _wsd(self, values: dict[str, Any]) -> WSD:
        n, w = int(values["total_steps"]), self._warm(values)
        cool = max(1, min(int(round(float(values["cooldown_frac"]) * n)), n - w))
        return WSD(float(values["lr"]), n, warmup_steps=w, cooldown_steps=cool, cooldown=values["cooldown"])

    def build(self, **values: Any) -> Schedule:
        n, w, lr = int(values["total_steps"]), self._warm(values), float(values["lr"])
        after = values["after"]
        if after == "wsd" and values["warmup_kind"] == "linear":
            return self._wsd(values)  # WSD's own linear warm-up
        body: Schedule = (self._wsd({**values, "warmup_frac": 0.0}) if after == "wsd"
                          else Cosine(lr, n - w) if after == "cosine" else Constant(lr))
        if w == 0:
            return body
        kind = values["warmup_kind"]
        if after == "wsd":  # the warm-up replaces WSD's first w steps, which are then stable anyway
            return warmup(body, w, kind, start=lr * 1e-3 if kind == "exponential" else None)
        return warmup(body, w, kind, start=lr * 1e-3 if kind == "exponential" else None, prefix=True)

    def compute(self, **values: Any) -> dict[str, Any]:
        data = super().compute(**values)
        data["branches"] = []
        starts: list[int] = []
        if values["after"] == "wsd" and int(values["branches"]) > 0:
            sched = self._wsd(values)
            lo, hi = max(sched.warmup_steps, 1), sched.decay_start
            k = int(values["branches"])
            starts = sorted({int(round(lo + (hi - lo) * (j + 1) / (k + 1))) for j in range(k)} - {hi})
            for s in starts:
                b = sched.branch(s)
                t = np.arange(s, b.total_steps, dtype=np.float64)
                data["branches"].append({"start": s, "t": t, "lr": b(t)})
        data["stats"].update(warmup_steps=self._warm(values), branch_starts=starts,
                             decay_start=self._wsd(values).decay_start if values["after"] == "wsd" else None)
        return data

    def make_view(self, fig: Any) -> Any:
        view = super().make_view(fig)
        view["branch_lines"] = [view["ax"].plot([], [], ls="--", lw=1.2, color=f"C{k + 1}")[0] for k in range(6)]
        return view

    def draw(self, view: dict[str, Any], data: dict[str, Any], values: dict[str, Any]) -> None:
        for k, line in enumerate(view["branch_lines"]):
            if k < len(data["branches"]):
                b = data["branches"][k]
                line.set_data(b["t"], b["lr"])
                line.set_label(f"branch from {b['start']}")
            else:
                line.set_data([], [])
                line.set_label("_")
        super().draw(view, data, values)
        if data["branches"]:
            view["ax"].legend(fontsize=8, loc="upper right")
        elif view["ax"].get_legend() is not None:
            view["ax"].get_legend().remove()

    def summary(self) -> str:
        s = self.last["data"]["stats"]
        extra = f"; branches start at {s['branch_starts']}" if s["branch_starts"] else ""
        return f"warm-up {s['warmup_steps']} steps; mean LR {s['mean_lr']:.4g}; final LR {s['final_lr']:.3g}{extra}"
