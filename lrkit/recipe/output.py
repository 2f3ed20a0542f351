"""The run folder of both quickstarts — ``lrkit quickstart`` and ``lrkit quickstart --target`` — written by one
function, :func:`write_run`: ``range_test.png``, ``training.png``, ``history.json``, ``range_test.json`` and
``summary.json`` (JSON atomically, in lrkit's convention).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..utils import atomic_write_text, dumps, versions

__all__ = ["fmt_time", "recipe_figure", "recipe_summary", "write_recipe_run", "write_run"]


def write_run(folder: str | Path, *, range_test: Any, history: Any, summary: dict[str, Any], figure: Any,
              used: Any = None) -> Path:
    """Write a run folder: the range test's figure (``used``: the suggestion the run trained at, marked with
    its interval) and JSON, ``figure`` (the training) as ``training.png``, the History, and ``summary`` as
    ``summary.json``. Returns the folder."""
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    range_test.plot(used=used).savefig(folder / "range_test.png", dpi=110, bbox_inches="tight")
    figure.savefig(folder / "training.png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    history.save(folder / "history.json")
    range_test.save(folder / "range_test.json")
    atomic_write_text(folder / "summary.json", dumps(summary, indent=2))
    return folder


def recipe_figure(res: Any):
    """The recipe's training figure: loss and LR against iteration; the test curve against seconds."""
    import matplotlib.pyplot as plt

    h = res.history
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    a1.plot(h.iteration, h.train_loss, lw=0.8, label="training loss (label-smoothed)")
    a1.set_xlabel("iteration")
    a1.set_ylabel("loss")
    b = a1.twinx()
    b.plot(h.iteration, [lr[0] for lr in h.lr], color="C1", lw=1, label="LR (weights)")
    b.set_ylabel("LR")
    a1.set_title(f"recipe {res.target}: one-cycle, peak {res.peak_lr:.3g}")
    ts = [res.seconds["setup"] + res.seconds["range_test"] + p["train_seconds"] for p in res.curve]
    a2.plot(ts, [100 * p["acc"] for p in res.curve], "o-", label="test accuracy (averaged model, TTA)")
    a2.axhline(res.target, color="gray", ls="--", lw=0.8, label=f"target {res.target} %")
    a2.set_xlabel("seconds (range test + training; evaluations excluded)")
    a2.set_ylabel("test accuracy (%)")
    a2.set_title("test curve (reporting only: no choice reads it)")
    a2.legend(loc="lower right")
    fig.tight_layout()
    return fig


def recipe_summary(res: Any) -> dict[str, Any]:
    """``summary.json`` of a recipe run (a :class:`~lrkit.recipe.run.RecipeResult`)."""
    return {"command": "quickstart", "target": res.target, "config": res.config, "versions": versions(),
            "peak_lr": res.peak_lr, "peak_source": res.peak_source, "final_test": res.final_test,
            "final_val": res.final_val, "time_to_target_seconds": res.time_to_target,
            "reached_target": res.time_to_target is not None, "curve": res.curve, "seconds": res.seconds,
            "flops": res.flops, **res.info,
            "note": "the test set is never used for a choice: the range test reads validation loss; "
                    "the per-epoch test curve is reporting only"}


def write_recipe_run(res: Any, folder: str | Path) -> dict[str, Any]:
    """The run folder of a recipe run (:func:`write_run`); returns its summary."""
    summary = recipe_summary(res)
    write_run(folder, range_test=res.range_test, history=res.history, summary=summary, figure=recipe_figure(res),
              used=res.peak_suggestion)
    return summary


def fmt_time(s: float | None) -> str:
    """``"123 s (2.1 min)"``, or ``"not reached"`` for None / a non-finite time."""
    return "not reached" if s is None or not math.isfinite(s) else f"{s:.0f} s ({s / 60:.1f} min)"
