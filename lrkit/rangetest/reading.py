"""How lrkit reads a range test for a use: the loss curve against log10(LR), zero-phase, its regime, and
the LR each use takes from it — pure numpy, no torch. :meth:`lrkit.rangetest.RangeTest.suggest` with
``for_=`` (and with no argument: a constant LR) answers through this module.

The reading (:func:`read_sweep`), in the order it happens:

1. **Axis and smoothing in decades.** The sweep is read against ``x = log10(lr)``. A running median
   over ±:data:`MEDIAN_HALF` decades removes spikes; a centred mean over ±:data:`MEAN_HALF` decades of
   the median removes the rest of the noise. Both windows are centred (zero phase): unlike the causal
   EMA every other finder reads, they do not shift the curve to the right, and since they are measured
   in decades, not points, the reading does not change with ``num_iter`` or the sweep's range.
2. **Start level and noise.** ``L0`` is the median raw loss over the first :data:`START_SPAN` decades
   (the loss before the LR moves it); the noise ``sigma`` of one point is the robust SD of the first
   differences of the raw loss / √2.
3. **Blow-up.** The first point where the median curve is above both ``L0`` and its lowest value so far
   by ``max(BLOWUP_TOL · L0, NOISE_K · sigma)``, or the first non-finite loss.
4. **The first real minimum** of the smoothed curve before the blow-up: the lowest point so far at the
   moment the curve climbs clearly above it (by ``max(NOISE_K`` smoothed SDs, ``RISE_FRAC`` of the drop
   from ``L0)``), so a late second dip of a sweep that never blew up does not win.
5. **Regime.** A *descent* falls by at least :data:`DEPTH_MIN` of ``L0`` and by ``NOISE_K`` smoothed SDs.
   With a blow-up after it the regime is ``"descent"``, without one ``"censored"`` (the sweep ended
   before the loss turned: ``end_lr`` was too low to see the whole curve). With no descent, it is
   ``"flat"`` when the loss blew up (the net sits on a plateau until its LR is too large) and
   ``"noise"`` when it did not (nothing in the curve tells the LR).
6. **Anchor.** With a descent: its end, "the largest LR at which the loss still falls" (Smith 2018):
   the largest LR up to the minimum where the smoothed slope is at least :data:`SLOPE_FRAC` of the
   steepest, moved by log10(points per decade / :data:`DENSITY_REF`): a sweep with k× more steps per decade
   trains k× more at each LR and ends its descent about log10 k decades lower (measured: the correction cuts
   the spread between 100- and 300-step sweeps from 0.50 to 0.18 decades on the benchmark's tuning half).
   Without one: the blow-up LR (for ``"noise"``, the largest LR tried, which did not blow up: a lower bound of
   it), not moved — a stability limit does not scale with the steps taken.

The suggestion for a use is the anchor times ``10 ** USE_OFFSET[use]``, times ``10 ** FLAT_OFFSET``
when the anchor is a blow-up instead of the end of a descent (:func:`lr_for_use`). Both tables are
fitted on the tuning half of lrkit's range-test benchmark (BENCHMARKS.md §3) and nowhere else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MEDIAN_HALF = 0.1   # decades
MEAN_HALF = 0.25    # decades
START_SPAN = 0.5    # decades
DEPTH_MIN = 0.01    # of L0
NOISE_K = 3.0
BLOWUP_TOL = 0.02   # of L0
SLOPE_FRAC = 0.25
RISE_FRAC = 0.1
#: the sweep density (points per decade) the offsets are fitted at: 100 steps over 7 decades, as in the benchmark
DENSITY_REF = 100 / 7

REGIMES = ("descent", "censored", "flat", "noise")


def window_reduce(x: np.ndarray, y: np.ndarray, half: float, reduce) -> np.ndarray:
    """``reduce(y[j : k])`` over the points within ±``half`` of each ``x`` (``x`` sorted)."""
    lo = np.searchsorted(x, x - half - 1e-12, side="left")
    hi = np.searchsorted(x, x + half + 1e-12, side="right")
    return np.array([reduce(y[a:b]) for a, b in zip(lo, hi, strict=True)])


@dataclass(frozen=True)
class SweepReading:
    """What :func:`read_sweep` found in a sweep (indices into ``x``, the usable points)."""

    x: np.ndarray          # log10 LR of the finite points
    raw: np.ndarray        # their losses
    median: np.ndarray     # running median (±MEDIAN_HALF decades)
    smooth: np.ndarray     # centred mean of the median (±MEAN_HALF), up to the blow-up
    L0: float
    sigma: float
    i_min: int
    i_blowup: int | None
    depth: float           # (L0 − smoothed minimum) / L0
    regime: str
    x_end: float | None    # log10 of the end of the descent

    @property
    def lr_blowup(self) -> float | None:
        return None if self.i_blowup is None else float(10 ** self.x[self.i_blowup])

    @property
    def lr_end(self) -> float | None:
        return None if self.x_end is None else float(10 ** self.x_end)

    @property
    def per_decade(self) -> float:
        """The sweep's density: points per decade of LR (from its median spacing)."""
        return 1.0 / float(np.median(np.diff(self.x)))

    @property
    def anchor(self) -> float:
        """log10 of the anchor: the end of the descent moved by ``log10(per_decade / DENSITY_REF)`` (a sweep k×
        denser trains k× more per decade, so its descent ends about log10 k decades lower: the move cancels
        that), else the blow-up (a stability limit, not moved), else the largest LR tried."""
        if self.x_end is not None:
            return self.x_end + math.log10(self.per_decade / DENSITY_REF)
        return float(self.x[self.i_blowup if self.i_blowup is not None else -1])


