"""How an LR is read off a range test — pure numpy, no torch.

- :func:`ema_smooth` — the bias-corrected EMA every loss curve is read through.
- :data:`RULES` — the point rules as a ``{name: rule}`` table; every rule has one signature (fastai's
  discipline), ``rule(lrs, smoothed) -> index`` (the window's LRs and smoothed losses, cut at the
  smoothed minimum; the index of the point it reads). A rule *spec* scales the point's LR:
  ``"min/10"`` (the classic "minimum ÷ 10", named ``'minimum'``), ``"valley*3"``; :func:`apply_rule`
  applies one.
- :func:`bootstrap_rule` — lrkit's ``'robust'`` suggestion: a rule over resampled curves, with an interval.

The LR for a *use* (a constant LR, a one-cycle peak, CLR bounds: ``rt.suggest(for_=…)``) is read
differently, in decades and zero-phase: :mod:`lrkit.rangetest.reading`. These classic rules remain for
comparison and teaching.

:class:`~lrkit.rangetest.result.RangeTest` holds a sweep and dispatches to these rules.

Example:
    >>> import numpy as np
    >>> lrs = np.logspace(-4, 0, 9)
    >>> smoothed = np.array([2.3, 2.3, 2.2, 2.0, 1.6, 1.2, 1.0, 1.4, 3.0])
    >>> steepest(lrs, smoothed), minimum(lrs, smoothed)     # indices: the steepest fall comes first
    (4, 6)
    >>> index, lr = apply_rule("min/10", lrs, smoothed)      # the minimum's LR ÷ 10
    >>> index, round(lr, 6)
    (6, 0.01)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from ..utils import check_float, check_int, did_you_mean

__all__ = ["NAMED", "POINT_METHODS", "ROBUST_BASE", "RULES", "SUGGESTION_METHODS", "apply_rule", "bootstrap_rule",
           "centered_mean", "ema_smooth", "minimum", "parse_rule", "steepest", "valley"]


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


def apply_rule(spec: str, lrs: np.ndarray, ys: np.ndarray) -> tuple[int, float]:
    """(index into the window, suggested LR) of rule ``spec`` on a window's LRs and smoothed losses.

    The rule sees the window only up to its smoothed minimum; the LR (the point's × the spec's
    factor) is clamped to the window's LR range.
    """
    name, factor = parse_rule(spec)
    m = int(np.argmin(ys))
    i = RULES[name](lrs[: m + 1], ys[: m + 1])
    return i, float(np.clip(lrs[i] * factor, lrs[0], lrs[-1]))


def centered_mean(x: np.ndarray, half: int) -> np.ndarray:
    """Centred running mean of ``x`` over ``2·half + 1`` points (windows shrink at the ends)."""
    c = np.concatenate([[0.0], np.cumsum(x)])
    n = len(x)
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + half + 1, 0, n)
    return (c[hi] - c[lo]) / (hi - lo)


def bootstrap_rule(sweep_lr: np.ndarray, loss: np.ndarray, smoothing: float, window: tuple[int, int], spec: str, *,
                   n_boot: int = 200, ci: float = 0.9, seed: int = 0) -> tuple[float, float, float]:
    """lrkit's ``'robust'`` suggestion: rule ``spec`` applied to ``n_boot`` resampled curves; returns
    ``(lr, low, high)`` — the median of the replicates' LRs (in log space) and their central ``ci``
    interval.

    The trend of the raw ``loss`` is a centred running mean (half-width ``round(0.25 / smoothing)``
    points); each replicate adds the residuals back to the trend with a random sign per block of
    ``round(n ** (1/3))`` consecutive points (a block *wild* bootstrap, seeded by ``seed``), is
    re-smoothed with the same EMA (:func:`ema_smooth`), and the rule reads the points of ``window``
    (``lo, hi``) of it. Flipping signs in place — rather than moving blocks around — keeps the noise
    where it was measured: the loss is far noisier near divergence than on the flat start, and residuals
    moved from the divergent end into the flat start would fake dips there. The curve ends at its first
    non-finite loss. Deterministic for a fixed ``seed``; the global RNGs are not touched.

    Example:
        >>> lrs = np.logspace(-5, 1, 60)
        >>> loss = 2.3 - np.exp(-((np.log10(lrs) + 2) ** 2))
        >>> lr, low, high = bootstrap_rule(lrs, loss, 0.05, (6, 60), "min/3", n_boot=50)
        >>> low <= lr <= high
        True
    """
    parse_rule(spec)
    n_boot = check_int("n_boot", n_boot, min=1)
    ci = check_float("ci", ci, min=0, max=1, min_open=True, max_open=True)
    seed = check_int("seed", seed, min=0)
    lo, hi = window
    finite = np.isfinite(loss)
    n = int(np.argmin(finite)) if not finite.all() else len(loss)
    hi = min(hi, n)
    raw = loss[:n]
    trend = centered_mean(raw, max(1, round(0.25 / smoothing)))
    resid = raw - trend
    block = max(1, round(n ** (1 / 3)))
    n_blocks = -(-n // block)
    rng = np.random.default_rng(seed)
    lrs = sweep_lr[lo:hi]
    estimates = np.empty(n_boot)
    for b in range(n_boot):
        signs = np.repeat(rng.choice([-1.0, 1.0], size=n_blocks), block)[:n]
        ys = ema_smooth(trend + signs * resid, smoothing)[lo:hi]
        estimates[b] = math.log10(apply_rule(spec, lrs, ys)[1])
    q = (1 - ci) / 2
    mid, low, high = np.quantile(estimates, [0.5, q, 1 - q])
    return float(10 ** mid), float(10 ** low), float(10 ** high)
