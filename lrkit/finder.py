"""The LR range test (Smith 2017, §3.3) and its suggestions.

Two tests, both leaving model, optimizer, scaler and RNG states exactly as they found them:

- :func:`lr_find` — the loss-based test popularised by fastai: raise the LR from ``start_lr`` to
  ``end_lr`` over ``num_iter`` optimizer steps (exponentially or linearly), record the (smoothed)
  loss, stop when it diverges. Returns a :class:`RangeTest`, whose :meth:`RangeTest.suggest` offers
  ``'steepest'``, ``'valley'``, ``'minimum'`` and lrkit's own ``'robust'`` (with an interval).
- :func:`accuracy_range_test` — Smith's original test, used to pick the bounds of a cyclical
  schedule: raise the LR linearly for a few epochs, evaluate periodically, read off where accuracy
  starts to rise (``base_lr``) and where the rise stops or turns ragged (``max_lr``). Returns an
  :class:`AccuracyRangeTest`.

Both are short, special runs of the one training loop, :func:`lrkit.train.fit`: an LR ramp (a
schedule of :mod:`lrkit.schedules` driven by :class:`~lrkit.scheduler.ScheduledLR`) plus a callback
that records the loss and stops ``fit`` (:class:`~lrkit.train.StopTraining`) when the sweep is done
or diverges. So accumulation, AMP, GradScaler, channels-last and the batch stream behave exactly as
in training. What they return, and every suggestion rule, is pure numpy in :mod:`lrkit.suggest`.

**State.** Before the sweep, :class:`preserve_training_state` snapshots — in memory, nothing is
written to disk — the model's parameters, buffers (persistent or not), gradients and per-module
train/eval flags, the optimizer's ``state_dict`` (state and every param-group hyper-parameter), its
step hooks and the attributes a torch LR scheduler patches onto it, the GradScaler's state, and the
python / numpy / torch (and CUDA) RNG states. Afterwards they are restored bit for bit — also when
the sweep diverges, raises, or is interrupted (``KeyboardInterrupt``).

**Under torch.distributed** (every rank calls the test with the same arguments and the same global
batch stream; see :mod:`lrkit.distributed`) each rank trains on its shard of every batch, the loss is
averaged over the ranks before it is smoothed and before any stop decision (a stop on any rank stops
all), validation and evaluation numbers are global, and every rank restores its own state exactly and
returns the same result. A DDP model averages its gradients itself; a plain one has them averaged
by lrkit. Write results and figures on rank 0 only (:func:`lrkit.distributed.is_main`).

**An optimizer with a scheduler attached** (a torch ``LRScheduler``, e.g.
:class:`lrkit.scheduler.ScheduledLR`) is accepted with a ``UserWarning``: the sweep overrides the
group LRs, the scheduler is *not* stepped, and the optimizer's own step hooks (through which
``ScheduledLR`` counts steps) are suspended during the sweep; everything is restored afterwards, so
the scheduler continues exactly where it was.

**An optimizer that sets its own LR** (:func:`lrkit.optim.sets_own_lr`) gives one ``UserWarning``
saying what the sweep varies: the multiplier of the estimated step size (Prodigy, D-Adaptation), or a
schedule-free optimizer's base LR — swept in ``optimizer.train()`` mode with ``warmup_steps`` off,
accuracy evaluated at its average (:class:`lrkit.optim.eval_weights`), its mode flag restored.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from .accuracy import AccuracyRangeTest, clr_bounds
from .optim import LR_FREE, SCHEDULE_FREE, eval_weights, sets_own_lr
from .scheduler import ScheduledLR
from .schedules import Constant, Exponential, LinearWarmup, Schedule
from .suggest import POINT_METHODS, ROBUST_BASE, SUGGESTION_METHODS, RangeTest, Suggestion, ema_smooth
from .train import History, StopTraining, evaluate, fit, model_device
from .utils import check_choice, check_float, check_int, get_rng_state, set_rng_state

__all__ = [  # the tests, then what they return (from lrkit.suggest and lrkit.accuracy, re-exported)
    "accuracy_range_test", "lr_find", "preserve_training_state", "scheduler_attached",
    "AccuracyRangeTest", "POINT_METHODS", "ROBUST_BASE", "RangeTest", "SUGGESTION_METHODS", "Suggestion",
    "clr_bounds", "ema_smooth"]

Batch = tuple[torch.Tensor, torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# --------------------------------------------------------------------------------------------------
# Exact snapshot / restore
# --------------------------------------------------------------------------------------------------
_HOOK_ATTRS = ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks")
_PATCHED_ATTRS = ("step", "_opt_called")  # what torch's LRScheduler sets on the optimizer instance


def scheduler_attached(optimizer: torch.optim.Optimizer) -> bool:
    """True if a torch ``LRScheduler`` has been attached to ``optimizer``.

    A scheduler wraps ``optimizer.step`` (the wrapper carries ``_wrapped_by_lr_sched``) and sets
    ``initial_lr`` in every param group.
    """
    return bool(getattr(optimizer.step, "_wrapped_by_lr_sched", False)) or any(
        "initial_lr" in g for g in optimizer.param_groups)


class preserve_training_state:
    """Context manager: on exit, put model, optimizer, scaler and RNGs back exactly as on entry.

    Restored bit for bit (whether the block finishes, raises or is interrupted): every parameter
    and buffer (same tensor objects, values copied back; parameters/buffers added or removed in the
    block are undone), every ``.grad``, every module's ``training`` flag, the optimizer's
    ``state_dict`` (momentum buffers, Adam moments and steps, all param-group hyper-parameters;
    keys added to groups — e.g. ``initial_lr`` — disappear), its step hooks and the instance
    attributes a torch LR scheduler patches in (``step``, ``_opt_called``), the scaler's
    attributes, and the python / numpy / torch / CUDA RNG states.

    With ``suspend_hooks=True`` the optimizer's own step pre/post hooks are removed inside the block
    (and put back on exit), so e.g. a :class:`~lrkit.scheduler.ScheduledLR` does not count the
    sweep's steps. Global optimizer hooks are left alone.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                 scaler: Any = None, *, suspend_hooks: bool = False):
        self.model, self.optimizer, self.scaler = model, optimizer, scaler
        self.suspend_hooks = suspend_hooks

    def __enter__(self) -> preserve_training_state:
        self._modes = [(m, m.training) for m in self.model.modules()]
        self._containers = [(m, dict(m._parameters), dict(m._buffers)) for m in self.model.modules()]
        self._values: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] = {}
        with torch.no_grad():
            for _, params, buffers in self._containers:
                for t in list(params.values()) + list(buffers.values()):
                    if t is not None and id(t) not in self._values:
                        g = t.grad.detach().clone() if t.grad is not None else None
                        self._values[id(t)] = (t, t.detach().clone(), g)
        opt = self.optimizer
        if opt is not None:
            self._opt_state = copy.deepcopy(opt.state_dict())
            self._opt_attrs = {k: opt.__dict__[k] for k in _PATCHED_ATTRS if k in opt.__dict__}
            self._hooks = {a: dict(getattr(opt, a)) for a in _HOOK_ATTRS if hasattr(opt, a)}
            if self.suspend_hooks:
                for a in self._hooks:
                    getattr(opt, a).clear()
        if self.scaler is not None:
            self._scaler_dict = copy.deepcopy(self.scaler.__dict__)
        self._rng = get_rng_state()
        return self

    def restore(self) -> None:
        with torch.no_grad():
            for m, params, buffers in self._containers:
                m._parameters.clear()
                m._parameters.update(params)
                m._buffers.clear()
                m._buffers.update(buffers)
            for t, value, grad in self._values.values():
                t.copy_(value)
                t.grad = grad.clone() if grad is not None else None
        for m, mode in self._modes:
            m.training = mode
        opt = self.optimizer
        if opt is not None:
            opt.load_state_dict(copy.deepcopy(self._opt_state))
            for k in _PATCHED_ATTRS:
                if k in self._opt_attrs:
                    opt.__dict__[k] = self._opt_attrs[k]
                else:
                    opt.__dict__.pop(k, None)
            for a, hooks in self._hooks.items():
                d = getattr(opt, a)
                d.clear()
                d.update(hooks)
        if self.scaler is not None:
            self.scaler.__dict__.clear()
            self.scaler.__dict__.update(copy.deepcopy(self._scaler_dict))
        set_rng_state(self._rng)

    def __exit__(self, *exc) -> bool:
        self.restore()
        return False


