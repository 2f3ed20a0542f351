"""Smith's accuracy-based range test (2017, §3.3), as data: :func:`clr_bounds` reads a cyclical
schedule's bounds off an accuracy-vs-LR curve; :class:`AccuracyRangeTest` holds such a curve (what
:func:`lrkit.finder.accuracy_range_test` returns). Pure numpy, no torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .suggest import centered_mean
from .utils import dumps, loads

__all__ = ["AccuracyRangeTest", "clr_bounds"]


def _centered_mean_window(a: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(a) == 0:
        return a.astype(np.float64).copy()
    return centered_mean(a.astype(np.float64), window // 2)


def clr_bounds(lr: np.ndarray, acc: np.ndarray, *, smooth_window: int = 3, base_frac: float = 0.1,
               top_frac: float = 0.9, drop_frac: float = 0.1, min_rise: float = 0.02,
               ) -> tuple[float | None, float | None, str, np.ndarray]:
    """Smith's CLR bounds from an accuracy-vs-LR curve; returns ``(base_lr, max_lr, note, smoothed)``.

    The rule, on ``a`` = accuracy smoothed by a centred running mean of ``smooth_window`` points
    (windows shrink at the ends), with ``a0 = a[0]`` (the accuracy before training, ≈ chance) and
    ``rise = max(a) - a0``:

    1. if ``rise < min_rise`` there is no suggestion (``None, None``; the note says why);
    2. ``base`` = the first point with ``a ≥ a0 + base_frac · rise`` — where accuracy starts to rise;
    3. from ``base`` on, follow the running maximum of ``a`` until ``a`` falls more than
       ``drop_frac · rise`` below it (the curve turns ragged or falls); call that running maximum
       ``peak`` (the global maximum if it never falls that far);
    4. ``max`` = the first point in ``[base, peak]`` with ``a ≥ a0 + top_frac · (a[peak] - a0)`` —
       where the rise slows down before the peak.

    ``base_lr``/``max_lr`` are the LRs of those points.
    """
    lr = np.asarray(lr, dtype=np.float64)
    acc = np.asarray(acc, dtype=np.float64)
    if lr.shape != acc.shape or len(lr) < 2:
        raise ValueError("lr and acc must be 1-D arrays of the same length >= 2")
    for name, v in (("base_frac", base_frac), ("top_frac", top_frac), ("drop_frac", drop_frac)):
        if not 0 < v <= 1:
            raise ValueError(f"{name} must be in (0, 1], got {v!r}")
    a = _centered_mean_window(acc, int(smooth_window))
    a0 = a[0]
    rise = float(np.max(a) - a0)
    if not rise >= min_rise:
        return (None, None, f"accuracy rose by only {rise:.3g} < min_rise={min_rise:g}: widen the LR "
                "range or train longer", a)
    b = int(np.argmax(a >= a0 + base_frac * rise))
    peak = b
    for i in range(b + 1, len(a)):
        if a[i] > a[peak]:
            peak = i
        elif a[peak] - a[i] > drop_frac * rise:
            break
    seg = a[b:peak + 1]
    m = b + int(np.argmax(seg >= a0 + top_frac * (a[peak] - a0)))
    note = "rise stopped before the end of the range" if peak < len(a) - 1 else \
        "accuracy still rising at end_lr: max_lr may be larger"
    return float(lr[b]), float(lr[m]), note, a


@dataclass
class AccuracyRangeTest:
    """Result of :func:`accuracy_range_test`: one point per evaluation.

    Attributes:
        lr: reference-group LR of the last step before each evaluation (``start_lr`` for the
            evaluation before training, iteration 0).
        acc / loss: evaluation accuracy and loss; ``iteration``: optimizer steps done.
        smoothed_acc: the curve :func:`clr_bounds` reads (see there for the rule).
        base_lr / max_lr: the suggested CLR bounds (None if accuracy never rose enough); ``note``
            explains edge cases.
        step_lr / step_loss: reference-group LR and training loss of every step.
    """

    lr: np.ndarray
    acc: np.ndarray
    loss: np.ndarray | None = None
    iteration: np.ndarray | None = None
    step_lr: np.ndarray | None = None
    step_loss: np.ndarray | None = None
    smoothed_acc: np.ndarray | None = None
    base_lr: float | None = None
    max_lr: float | None = None
    note: str = ""
    rule: dict[str, float] = field(default_factory=lambda: {
        "smooth_window": 3, "base_frac": 0.1, "top_frac": 0.9, "drop_frac": 0.1, "min_rise": 0.02})
    config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lr = np.asarray(self.lr, dtype=np.float64).reshape(-1)
        self.acc = np.asarray(self.acc, dtype=np.float64).reshape(-1)
        n = len(self.lr)
        self.loss = np.full(n, np.nan) if self.loss is None else np.asarray(self.loss, dtype=np.float64)
        self.iteration = (np.arange(n) if self.iteration is None
                          else np.asarray(self.iteration, dtype=np.int64))
        self.step_lr = np.asarray([] if self.step_lr is None else self.step_lr, dtype=np.float64)
        self.step_loss = np.asarray([] if self.step_loss is None else self.step_loss, dtype=np.float64)
        if self.smoothed_acc is None and n >= 2:
            self.base_lr, self.max_lr, self.note, self.smoothed_acc = clr_bounds(
                self.lr, self.acc, **self.rule)
        self.smoothed_acc = np.asarray(self.acc if self.smoothed_acc is None else self.smoothed_acc,
                                       dtype=np.float64)

    @classmethod
    def from_history(cls, history: Any, first: dict[str, float], *, ref: int = 0, start_lr: float = 0.0,
                     rule: dict[str, float] | None = None, config: dict[str, Any] | None = None
                     ) -> AccuracyRangeTest:
        """The test read off a training run: ``history`` (a :class:`lrkit.train.History` whose LR rose
        linearly) and ``first``, the evaluation before its first step (at ``start_lr``). Each point's
        LR is the reference group's (``ref``) LR of the last step before that evaluation."""
        evals = history.evals
        kw = {} if rule is None else {"rule": rule}
        return cls(lr=np.array([float(start_lr)] + [history.lr[e["iteration"] - 1][ref] for e in evals]),
                   acc=np.array([first["acc"]] + [e["acc"] for e in evals]),
                   loss=np.array([first["loss"]] + [e["loss"] for e in evals]),
                   iteration=np.array([0] + [e["iteration"] for e in evals]),
                   step_lr=np.array([row[ref] for row in history.lr]), step_loss=np.array(history.train_loss),
                   config=config or {}, **kw)

    def suggest(self, **rule) -> tuple[float | None, float | None]:
        """``(base_lr, max_lr)``; keyword arguments override the rule's parameters (:func:`clr_bounds`)."""
        base, top, _, _ = clr_bounds(self.lr, self.acc, **{**self.rule, **rule})
        return base, top

    def plot(self, ax=None):
        """Accuracy against LR (linear x), the smoothed curve and the suggested bounds."""
        from .plot import plot_accuracy_range_test

        return plot_accuracy_range_test(self, ax=ax)

    def to_dict(self) -> dict[str, Any]:
        return {"format": "lrkit-accuracy-range-test-1", "lr": self.lr, "acc": self.acc,
                "loss": self.loss, "iteration": self.iteration, "step_lr": self.step_lr,
                "step_loss": self.step_loss, "smoothed_acc": self.smoothed_acc,
                "base_lr": self.base_lr, "max_lr": self.max_lr, "note": self.note,
                "rule": self.rule, "config": self.config}

    def to_json(self) -> str:
        """Strict JSON (lrkit's convention for non-finite values: :func:`lrkit.utils.dumps`)."""
        return dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str | bytes) -> AccuracyRangeTest:
        d = loads(text)
        if not isinstance(d, dict) or d.pop("format", None) != "lrkit-accuracy-range-test-1":
            raise ValueError("not an lrkit AccuracyRangeTest JSON document")
        try:
            return cls(**d)
        except TypeError as e:
            raise ValueError(f"not an lrkit AccuracyRangeTest JSON document ({e})") from None


