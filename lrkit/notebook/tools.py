"""What the notebooks share that is not a widget and not their run's record (that is
:mod:`lrkit.notebook.session`): finding the data, prose from numbers, the "did it reproduce?" box.

- :func:`data_available` — is CIFAR-10 on this machine?
- :func:`lead` — "ahead by 1.2 pp" / "behind by …": prose about a run, printed from its numbers.
- :func:`reproduction_box` — a notebook's "Did it reproduce?" box, from the committed benchmark results.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["data_available", "default_results_dir", "lead", "reproduction_box"]


def data_available(data_dir: str | os.PathLike | None = None) -> bool:
    """True if CIFAR-10 can be found locally (``data_dir``, ``LRKIT_DATA_DIR`` or the cache)."""
    from ..data import DataNotFoundError, find_cifar10

    try:
        find_cifar10(data_dir, download=False)
    except DataNotFoundError:
        return False
    return True


# --------------------------------------------------------------------------------------------------
# Prose from numbers
# --------------------------------------------------------------------------------------------------
def lead(a: float, b: float, *, scale: float = 100.0, unit: str = "pp", digits: int = 2) -> str:
    """How ``a`` compares with ``b``, for a sentence: ``"ahead by 1.15 pp"``, ``"behind by 0.40 pp"``
    or ``"level"`` (when they agree to ``digits`` decimals after scaling).

    The difference is ``scale·(a − b)`` (``scale=100`` turns accuracies in [0, 1] into percentage
    points). Non-finite inputs are a ``ValueError`` naming them.
    """
    import math

    for name, v in (("a", a), ("b", b), ("scale", scale)):
        if not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"lead: {name} must be a finite number, got {v!r}")
    d = round(scale * (float(a) - float(b)), digits)
    if d == 0:
        return "level"
    return f"{'ahead' if d > 0 else 'behind'} by {abs(d):.{digits}f} {unit}".rstrip()


# --------------------------------------------------------------------------------------------------
# "Did it reproduce?" — the committed benchmark results, as a notebook's closing box
# --------------------------------------------------------------------------------------------------
def default_results_dir() -> Path:
    """The repository's committed benchmark results: ``<repo>/benchmarks/results``."""
    return Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def reproduction_box(experiment: str, results_dir: str | os.PathLike | None = None, *,
                     notebook: str = "07_reproduce_papers.ipynb",
                     benchmarks: str = "../BENCHMARKS.md") -> str:
    """Markdown for a notebook's "Did it reproduce?" box about the bench ``experiment``
    (e.g. ``"sgdr"``), computed from the stored results under ``results_dir`` (default: the
    repository's ``benchmarks/results``, see :func:`default_results_dir`).

    The scale reported is ``paper`` when it has results, else the largest scale that has some
    (``full``, then ``lite``, then ``smoke``), and the box says which, with its factor; a scale without results is
    listed as "not run yet", and with no results at all the box says so and gives the command. The
    findings are the experiment's own notes (:meth:`lrkit.bench.analysis.Reading.notes`) — the very lines
    of ``lrkit bench report`` — next to the
    paper's claim and a table of measured vs published final accuracies. Links: ``notebook`` (07)
    and ``benchmarks`` (BENCHMARKS.md, relative to the notebooks folder).

    Display it with ``IPython.display.Markdown(reproduction_box("sgdr"))``.
    """
    from ..bench.analysis import published, reading
    from ..bench.experiments import SCALES, get_experiment
    from ..bench.references import reference
    from ..bench.store import load_results

    exp = get_experiment(experiment)          # ValueError (with did-you-mean) for an unknown name
    ref = reference(exp.reference)
    root = Path(results_dir) if results_dir is not None else default_results_dir()
    try:  # shown relative to the repository when it is the committed folder
        shown = (root / experiment).resolve().relative_to(default_results_dir().parents[1]).as_posix()
    except ValueError:
        shown = (root / experiment).as_posix()
    found = {sc: load_results(root, experiment, sc) for sc in SCALES if sc not in exp.unavailable}
    order = [sc for sc in ("paper", "full", "lite", "smoke") if sc in found]   # largest first
    scale = next((sc for sc in order if found[sc]), None)

    def scale_name(sc: str) -> str:
        return f"`{sc}`" + (f" (every iteration count × {exp.factors[sc]:g})"
                            if sc in exp.factors and exp.factors[sc] != 1 else "")

    status = []
    for sc in order:
        n = len(found[sc])
        status.append(f"{sc}: {n} run{'s' if n != 1 else ''}" if n else f"{sc}: not run yet")
    for sc, why in exp.unavailable.items():
        status.append(f"{sc}: not available ({why})")
    links = (f"Details: notebook [07 · Reproducing the papers]({notebook}) and "
             f"[BENCHMARKS.md]({benchmarks}) §5 (why it matches or not).")
    lines = ["### Did it reproduce?", "",
             f"**The paper's claim** — {ref.paper}, {ref.where} (arXiv {ref.arxiv}): {ref.claim}", ""]
    if scale is None:
        lines += [f"**Not run yet**: no results of `lrkit bench` experiment `{experiment}` under `{shown}` "
                  f"({'; '.join(status)}). Run it with `lrkit bench run {experiment} --scale lite "
                  f"--out benchmarks/results`.", "", links]
        return "\n".join(lines)
    r = reading(exp, scale, found[scale])
    summ = r.summary
    if scale != "paper":
        why = ("the paper scale does not exist for this experiment" if "paper" in exp.unavailable
               else "the paper scale is not run yet")
        lines += [f"**Measured at scale {scale_name(scale)}** — {why}, so this is the largest scale with "
                  f"results; a scaled-down run answers a scaled-down question.", ""]
    else:
        lines += [f"**Measured at scale {scale_name(scale)}**, the paper's protocol.", ""]
    lines += [f"| run | iterations | seeds | measured test acc % | published ({ref.metric}) |",
              "|---|---:|---:|---:|---:|"]
    for run, s in summ.items():
        sd = f" ± {s['acc_std']:.2f}" if s["seeds"] > 1 else ""
        lines.append(f"| {run} | {s['iterations']:,} | {s['seeds']} | {s['acc_mean']:.2f}{sd} "
                     f"| {published(ref, run)} |")
    notes = r.notes()
    marks = {m.group(1) or m.group(2) for n in notes for m in re.finditer(r"→ (yes|no)\b|\*\*(yes|no)\*\*", n)}
    verdict = f" — **{marks.pop()}** at this scale" if len(marks) == 1 else ""
    lines += ["", f"**Measured verdict**{verdict} (the lines of `lrkit bench report`):", ""]
    lines += [f"- {n}" for n in notes] if notes else ["- no verdict: the runs it compares are missing"]
    lines += ["", f"Scales: {'; '.join(status)}. Results: `{shown}/<scale>/`.", "", links]
    return "\n".join(lines)