# --------------------------------------------------------------------------------------------------
# Shared by both tests
# --------------------------------------------------------------------------------------------------
def _check_range(start_lr: Any, end_lr: Any, *, start_min_open: bool) -> tuple[float, float]:
    start_lr = check_float("start_lr", start_lr, min=0.0, min_open=start_min_open)
    end_lr = check_float("end_lr", end_lr, min=0.0, min_open=True)
    if not start_lr < end_lr:
        raise ValueError(f"start_lr must be < end_lr, got start_lr={start_lr:g} >= end_lr={end_lr:g}")
    return start_lr, end_lr


def _warn_if_scheduler(optimizer: torch.optim.Optimizer, test: str) -> None:
    if scheduler_attached(optimizer):
        warnings.warn("the optimizer has an LR scheduler attached: the range test overrides its "
                      "param groups' LRs during the sweep (the scheduler is not stepped and the "
                      "optimizer's step hooks are suspended) and restores everything afterwards",
                      UserWarning, stacklevel=3)
    why, name = sets_own_lr(optimizer), type(optimizer).__name__
    if why is not None:
        what = {LR_FREE: "that multiplier (group['lr']), so the suggestion is a value of the multiplier of "
                         "the step size it estimates, not a step size",
                SCHEDULE_FREE: "its base LR (group['lr']; in train mode, its warmup_steps off: the ramp is "
                               "the warmup), so the suggestion is a base LR for it"}[why]
        warnings.warn(f"{test}: {name} sets its own LR ({why}); the sweep varies {what}", UserWarning, stacklevel=3)


