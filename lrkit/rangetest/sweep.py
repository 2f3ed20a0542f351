"""The loss-based LR range test, :func:`lr_find` (Smith 2017 §3.3, as fastai popularised it).

Raise the LR from ``start_lr`` to ``end_lr`` over ``num_iter`` optimizer steps (exponentially or
linearly), record the (smoothed) loss, stop when it diverges; return a
:class:`~lrkit.rangetest.result.RangeTest`, whose :meth:`~lrkit.rangetest.result.RangeTest.suggest`
reads an LR off it (the rules: :mod:`lrkit.rangetest.rules`).

The test is a short, special run of the one training loop, :func:`lrkit.training.fit`: an LR ramp
(:class:`Ramp`, driven by a :class:`~lrkit.training.ScheduledLR`) plus a callback that records the loss
and stops ``fit`` (:class:`~lrkit.training.StopTraining`) when the sweep is done or diverges. So
accumulation, AMP, GradScaler, channels-last and the batch stream behave exactly as in training.
:func:`~lrkit.rangetest.accuracy_test.accuracy_range_test` shares the helpers below.

**State.** Before the sweep, :class:`~lrkit.training.state.preserve_training_state` snapshots — in
memory, nothing is written to disk — the model's parameters, buffers (persistent or not), gradients and
per-module train/eval flags, the optimizer's ``state_dict`` (state and every param-group
hyper-parameter), its step hooks and the attributes a torch LR scheduler patches onto it, the
GradScaler's state, and the python / numpy / torch (and CUDA) RNG states. Afterwards they are restored
bit for bit — also when the sweep diverges, raises, or is interrupted (``KeyboardInterrupt``).

**Under torch.distributed** (every rank calls the test with the same arguments and the same global
batch stream; see :mod:`lrkit.training.distributed`) each rank trains on its shard of every batch, the
loss is averaged over the ranks before it is smoothed and before any stop decision (a stop on any rank
stops all), validation and evaluation numbers are global, and every rank restores its own state exactly
and returns the same result. Write results and figures on rank 0 only
(:func:`lrkit.training.distributed.is_main`).

**An optimizer with a scheduler attached** (a torch ``LRScheduler``, e.g. a ScheduledLR) is accepted
with a ``UserWarning``: the sweep overrides the group LRs, the scheduler is *not* stepped, and the
optimizer's own step hooks (through which ``ScheduledLR`` counts steps) are suspended during the sweep;
everything is restored afterwards, so the scheduler continues exactly where it was.

**An optimizer that sets its own LR** (:mod:`lrkit.training.self_tuning`) gives one ``UserWarning``
saying what the sweep varies: the multiplier of the estimated step size (Prodigy, D-Adaptation), or a
schedule-free optimizer's base LR — swept in ``optimizer.train()`` mode with ``warmup_steps`` off,
accuracy evaluated at its average, its mode flag restored.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from ..schedules import Constant, Exponential, LinearWarmup, Schedule
from ..training import Callback, History, ScheduledLR, StopTraining, evaluate, fit
from ..training.loop import check_batches
from ..training.runtime import Runtime, model_device
from ..training.self_tuning import LR_FREE, SCHEDULE_FREE, sets_own_lr
from ..training.state import preserve_training_state, scheduler_attached
from ..utils import check_choice, check_float, check_int, check_type
from .result import RangeTest

__all__ = ["Ramp", "check_lr_range", "group_ratios", "lr_find", "sweep_scheduler", "warn_about_optimizer"]

Batch = tuple[torch.Tensor, torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# --------------------------------------------------------------------------------------------------
# Shared by both tests (this one and the accuracy test)
# --------------------------------------------------------------------------------------------------
def check_lr_range(start_lr: Any, end_lr: Any, *, start_min_open: bool) -> tuple[float, float]:
    """``(start_lr, end_lr)`` as floats, ``0 <= start_lr < end_lr`` (``start_lr > 0`` with ``start_min_open``)."""
    start_lr = check_float("start_lr", start_lr, min=0.0, min_open=start_min_open)
    end_lr = check_float("end_lr", end_lr, min=0.0, min_open=True)
    if not start_lr < end_lr:
        raise ValueError(f"start_lr must be < end_lr, got start_lr={start_lr:g} >= end_lr={end_lr:g}")
    return start_lr, end_lr


def check_model_and_optimizer(model: Any, optimizer: Any) -> None:
    """``TypeError`` naming the argument unless ``model`` is a module and ``optimizer`` an optimizer."""
    check_type("model", model, nn.Module, "a torch.nn.Module")
    check_type("optimizer", optimizer, torch.optim.Optimizer, "a torch.optim.Optimizer")


def warn_about_optimizer(optimizer: torch.optim.Optimizer, test: str, own_lr: str | None) -> None:
    """One ``UserWarning`` for an attached scheduler, one for an optimizer that sets its own LR
    (``own_lr``: :func:`~lrkit.training.self_tuning.sets_own_lr`'s answer, asked once by the caller)."""
    if scheduler_attached(optimizer):
        warnings.warn("the optimizer has an LR scheduler attached: the range test overrides its "
                      "param groups' LRs during the sweep (the scheduler is not stepped and the "
                      "optimizer's step hooks are suspended) and restores everything afterwards",
                      UserWarning, stacklevel=3)
    if own_lr is not None:
        name = type(optimizer).__name__
        what = {LR_FREE: "that multiplier (group['lr']), so the suggestion is a value of the multiplier of "
                         "the step size it estimates, not a step size",
                SCHEDULE_FREE: "its base LR (group['lr']; in train mode, its warmup_steps off: the ramp is "
                               "the warmup), so the suggestion is a base LR for it"}[own_lr]
        warnings.warn(f"{test}: {name} sets its own LR ({own_lr}); the sweep varies {what}", UserWarning,
                      stacklevel=3)


def sweep_scheduler(optimizer: torch.optim.Optimizer, schedule: Schedule, ratios: np.ndarray,
                    own_lr: str | None) -> ScheduledLR:
    """The sweep's ScheduledLR (told not to warn: the test did, :func:`warn_about_optimizer`); a
    schedule-free optimizer's warmup off, so that the ramp is its warmup."""
    if own_lr == SCHEDULE_FREE:
        for g in optimizer.param_groups:
            g["warmup_steps"] = 0
    return ScheduledLR(optimizer, schedule, multipliers=ratios.tolist(), warn_own_lr=False)


def group_ratios(optimizer: torch.optim.Optimizer) -> tuple[int, np.ndarray]:
    """(reference group = the largest LR, every group's LR / the reference's); all 1 if every LR is 0."""
    lrs = np.array([float(g["lr"]) for g in optimizer.param_groups], dtype=np.float64)
    if not np.all(np.isfinite(lrs)) or np.any(lrs < 0):
        raise ValueError(f"optimizer: every param group's lr must be finite and >= 0, got {lrs.tolist()}")
    ref = int(np.argmax(lrs))
    if lrs[ref] <= 0:
        return ref, np.ones_like(lrs)
    return ref, lrs / lrs[ref]


class Ramp(Schedule):
    """The range test's LR ramp over ``n`` points: ``start·(end/start)^(t/(n-1))`` (``mode='exp'``) or
    ``start + (end-start)·t/(n-1)`` (``'linear'``), exactly ``start`` at ``t = 0`` and ``end`` at
    ``t = n-1``, and ``end`` after that."""

    def __init__(self, start_lr: float, end_lr: float, n: int, mode: str = "exp") -> None:
        self.start_lr, self.end_lr, self.n, self.mode = float(start_lr), float(end_lr), int(n), mode
        self._shape = (Exponential(start_lr, (end_lr / start_lr) ** (1.0 / (n - 1))) if mode == "exp"
                       else LinearWarmup(Constant(end_lr), warmup_steps=n - 1, warmup_start=start_lr))

    def _value(self, t: np.ndarray) -> np.ndarray:
        out = self._shape._eval(np.minimum(t, self.n - 1))
        out[t == 0] = self.start_lr
        out[t >= self.n - 1] = self.end_lr
        return out

    def _params(self) -> dict[str, Any]:
        return {"start_lr": self.start_lr, "end_lr": self.end_lr, "n": self.n, "mode": self.mode}


# --------------------------------------------------------------------------------------------------
# The loss-based range test
# --------------------------------------------------------------------------------------------------
class _Sweep(Callback):
    """The ``fit`` callback of :func:`lr_find`: reads each step's loss, smooths it, decides to stop."""

    def __init__(self, model: nn.Module, num_iter: int, smoothing: float, diverge_th: float, return_th: float | None,
                 max_skipped: int, val_set: list[Batch] | None, loss_fn: LossFn, runtime: Runtime):
        self.model, self.num_iter, self.max_skipped = model, num_iter, max_skipped
        self.beta, self.div, self.ret = 1.0 - smoothing, diverge_th, return_th
        self.patience = max(3, num_iter // 25)
        self._above = 0
        self.val_set, self.loss_fn, self.runtime = val_set, loss_fn, runtime
        self.lrs: list[list[float]] = []
        self.losses: list[float] = []
        self.train_losses: list[float] = []
        self.smoothed: list[float] = []
        self.skipped = 0
        self.reason = "completed"
        self._avg, self._best = 0.0, math.inf

    def __call__(self, it: int, h: History) -> None:
        if h.meta.get("skipped") and h.meta["skipped"][-1] == it:  # the GradScaler skipped this step
            self.skipped += 1
            if self.skipped > self.max_skipped:
                self.reason = "too many AMP-skipped steps"
                raise StopTraining(self.reason)
            return
        k = len(self.losses)
        train_loss = float(h.train_loss[-1])
        value = train_loss
        if self.val_set is not None:
            value = evaluate(self.model, self.val_set, self.loss_fn, runtime=self.runtime)["loss"]
        if not math.isfinite(value):
            if k == 0:
                raise FloatingPointError(
                    f"the {'validation' if self.val_set is not None else 'training'} loss is {value} at the "
                    "first step, before any update could matter: check the model, the data and loss_fn")
            self.reason = f"non-finite loss at lr={max(h.lr[-1]):.3g}"
            raise StopTraining(self.reason)
        self._avg = self.beta * self._avg + (1.0 - self.beta) * value
        s = self._avg / (1.0 - self.beta ** (k + 1))
        self.lrs.append(h.lr[-1])
        self.losses.append(value)
        self.train_losses.append(train_loss)
        self.smoothed.append(s)
        self._best = min(self._best, s)
        if s > self.div * self._best:
            self.reason = "diverged"
            raise StopTraining(self.reason)
        start = self.smoothed[0]
        self._above = self._above + 1 if (self.ret is not None and s > self.ret * start) else 0
        if self._above >= self.patience and self._best < 0.95 * start:  # it learned, then lost it all
            self.reason = f"diverged (above {self.ret:g} × the starting loss for {self.patience} points)"
            raise StopTraining(self.reason)
        if len(self.losses) == self.num_iter:
            raise StopTraining("completed")


def _validation_set(val_data: Iterable[Batch], n: int, device: torch.device) -> list[Batch]:
    """The first ``n`` batches of one pass over ``val_data``, on ``device`` (fixed for the whole sweep)."""
    val_set: list[Batch] = []
    for x, y in val_data:
        val_set.append((x.to(device), y.to(device)))
        if len(val_set) == n:
            break
    if not val_set:
        raise ValueError("val_data yielded no batch")
    return val_set


def lr_find(
    model: nn.Module,
    data: Iterable[Batch],
    optimizer: torch.optim.Optimizer,
    loss_fn: LossFn | None = None,
    start_lr: float = 1e-5,
    end_lr: float = 10.0,
    num_iter: int = 100,
    mode: str = "exp",
    smoothing: float = 0.05,
    diverge_th: float | None = 5.0,
    return_th: float | None = 1.0,
    accumulation_steps: int = 1,
    amp: bool = False,
    scaler: Any = None,
    val_data: Iterable[Batch] | None = None,
    val_batches: int = 4,
    device: str | torch.device | None = None,
    channels_last: bool = False,
    max_skipped: int | None = None,
    progress: bool = True,
) -> RangeTest:
    """Run the LR range test and return a :class:`~lrkit.rangetest.result.RangeTest`; all state is restored.

    Point ``k`` (``0 ≤ k < num_iter``) trains one optimizer step (``fit``'s step, over
    ``accumulation_steps`` micro-batches, whose mean loss is recorded) at the reference LR
    ``start_lr · (end_lr/start_lr)^(k/(num_iter-1))`` (``mode='exp'``) or
    ``start_lr + (end_lr-start_lr)·k/(num_iter-1)`` (``'linear'``), so the first point is at
    ``start_lr`` and the last at ``end_lr``.

    Args:
        data: any iterable of ``(inputs, targets)`` batches (a torch ``DataLoader``, a list, an
            lrkit ``BatchLoader``). If it runs out it is cycled (restarted) with a ``RuntimeWarning``;
            an empty one raises ``ValueError``.
        optimizer: its param groups keep their LR ratios: the group with the largest current LR
            (the reference group, ``RangeTest.ref_group``) sweeps ``start_lr → end_lr``, every other
            group gets ``ratio × `` that (ratio = its LR / the largest; all 1 if every LR is 0).
            Every group's LR is recorded (``RangeTest.lr``). Other hyper-parameters are untouched.
            A scheduler already attached gives a ``UserWarning`` (see the module docstring).
        loss_fn: defaults to cross-entropy.
        smoothing: weight of the newest loss in the bias-corrected EMA (β = 1 − smoothing; see
            :func:`~lrkit.rangetest.rules.ema_smooth`).
        diverge_th: stop when smoothed loss > ``diverge_th`` × the best smoothed loss so far (the
            diverging point is recorded). ``None`` disables every divergence stop (this one and
            ``return_th``'s); ``inf`` only this one. Must be > 1. (Meant for positive losses such as
            cross-entropy.)
        return_th: also stop when, after the loss has fallen (best < 0.95 × the first smoothed
            loss), the smoothed loss stays above ``return_th`` × the first smoothed loss for
            ``max(3, num_iter // 25)`` points in a row: everything learned is lost, whether or not the
            loss ever reaches ``diverge_th`` × its best (a loss that levels off high, e.g. a net
            stuck at chance). ``None`` disables it.
        amp: autocast (bfloat16 on CPU; float16 with a GradScaler on CUDA, as :func:`lrkit.training.fit`).
        scaler: a ``torch.amp.GradScaler``. A step it skips (inf/NaN gradients) is neither recorded
            nor advances the LR; after more than ``max_skipped`` skipped steps (default ``num_iter``)
            the sweep stops.
        val_data / val_batches: validation mode — the recorded loss is the mean validation loss
            (eval mode, no grad) after every step, over a *fixed* set of ``val_batches`` batches:
            the first ``val_batches`` batches of one pass over ``val_data``, taken once before the
            sweep (pass a shuffled loader for a random sample). The training loss is still kept in
            ``RangeTest.train_loss``. (Schedule-free: both at the weights where gradients are taken.)
        device: where batches go; the model must already be there (default: the model's device).

    Example:
        >>> import torch
        >>> torch.manual_seed(0) and None
        >>> model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
        >>> x = torch.randn(64, 8)
        >>> data = [(x, (x[:, 0] > 0).long())] * 50
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> rt = lr_find(model, data, opt, start_lr=1e-4, end_lr=10, num_iter=50, progress=False)
        >>> 0 < len(rt) <= 50, opt.param_groups[0]["lr"]        # the optimizer is as it was
        (True, 0.1)
        >>> 1e-4 <= rt.suggest(for_="one_cycle").lr <= 10
        True

    Raises:
        ValueError: bad arguments (the message names the argument); empty data.
        FloatingPointError: the loss is NaN/inf at the very first step (before any update, so it is
            not the LR's fault: check model, data and loss_fn). A non-finite loss later ends the
            sweep instead (``reason='non-finite loss …'``, the point not recorded).
    """
    check_model_and_optimizer(model, optimizer)
    check_batches("data", data)
    start_lr, end_lr = check_lr_range(start_lr, end_lr, start_min_open=True)
    num_iter = check_int("num_iter", num_iter, min=2)
    check_choice("mode", mode, ("exp", "linear"))
    smoothing = check_float("smoothing", smoothing, min=0.0, max=1.0, min_open=True)
    if diverge_th is not None:
        diverge_th = check_float("diverge_th", diverge_th, min=1.0, min_open=True, allow_inf=True)
    if return_th is not None:
        return_th = check_float("return_th", return_th, min=0.0, min_open=True)
    accumulation_steps = check_int("accumulation_steps", accumulation_steps, min=1)
    if val_data is not None:
        val_batches = check_int("val_batches", val_batches, min=1)
    max_skipped = num_iter if max_skipped is None else check_int("max_skipped", max_skipped, min=0)
    loss_fn = loss_fn or nn.functional.cross_entropy
    runtime = Runtime.resolve(model, device=device, amp=amp, scaler=scaler, channels_last=channels_last)
    md = model_device(model)
    if runtime.device.type != md.type or (runtime.device.index is not None and md.index is not None
                                          and runtime.device.index != md.index):
        raise ValueError(f"device={runtime.device} but the model is on {md}; move the model there first")
    own_lr = sets_own_lr(optimizer)  # asked once: it decides the warning and the schedule-free warmup
    warn_about_optimizer(optimizer, "lr_find", own_lr)
    ref, ratios = group_ratios(optimizer)
    with preserve_training_state(model, optimizer, runtime.scaler, suspend_hooks=True):
        val_set = _validation_set(val_data, val_batches, runtime.device) if val_data is not None else None
        sweep = _Sweep(model, num_iter, smoothing, math.inf if diverge_th is None else diverge_th,
                       None if diverge_th is None else return_th, max_skipped, val_set, loss_fn, runtime)
        scheduler = sweep_scheduler(optimizer, Ramp(start_lr, end_lr, num_iter, mode), ratios, own_lr)
        try:
            fit(model, optimizer, data, iterations=num_iter + max_skipped, loss_fn=loss_fn, scheduler=scheduler,
                accumulation_steps=accumulation_steps, amp=amp, scaler=runtime.scaler, device=runtime.device,
                channels_last=channels_last, callbacks=[sweep], progress=progress, desc="lr_find")
        finally:
            scheduler.close()
    config = {"start_lr": start_lr, "end_lr": end_lr, "num_iter": num_iter, "mode": mode, "smoothing": smoothing,
              "diverge_th": math.inf if diverge_th is None else diverge_th, "return_th": return_th,
              "accumulation_steps": accumulation_steps, "amp": bool(amp),
              "val_batches": val_batches if val_data is not None else None, "ratios": ratios.tolist()}
    return _result(sweep, ref, len(ratios), mode, smoothing, val_data is None, config)


def _result(sweep: _Sweep, ref: int, groups: int, mode: str, smoothing: float, train_loss: bool,
            config: dict[str, Any]) -> RangeTest:
    """The :class:`RangeTest` of a finished sweep."""
    n = len(sweep.losses)
    lr = np.array(sweep.lrs, dtype=np.float64).reshape(n, groups)
    return RangeTest(sweep_lr=lr[:, ref].copy(), loss=np.array(sweep.losses), smoothed=np.array(sweep.smoothed),
                     lr=lr, train_loss=np.array(sweep.train_losses), loss_kind="train" if train_loss else "val",
                     mode=mode, smoothing=smoothing, ref_group=ref, stopped_early=n < config["num_iter"],
                     reason=sweep.reason, skipped_steps=sweep.skipped, config=config)
