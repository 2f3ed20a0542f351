"""Smith's accuracy-based LR range test (2017, §3.3), used to pick the bounds of a cyclical schedule.

:func:`accuracy_range_test` raises the LR linearly for a few epochs, evaluating periodically (a short run
of :func:`lrkit.training.fit`, state restored afterwards as in :func:`~lrkit.rangetest.lr_find`);
:func:`clr_bounds` — a pure rule — reads off where accuracy starts to rise (``base_lr``) and where the
rise stops or turns ragged (``max_lr``); :class:`AccuracyRangeTest` holds the curve.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..schedules import Constant, LinearWarmup
from ..training import evaluate, fit
from ..training.loop import check_batches
from ..training.runtime import Runtime, resolve_iterations
from ..training.self_tuning import eval_weights, sets_own_lr
from ..training.state import preserve_training_state
from ..utils import check_float, check_int, dumps, loads
from .rules import centered_mean
from .sweep import check_lr_range, check_model_and_optimizer, group_ratios, sweep_scheduler, warn_about_optimizer

__all__ = ["AccuracyRangeTest", "accuracy_range_test", "clr_bounds"]

Batch = tuple[torch.Tensor, torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


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
        """The test read off a training run: ``history`` (a :class:`lrkit.training.History` whose LR rose
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
        from ..plot import plot_accuracy_range_test

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


def accuracy_range_test(
    model: nn.Module,
    train_data: Iterable[Batch],
    eval_data: Iterable[Batch],
    optimizer: torch.optim.Optimizer,
    loss_fn: LossFn | None = None,
    *,
    start_lr: float = 0.0,
    end_lr: float = 0.02,
    iterations: int | None = None,
    epochs: float | None = None,
    eval_every: int | None = None,
    accumulation_steps: int = 1,
    amp: bool = False,
    scaler: Any = None,
    smooth_window: int = 3,
    base_frac: float = 0.1,
    top_frac: float = 0.9,
    drop_frac: float = 0.1,
    min_rise: float = 0.02,
    channels_last: bool = False,
    progress: bool = True,
) -> AccuracyRangeTest:
    """Smith's (2017, §3.3) LR range test: train while the LR rises linearly, evaluate periodically.

    The LR of the reference group (largest current LR; others keep their ratio) goes linearly
    from ``start_lr`` at the first step to ``end_lr`` at the last one (``LinearWarmup(Constant(end_lr))``
    from :mod:`lrkit.schedules`, driven by a :class:`~lrkit.training.ScheduledLR` inside
    :func:`lrkit.training.fit`; AMP-skipped steps do not advance it). ``eval_data`` is evaluated
    before training and every ``eval_every`` steps (default: ``iterations // 20``, i.e. ~20 points)
    and at the end. Smith used 4–8 epochs (``epochs=``; needs ``len(train_data)``) or give
    ``iterations``. The bounds are read off by :func:`clr_bounds` (the rule is
    documented there).

    Model, optimizer, scaler and RNG states are restored exactly afterwards (also on errors and
    interruption), as in :func:`~lrkit.rangetest.lr_find`. The model must already be on its device.
    """
    check_model_and_optimizer(model, optimizer)
    check_batches("train_data", train_data)
    check_batches("eval_data", eval_data)
    accumulation_steps = check_int("accumulation_steps", accumulation_steps, min=1)
    iterations = resolve_iterations(iterations, epochs, train_data, accumulation_steps, minimum=2)
    start_lr, end_lr = check_lr_range(start_lr, end_lr, start_min_open=False)
    eval_every = max(1, iterations // 20) if eval_every is None else check_int("eval_every", eval_every, min=1)
    rule = {"smooth_window": check_int("smooth_window", smooth_window, min=1),
            "base_frac": base_frac, "top_frac": top_frac, "drop_frac": drop_frac,
            "min_rise": check_float("min_rise", min_rise)}
    loss_fn = loss_fn or nn.functional.cross_entropy
    runtime = Runtime.resolve(model, amp=amp, channels_last=channels_last)
    own_lr = sets_own_lr(optimizer)
    warn_about_optimizer(optimizer, "accuracy_range_test", own_lr)
    ref, ratios = group_ratios(optimizer)
    with preserve_training_state(model, optimizer, scaler, suspend_hooks=True):
        with eval_weights(optimizer, model, train_data, runtime=runtime):
            first = evaluate(model, eval_data, loss_fn, runtime=runtime)
        sched = LinearWarmup(Constant(end_lr), warmup_steps=iterations - 1, warmup_start=start_lr)
        scheduler = sweep_scheduler(optimizer, sched, ratios, own_lr)
        try:
            hist = fit(model, optimizer, train_data, iterations=iterations, loss_fn=loss_fn,
                       scheduler=scheduler, eval_data=eval_data, eval_every=eval_every,
                       accumulation_steps=accumulation_steps, amp=amp, scaler=scaler,
                       channels_last=channels_last, progress=progress, desc="accuracy range test")
        finally:
            scheduler.close()
    return AccuracyRangeTest.from_history(hist, first, ref=ref, start_lr=start_lr, rule=rule,
                                          config={"start_lr": start_lr, "end_lr": end_lr, "iterations": iterations,
                                                  "eval_every": eval_every, "accumulation_steps": accumulation_steps,
                                                  "amp": bool(amp), "ratios": ratios.tolist(), "ref_group": ref})
