"""Render benchmark results: figures (measured vs published) and a markdown report.

Everything here is computed from the result JSONs written by :mod:`lrkit.bench.runner`, and nothing here
knows an experiment by name: each experiment's module says what its results mean (``notes``) and draws
its figure (``figure``; the plain curves of :func:`lrkit.bench.figures.curves_figure` when it has none).
This module lays them out: one section per experiment and scale, with the table of runs, the findings,
the paper's claim and the figure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .analysis import Reading, published, reading
from .experiments import EXPERIMENTS, SCALES, get_experiment
from .figures import curves_figure
from .store import load_results

__all__ = ["report", "section"]


def section(r: Reading, figure_path: Path) -> list[str]:
    """The markdown of one experiment at one scale: heading, reference, table of runs, notes, the claim, figure."""
    exp, ref = r.experiment, r.ref
    factor = f" (factor {exp.factors[r.scale]:g})" if r.scale in exp.factors else ""
    lines = [f"## {exp.title} — scale `{r.scale}`{factor}", "",
             f"Reference: {ref.paper}, {ref.where} (arXiv {ref.arxiv}). {ref.protocol}", ""]
    lines += ["| run | iterations | seeds | test acc % (mean ± std) | published | train time |",
              "|---|---:|---:|---:|---:|---:|"]
    for run, s in r.summary.items():
        lines.append(f"| {run} | {s['iterations']:,} | {s['seeds']} | {s['acc_mean']:.2f} ± {s['acc_std']:.2f} "
                     f"| {published(ref, run)} | {s['seconds'] / 60:.1f} min |")
    lines.append("")
    notes = r.notes()
    if ref.claim:
        notes.append(f"paper's claim: {ref.claim}")
    lines += [n if not n or n.startswith("|") else f"- {n}" for n in notes] + [""]  # tables stay tables
    lines += [f"![{exp.name} {r.scale}]({figure_path.as_posix()})", ""]
    return lines


def figure(r: Reading) -> Any:
    """The experiment's figure of ``r`` (its own, else the plain curves)."""
    draw = r.experiment.figure if r.experiment.figure is not None else curves_figure
    return draw(r)


def report(out: str | Path = "runs/bench", *, experiments: list[str] | None = None, scales: tuple[str, ...] = SCALES,
           figures: str | Path | None = None, headline: str | Path | None = None, save: bool = True) -> str:
    """Markdown report of every result under ``out``; figures into ``figures`` (default out/figures).

    ``save``: also write the markdown to ``out/report.md`` (False: only return it — e.g. a notebook
    reading committed results without touching them; then pass ``figures`` too).

    ``headline``: also save the figure of the experiment marked ``headline`` (Smith's Table 1), at the largest
    scale with results, there (the README's picture).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out = Path(out)
    figdir = Path(figures) if figures is not None else out / "figures"
    lines = ["# lrkit bench report", ""]
    headline_fig = None
    for name in experiments or list(EXPERIMENTS):
        exp = get_experiment(name)
        for scale in scales:
            results = load_results(out, name, scale)
            if not results:
                continue
            r = reading(exp, scale, results)
            path = figdir / f"{name}-{scale}.png"
            lines += section(r, path)
            fig = figure(r)
            figdir.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=100, bbox_inches="tight")
            if exp.headline:
                if headline_fig is not None:
                    plt.close(headline_fig)
                headline_fig = fig
            else:
                plt.close(fig)
    if headline is not None and headline_fig is not None:
        Path(headline).parent.mkdir(parents=True, exist_ok=True)
        headline_fig.savefig(headline, dpi=80, bbox_inches="tight")
    if headline_fig is not None:
        plt.close(headline_fig)
    if len(lines) == 2:
        lines.append(f"No results under {out}.")
    text = "\n".join(lines)
    if save:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.md").write_text(text)
    return text


