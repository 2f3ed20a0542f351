"""The base of every notebook explorer: :class:`Explorer`, which redraws its figure in place (its
controls, with exact values, are in :mod:`lrkit.notebook.controls`).

**Exact values.** A browser slider snaps its value to its step and sends the snapped value back to
the kernel (a log slider with step 0.05 turns 0.006 into 0.00631) — with ``continuous_update`` on
every value the kernel sets, late, even after the kernel has set the next one. Our sliders send
only when the learner lets go (``continuous_update=False``; also no backlog of redraws while
dragging on a slow kernel), and :class:`ExactFloat` pairs each float slider with a ``FloatText``:
the text box holds — and ``.value`` is — exactly the number the
code (or the learner, by typing) set; the slider is only a handle for dragging. A slider message that
stays on the grid point nearest to the current value (the browser's echo of its own snapping) is
ignored; a real move to another grid point sets the value, rounded to what the slider shows.

**Redraw in place.** Each explorer owns one matplotlib ``Figure`` (not registered with pyplot, so
``%matplotlib inline`` never shows or leaks it) and one ``ipywidgets.Image``. A change updates the
figure's artists (``line.set_data`` for schedules; the few panels that change shape are redrawn
inside their own axes), renders it to PNG with Agg and assigns ``Image.value`` — one message, the
``<img>`` keeps its fixed size while the new picture decodes, so nothing blanks or jumps, unlike
clearing an ``Output`` and displaying a new figure. We chose this over ipympl because the notebooks
run under ``%matplotlib inline`` (ipympl would need ``%matplotlib widget`` in every notebook), it
needs no frontend extension beyond ipywidgets' own, and papermill/nbconvert keep the PNG in the saved
widget state, so an executed notebook still shows the figure without a kernel.
"""

from __future__ import annotations

import html
import io
import time
from typing import Any

import ipywidgets as W

__all__ = ["Explorer"]


class Explorer:
    """Base class: ``widgets`` dict, ``update(**values)``, ``display()``, in-place redraw.

    Subclasses define ``_make_widgets()``, ``compute(**values) -> data`` (pure), ``make_view(fig)``
    (create axes and artists once) and ``draw(view, data, values)`` (update them in place), and
    optionally ``hints(values) -> {key: why it does nothing}`` (those controls are disabled) and
    ``summary()``.
    """

    figsize: tuple[float, float] = (8.0, 4.0)
    dpi = 96

    def __init__(self) -> None:
        self.widgets: dict[str, Any] = self._make_widgets()
        self._tooltips = {k: getattr(w, "tooltip", None) or "" for k, w in self.widgets.items()}
        for key, w in self.widgets.items():
            w.add_class("lrkit-control")
            w.add_class(f"lrkit-key-{key}")
            w.observe(self._on_change, names="value")
        self.figure, self._view = self._new_figure()
        w_px, h_px = (round(s * self.dpi) for s in self.figsize)
        self.image = W.Image(format="png", width=w_px, height=h_px,
                             layout=W.Layout(width=f"{w_px}px", height=f"{h_px}px"))
        self.image.add_class("lrkit-figure")
        self.status = W.HTML()
        self.status.add_class("lrkit-summary")
        self.last: dict[str, Any] | None = None
        self.updates = 0
        self.timings_ms: dict[str, float] = {}
        self._displayed = False
        self._sync_enabled()
        self._refresh()

    # subclasses -------------------------------------------------------------------------------
    def _make_widgets(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def compute(self, **values: Any) -> dict[str, Any]:  # pragma: no cover - abstract
        """Return the explorer's ``data`` for the complete ``values``."""
        raise NotImplementedError

    def make_view(self, fig: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def draw(self, view: Any, data: dict[str, Any], values: dict[str, Any]) -> None:  # pragma: no cover
        raise NotImplementedError

    def hints(self, values: dict[str, Any]) -> dict[str, str]:
        """``{control: why it has no effect now}`` — those controls are shown disabled."""
        return {}

    def summary(self) -> str:
        """One line of text shown under the figure (override)."""
        return ""

    # machinery --------------------------------------------------------------------------------
    @property
    def values(self) -> dict[str, Any]:
        return {k: w.value for k, w in self.widgets.items()}

    def _new_figure(self) -> tuple[Any, Any]:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=self.figsize, dpi=self.dpi)
        FigureCanvasAgg(fig)
        return fig, self.make_view(fig)

    def update(self, **values: Any) -> dict[str, Any]:
        """Recompute with ``values`` overriding the widgets' current values (the widgets are not
        changed). Returns ``{"data": ..., "figure": ...}``: a new figure (not registered with
        pyplot) that the caller owns; the live view is not touched."""
        unknown = set(values) - set(self.widgets)
        if unknown:
            raise ValueError(f"unknown control(s) {sorted(unknown)}; "
                             f"this explorer has {sorted(self.widgets)}")
        vals = {**self.values, **values}
        data = self.compute(**vals)
        fig, view = self._new_figure()
        self.draw(view, data, vals)
        return {"data": data, "figure": fig}

    def _sync_enabled(self) -> None:
        hints = self.hints(self.values)
        for key, w in self.widgets.items():
            w.disabled = key in hints
            w.tooltip = hints.get(key) or self._tooltips[key]

    def _refresh(self) -> None:
        t0 = time.perf_counter()
        vals = self.values
        data = self.compute(**vals)
        t1 = time.perf_counter()
        self.draw(self._view, data, vals)
        self.last = {"data": data, "figure": self.figure}
        self.updates += 1
        self.timings_ms = {"compute": 1e3 * (t1 - t0), "draw": 1e3 * (time.perf_counter() - t1)}
        if self._displayed:
            self._push()

    def _on_change(self, change: Any = None) -> None:
        self._sync_enabled()
        self._refresh()

    def png(self) -> bytes:
        """The live figure as PNG bytes."""
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", dpi=self.dpi, pil_kwargs={"compress_level": 1})
        return buf.getvalue()

    def _push(self) -> None:
        t0 = time.perf_counter()
        self.image.value = self.png()
        self.status.value = f"<code>{html.escape(self.summary())}</code>"
        self.timings_ms["render"] = 1e3 * (time.perf_counter() - t0)

    def controls(self) -> Any:
        return W.VBox(list(self.widgets.values()))

    def widget(self) -> Any:
        """The explorer as one widget: controls, figure, summary line."""
        box = W.VBox([self.controls(), self.image, self.status])
        box.add_class("lrkit-explorer")
        return box

    def display(self) -> None:
        """Show the controls and the live figure. Besides the widget view, the output carries a
        PNG of the figure and a one-line text, for viewers without widgets (no ``HBox(children=…)``)."""
        import base64

        from IPython.display import display

        self._displayed = True
        self._push()
        bundle = self.widget()._repr_mimebundle_()
        bundle["image/png"] = base64.b64encode(self.image.value).decode("ascii")
        bundle["text/plain"] = f"{type(self).__name__}: {self.summary()}"
        display(bundle, raw=True)
