"""The figure most experiments draw: every run's test curve, seeds faint (:func:`curves_figure`).

An experiment's ``figure`` may mark each run (the published value beside its curve) and add to the axes
(published levels, a log scale) through the two hooks, or draw a figure of its own
(:mod:`lrkit.bench.experiments`). Matplotlib is imported when a figure is drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .analysis import Reading, curve

__all__ = ["curves_figure"]


def curves_figure(r: Reading, *, x: str = "iteration", error: bool = False,
                  mark: Callable[[Any, int, str, dict[str, Any]], None] | None = None,
                  extra: Callable[[Any], None] | None = None) -> Any:
    """Test accuracy (``error``: test error, %) of every run against ``x`` = ``"iteration"`` or ``"epoch"``;
    one colour per run (``C0``, ``C1``, …), its first seed solid, the others faint. ``mark(ax, i, run,
    summary)`` is called after run ``i``'s curves, ``extra(ax)`` after all of them (before the title,
    legend and grid). Returns the Figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, (run, s) in enumerate(r.summary.items()):
        for j, res in enumerate(s["results"]):
            it, acc = curve(res)
            y = 100 * (1 - acc) if error else 100 * acc
            spe = res["history"].get("steps_per_epoch") or 1
            ax.plot(it / spe if x == "epoch" else it, y, color=f"C{i}", alpha=0.9 if j == 0 else 0.4,
                    label=run if j == 0 else None)
        if mark is not None:
            mark(ax, i, run, s)
    ax.set(xlabel=x, ylabel="test error (%)" if error else "test accuracy (%)")
    if extra is not None:
        extra(ax)
    ax.set_title(f"{r.experiment.title} — {r.scale}", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig
