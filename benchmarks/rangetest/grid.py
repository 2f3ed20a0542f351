"""The adaptive LR grid of each task and the regret of a suggested LR on it (pure numpy)."""

from __future__ import annotations

import math

import numpy as np

STEP = 0.5          # coarse spacing, decades
FINE = 0.25         # refinement around the best, decades
MAX_EXT = 3         # extensions per side


def _r(v: float) -> float:
    return float(f"{v:.4g}")


def response(points: dict[float, list[float]], seeds: int) -> tuple[np.ndarray, np.ndarray]:
    """(sorted grid LRs, seed-mean accuracy) over the LRs every seed has trained."""
    lrs = sorted(lr for lr, a in points.items() if len(a) >= seeds)
    return np.array(lrs), np.array([float(np.mean(points[lr][:seeds])) for lr in lrs])


def next_points(coarse: list[float], points: dict[float, list[float]], seeds: int, chance: float) -> list[float]:
    """The grid LRs still to train: the coarse grid; then one more 0.5-decade point past an edge that holds
    the best accuracy (≤ MAX_EXT per side), or past a top whose accuracy has not collapsed to within a quarter
    of the way from chance to the best; then the best's ±0.25-decade neighbours."""
    todo = [lr for lr in coarse if lr not in points]
    if todo:
        return todo
    lrs, acc = response(points, seeds)
    if len(lrs) < len(points):
        return []  # wait until every seed has every point
    x = np.log10(lrs)
    b = int(np.argmax(acc))
    best = acc[b]
    ext_lo = sum(1 for lr in lrs if lr < min(coarse) * (1 - 1e-9))
    ext_hi = sum(1 for lr in lrs if lr > max(coarse) * (1 + 1e-9))
    new = []
    if b == 0 and ext_lo < MAX_EXT:
        new.append(_r(10 ** (x[0] - STEP)))
    top_alive = acc[-1] > chance + 0.25 * (best - chance)
    if (b == len(lrs) - 1 or top_alive) and ext_hi < MAX_EXT:
        new.append(_r(10 ** (x[-1] + STEP)))
    if new:
        return new
    for d in (-FINE, FINE):
        v = _r(10 ** (x[b] + d))
        if all(abs(math.log10(v) - xi) > 0.05 for xi in x):
            new.append(v)
    return new


def acc_at(lrs: np.ndarray, acc: np.ndarray, lr: float, chance: float) -> float:
    """Accuracy at ``lr`` on the seed-mean response curve: linear in log10 LR between grid points; below the
    grid, the lowest point's accuracy; above it, the top point's if it had not collapsed, else chance."""
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be positive and finite, got {lr!r}")
    x = np.log10(lrs)
    v = math.log10(lr)
    if v > x[-1]:
        best = float(acc.max())
        return float(acc[-1]) if acc[-1] > chance + 0.25 * (best - chance) else chance
    return float(np.interp(v, x, acc))


def regret(lrs: np.ndarray, acc: np.ndarray, lr: float, chance: float) -> tuple[float, float]:
    """(regret in accuracy points × 100, normalised regret = lost fraction of the learnable gap
    (best − chance))."""
    best = float(acc.max())
    a = acc_at(lrs, acc, lr, chance)
    return 100 * (best - a), (best - a) / max(best - chance, 1e-9)


def grid_points_of(task) -> list[float]:
    """The task's coarse grid: 0.5-decade steps over its optimizer kind's range (rt_tasks.GRID)."""
    from .tasks import GRID

    lo, hi = GRID[task.kind]
    n = int(round((hi - lo) / STEP)) + 1
    return [_r(10 ** (lo + i * STEP)) for i in range(n)]