def _usable(lrs, losses) -> tuple[np.ndarray, np.ndarray, bool]:
    lr = np.asarray(lrs, dtype=np.float64).reshape(-1)
    loss = np.asarray([math.nan if v is None else v for v in losses], dtype=np.float64).reshape(-1)
    if lr.shape != loss.shape:
        raise ValueError(f"lrs ({lr.shape[0]}) and losses ({loss.shape[0]}) differ in length")
    ok = np.isfinite(loss) & np.isfinite(lr) & (lr > 0)
    n = int(np.argmin(ok)) if not ok.all() else len(ok)
    if n < 5:
        raise ValueError(f"need at least 5 finite points with lr > 0 before the first non-finite loss, have {n}")
    x = np.log10(lr[:n])
    if np.any(np.diff(x) <= 0):
        raise ValueError("the sweep's LRs must increase")
    return x, loss[:n], n < len(loss)


def _blowup(median: np.ndarray, L0: float, tol: float) -> int | None:
    low = np.minimum.accumulate(median)
    hit = np.nonzero((median > L0 + tol) & (median > low + tol))[0]
    return int(hit[0]) if len(hit) else None


def _first_minimum(smooth: np.ndarray, L0: float, sig_s: float) -> int:
    best, arg = smooth[0], 0
    for k in range(1, len(smooth)):
        if smooth[k] < best:
            best, arg = smooth[k], k
        elif L0 - best > NOISE_K * sig_s and smooth[k] > best + max(NOISE_K * sig_s, RISE_FRAC * (L0 - best)):
            return arg
    return arg


def _end_of_descent(x: np.ndarray, smooth: np.ndarray, i_min: int) -> float:
    if i_min < 1:
        return float(x[i_min])
    slope = np.gradient(smooth[: i_min + 1], x[: i_min + 1])
    steepest = float(slope.min())
    if steepest >= 0:
        return float(x[i_min])
    return float(x[int(np.nonzero(slope <= SLOPE_FRAC * steepest)[0].max())])


def read_sweep(lrs, losses) -> SweepReading:
    """Read a range test's (LR, loss) points; see the module docstring for every step."""
    x, raw, nonfinite = _usable(lrs, losses)
    median = window_reduce(x, raw, MEDIAN_HALF, np.median)
    start = x <= x[0] + START_SPAN
    start[: min(3, len(start))] = True
    L0 = float(np.median(raw[start]))
    sigma = float(1.4826 * np.median(np.abs(np.diff(raw))) / math.sqrt(2)) or 1e-12
    i_blowup = _blowup(median, L0, max(BLOWUP_TOL * abs(L0), NOISE_K * sigma))
    if i_blowup is None and nonfinite:
        i_blowup = len(x) - 1
    m = max(3, i_blowup if i_blowup is not None else len(x))
    smooth = window_reduce(x[:m], median[:m], MEAN_HALF, np.mean)
    per_decade = (len(x) - 1) / max(float(x[-1] - x[0]), 1e-9)
    sig_s = sigma / math.sqrt(max(1.0, 2 * MEAN_HALF * per_decade))
    i_min = _first_minimum(smooth, L0, sig_s)
    drop = L0 - float(smooth[i_min])
    depth = drop / abs(L0) if L0 else 0.0
    if depth >= DEPTH_MIN and drop >= NOISE_K * sig_s:
        regime = "descent" if i_blowup is not None else "censored"
        x_end = _end_of_descent(x, smooth, i_min)
    else:
        regime = "flat" if i_blowup is not None else "noise"
        x_end = None
    return SweepReading(x, raw, median, smooth, L0, sigma, i_min, i_blowup, depth, regime, x_end)


