"""From a range test to the LR a run uses — the one policy, for every caller.

The recipe, the quickstart and the bench's experiments (one-cycle's range-test run, the discriminative
fine-tuning arms) all read an LR off a range test, and a test can give none (too few points before it
diverged, a curve with gaps). :func:`choose_lr` is the one owner of what happens then:

1. ask the suggestions in order — a *use* of :data:`~lrkit.rangetest.rules.USES` (``"one_cycle"`` →
   ``rt.suggest(for_="one_cycle")``) or a *method* (``"robust"``, ``"valley"``, a spec such as
   ``"min/3"`` → ``rt.suggest(method)``); the first that gives one wins;
2. if none does, the ``fallback`` LR, when the caller has one (the :class:`Choice` says it fell back,
   and why);
3. else a ``ValueError`` saying why each ask gave nothing.

:func:`lr_from_range_test` runs :func:`~lrkit.rangetest.lr_find` and then :func:`choose_lr`.
What a caller does with the LR afterwards (scale it by a group ratio, clamp it, record it) stays its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .reading import USES
from .result import RangeTest, Suggestion
from .sweep import lr_find

__all__ = ["Choice", "choose_lr", "lr_from_range_test"]


@dataclass(frozen=True)
class Choice:
    """The LR a range test gave, or the fallback.

    ``ask`` is the use or method that answered (None: the fallback was taken), ``suggestion`` its
    :class:`Suggestion` (None for the fallback, whose ``low`` and ``high`` equal ``lr``), ``errors``
    ``(ask, message)`` for each ask that gave none before it.
    """

    lr: float
    low: float
    high: float
    ask: str | None
    suggestion: Suggestion | None
    errors: tuple[tuple[str, str], ...] = ()

    @property
    def fell_back(self) -> bool:
        return self.suggestion is None

    @property
    def why_not(self) -> str:
        """Why the asks before the answer gave nothing: the message (one ask) or ``"ask: message; …"``."""
        if len(self.errors) == 1:
            return self.errors[0][1]
        return "; ".join(f"{ask}: {message}" for ask, message in self.errors)


def _ask(rt: RangeTest, ask: str) -> Suggestion:
    return rt.suggest(for_=ask) if ask in USES else rt.suggest(ask)


def choose_lr(rt: RangeTest, asks: Sequence[str], *, fallback: float | None = None) -> Choice:
    """The LR of ``rt`` by the policy of this module: the first of ``asks`` that gives a suggestion, else
    ``fallback``, else a ``ValueError`` ("the range test gave no suggestion (…)").

    Example:
        >>> import numpy as np
        >>> rt = RangeTest(sweep_lr=[1e-3, 1e-2], loss=[2.3, 2.2])     # 2 points: too few to read
        >>> c = choose_lr(rt, ["one_cycle"], fallback=0.1)
        >>> c.lr, c.fell_back
        (0.1, True)
    """
    if isinstance(asks, str) or not asks:
        raise ValueError(f"asks must be a non-empty list of uses or methods, got {asks!r}")
    errors: list[tuple[str, str]] = []
    for ask in asks:
        try:
            s = _ask(rt, ask)
        except ValueError as e:  # this rule cannot read the curve (e.g. too few points)
            errors.append((ask, str(e)))
            continue
        return Choice(float(s.lr), float(s.low), float(s.high), ask, s, tuple(errors))
    if fallback is None:
        choice = Choice(float("nan"), float("nan"), float("nan"), None, None, tuple(errors))
        raise ValueError(f"the range test gave no suggestion ({choice.why_not})")
    return Choice(float(fallback), float(fallback), float(fallback), None, None, tuple(errors))


def lr_from_range_test(model: Any, data: Any, optimizer: Any, *, asks: Sequence[str], fallback: float | None = None,
                       **sweep: Any) -> tuple[Choice, RangeTest]:
    """:func:`~lrkit.rangetest.lr_find` (``sweep``: its keyword arguments), then :func:`choose_lr`;
    returns the choice and the range test."""
    rt = lr_find(model, data, optimizer, **sweep)
    return choose_lr(rt, asks, fallback=fallback), rt
