"""What a range test measured: :class:`RangeTest` (the sweep, its suggestions, plot and JSON) and a
:class:`Suggestion` — pure numpy, no torch.

:func:`lrkit.rangetest.lr_find` makes a RangeTest; build one from arrays for experiments. Its
:meth:`RangeTest.suggest` is the one dispatcher to the rules of :mod:`lrkit.rangetest.rules`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..utils import atomic_write_text, check_choice, check_float, check_int, dumps, loads, read_json
from .reading import (
    CLR_RATIO,
    DEFAULT_USE,
    USE_RULES,
    USES,
    SweepReading,
    bootstrap_log10,
    log10_lr_for_use,
    read_sweep,
    status_of,
)
from .rules import NAMED, ROBUST_BASE, SUGGESTION_METHODS, apply_rule, bootstrap_rule, ema_smooth, parse_rule

__all__ = ["RangeTest", "Suggestion"]


@dataclass
class Suggestion:
    """A suggested LR. ``low``/``high`` bound an uncertainty interval (equal to ``lr`` for the point
    rules); ``index`` is the sweep point it was read from (None if it is not one point); ``rule`` the
    rule it applied; ``base_lr`` the lower CLR bound of a ``for_="clr"`` suggestion.

    A suggestion for a use (``for_=``) also says how far to trust it: ``status`` is ``"ok"`` (a clear
    descent and blow-up, a narrow interval), ``"wide"`` (the interval spans more than a decade: the curve
    does not pin the LR down), ``"censored"`` (the sweep never blew up: the descent may end later),
    ``"weak"`` (no descent before the blow-up: a cautious LR below it) or ``"no_signal"`` (neither: a
    cautious LR below the largest one tried); ``reason`` says why in a sentence, ``regime`` is the
    curve's regime (:func:`lrkit.rangetest.reading.read_sweep`). The point rules say ``"ok"``.
    """

    lr: float
    low: float
    high: float
    method: str
    index: int | None = None
    rule: str | None = None
    base_lr: float | None = None
    status: str = "ok"
    reason: str = ""
    regime: str | None = None

    @property
    def pinned(self) -> bool:
        """Whether the curve pins the LR down: status ``"ok"``."""
        return self.status == "ok"

    def __float__(self) -> float:
        return float(self.lr)


# --------------------------------------------------------------------------------------------------
# RangeTest
# --------------------------------------------------------------------------------------------------
@dataclass
class RangeTest:
    """Result of :func:`~lrkit.rangetest.lr_find`: one point per accepted optimizer step.

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
    def default_skip_start(self) -> int:
        """The points every rule skips at the start by default: the first 10 % (``len // 10``)."""
        return len(self) // 10

    def _window(self, skip_start: int | None, skip_end: int) -> tuple[int, int]:
        skip_start = self.default_skip_start() if skip_start is None else check_int("skip_start", skip_start, min=0)
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
        :data:`DEFAULT_USE` (a constant LR); ``for_="one_cycle"`` gives the peak of a one-cycle (or warmup +
        cosine) schedule, ``for_="clr"`` CLR's ``max_lr`` with ``base_lr = max_lr /`` :data:`CLR_RATIO`. It
        reads the raw loss through :mod:`lrkit.rangetest.reading`: zero-phase smoothing measured in decades,
        the curve's regime (a descent, a censored descent, flat until it blows up, no signal), an anchor
        (the end of the descent, or the blow-up) and the use's offset from it. Its interval comes from
        ``n_boot`` block-wild-bootstrap replicates of the whole reading (central ``ci``), and its
        ``status``/``reason`` say how far to trust it (:class:`Suggestion`). The reading uses every point
        (``skip_start``: 0 unless given), since it measures its windows in decades, not points.

        A ``method`` names one of the classic point rules, read on the causal EMA (``smoothed``) of points
        ``skip_start … len - skip_end`` (default ``skip_start``: the first 10 %), **cut at its minimum**:

        - ``'steepest'``: the LR where d(smoothed loss)/d(log10 lr) is most negative (against log10 of
          the LR, on the actual grid, not against the point index).
        - ``'valley'``: the longest strictly decreasing subsequence of the smoothed loss; the point half
          way (by index) between its first and last point.
        - ``'minimum'``: the LR of the lowest smoothed loss divided by 10 (the spec ``"min/10"``).
        - any spec ``"<rule>/<k>"`` or ``"<rule>*<k>"`` with a rule of :data:`RULES`: that point's LR
          ÷ or × ``k`` (clamped to the window).
        - ``'robust'``: a rule (``base``, default :data:`ROBUST_BASE`) applied to ``n_boot`` resampled
          curves (:func:`~lrkit.rangetest.rules.bootstrap_rule`): the median LR and a central ``ci`` interval.

        Why the per-use reading and its constants: BENCHMARKS.md §3 (a benchmark of tasks split by family
        into tuning and evaluation halves, beside fastai, torch-lr-finder and Lightning).

        Example:
            >>> import numpy as np
            >>> lrs = np.logspace(-5, 1, 60)
            >>> loss = 2.3 - np.exp(-((np.log10(lrs) + 2) ** 2)) + np.where(lrs > 1, lrs, 0)
            >>> rt = RangeTest(sweep_lr=lrs, loss=loss)
            >>> s = rt.suggest("minimum")                 # the lowest smoothed loss ÷ 10
            >>> s.rule, round(float(s.lr / lrs[s.index]), 3)
            ('min/10', 0.1)
            >>> peak = rt.suggest(for_="one_cycle")        # read for a one-cycle peak, with an interval
            >>> peak.low <= peak.lr <= peak.high, peak.status, peak.regime
            (True, 'ok', 'descent')
        """
        if method is not None and for_ is not None:
            raise ValueError(f"give method or for_, not both (method={method!r}, for_={for_!r})")
        if base is not None and method != "robust":
            raise ValueError(f"base only applies to method='robust', not {method!r}")
        if method is None:
            use = check_choice("for_", DEFAULT_USE if for_ is None else for_, USES)
            return self._for_use(use, 0 if skip_start is None else skip_start, skip_end, n_boot=n_boot, ci=ci,
                                 seed=seed)
        lo, hi = self._window(skip_start, skip_end)
        if method == "robust":
            spec = base or ROBUST_BASE
            parse_rule(spec, "base")
            return self._robust(lo, hi, spec, n_boot=n_boot, ci=ci, seed=seed)
        i, lr = apply_rule(method, self.sweep_lr[lo:hi], self.smoothed[lo:hi])
        return Suggestion(lr=lr, low=lr, high=lr, method=method, index=lo + i, rule=NAMED.get(method, method))

    def reading(self, skip_start: int = 0, skip_end: int = 0) -> SweepReading:
        """What :func:`lrkit.rangetest.reading.read_sweep` finds in the raw loss curve (regime, blow-up,
        end of the descent …), on points ``skip_start … len - skip_end``."""
        lo, hi = self._raw_window(skip_start, skip_end)
        return read_sweep(self.sweep_lr[lo:hi], self.loss[lo:hi])

    def _raw_window(self, skip_start: int, skip_end: int) -> tuple[int, int]:
        skip_start = check_int("skip_start", skip_start, min=0)
        skip_end = check_int("skip_end", skip_end, min=0)
        lo, hi = skip_start, max(skip_start, len(self) - skip_end)
        if hi - lo < 5:
            raise ValueError(f"skip_start={skip_start} and skip_end={skip_end} leave {hi - lo} of the {len(self)} "
                             "points; reading the curve needs at least 5")
        return lo, hi

    def _for_use(self, use: str, skip_start: int, skip_end: int, *, n_boot: int, ci: float, seed: int) -> Suggestion:
        n_boot = check_int("n_boot", n_boot, min=1)
        ci = check_float("ci", ci, min=0, max=1, min_open=True, max_open=True)
        seed = check_int("seed", seed, min=0)
        lo, hi = self._raw_window(skip_start, skip_end)
        lrs, losses = self.sweep_lr[lo:hi], self.loss[lo:hi]
        r = read_sweep(lrs, losses)
        x = log10_lr_for_use(r, use)
        reps = bootstrap_log10(lrs, losses, use, n_boot=n_boot, seed=seed)
        q = (1 - ci) / 2
        low, high = (float(v) for v in np.quantile(reps, [q, 1 - q]))
        low, high = min(low, x), max(high, x)
        status, reason = status_of(r, 10 ** low, 10 ** high)
        lr = float(10 ** x)
        return Suggestion(lr=lr, low=float(10 ** low), high=float(10 ** high), method=use, rule=USE_RULES[use],
                          base_lr=lr / CLR_RATIO if use == "clr" else None, status=status, reason=reason,
                          regime=r.regime)

    def _robust(self, lo: int, hi: int, spec: str, *, n_boot: int, ci: float, seed: int) -> Suggestion:
        lr, low, high = bootstrap_rule(self.sweep_lr, self.loss, self.smoothing, (lo, hi), spec, n_boot=n_boot, ci=ci,
                                       seed=seed)
        return Suggestion(lr=lr, low=low, high=high, method="robust", index=None, rule=NAMED.get(spec, spec))

    def suggestions(self, **kwargs) -> dict[str, Suggestion]:
        """Every method of :data:`SUGGESTION_METHODS`, as ``{method: Suggestion}``."""
        return {m: self.suggest(m, **kwargs) for m in SUGGESTION_METHODS}

    def for_uses(self, **kwargs) -> dict[str, Suggestion]:
        """The suggestion for every use of :data:`USES`, as ``{use: Suggestion}``."""
        return {u: self.suggest(for_=u, **kwargs) for u in USES}

    # ------------------------------------------------------------------------------- plot / json
    def plot(self, ax=None, suggestions: bool | Sequence[str] = True, skip_start: int | None = None,
             skip_end: int = 0, raw: bool = True, used: Any = None):
        """Loss against LR (log x): raw points, the EMA and the zero-phase curve lrkit reads, the LR for each
        use marked; ``used`` (a :class:`Suggestion` or a use) the LR a run took, with its interval.

        Returns the matplotlib Figure. See :func:`lrkit.plot.plot_range_test`.
        """
        from ..plot import plot_range_test

        return plot_range_test(self, ax=ax, suggestions=suggestions, skip_start=skip_start,
                               skip_end=skip_end, raw=raw, used=used)

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
