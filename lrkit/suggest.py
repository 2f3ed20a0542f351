"""What a range test measured, and the LRs it suggests — pure numpy, no torch.

- :func:`ema_smooth` — the bias-corrected EMA every loss curve is read through.
- :data:`RULES` — the point rules as a ``{name: rule}`` table; every rule has one signature,
  ``rule(lrs, smoothed) -> index`` (the window's LRs and smoothed losses, cut at the smoothed
  minimum; the index of the point it reads). A rule *spec* scales the point's LR: ``"min/10"`` (the
  classic "minimum ÷ 10", named ``'minimum'``), ``"valley*3"``.
- :data:`USE_RULES` — the rule for each use of a suggestion: a constant LR, a one-cycle (or
  warmup + cosine) peak, CLR bounds; ``rt.suggest(for_="one_cycle")``.
- :class:`RangeTest` — a loss-vs-LR sweep (:func:`lrkit.finder.lr_find` makes one; build one from
  arrays for experiments), its suggestions (:meth:`RangeTest.suggest`, ``'robust'`` with an
  interval), plot and JSON.

Smith's accuracy test and its CLR bounds (:func:`~lrkit.accuracy.clr_bounds`,
:class:`~lrkit.accuracy.AccuracyRangeTest`) are in :mod:`lrkit.accuracy`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .utils import atomic_write_text, check_choice, check_float, check_int, did_you_mean, dumps, loads, read_json

__all__ = [
    "CLR_RATIO",
    "DEFAULT_USE",
    "POINT_METHODS",
    "ROBUST_BASE",
    "RULES",
    "RangeTest",
    "SUGGESTION_METHODS",
    "Suggestion",
    "USES",
    "USE_RULES",
    "ema_smooth",
    "parse_rule",
]

# --------------------------------------------------------------------------------------------------
# Smoothing and the point rules
# --------------------------------------------------------------------------------------------------
def ema_smooth(values: Sequence[float] | np.ndarray, smoothing: float = 0.05) -> np.ndarray:
    r"""Bias-corrected exponential moving average, as fastai smooths its LR-finder loss.

    With :math:`\beta = 1 - \text{smoothing}`:
    :math:`a_i = \beta a_{i-1} + (1-\beta) x_i,\ a_{-1} = 0`, and
    :math:`s_i = a_i / (1 - \beta^{i+1})`. ``smoothing`` is the weight of the newest value:
    0.05 (β = 0.95, the default here and torch-lr-finder's), fastai uses β = 0.98 (smoothing=0.02);
    ``smoothing=1`` returns the values unchanged.
    """
    if not 0 < smoothing <= 1:
        raise ValueError(f"smoothing must be in (0, 1], got {smoothing!r}")
    x = np.asarray(values, dtype=np.float64)
    beta = 1.0 - smoothing
    out = np.empty_like(x)
    avg = 0.0
    for i, v in enumerate(x):
        avg = beta * avg + (1.0 - beta) * v
        out[i] = avg / (1.0 - beta ** (i + 1))
    return out


def steepest(lrs: np.ndarray, y: np.ndarray) -> int:
    """The most negative d y / d log10(lr) (central differences on the actual, possibly uneven grid)."""
    if len(y) < 2:
        return 0
    return int(np.nanargmin(np.gradient(y, np.log10(lrs))))


def _valley_bounds(y: np.ndarray) -> tuple[int, int]:
    """First and last index of the longest strictly decreasing subsequence of ``y`` (the "valley").

    Ties between equally long valleys go to the one that ends first.
    """
    n = len(y)
    lds = np.ones(n, dtype=np.int64)
    prev = np.full(n, -1, dtype=np.int64)
    for i in range(1, n):
        cand = np.where(y[:i] > y[i], lds[:i], 0)
        j = int(np.argmax(cand))
        if cand[j] > 0:
            lds[i] = cand[j] + 1
            prev[i] = j
    end = int(np.argmax(lds))
    start = end
    while prev[start] >= 0:
        start = int(prev[start])
    return start, end


def valley(lrs: np.ndarray, y: np.ndarray) -> int:
    """fastai's rule: half way (by index) along the longest strictly decreasing stretch."""
    start, end = _valley_bounds(y)
    return start + (end - start) // 2


def minimum(lrs: np.ndarray, y: np.ndarray) -> int:
    """The lowest point."""
    return int(np.argmin(y))


Rule = Callable[[np.ndarray, np.ndarray], int]
#: the point rules: ``rule(lrs, smoothed) -> index`` of the point they read. Every rule only sees the
#: curve up to its smoothed minimum (``RangeTest`` cuts it there), so none reads a point past it.
RULES: dict[str, Rule] = {"steepest": steepest, "valley": valley, "min": minimum}
#: named suggestions: rule spec (``"<rule>"``, ``"<rule>/<k>"`` or ``"<rule>*<k>"``: the point's LR ÷ or × k)
NAMED: dict[str, str] = {"steepest": "steepest", "valley": "valley", "minimum": "min/10"}
POINT_METHODS = tuple(NAMED)
SUGGESTION_METHODS = (*POINT_METHODS, "robust")
#: the rule that ``suggest("robust")`` bootstraps
ROBUST_BASE = "minimum"

#: what a suggestion can be for: a constant LR, the peak of one-cycle (or of warmup + cosine), and
#: the upper bound of a cyclical LR (its lower bound is ``max_lr / CLR_RATIO``)
USES = ("constant", "one_cycle", "clr")
#: the rule each use reads, bootstrapped (``'robust'``). The candidates are every rule of RULES × 1/10,
#: 1/3, 1, 3, 10, scored by mean regret on the 6 tuning tasks × 3 seeds of
#: ``benchmarks/bench_suggestion_quality.py`` (full scale); the lowest wins. They chose ``min/10`` for a
#: constant LR (regret 1.45 pp), ``min/3`` for the one-cycle peak (0.44 pp) and ``steepest`` for CLR's
#: max_lr (1.20 pp, against 3.30 for min/3). On the 9 held-out evaluation tasks none of the three is the
#: lowest of the finders (a fastai rule is, within the intervals); BENCHMARKS.md §3 has both tables and why.
USE_RULES: dict[str, str] = {"constant": "min/10", "one_cycle": "min/3", "clr": "steepest"}
#: Smith 2017's ratio of the CLR bounds (0.006 / 0.001)
CLR_RATIO = 6.0
#: the use :meth:`RangeTest.suggest` answers when asked nothing else (library, CLI, docs, notebooks)
DEFAULT_USE = "constant"


def parse_rule(spec: str, name: str = "method") -> tuple[str, float]:
    """``"min/10"`` → ``("min", 0.1)``, ``"valley*3"`` → ``("valley", 3.0)``, a named method
    (``"minimum"``) → its spec's. ``ValueError`` naming the argument ``name`` for anything else."""
    arg = name
    if not isinstance(spec, str):
        raise ValueError(f"{arg} must be a rule name such as 'valley' or 'min/10', got {spec!r}")
    text = NAMED.get(spec, spec)
    name, op, k = text.partition("/") if "/" in text else text.partition("*")
    try:
        factor = 1.0 if not op else (1.0 / float(k) if op == "/" else float(k))
    except (ValueError, ZeroDivisionError):
        factor = math.nan
    if name not in RULES or not (math.isfinite(factor) and factor > 0):
        raise ValueError(f"{arg} must be one of {', '.join(map(repr, SUGGESTION_METHODS))} "
                         f"or '<rule>/<k>' / '<rule>*<k>' with a rule in {sorted(RULES)} and k > 0; got {spec!r}"
                         + did_you_mean(spec, [*SUGGESTION_METHODS, *RULES]))
    return name, factor


def _apply_rule(spec: str, lrs: np.ndarray, ys: np.ndarray) -> tuple[int, float]:
    """(index into the window, suggested LR) of rule ``spec`` on a window's LRs and smoothed losses.

    The rule sees the window only up to its smoothed minimum; the LR (the point's × the spec's
    factor) is clamped to the window's LR range.
    """
    name, factor = parse_rule(spec)
    m = int(np.argmin(ys))
    i = RULES[name](lrs[: m + 1], ys[: m + 1])
    return i, float(np.clip(lrs[i] * factor, lrs[0], lrs[-1]))


def centered_mean(x: np.ndarray, half: int) -> np.ndarray:
    c = np.concatenate([[0.0], np.cumsum(x)])
    n = len(x)
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + half + 1, 0, n)
    return (c[hi] - c[lo]) / (hi - lo)


