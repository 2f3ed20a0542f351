"""Interactive explorers for the notebooks (what notebooks share that is not a widget: :mod:`lrkit.nbtools`).

Every explorer is a class with

* ``.widgets`` — a ``dict`` of ipywidgets (sliders, dropdowns), each observed: changing its
  ``value`` recomputes the explorer (``.last`` holds the newest result) and, once displayed, redraws;
* ``.update(**values) -> {"data": ..., "figure": ...}`` — the pure part: values not given are taken
  from the widgets; works headless (no browser, no kernel), so tests call it directly;
* ``.display()`` — shows the controls and the figure in a notebook.

Explorers: :class:`GradientDescentExplorer` (notebook 01), :class:`RangeTestExplorer` (02),
:class:`CyclicExplorer` (03), :class:`SGDRExplorer` (04), :class:`OneCycleExplorer` (05),
:class:`DiscriminativeExplorer` (06).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import toy
from .plot import plot_gradient_descent, plot_range_test, plot_schedule
from .schedules import CosineWarmRestarts, Cyclic, OneCycle, Schedule
from .suggest import SUGGESTION_METHODS, RangeTest

__all__ = [
    "Explorer",
    "GradientDescentExplorer",
    "RangeTestExplorer",
    "ScheduleExplorer",
    "CyclicExplorer",
    "SGDRExplorer",
    "OneCycleExplorer",
    "DiscriminativeExplorer",
]


# --------------------------------------------------------------------------------------------------
# Explorer base
# --------------------------------------------------------------------------------------------------
def _log_slider(value: float, lo_exp: float, hi_exp: float, description: str, style: dict[str, str],
                layout: Any, step: float = 0.05):
    """A base-10 log slider from 10**lo_exp to 10**hi_exp, read out with 3 significant digits."""
    import ipywidgets as W

    return W.FloatLogSlider(value=value, base=10, min=lo_exp, max=hi_exp, step=step, description=description,
                            readout_format=".3g", style=style, layout=layout)


class Explorer:
    """Base class: ``widgets`` dict, ``update(**values)``, observers, ``display()``."""

    def __init__(self) -> None:
        import ipywidgets as W

        self.widgets: dict[str, Any] = self._make_widgets()
        self.output = W.Output()
        self.last: dict[str, Any] | None = None
        self.updates = 0
        self._displayed = False
        for w in self.widgets.values():
            w.observe(self._on_change, names="value")
        self.last = self._compute()

    # subclasses -------------------------------------------------------------------------------
    def _make_widgets(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def compute(self, **values: Any) -> dict[str, Any]:  # pragma: no cover - abstract
        """Return ``{"data": ..., "figure": ...}`` for the complete ``values``."""
        raise NotImplementedError

    # machinery --------------------------------------------------------------------------------
    @property
    def values(self) -> dict[str, Any]:
        return {k: w.value for k, w in self.widgets.items()}

    def update(self, **values: Any) -> dict[str, Any]:
        """Recompute with ``values`` overriding the widgets' current values (the widgets are not
        changed). Returns ``{"data": ..., "figure": ...}``; the caller owns (and may close) the figure."""
        unknown = set(values) - set(self.widgets)
        if unknown:
            raise ValueError(f"unknown control(s) {sorted(unknown)}; "
                             f"this explorer has {sorted(self.widgets)}")
        return self.compute(**{**self.values, **values})

    def _compute(self) -> dict[str, Any]:
        import matplotlib.pyplot as plt

        old = self.last
        res = self.update()
        self.updates += 1
        if old is not None and old.get("figure") is not None and old["figure"] is not res.get("figure"):
            plt.close(old["figure"])
        return res

    def _on_change(self, change: Any = None) -> None:
        self.last = self._compute()
        if self._displayed:
            self._render()

    def _render(self) -> None:
        # The Output widget's state is set directly (no ``with output:`` capture, whose message
        # routing is fragile under papermill/nbclient), so rendering works the same live and headless.
        import matplotlib.pyplot as plt

        fig = self.last.get("figure") if self.last else None
        self.output.outputs = ()
        if fig is not None:
            self.output.append_display_data(fig)
            plt.close(fig)
        summary = self.summary()
        if summary:
            self.output.append_stdout(summary + "\n")

    def summary(self) -> str:
        """One line of text shown under the figure (override)."""
        return ""

    def controls(self) -> Any:
        import ipywidgets as W

        return W.VBox(list(self.widgets.values()))

    def display(self) -> None:
        """Show the controls and the (live) figure."""
        import ipywidgets as W
        from IPython.display import display

        self._displayed = True
        display(W.VBox([self.controls(), self.output]))
        self._render()


# --------------------------------------------------------------------------------------------------
# 01 — gradient descent on toy losses
# --------------------------------------------------------------------------------------------------
class GradientDescentExplorer(Explorer):
    """Gradient descent on a toy surface: sliders for the LR (log scale), the number of steps and the
    start point (``x0``; ``y0`` for the 2-D surfaces), and a dropdown for the surface.

    ``data``: ``{"surface", "lr", "steps", "start", "final_loss", "gap", "diverged", "verdict",
    "w", "loss", "table"}`` (``table``: the first 5 update steps, see :func:`lrkit.toy.update_steps`).
    """

    def __init__(self, surface: str = "quadratic", lr: float = 0.1, steps: int = 20,
                 start: tuple[float, ...] | None = None) -> None:
        self._init = dict(surface=surface, lr=lr, steps=steps, start=start)
        super().__init__()

    def _make_widgets(self) -> dict[str, Any]:
        import ipywidgets as W

        surf = toy.get_surface(self._init["surface"])
        start = self._init["start"] or surf.default_start
        style = {"description_width": "110px"}
        layout = W.Layout(width="480px")
        return {
            "surface": W.Dropdown(options=list(toy.SURFACES), value=surf.name, description="surface",
                                  style=style),
            "lr": _log_slider(self._init["lr"], -3, 0.5, "learning rate", style, layout, step=0.01),
            "steps": W.IntSlider(value=self._init["steps"], min=1, max=200, description="steps",
                                 style=style, layout=layout),
            "x0": W.FloatSlider(value=float(start[0]), min=-5, max=5, step=0.05, description="start w₁",
                                style=style, layout=layout),
            "y0": W.FloatSlider(value=float(start[1]) if len(start) > 1 else 1.0, min=-2, max=2, step=0.001,
                                readout_format=".3f", description="start w₂ (2-D)", style=style,
                                layout=layout),
        }

    def compute(self, surface: str, lr: float, steps: int, x0: float, y0: float) -> dict[str, Any]:
        surf = toy.get_surface(surface)
        start = (x0,) if surf.dim == 1 else (x0, y0)
        traj = toy.gradient_descent(surf, start, lr, steps)
        verdict = toy.classify_lr(surf, lr, start=start, steps=steps)
        fig = plot_gradient_descent(traj, surf)
        data = {"surface": surf.name, "lr": float(lr), "steps": int(steps), "start": list(start),
                "final_loss": traj.final_loss, "gap": traj.final_loss - surf.min_loss,
                "diverged": traj.diverged, "verdict": verdict, "lr_limit": surf.lr_limit,
                "w": traj.w, "loss": traj.loss, "table": toy.update_steps(surf, start, lr, min(5, steps))}
        return {"data": data, "figure": fig}

    def summary(self) -> str:
        d = self.last["data"]
        return (f"{d['surface']}: lr={d['lr']:.3g} (stable below 2/L = {d['lr_limit']:.3g}) "
                f"→ {d['verdict']}; "
                f"loss after {d['steps']} steps: {d['final_loss']:.4g}")


# --------------------------------------------------------------------------------------------------
# 02 — the LR range test
# --------------------------------------------------------------------------------------------------
class RangeTestExplorer(Explorer):
    """Re-read a :class:`lrkit.suggest.RangeTest` with other smoothing / skipped ends.

    Sliders: ``smoothing`` (EMA weight of the newest loss, log scale), ``skip_start`` and
    ``skip_end`` (points dropped at either end). The raw losses are re-smoothed, every suggestion is
    recomputed. ``data``: ``{"smoothing", "skip_start", "skip_end", "suggestions": {method: lr},
    "intervals": {method: [low, high]}, "errors": {method: message}}``.
    """

    def __init__(self, result: Any, n_boot: int = 100) -> None:
        self.result = result
        self.n_boot = n_boot
        super().__init__()

    def _make_widgets(self) -> dict[str, Any]:
        import ipywidgets as W

        n = len(self.result)
        style = {"description_width": "110px"}
        layout = W.Layout(width="480px")
        return {
            "smoothing": W.FloatLogSlider(value=float(self.result.smoothing), base=10, min=-2.5, max=0,
                                          step=0.05, description="smoothing", readout_format=".3g",
                                          style=style, layout=layout),
            "skip_start": W.IntSlider(value=n // 10, min=0, max=max(0, n // 2), description="skip start",
                                      style=style, layout=layout),
            "skip_end": W.IntSlider(value=0, min=0, max=max(0, n // 2), description="skip end",
                                    style=style, layout=layout),
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
        fig = plot_range_test(r, skip_start=skip_start, skip_end=skip_end, suggestions=list(sugg))
        data = {"smoothing": float(smoothing), "skip_start": int(skip_start), "skip_end": int(skip_end),
                "suggestions": sugg, "intervals": intervals, "errors": errors,
                "smoothed": r.smoothed}
        return {"data": data, "figure": fig}

    def summary(self) -> str:
        s = self.last["data"]["suggestions"]
        return "  ".join(f"{k}: {v:.3g}" for k, v in s.items()) or "no suggestion in this window"


# --------------------------------------------------------------------------------------------------
# 03 / 04 / 05 — schedule explorers
# --------------------------------------------------------------------------------------------------
class ScheduleExplorer(Explorer):
    """Base for the schedule explorers: ``build(**values)`` makes the schedule, ``compute`` evaluates
    it over ``total_steps`` iterations (vectorised) and plots it (with momentum where defined).

    ``data``: ``{"schedule": config dict, "t": ndarray, "lr": ndarray, "momentum": ndarray | None,
    "stats": {...}}``.
    """

    log_y = False

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
        fig = plot_schedule(sched, total_steps=n, momentum=ms is not None, log_y=self.log_y)
        data = {"schedule": sched.to_config(), "t": t, "lr": lr, "momentum": mom,
                "stats": {"mean_lr": float(lr.mean()), "max_lr": float(lr.max()), "min_lr": float(lr.min()),
                          "final_lr": float(lr[-1]), **self.stats(sched, t, lr, values)}}
        return {"data": data, "figure": fig}

    def summary(self) -> str:
        s = self.last["data"]["stats"]
        return "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in s.items())

    @staticmethod
    def _style() -> tuple[dict[str, str], Any]:
        import ipywidgets as W

        return {"description_width": "120px"}, W.Layout(width="480px")


class CyclicExplorer(ScheduleExplorer):
    """CLR (Smith 2017): ``mode`` (triangular / triangular2 / exp_range), ``base_lr``, ``max_lr``,
    ``step_size``, ``gamma`` (exp_range) and ``total_steps``."""

    def __init__(self, base_lr: float = 0.001, max_lr: float = 0.006, step_size: int = 2000,
                 mode: str = "triangular", gamma: float = 0.99994, total_steps: int = 20000) -> None:
        self._init = dict(base_lr=base_lr, max_lr=max_lr, step_size=step_size, mode=mode, gamma=gamma,
                          total_steps=total_steps)
        super().__init__()

    def _make_widgets(self) -> dict[str, Any]:
        import ipywidgets as W

        style, layout = self._style()
        i = self._init
        return {
            "mode": W.Dropdown(options=["triangular", "triangular2", "exp_range"], value=i["mode"],
                               description="mode", style=style),
            "base_lr": _log_slider(i["base_lr"], -5, 0, "base_lr", style, layout),
            "max_lr": _log_slider(i["max_lr"], -5, 0, "max_lr", style, layout),
            "step_size": W.IntSlider(value=i["step_size"], min=10, max=max(10_000, i["step_size"]), step=10,
                                     description="step size", style=style, layout=layout),
            "gamma": W.FloatSlider(value=i["gamma"], min=0.999, max=1.0, step=0.00001, readout_format=".5f",
                                   description="gamma (exp_range)", style=style, layout=layout),
            "total_steps": W.IntSlider(value=i["total_steps"], min=100, max=max(70_000, i["total_steps"]),
                                       step=100, description="iterations", style=style, layout=layout),
        }

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
        import ipywidgets as W

        style, layout = self._style()
        i = self._init
        return {
            "T_0": W.IntSlider(value=i["T_0"], min=1, max=max(200, i["T_0"]), description="T_0",
                               style=style, layout=layout),
            "T_mult": W.FloatSlider(value=i["T_mult"], min=1.0, max=4.0, step=0.1, description="T_mult",
                                    style=style, layout=layout),
            "eta_max": _log_slider(i["eta_max"], -4, 0, "η_max", style, layout),
            "eta_min": W.FloatSlider(value=i["eta_min"], min=0.0, max=0.01, step=0.0005, readout_format=".4f",
                                     description="η_min", style=style, layout=layout),
            "cycle_decay": W.FloatSlider(value=i["cycle_decay"], min=0.3, max=1.0, step=0.05,
                                         description="peak decay/cycle", style=style, layout=layout),
            "total_steps": W.IntSlider(value=i["total_steps"], min=10, max=max(1000, i["total_steps"]),
                                       step=10, description="length", style=style, layout=layout),
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

    def __init__(self, max_lr: float = 0.1, total_steps: int = 1000, pct_start: float = 0.3,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, base_momentum: float = 0.85,
                 max_momentum: float = 0.95, three_phase: bool = False) -> None:
        self._init = dict(max_lr=max_lr, total_steps=total_steps, pct_start=pct_start, div_factor=div_factor,
                          final_div_factor=final_div_factor, base_momentum=base_momentum,
                          max_momentum=max_momentum, three_phase=three_phase)
        super().__init__()

    def _make_widgets(self) -> dict[str, Any]:
        import ipywidgets as W

        style, layout = self._style()
        i = self._init
        return {
            "max_lr": _log_slider(i["max_lr"], -4, 1, "max_lr", style, layout),
            "pct_start": W.FloatSlider(value=i["pct_start"], min=0.05, max=0.45, step=0.01,
                                       description="pct_start", style=style, layout=layout),
            "div_factor": _log_slider(i["div_factor"], 0, 3, "div_factor", style, layout),
            "final_div_factor": W.FloatLogSlider(value=i["final_div_factor"], base=10, min=0, max=6, step=0.1,
                                                 description="final_div_factor", readout_format=".3g",
                                                 style=style, layout=layout),
            "base_momentum": W.FloatSlider(value=i["base_momentum"], min=0.5, max=0.99, step=0.01,
                                           description="base momentum", style=style, layout=layout),
            "max_momentum": W.FloatSlider(value=i["max_momentum"], min=0.5, max=0.99, step=0.01,
                                          description="max momentum", style=style, layout=layout),
            "three_phase": W.Checkbox(value=i["three_phase"], description="three phase"),
            "total_steps": W.IntSlider(value=i["total_steps"], min=50, max=max(10_000, i["total_steps"]),
                                       step=10, description="iterations", style=style, layout=layout),
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
    """Per-group LRs of a discriminative spread (:func:`lrkit.discriminative.discriminative_lrs`) and
    which groups are trainable after ``freeze_to(k)``.

    Controls: ``rule`` (``'spread'`` = ``slice(lo, hi)``, ``'ulmfit'`` = ``hi`` with ``factor``,
    ``'fastai'`` = ``slice(hi)``), ``lo``, ``hi``, ``factor``, ``frozen`` (groups ``0 … k-1`` frozen).
    ``groups`` is a :class:`~lrkit.discriminative.LayerGroups` (its names and sizes are shown) or a
    list of group names. ``data``: ``{"names", "lrs", "trainable", "ratio"}``; with ``apply=True``
    ``freeze_to`` is applied to the real ``LayerGroups`` on every change.
    """

    def __init__(self, groups: Any, lo: float = 1e-4, hi: float = 1e-2, factor: float = 2.6,
                 rule: str = "spread", frozen: int = 0, apply: bool = False) -> None:
        self.groups = groups
        self.names = list(groups.names) if hasattr(groups, "names") else [str(g) for g in groups]
        self.sizes = list(groups.sizes()) if hasattr(groups, "sizes") else None
        self.apply = apply
        self._init = dict(lo=lo, hi=hi, factor=factor, rule=rule, frozen=frozen)
        super().__init__()

    def _make_widgets(self) -> dict[str, Any]:
        import ipywidgets as W

        style = {"description_width": "120px"}
        layout = W.Layout(width="480px")
        i = self._init
        return {
            "rule": W.Dropdown(options=["spread", "ulmfit", "fastai"], value=i["rule"], description="rule",
                               style=style),
            "lo": _log_slider(i["lo"], -6, 0, "lo (first group)", style, layout),
            "hi": _log_slider(i["hi"], -6, 0, "hi (last group)", style, layout),
            "factor": W.FloatSlider(value=i["factor"], min=1.0, max=10.0, step=0.1,
                                    description="factor (ulmfit)",
                                    style=style, layout=layout),
            "frozen": W.IntSlider(value=i["frozen"], min=0, max=len(self.names) - 1,
                                  description="frozen groups", style=style, layout=layout),
        }

    def compute(self, rule: str, lo: float, hi: float, factor: float, frozen: int) -> dict[str, Any]:
        import matplotlib.pyplot as plt

        from .discriminative import discriminative_lrs

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
        fig, ax = plt.subplots(figsize=(8, 3.6))
        colors = ["tab:blue" if tr else "0.75" for tr in trainable]
        ax.bar(range(n), lrs, color=colors)
        ax.set_yscale("log")
        labels = [f"{nm}\n{s / 1e3:.0f}k params" if self.sizes else nm
                  for nm, s in zip(self.names, self.sizes or [0] * n, strict=True)]
        ax.set_xticks(range(n), labels, fontsize=8)
        ax.set(ylabel="learning rate (log)", title=f"per-group LRs ({rule}); grey = frozen")
        for j, v in enumerate(lrs):
            ax.annotate(f"{v:.2g}", (j, v), ha="center", va="bottom", fontsize=8)
        fig.tight_layout()
        data = {"names": self.names, "lrs": lrs, "trainable": trainable, "ratio": lrs[-1] / lrs[0]}
        return {"data": data, "figure": fig}

    def summary(self) -> str:
        d = self.last["data"]
        return ", ".join(f"{n}: {v:.2g}{'' if t else ' (frozen)'}"
                         for n, v, t in zip(d["names"], d["lrs"], d["trainable"], strict=True))