# --------------------------------------------------------------------------------------------------
# The LR for a use
# --------------------------------------------------------------------------------------------------
#: what a suggestion can be for: a constant LR, the peak of one-cycle (or of warmup + cosine), and the upper
#: bound of a cyclical LR (its lower bound is ``max_lr / CLR_RATIO``)
USES = ("constant", "one_cycle", "clr")
#: the use :meth:`~lrkit.rangetest.RangeTest.suggest` answers when asked nothing else
DEFAULT_USE = "constant"
#: Smith 2017's ratio of the CLR bounds (0.006 / 0.001)
CLR_RATIO = 6.0
#: log10 of (suggested LR / anchor) for each use, fitted on the tuning half of lrkit's range-test benchmark
#: (``python benchmarks/bench_rangetest.py fit``; 16 tasks of 8 (net, optimizer) families × 2 seeds): each minimises
#: its use's mean normalised regret on a 0.05-decade grid (tuning regret 0.037 / 0.025 / 0.076). Fixed on
#: 2026-12-06 before the evaluation half ran (BENCHMARKS.md §3 has its verdict).
USE_OFFSET = {"constant": -0.55, "one_cycle": -0.30, "clr": -0.05}
#: log10 of (end of the descent / blow-up LR): where a descent would have ended, read from a blow-up — the median
#: over the 27 tuning sweeps that show both (density-corrected)
FLAT_OFFSET = -1.14


def _rule_text(use: str) -> str:
    up, fo = USE_OFFSET[use], FLAT_OFFSET
    return f"end of descent × {10 ** up:.3g} (no descent: blow-up × {10 ** (up + fo):.3g})"


#: what each use reads, in words (what :attr:`Suggestion.rule` says)
USE_RULES: dict[str, str] = {use: _rule_text(use) for use in USES}


def log10_lr_for_use(r: SweepReading, use: str, use_offset=None, flat_offset=None) -> float:
    """log10 of the LR for ``use`` read from ``r``: the anchor, moved by the use's offset, and by the
    flat offset when the anchor is a blow-up (or the largest LR tried) rather than the end of a descent."""
    uo = USE_OFFSET if use_offset is None else use_offset
    fo = FLAT_OFFSET if flat_offset is None else flat_offset
    return r.anchor + uo[use] + (0.0 if r.x_end is not None else fo)


# --------------------------------------------------------------------------------------------------
# The interval and the status
# --------------------------------------------------------------------------------------------------
#: an interval wider than this (decades) does not pin the LR down
WIDE = 1.0
STATUSES = ("ok", "wide", "censored", "weak", "no_signal")


def bootstrap_log10(lrs, losses, use: str, *, n_boot: int = 200, seed: int = 0, use_offset=None,
                    flat_offset=None) -> np.ndarray:
    """The whole reading (regime, anchor, offsets) applied to ``n_boot`` resampled sweeps: the residuals
    around the running median get a random sign per block of ±``MEAN_HALF`` decades (a block *wild*
    bootstrap, which keeps the noise where it was measured). Returns the replicates' log10 LRs."""
    x, raw, _ = _usable(lrs, losses)
    lr = 10 ** x
    median = window_reduce(x, raw, MEDIAN_HALF, np.median)
    resid = raw - median
    width = max(1, int(round(2 * MEAN_HALF * (len(x) - 1) / max(float(x[-1] - x[0]), 1e-9))))
    n_blocks = -(-len(x) // width)
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    for b in range(n_boot):
        signs = np.repeat(rng.choice([-1.0, 1.0], size=n_blocks), width)[: len(x)]
        out[b] = log10_lr_for_use(read_sweep(lr, median + signs * resid), use, use_offset, flat_offset)
    return out


def status_of(r: SweepReading, low: float, high: float) -> tuple[str, str]:
    """(status, reason) of a suggestion read from ``r`` with the interval [low, high] (LRs)."""
    span = math.log10(high / low) if low > 0 else math.inf
    if r.regime == "noise":
        return "no_signal", (f"the loss neither fell nor blew up up to the largest LR tried "
                             f"({10 ** float(r.x[-1]):.3g}): the curve does not tell the LR. The suggestion is a "
                             "cautious one below that LR; widen the sweep (a larger end_lr) or check the model "
                             "and data.")
    if r.regime == "flat":
        return "weak", (f"the loss did not fall before it blew up at {r.lr_blowup:.3g}: the suggestion is "
                        "read from the blow-up alone, a cautious distance below it. A slower sweep over the "
                        "last decades before the blow-up (more points there) would show more.")
    if r.regime == "censored":
        return "censored", (f"the loss was still falling or flat at the largest LR tried "
                            f"({10 ** float(r.x[-1]):.3g}) and never blew up: the descent may end later than "
                            "this sweep shows. Rerun with a larger end_lr to see where it turns.")
    if span > WIDE:
        return "wide", (f"the interval spans {span:.1f} decades: the curve does not pin the LR down "
                        "(a noisy sweep; more points, a larger batch or a slower ramp would narrow it).")
    return "ok", "a clear descent and blow-up; the suggestion reads the end of the descent."