@dataclass
class Suggestion:
    """A suggested LR. ``low``/``high`` bound an uncertainty interval (equal to ``lr`` for the point
    rules); ``index`` is the sweep point it was read from (None if it is not one point); ``rule`` the
    rule spec it applied; ``base_lr`` the lower CLR bound of a ``for_="clr"`` suggestion."""

    lr: float
    low: float
    high: float
    method: str
    index: int | None = None
    rule: str | None = None
    base_lr: float | None = None

    def __float__(self) -> float:
        return float(self.lr)


# --------------------------------------------------------------------------------------------------
# RangeTest
# --------------------------------------------------------------------------------------------------
@dataclass
class RangeTest:
    """Result of :func:`lr_find`: one point per accepted optimizer step.

    Attributes:
        sweep_lr: ``[n]`` LR of the reference group (the group with the largest initial LR), the
            x-axis of every suggestion and plot.
        loss: ``[n]`` raw recorded loss (training loss, or validation loss in validation mode).
        smoothed: ``[n]`` :func:`ema_smooth` of ``loss`` with ``smoothing``.
        lr: ``[n, groups]`` LR of every param group at every point.
        train_loss: ``[n]`` raw training loss (equal to ``loss`` unless ``loss_kind == 'val'``).
        stopped_early / reason: whether and why the sweep ended before ``num_iter`` points
            (``'completed'``, ``'diverged'``, ``'non-finite loss …'``, ``'too many AMP-skipped steps'``).
        skipped_steps: optimizer steps the GradScaler skipped (not recorded, LR not advanced).

    Build one directly from arrays for experiments: ``RangeTest(sweep_lr=lrs, loss=losses)``.
    """

    sweep_lr: np.ndarray
    loss: np.ndarray
    smoothed: np.ndarray | None = None
    lr: np.ndarray | None = None
    train_loss: np.ndarray | None = None
    loss_kind: str = "train"
    mode: str = "exp"
    smoothing: float = 0.05
    ref_group: int = 0
    stopped_early: bool = False
    reason: str = "completed"
    skipped_steps: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    #: the methods :meth:`suggest` knows (what :meth:`suggestions` and the plot show)
    methods = SUGGESTION_METHODS

    def __post_init__(self) -> None:
        self.sweep_lr = np.asarray(self.sweep_lr, dtype=np.float64).reshape(-1)
        self.loss = np.asarray(self.loss, dtype=np.float64).reshape(-1)
        if self.sweep_lr.shape != self.loss.shape:
            raise ValueError(f"sweep_lr {self.sweep_lr.shape} and loss {self.loss.shape} differ in length")
        if self.smoothed is None:
            self.smoothed = ema_smooth(self.loss, self.smoothing) if len(self.loss) else self.loss.copy()
        self.smoothed = np.asarray(self.smoothed, dtype=np.float64).reshape(-1)
        if self.lr is None:
            self.lr = self.sweep_lr[:, None].copy()
        self.lr = np.asarray(self.lr, dtype=np.float64).reshape(len(self.sweep_lr), -1)
        if self.train_loss is None:
            self.train_loss = self.loss.copy()
        self.train_loss = np.asarray(self.train_loss, dtype=np.float64).reshape(-1)

    def __len__(self) -> int:
        return len(self.sweep_lr)

    # -------------------------------------------------------------------------------- suggestions
    def _default_skip_start(self) -> int:
        return len(self) // 10

    def _window(self, skip_start: int | None, skip_end: int) -> tuple[int, int]:
        skip_start = self._default_skip_start() if skip_start is None else check_int("skip_start", skip_start, min=0)
        skip_end = check_int("skip_end", skip_end, min=0)
        lo, hi = skip_start, len(self) - skip_end
        keep = np.arange(lo, max(lo, hi))
        keep = keep[(self.sweep_lr[keep] > 0) & np.isfinite(self.smoothed[keep])]
        if len(keep) < 3:
            raise ValueError(f"need at least 3 points with lr > 0 to suggest an LR, have {len(keep)} "
                             f"(len={len(self)}, skip_start={skip_start}, skip_end={skip_end})")
        if np.any(np.diff(keep) != 1):
            raise ValueError("the recorded curve has gaps (non-finite values) inside the window")
        return int(keep[0]), int(keep[-1]) + 1

    def suggest(self, method: str | None = None, *, for_: str | None = None, skip_start: int | None = None,
                skip_end: int = 0, n_boot: int = 200, ci: float = 0.9, seed: int = 0,
                base: str | None = None) -> Suggestion:
        """Suggest an LR from the reference group's sweep (``sweep_lr``).

        With no ``method``, the suggestion is for a use — ``for_`` in :data:`USES`, default
        :data:`DEFAULT_USE` (a constant LR): the use's rule (:data:`USE_RULES`) bootstrapped as
        ``'robust'`` is, with an interval. ``for_="one_cycle"`` gives the peak of a one-cycle (or
        warmup + cosine) schedule; ``for_="clr"`` gives CLR's ``max_lr`` with ``base_lr = max_lr /``
        :data:`CLR_RATIO` in ``Suggestion.base_lr``.

        Every rule reads the smoothed loss on points ``skip_start … len - skip_end`` (default
        ``skip_start``: the first 10 % of the points, ``len // 10`` — the early, flat and still
        EMA-dominated part of the curve; fastai skips the same share), **cut at its minimum**: no point
        rule reads a point past the smoothed minimum (nor, therefore, past where the loss diverged).

        - ``'steepest'``: the LR where d(smoothed loss)/d(log10 lr) is most negative — the gradient
          is taken against log10 of the LR (``numpy.gradient`` on the actual, possibly uneven grid),
          not against the point index.
        - ``'valley'``: fastai's rule — the longest valley is the longest strictly decreasing
          subsequence of the smoothed loss; the suggestion is the point half way (by index, i.e. the
          geometric middle of an exponential sweep) between its first and last point.
        - ``'minimum'``: the LR of the lowest smoothed loss divided by 10 (the spec ``"min/10"``).
        - any spec ``"<rule>/<k>"`` or ``"<rule>*<k>"`` with a rule of :data:`RULES`: that point's LR
          ÷ or × ``k`` (clamped to the window).
        - ``'robust'``: lrkit's rule with an uncertainty interval: a rule (``base``, default
          :data:`ROBUST_BASE`) applied to ``n_boot`` resampled curves. The trend of the raw loss is a
          centred running mean (half-width ``round(0.25 / smoothing)`` points); each replicate adds the
          residuals back to the trend with a random sign per block of ``round(n ** (1/3))`` consecutive
          points (a block *wild* bootstrap, seeded by ``seed``), is re-smoothed with the same EMA, and
          the base rule is applied to it. Flipping signs in place — rather than moving blocks around —
          keeps the noise where it was measured: the loss is far noisier near divergence than on the
          flat start, and residuals moved from the divergent end into the flat start would fake dips
          there. ``lr`` is the median of the replicates' LRs (in log space), ``low``/``high`` their
          central ``ci`` interval. Deterministic for a fixed ``seed``; the global RNGs are not touched.

        Why these rules: see :data:`USE_RULES`; ``benchmarks/bench_suggestion_quality.py`` scores every
        candidate on tuning tasks and the shipped rules on evaluation tasks they were not chosen on,
        beside torch-lr-finder, fastai and Lightning (BENCHMARKS.md §3).
        """
        if method is not None and for_ is not None:
            raise ValueError(f"give method or for_, not both (method={method!r}, for_={for_!r})")
        if base is not None and method != "robust":
            raise ValueError(f"base only applies to method='robust', not {method!r}")
        lo, hi = self._window(skip_start, skip_end)
        if method is None:
            use = check_choice("for_", DEFAULT_USE if for_ is None else for_, USES)
            sug = self._robust(lo, hi, USE_RULES[use], n_boot=n_boot, ci=ci, seed=seed)
            sug.method = use
            if use == "clr":
                sug.base_lr = sug.lr / CLR_RATIO
            return sug
        if method == "robust":
            spec = base or ROBUST_BASE
            parse_rule(spec, "base")
            return self._robust(lo, hi, spec, n_boot=n_boot, ci=ci, seed=seed)
        i, lr = _apply_rule(method, self.sweep_lr[lo:hi], self.smoothed[lo:hi])
        return Suggestion(lr=lr, low=lr, high=lr, method=method, index=lo + i, rule=NAMED.get(method, method))

    def _robust(self, lo: int, hi: int, spec: str, *, n_boot: int, ci: float, seed: int) -> Suggestion:
        parse_rule(spec)
        n_boot = check_int("n_boot", n_boot, min=1)
        ci = check_float("ci", ci, min=0, max=1, min_open=True, max_open=True)
        seed = check_int("seed", seed, min=0)
        finite = np.isfinite(self.loss)
        n = int(np.argmin(finite)) if not finite.all() else len(self.loss)
        hi = min(hi, n)
        raw = self.loss[:n]
        half = max(1, round(0.25 / self.smoothing))
        trend = centered_mean(raw, half)
        resid = raw - trend
        block = max(1, round(n ** (1 / 3)))
        n_blocks = -(-n // block)
        rng = np.random.default_rng(seed)
        lrs = self.sweep_lr[lo:hi]
        estimates = np.empty(n_boot)
        for b in range(n_boot):
            signs = np.repeat(rng.choice([-1.0, 1.0], size=n_blocks), block)[:n]
            ys = ema_smooth(trend + signs * resid, self.smoothing)[lo:hi]
            estimates[b] = math.log10(_apply_rule(spec, lrs, ys)[1])
        q = (1 - ci) / 2
        mid, low, high = np.quantile(estimates, [0.5, q, 1 - q])
        return Suggestion(lr=float(10 ** mid), low=float(10 ** low), high=float(10 ** high),
                          method="robust", index=None, rule=NAMED.get(spec, spec))

    def suggestions(self, **kwargs) -> dict[str, Suggestion]:
        """Every method of :data:`SUGGESTION_METHODS`, as ``{method: Suggestion}``."""
        return {m: self.suggest(m, **kwargs) for m in SUGGESTION_METHODS}

    def for_uses(self, **kwargs) -> dict[str, Suggestion]:
        """The suggestion for every use of :data:`USES`, as ``{use: Suggestion}``."""
        return {u: self.suggest(for_=u, **kwargs) for u in USES}

    # ------------------------------------------------------------------------------- plot / json
    def plot(self, ax=None, suggestions: bool | Sequence[str] = True, skip_start: int | None = None,
             skip_end: int = 0, raw: bool = True):
        """Loss against LR (log x): raw points, smoothed curve, the suggestions marked.

        Returns the matplotlib Figure. See :func:`lrkit.plot.plot_range_test`.
        """
        from .plot import plot_range_test

        return plot_range_test(self, ax=ax, suggestions=suggestions, skip_start=skip_start,
                               skip_end=skip_end, raw=raw)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "lrkit-range-test-1",
            "sweep_lr": self.sweep_lr, "loss": self.loss, "smoothed": self.smoothed, "lr": self.lr,
            "train_loss": self.train_loss, "loss_kind": self.loss_kind, "mode": self.mode,
            "smoothing": self.smoothing, "ref_group": self.ref_group,
            "stopped_early": self.stopped_early, "reason": self.reason,
            "skipped_steps": self.skipped_steps, "config": self.config,
        }

    def to_json(self) -> str:
        """Strict JSON (lrkit's convention for non-finite values: :func:`lrkit.utils.dumps`)."""
        return dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str | bytes) -> RangeTest:
        return cls._from_doc(loads(text))

    @classmethod
    def _from_doc(cls, d: Any) -> RangeTest:
        if not isinstance(d, dict) or d.pop("format", None) != "lrkit-range-test-1":
            raise ValueError("not an lrkit RangeTest JSON document")
        try:
            lr = np.asarray(d.pop("lr"), dtype=np.float64).reshape(len(d["sweep_lr"]), -1)
            return cls(lr=lr, **d)
        except (KeyError, TypeError) as e:
            raise ValueError(f"not an lrkit RangeTest JSON document ({type(e).__name__}: {e})") from None

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_json` to ``path``, atomically."""
        return atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> RangeTest:
        """Read a file written by :meth:`save`; a missing or corrupt file is a ``ValueError`` naming it."""
        doc = read_json(path, "range-test file")
        try:
            return cls._from_doc(doc)
        except ValueError as e:
            raise ValueError(f"range-test file {path}: {e}") from None
