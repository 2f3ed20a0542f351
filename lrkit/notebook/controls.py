"""The controls of the notebooks' explorers: exact-valued float controls (:class:`ExactFloat`), int
sliders and dropdowns, in one style.

**Exact values.** A browser slider snaps its value to its step and sends the snapped value back to
the kernel (a log slider with step 0.05 turns 0.006 into 0.00631) — with ``continuous_update`` on
every value the kernel sets, late, even after the kernel has set the next one. Our sliders send
only when the learner lets go (``continuous_update=False``; also no backlog of redraws while
dragging on a slow kernel), and :class:`ExactFloat` pairs each float slider with a ``FloatText``:
the text box holds — and ``.value`` is — exactly the number the
code (or the learner, by typing) set; the slider is only a handle for dragging. A slider message that
stays on the grid point nearest to the current value (the browser's echo of its own snapping) is
ignored; a real move to another grid point sets the value, rounded to what the slider shows.
"""

from __future__ import annotations

import math
from typing import Any

import ipywidgets as W
import traitlets

__all__ = ["SLIDER_WIDTH", "STYLE", "ExactFloat", "dropdown", "float_control", "int_slider", "log_control", "round_sig"]

STYLE = {"description_width": "130px"}
SLIDER_WIDTH = "400px"


def round_sig(x: float, digits: int = 3) -> float:
    """``x`` rounded to ``digits`` significant digits (``round_sig(0.0063096, 3) == 0.00631``)."""
    if x == 0 or not math.isfinite(x):
        return float(x)
    return round(float(x), digits - 1 - int(math.floor(math.log10(abs(x)))))


class ExactFloat(W.HBox):
    """A float control: a slider (``log=True``: base-10 exponents ``lo … hi``) beside a text box.

    ``.value`` is exactly what was last set from code, typed into the box, or picked on the slider
    (a slider pick is rounded to 3 significant digits for log sliders, to the step's decimals for
    linear ones). ``disabled`` and ``tooltip`` apply to both parts.
    """

    value = traitlets.Float()
    disabled = traitlets.Bool(False)
    #: kernel-side only: shown by both parts (a Box's own tooltip breaks its view: it has no description)
    tooltip = traitlets.Unicode("", allow_none=True)

    def __init__(self, value: float, lo: float, hi: float, step: float, description: str, *,
                 log: bool = False, tooltip: str = "", **kwargs: Any) -> None:
        value = float(value)
        if not math.isfinite(value) or (log and value <= 0):
            raise ValueError(f"{description}: value must be finite{' and > 0' if log else ''}, got {value}")
        self.is_log, self.lo, self.hi, self.step = bool(log), float(lo), float(hi), float(step)
        cls = W.FloatLogSlider if log else W.FloatSlider
        extra = {"base": 10} if log else {}
        self.slider = cls(value=self._grid_value(value), min=lo, max=hi, step=step, readout=False,
                          continuous_update=False,
                          description=description, style=STYLE, tooltip=tooltip,
                          layout=W.Layout(width=SLIDER_WIDTH), **extra)
        self.text = W.FloatText(value=value, tooltip=tooltip, layout=W.Layout(width="96px"))
        super().__init__([self.slider, self.text], **kwargs)
        self.tooltip = tooltip
        self.value = value
        self.text.observe(self._from_text, names="value")
        self.slider.observe(self._from_slider, names="value")
        self.observe(self._from_value, names="value")
        self.observe(self._from_disabled, names="disabled")

    @property
    def description(self) -> str:
        return self.slider.description

    # grid arithmetic ----------------------------------------------------------------------------
    def _index(self, v: float) -> int:
        x = math.log10(v) if self.is_log else v
        n_max = round((self.hi - self.lo) / self.step)
        return min(max(round((x - self.lo) / self.step), 0), n_max)

    def _grid_value(self, v: float) -> float:
        x = self.lo + self._index(v) * self.step
        return 10 ** x if self.is_log else x

    def _pick(self, v: float) -> float:
        """What a slider pick at ``v`` means: the grid value, rounded as it is shown."""
        g = self._grid_value(v)
        if self.is_log:
            return round_sig(g, 3)
        return round(g, max(0, math.ceil(-math.log10(self.step))) + 1)

    # synchronisation ----------------------------------------------------------------------------
    def _valid(self, v: float) -> bool:
        return math.isfinite(v) and (v > 0 if self.is_log else True)

    def _from_value(self, change: Any) -> None:
        if self.text.value != change.new:
            self.text.value = change.new
        if self._index(self.slider.value) != self._index(change.new):
            self.slider.value = self._grid_value(change.new)

    def _from_text(self, change: Any) -> None:
        if not self._valid(change.new):
            self.text.value = self.value  # refuse (e.g. a negative LR); the old value stays
            return
        self.value = float(change.new)

    def _from_slider(self, change: Any) -> None:
        # the browser's echo of its own snapping stays on the current grid point: not a move
        if self._index(change.new) != self._index(self.value):
            self.value = self._pick(change.new)

    def _from_disabled(self, change: Any) -> None:
        self.slider.disabled = self.text.disabled = change.new

    @traitlets.observe("tooltip")
    def _tooltip_changed(self, change: Any) -> None:
        if hasattr(self, "text"):
            self.slider.tooltip = self.text.tooltip = change.new


def log_control(value: float, lo_exp: float, hi_exp: float, description: str, step: float = 0.05,
                tooltip: str = "") -> ExactFloat:
    """An :class:`ExactFloat` on a base-10 log slider from ``10**lo_exp`` to ``10**hi_exp``."""
    return ExactFloat(value, lo_exp, hi_exp, step, description, log=True, tooltip=tooltip)


def float_control(value: float, lo: float, hi: float, step: float, description: str,
                  tooltip: str = "") -> ExactFloat:
    """An :class:`ExactFloat` on a linear slider."""
    return ExactFloat(value, lo, hi, step, description, tooltip=tooltip)


_LAYOUT = {"width": SLIDER_WIDTH}


def int_slider(value: int, lo: int, hi: int, description: str, step: int = 1) -> Any:
    """An int slider that sends its value only when let go (``continuous_update=False``)."""
    return W.IntSlider(value=int(value), min=lo, max=max(hi, int(value)), step=step, description=description,
                       style=STYLE, layout=W.Layout(**_LAYOUT), continuous_update=False)


def dropdown(options: list[str], value: str, description: str) -> Any:
    """A dropdown of ``options``."""
    return W.Dropdown(options=options, value=value, description=description, style=STYLE)