def _sweep_scheduler(optimizer: torch.optim.Optimizer, schedule: Schedule, ratios: np.ndarray) -> ScheduledLR:
    """The sweep's ScheduledLR, without its own-LR warning (the test gave one); schedule-free warmup off."""
    if sets_own_lr(optimizer) == SCHEDULE_FREE:
        for g in optimizer.param_groups:
            g["warmup_steps"] = 0
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="ScheduledLR: ", category=UserWarning)
        return ScheduledLR(optimizer, schedule, multipliers=ratios.tolist())


def _ratios(optimizer: torch.optim.Optimizer) -> tuple[int, np.ndarray]:
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
class _Sweep:
    """The ``fit`` callback of :func:`lr_find`: reads each step's loss, smooths it, decides to stop."""

    def __init__(self, model, num_iter, smoothing, diverge_th, return_th, max_skipped, val_set, loss_fn, dev,
                 amp_dtype, channels_last):
        self.model, self.num_iter, self.max_skipped = model, num_iter, max_skipped
        self.beta, self.div, self.ret = 1.0 - smoothing, diverge_th, return_th
        self.patience = max(3, num_iter // 25)
        self._above = 0
        self.val_set, self.loss_fn, self.dev, self.amp_dtype = val_set, loss_fn, dev, amp_dtype
        self.channels_last = channels_last
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
            value = evaluate(self.model, self.val_set, self.loss_fn, device=self.dev, amp_dtype=self.amp_dtype,
                             channels_last=self.channels_last)["loss"]
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
    """Run the LR range test and return a :class:`~lrkit.suggest.RangeTest`; all state is restored.

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
            :func:`~lrkit.suggest.ema_smooth`).
        diverge_th: stop when smoothed loss > ``diverge_th`` × the best smoothed loss so far (the
            diverging point is recorded). ``None`` disables every divergence stop (this one and
            ``return_th``'s); ``inf`` only this one. Must be > 1. (Meant for positive losses such as
            cross-entropy.)
        return_th: also stop when, after the loss has fallen (best < 0.95 × the first smoothed
            loss), the smoothed loss stays above ``return_th`` × the first smoothed loss for
            ``max(3, num_iter // 25)`` points in a row: everything learned is lost, whether or not the
            loss ever reaches ``diverge_th`` × its best (a loss that levels off high, e.g. a net
            stuck at chance). ``None`` disables it.
        amp: autocast (bfloat16 on CPU; float16 with a GradScaler on CUDA, as :func:`lrkit.train.fit`).
        scaler: a ``torch.amp.GradScaler``. A step it skips (inf/NaN gradients) is neither recorded
            nor advances the LR; after more than ``max_skipped`` skipped steps (default ``num_iter``)
            the sweep stops.
        val_data / val_batches: validation mode — the recorded loss is the mean validation loss
            (eval mode, no grad) after every step, over a *fixed* set of ``val_batches`` batches:
            the first ``val_batches`` batches of one pass over ``val_data``, taken once before the
            sweep (pass a shuffled loader for a random sample). The training loss is still kept in
            ``RangeTest.train_loss``. (Schedule-free: both at the weights where gradients are taken.)
        device: where batches go; the model must already be there (default: the model's device).

    Raises:
        ValueError: bad arguments (the message names the argument); empty data.
        FloatingPointError: the loss is NaN/inf at the very first step (before any update, so it is
            not the LR's fault: check model, data and loss_fn). A non-finite loss later ends the
            sweep instead (``reason='non-finite loss …'``, the point not recorded).
    """
    start_lr, end_lr = _check_range(start_lr, end_lr, start_min_open=True)
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
    md = model_device(model)
    dev = torch.device(device) if device is not None else md
    if dev.type != md.type or (dev.index is not None and md.index is not None and dev.index != md.index):
        raise ValueError(f"device={dev} but the model is on {md}; move the model there first")
    amp_dtype = (torch.float16 if dev.type == "cuda" else torch.bfloat16) if amp else None
    if amp and scaler is None and amp_dtype == torch.float16:
        scaler = torch.amp.GradScaler(dev.type)
    _warn_if_scheduler(optimizer, "lr_find")
    ref, ratios = _ratios(optimizer)
    with preserve_training_state(model, optimizer, scaler, suspend_hooks=True):
        val_set: list[Batch] | None = None
        if val_data is not None:
            val_set = []
            for x, y in val_data:
                val_set.append((x.to(dev), y.to(dev)))
                if len(val_set) == val_batches:
                    break
            if not val_set:
                raise ValueError("val_data yielded no batch")
        sweep = _Sweep(model, num_iter, smoothing, math.inf if diverge_th is None else diverge_th,
                       None if diverge_th is None else return_th, max_skipped, val_set, loss_fn, dev, amp_dtype,
                       channels_last)
        scheduler = _sweep_scheduler(optimizer, Ramp(start_lr, end_lr, num_iter, mode), ratios)
        try:
            fit(model, optimizer, data, iterations=num_iter + max_skipped, loss_fn=loss_fn, scheduler=scheduler,
                accumulation_steps=accumulation_steps, amp=amp, scaler=scaler, device=dev,
                channels_last=channels_last, callbacks=[sweep], progress=progress, desc="lr_find")
        finally:
            scheduler.close()

    n = len(sweep.losses)
    lr = np.array(sweep.lrs, dtype=np.float64).reshape(n, len(ratios))
    return RangeTest(
        sweep_lr=lr[:, ref].copy(), loss=np.array(sweep.losses), smoothed=np.array(sweep.smoothed), lr=lr,
        train_loss=np.array(sweep.train_losses), loss_kind="train" if val_data is None else "val",
        mode=mode, smoothing=smoothing, ref_group=ref, stopped_early=n < num_iter, reason=sweep.reason,
        skipped_steps=sweep.skipped,
        config={"start_lr": start_lr, "end_lr": end_lr, "num_iter": num_iter, "mode": mode,
                "smoothing": smoothing, "diverge_th": math.inf if diverge_th is None else diverge_th,
                "return_th": return_th, "accumulation_steps": accumulation_steps, "amp": bool(amp),
                "val_batches": val_batches if val_data is not None else None, "ratios": ratios.tolist()},
    )


# --------------------------------------------------------------------------------------------------
# Smith's accuracy-based range test
# --------------------------------------------------------------------------------------------------
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
    from :mod:`lrkit.schedules`, driven by a :class:`~lrkit.scheduler.ScheduledLR` inside
    :func:`lrkit.train.fit`; AMP-skipped steps do not advance it). ``eval_data`` is evaluated
    before training and every ``eval_every`` steps (default: ``iterations // 20``, i.e. ~20 points)
    and at the end. Smith used 4–8 epochs (``epochs=``; needs ``len(train_data)``) or give
    ``iterations``. The bounds are read off by :func:`~lrkit.accuracy.clr_bounds` (the rule is
    documented there).

    Model, optimizer, scaler and RNG states are restored exactly afterwards (also on errors and
    interruption), as in :func:`lr_find`. The model must already be on its device.
    """
    accumulation_steps = check_int("accumulation_steps", accumulation_steps, min=1)
    if iterations is None:
        if epochs is None:
            raise ValueError("iterations: give iterations or epochs")
        try:
            spe = int(getattr(train_data, "steps_per_epoch", None) or len(train_data))  # type: ignore[arg-type]
        except TypeError:
            raise ValueError("epochs needs train_data with a length; give iterations instead") from None
        epochs = check_float("epochs", epochs, min=0.0, min_open=True)
        iterations = max(2, int(round(epochs * spe / accumulation_steps)))
    iterations = check_int("iterations", iterations, min=2)
    start_lr, end_lr = _check_range(start_lr, end_lr, start_min_open=False)
    eval_every = max(1, iterations // 20) if eval_every is None else check_int("eval_every", eval_every, min=1)
    rule = {"smooth_window": check_int("smooth_window", smooth_window, min=1),
            "base_frac": base_frac, "top_frac": top_frac, "drop_frac": drop_frac,
            "min_rise": check_float("min_rise", min_rise)}
    loss_fn = loss_fn or nn.functional.cross_entropy
    dev = model_device(model)
    amp_dtype = (torch.float16 if dev.type == "cuda" else torch.bfloat16) if amp else None
    _warn_if_scheduler(optimizer, "accuracy_range_test")
    ref, ratios = _ratios(optimizer)
    with preserve_training_state(model, optimizer, scaler, suspend_hooks=True):
        with eval_weights(optimizer, model, train_data, device=dev, amp_dtype=amp_dtype, channels_last=channels_last):
            first = evaluate(model, eval_data, loss_fn, device=dev, amp_dtype=amp_dtype, channels_last=channels_last)
        sched = LinearWarmup(Constant(end_lr), warmup_steps=iterations - 1, warmup_start=start_lr)
        scheduler = _sweep_scheduler(optimizer, sched, ratios)
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
