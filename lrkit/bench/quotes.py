"""Numbers the documents quote from the committed results, kept equal to them.

A number in README.md, BENCHMARKS.md or a notebook's markdown that is read off a committed result carries,
right after it, an HTML comment (invisible when rendered) with the call that computes it::

    the fixed LR ends at 82.28<!--q final("smith2017-table1/paper", "fixed")--> %

:func:`check` recomputes every such number from ``benchmarks/results`` and lists each one that differs,
at the precision the document prints (82.28 is compared with the value rounded to two decimals);
:func:`fix` rewrites them. A test runs :func:`check` on the documents, so a sentence cannot drift from the
results it quotes; ``lrkit bench quotes [--fix]`` runs it by hand.

The calls (:data:`FUNCTIONS`) take a results folder ``"<experiment>/<scale>"`` and run names, or a JSON
file and a dotted key; arguments must be literals. Only these functions can be called.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FUNCTIONS", "Mismatch", "check", "documents", "fix", "quoted"]

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
#: a quoted number (signed, with decimals, thousands separators or a leading ×) and its call
QUOTE = re.compile(r"(?P<value>[-+−]?\d[\d,]*(?:\.\d+)?)(?P<gap>\s?)<!--q (?P<call>.+?)-->")


@cache
def _results(where: str) -> dict[str, list[dict[str, Any]]]:
    from .store import load_results

    experiment, scale = where.split("/")
    out: dict[str, list[dict[str, Any]]] = {}
    for r in load_results(RESULTS, experiment, scale):
        out.setdefault(r["run"], []).append(r)
    if not out:
        raise ValueError(f"no results under {RESULTS / where}")
    return out


def _runs(where: str, run: str) -> list[dict[str, Any]]:
    got = _results(where).get(run)
    if not got:
        raise ValueError(f"{where} has no run {run!r}")
    return got


def _acc(res: dict[str, Any], at: int | None = None) -> float:
    if at is None:
        return 100 * res["final"]["acc"]
    from .analysis import acc_at

    a = acc_at(res, at)
    if a is None:
        raise ValueError(f"{res['run']} seed {res['seed']} has no evaluation at or before {at}")
    return 100 * a


def final(where: str, run: str, at: int | None = None) -> float:
    """Mean over seeds of ``run``'s final test accuracy (%), or of its evaluation at iteration ``at``."""
    return float(np.mean([_acc(r, at) for r in _runs(where, run)]))


def final_sd(where: str, run: str) -> float:
    """Standard deviation over seeds of the final test accuracy (%)."""
    a = [_acc(r) for r in _runs(where, run)]
    return float(np.std(a, ddof=1)) if len(a) > 1 else 0.0


def seed_acc(where: str, run: str, seed: int, at: int | None = None) -> float:
    """One seed's final test accuracy (%), or its evaluation at ``at``."""
    for r in _runs(where, run):
        if r["seed"] == seed:
            return _acc(r, at)
    raise ValueError(f"{where}/{run} has no seed {seed}")


def best(where: str, run: str, every: int = 1, until: int | None = None) -> float:
    """Mean over seeds of the best evaluation (%) on the iterations that are multiples of ``every``."""
    from .analysis import curve

    vals = []
    for r in _runs(where, run):
        it, acc = curve(r)
        keep = (it % every == 0) & (it <= (until or it.max()))
        vals.append(100 * acc[keep].max())
    return float(np.mean(vals))


def first_reach(where: str, run: str, base: str, seed: int, unit: str = "epoch") -> float:
    """The first evaluation (epoch or iteration) at which ``run``'s seed ``seed`` reaches ``base``'s mean final
    test accuracy (the anytime reading); NaN if it never does."""
    from .analysis import first_reaching

    target = final(where, base) / 100
    for r in _runs(where, run):
        if r["seed"] == seed:
            it = first_reaching(r, target)
            if it is None:
                return math.nan
            return it / (r["history"].get("steps_per_epoch") or 1) if unit == "epoch" else float(it)
    raise ValueError(f"{where}/{run} has no seed {seed}")


def reach_ratio(where: str, run: str, base: str, seed: int) -> float:
    """The iterations ``base``'s seed ``seed`` needs to first reach the same seed's final accuracy of ``run``, over
    ``run``'s iterations (Table 1's "2.8×" is 70,000 / 25,000); NaN if it never does."""
    from .analysis import first_reaching

    mine = {r["seed"]: r for r in _runs(where, run)}
    for b in _runs(where, base):
        if b["seed"] == seed and seed in mine:
            it = first_reaching(b, mine[seed]["final"]["acc"])
            return math.nan if it is None else it / mine[seed]["config"]["iterations"]
    raise ValueError(f"{where}: {run} and {base} have no seed {seed} in common")


def seeds(where: str, run: str) -> float:
    return float(len(_runs(where, run)))


