"""One cycle per run: the 1cycle policy (Smith & Topin 2019, Smith 2018) with its momentum, and ULMFiT's
slanted triangular LR (Howard & Ruder 2018).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .base import Schedule, nonneg, positive, positive_int, real

__all__ = ['OneCycle', 'OneCycleMomentum', 'SlantedTriangular']


_ANNEAL = ("cos", "linear")


class OneCycle(Schedule):
    """1cycle policy, Smith & Topin 2019 "Super-Convergence" §3 / Smith 2018 §4.

    Identical to ``torch.optim.lr_scheduler.OneCycleLR`` (``last_epoch == t``).  With
    ``T = total_steps``, ``p = pct_start``, ``lr0 = max_lr / div_factor`` and
    ``lr_min = lr0 / final_div_factor``, the phases end at (torch's boundaries)

    * two-phase:   ``e0 = p*T - 1`` (lr0 -> max_lr), ``e1 = T - 1`` (max_lr -> lr_min)
    * three-phase: ``e0 = p*T - 1`` (lr0 -> max_lr), ``e1 = 2*p*T - 2`` (max_lr -> lr0),
      ``e2 = T - 1`` (lr0 -> lr_min)

    and inside phase k (the first with ``t <= e_k``, else the last), with
    ``pct = (t - e_{k-1}) / (e_k - e_{k-1})`` (``e_{-1} = 0``):
    ``cos``: ``lr = end + (start - end) / 2 * (cos(pi * pct) + 1)``; ``linear``:
    ``lr = (end - start) * pct + start``.  ``t == T`` is allowed (see module docs).
    Momentum goes ``max -> base -> max`` (three-phase: ``max -> base -> max -> max``),
    see :meth:`momentum_schedule`.
    """

    def __init__(
        self,
        max_lr: float,
        total_steps: int,
        pct_start: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        anneal: str = "cos",
        three_phase: bool = False,
        base_momentum: float = 0.85,
        max_momentum: float = 0.95,
    ) -> None:
        self.max_lr = positive("max_lr", max_lr)
        self.total_steps = positive_int("total_steps", total_steps)
        self.pct_start = real("pct_start", pct_start)
        if not 0 < self.pct_start < 1:
            raise ValueError(f"pct_start must be in (0, 1), got {pct_start!r}")
        self.div_factor = positive("div_factor", div_factor)
        self.final_div_factor = positive("final_div_factor", final_div_factor)
        if anneal not in _ANNEAL:
            raise ValueError(f"anneal must be one of {_ANNEAL}, got {anneal!r}")
        self.anneal = anneal
        self.three_phase = bool(three_phase)
        self.base_momentum = nonneg("base_momentum", base_momentum)
        self.max_momentum = nonneg("max_momentum", max_momentum)
        if self.max_momentum < self.base_momentum:
            raise ValueError(f"max_momentum={max_momentum!r} must be >= base_momentum={base_momentum!r}")
        T, p = self.total_steps, self.pct_start
        initial = self.max_lr / self.div_factor
        minimum = initial / self.final_div_factor
        bm, mm = self.base_momentum, self.max_momentum
        if self.three_phase:
            # (end_step, start_lr, end_lr, start_momentum, end_momentum)
            self._phases = [
                (float(p * T) - 1, initial, self.max_lr, mm, bm),
                (float(2 * p * T) - 2, self.max_lr, initial, bm, mm),
                (float(T - 1), initial, minimum, mm, mm),
            ]
        else:
            self._phases = [
                (float(p * T) - 1, initial, self.max_lr, mm, bm),
                (float(T - 1), self.max_lr, minimum, bm, mm),
            ]
        start = 0.0
        extra = " and 2*pct_start*total_steps < total_steps + 1" if self.three_phase else ""
        for end, *_ in self._phases:
            if not end > start:
                raise ValueError(
                    f"pct_start={pct_start!r} with total_steps={T} gives an empty phase "
                    f"(need pct_start*total_steps > 1{extra})"
                )
            start = end

    def _anneal(self, start: float, end: float, pct: np.ndarray) -> np.ndarray:
        if self.anneal == "cos":
            cos_out = np.cos(np.pi * pct) + 1
            return end + (start - end) / 2.0 * cos_out
        return (end - start) * pct + start

    def _phase_values(self, t: np.ndarray, which: int) -> np.ndarray:
        out = np.empty_like(t)
        done = np.zeros(t.shape, dtype=bool)
        start = 0.0
        last = len(self._phases) - 1
        for k, phase in enumerate(self._phases):
            end = phase[0]
            mask = ~done if k == last else (~done & (t <= end))
            pct = (t[mask] - start) / (end - start)
            out[mask] = self._anneal(phase[which], phase[which + 1], pct)
            done |= mask
            start = end
        return out

    def _value(self, t: np.ndarray) -> np.ndarray:
        return self._phase_values(t, 1)

    def momentum_schedule(self) -> OneCycleMomentum:
        """Momentum cycled inversely to the LR (torch ``OneCycleLR(cycle_momentum=True)``)."""
        return OneCycleMomentum(**self._params())

    def _params(self) -> dict[str, Any]:
        return {
            "max_lr": self.max_lr,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
            "anneal": self.anneal,
            "three_phase": self.three_phase,
            "base_momentum": self.base_momentum,
            "max_momentum": self.max_momentum,
        }


class OneCycleMomentum(OneCycle):
    """The momentum half of :class:`OneCycle` (same constructor, same phases):
    ``max_momentum -> base_momentum -> max_momentum`` (three-phase: ``... -> max_momentum``)."""

    def _value(self, t: np.ndarray) -> np.ndarray:
        return self._phase_values(t, 3)

    def momentum_schedule(self) -> None:  # type: ignore[override]
        return None


# --------------------------------------------------------------------------- STLR
class SlantedTriangular(Schedule):
    """Slanted triangular LR, Howard & Ruder 2018 "ULMFiT", §3.2 eq. (3).

    With ``T = total_steps`` and ``cut = floor(T * cut_frac)``::

        p = t / cut                                        if t < cut
        p = 1 - (t - cut) / (cut * (1 / cut_frac - 1))     otherwise
        lr(t) = max_lr * (1 + p * (ratio - 1)) / ratio

    (exactly the paper's formula; when ``T * cut_frac`` is not an integer the last
    values can dip slightly below ``max_lr / ratio``).
    """

    def __init__(self, max_lr: float, total_steps: int, cut_frac: float = 0.1, ratio: float = 32) -> None:
        self.max_lr = positive("max_lr", max_lr)
        self.total_steps = positive_int("total_steps", total_steps)
        self.cut_frac = real("cut_frac", cut_frac)
        if not 0 < self.cut_frac < 1:
            raise ValueError(f"cut_frac must be in (0, 1), got {cut_frac!r}")
        self.ratio = real("ratio", ratio)
        if self.ratio < 1:
            raise ValueError(f"ratio must be >= 1, got {ratio!r}")
        self.cut = math.floor(self.total_steps * self.cut_frac)
        if self.cut < 1:
            raise ValueError(
                f"cut_frac={cut_frac!r} * total_steps={total_steps} must be >= 1 (cut = floor(T*cut_frac))"
            )

    def _value(self, t: np.ndarray) -> np.ndarray:
        cut = self.cut
        p = np.where(t < cut, t / cut, 1 - (t - cut) / (cut * (1 / self.cut_frac - 1)))
        return self.max_lr * (1 + p * (self.ratio - 1)) / self.ratio

    def _params(self) -> dict[str, Any]:
        return {
            "max_lr": self.max_lr,
            "total_steps": self.total_steps,
            "cut_frac": self.cut_frac,
            "ratio": self.ratio,
        }

