"""The explorer of notebook 08 ("Beyond schedules"): warm-up and warmup-stable-decay (WSD) with its anytime
branches. It has the same kind of controls and the same in-place redraw as the explorers of
:mod:`lrkit.widgets`.

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

import numpy as np

from .schedules import WSD, Constant, Cosine, Schedule, warmup
from .widget_base import float_control, log_control
from .widgets import ScheduleExplorer, _dropdown, _int_slider

__all__ = ["WSDExplorer"]

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
            "total_steps": _int_slider(i["total_steps"], 100, 10_000, "iterations", step=50),
            "warmup_kind": _dropdown(["linear", "exponential"], i["warmup_kind"], "warm-up"),
            "warmup_frac": float_control(i["warmup_frac"], 0.0, 0.5, 0.01, "warm-up share"),
            "after": _dropdown(list(_AFTER), i["after"], "then"),
            "cooldown": _dropdown(["1-sqrt", "linear", "cosine"], i["cooldown"], "cooldown shape"),
            "cooldown_frac": float_control(i["cooldown_frac"], 0.05, 0.5, 0.01, "cooldown share"),
            "branches": _int_slider(i["branches"], 0, 6, "branches"),
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