def paired(where: str, a: str, b: str, part: str = "mean", a_at: int | None = None, b_at: int | None = None) -> float:
    """``a`` minus ``b`` (pp), paired by seed: the mean (``part="mean"``) or its 95 % t-interval's half-width
    (``"half"``); each at its final evaluation or at ``*_at``."""
    from .analysis import ci95

    bs = {r["seed"]: _acc(r, b_at) for r in _runs(where, b)}
    d = [_acc(r, a_at) - bs[r["seed"]] for r in _runs(where, a) if r["seed"] in bs]
    if not d:
        raise ValueError(f"{where}: {a} and {b} share no seed")
    return float(np.mean(d)) if part == "mean" else ci95(d)


def value(file: str, key: str) -> float:
    """The number at dotted ``key`` of a JSON file under benchmarks/results (``a.b.0.c``)."""
    from ..utils import read_json

    doc: Any = read_json(RESULTS / file)
    for part in key.split("."):
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return float(doc)


FUNCTIONS: dict[str, Callable[..., float]] = {f.__name__: f for f in (final, final_sd, seed_acc, best, seeds, paired,
                                                                      first_reach, reach_ratio, value)}


def evaluate(call: str) -> float:
    """The value of one quote's ``call`` (a call of :data:`FUNCTIONS` with literal arguments)."""
    try:
        node = ast.parse(call.strip(), mode="eval").body
    except SyntaxError as e:
        raise ValueError(f"quote {call!r} is not a call: {e}") from None
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS):
        raise ValueError(f"quote {call!r}: call one of {sorted(FUNCTIONS)}")
    args = [ast.literal_eval(a) for a in node.args]
    kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
    return FUNCTIONS[node.func.id](*args, **kwargs)


def _format_like(x: float, text: str) -> str:
    """``x`` printed as ``text`` prints its number: the same decimals, sign and thousands separators."""
    t = text.replace("−", "-")
    decimals = len(t.split(".")[1]) if "." in t else 0
    s = f"{x:,.{decimals}f}" if "," in t else f"{x:.{decimals}f}"
    if t.startswith("+") and x >= 0:
        s = "+" + s
    if text.startswith("−"):
        s = s.replace("-", "−")
    return s


@dataclass(frozen=True)
class Mismatch:
    path: str
    line: int
    call: str
    quoted: str
    computed: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.quoted} quoted, the results give {self.computed} ({self.call})"


def documents() -> list[str]:
    """The documents whose quotes are checked: README.md, BENCHMARKS.md and every notebook."""
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    return [str(ROOT / "README.md"), str(ROOT / "BENCHMARKS.md"), *map(str, notebooks)]


def _texts(path: Path) -> Iterable[tuple[int, str]]:
    """(line number, text) of a markdown file, or of every markdown cell of a notebook (numbered by cell)."""
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text())
        for i, cell in enumerate(nb.get("cells", [])):
            if cell.get("cell_type") == "markdown":
                yield i, "".join(cell.get("source", []))
    else:
        yield from enumerate(path.read_text().splitlines(), start=1)


def quoted(paths: Iterable[str | Path]) -> list[tuple[str, int, str, str]]:
    """Every quote in ``paths``: (path, line, quoted number, call)."""
    out = []
    for p in map(Path, paths):
        for line, text in _texts(p):
            out += [(str(p), line, m["value"], m["call"]) for m in QUOTE.finditer(text)]
    return out


def check(paths: Iterable[str | Path]) -> list[Mismatch]:
    """Every quote whose number differs from what its call computes (at the precision it is printed)."""
    bad = []
    for path, line, text, call in quoted(paths):
        try:
            x = evaluate(call)
            got = _format_like(x, text) if math.isfinite(x) else str(x)
        except (ValueError, KeyError, IndexError, TypeError) as e:
            got = f"an error: {e}"
        if got != text:
            bad.append(Mismatch(path, line, call, text, got))
    return bad


def fix(paths: Iterable[str | Path]) -> int:
    """Rewrite every quoted number of ``paths`` from its call; returns how many changed."""
    changed = 0
    for p in map(Path, paths):
        raw = p.read_text()

        def repl(m: re.Match) -> str:
            nonlocal changed
            new = _format_like(evaluate(m["call"]), m["value"])
            changed += new != m["value"]
            return f"{new}{m['gap']}<!--q {m['call']}-->"

        if p.suffix == ".ipynb":
            nb = json.loads(raw)
            for cell in nb.get("cells", []):
                if cell.get("cell_type") == "markdown":
                    src = QUOTE.sub(repl, "".join(cell.get("source", [])))
                    cell["source"] = src.splitlines(keepends=True)
            new_raw = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        else:
            new_raw = QUOTE.sub(repl, raw)
        if new_raw != raw:
            p.write_text(new_raw)
    return changed
