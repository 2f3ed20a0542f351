"""The one training loop of lrkit: :func:`train_step` and :func:`fit`.

Everything that trains in lrkit goes through :func:`train_step` (one optimizer step, optionally over
several micro-batches and with AMP) and :func:`fit` (the loop: schedule, evaluation, history,
checkpoint/resume, callbacks, progress bar). The LR range tests (:mod:`lrkit.rangetest`), the recipe
and the benchmarks reuse them rather than copying them.

Iterations count optimizer steps. A schedule is applied per iteration by a
:class:`~lrkit.training.scheduler.ScheduledLR` (a real ``torch.optim.lr_scheduler.LRScheduler``), so the
LR of iteration ``t`` is ``schedule(t)`` times the group's multiplier.

``fit`` reads as its phases (fastai's ladder of small named steps): check the arguments
(:class:`_Plan`), resolve the :class:`~lrkit.training.runtime.Runtime` once, place the model, build the
scheduler, resume from a checkpoint, then per iteration :meth:`_Loop.step` → :meth:`_Loop.evaluate`
(when due) → :meth:`_Loop.dispatch` (the callbacks) → :meth:`_Loop.save` (when due).
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..utils import check_int, check_type
from . import checkpoint as ckpt
from . import distributed
from .callbacks import Callback, StopTraining, as_callbacks
from .history import History
from .runtime import Runtime, resolve_iterations, steps_per_epoch
from .scheduler import ScheduledLR, group_momentum
from .self_tuning import eval_weights, train_mode

__all__ = ["StepResult", "evaluate", "fit", "train_step"]

Batch = tuple[torch.Tensor, torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# -------------------- One step -------------------------------------------------------------------
@dataclass
class StepResult:
    """What one optimizer step produced, left on the device so that reading it is the caller's choice.

    ``loss`` is the mean loss over the step's micro-batches (a detached 0-dim tensor on the model's device).
    ``found_inf`` (with a GradScaler only, else None) is a 0-dim device flag, 1 when the scaler found inf/NaN
    gradients and skipped ``optimizer.step()`` (its scale dropped); :attr:`skipped` reads it on the host.
    """

    loss: torch.Tensor
    found_inf: torch.Tensor | None = None

    @property
    def skipped(self) -> bool:
        """Whether the GradScaler skipped the step (reading it waits for the device: a host sync)."""
        return self.found_inf is not None and bool(self.found_inf)


def _scaler_step(scaler: torch.amp.GradScaler, optimizer: torch.optim.Optimizer) -> torch.Tensor | None:
    """``scaler.step`` + ``scaler.update``; returns the device flag "the scale dropped" (the step was skipped)
    without reading the scale on the host: ``GradScaler.get_scale()`` is an ``.item()``, one host sync each.
    (``GradScaler.step`` itself still reads its found-inf flag on the host, once per step, unless the
    optimizer takes the scaling into its own kernel.) None for a disabled scaler."""
    scale = scaler._get_scale_async()  # the scale tensor, updated in place by update()
    before = scale.clone() if scale is not None else None
    scaler.step(optimizer)
    scaler.update()
    after = scaler._get_scale_async()
    if before is None or after is None:
        return None
    return (after < before).float()


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: LossFn, batches: Sequence[Batch], *,
               runtime: Runtime | None = None) -> StepResult:
    """One optimizer step over ``len(batches)`` micro-batches (gradient accumulation).

    Each micro-batch's loss is divided by the number of micro-batches before ``backward``, so k
    micro-batches of size b give the gradient of one batch of size k·b (for models without
    batch-dependent layers). With the runtime's ``scaler`` (float16 AMP) the step goes through it;
    ``StepResult.found_inf`` flags, on the device, whether the scaler skipped it (its scale dropped). Nothing
    here reads a value on the host (no host sync of lrkit's own; see :mod:`lrkit.training.syncs`). Under
    torch.distributed the gradients are averaged over the ranks before the step (by DDP itself for a
    DDP model, else :func:`lrkit.training.distributed.average_gradients`); the loss returned is this rank's.
    ``runtime``: device, AMP and memory format (default: the model's device, full precision).
    """
    if len(batches) == 0:
        raise ValueError("batches must hold at least one (inputs, targets) micro-batch")
    runtime = runtime if runtime is not None else Runtime.of(model)
    scaler = runtime.scaler
    model.train()
    optimizer.zero_grad(set_to_none=True)
    k = len(batches)
    total = None
    for i, batch in enumerate(batches):
        x, y = runtime.batch(batch)
        with distributed.no_sync_unless(model, last=i == k - 1):  # DDP: all-reduce on the last backward only
            with runtime.autocast():
                loss = loss_fn(model(x), y)
            part = loss / k
            if scaler is not None:
                scaler.scale(part).backward()
            else:
                part.backward()
        d = loss.detach().float()
        total = d if total is None else total + d
    distributed.average_gradients(model)  # a plain model under torch.distributed; nothing otherwise
    found_inf = None
    if scaler is not None:
        found_inf = _scaler_step(scaler, optimizer)
    else:
        optimizer.step()
    return StepResult(loss=total / k, found_inf=found_inf)


@torch.no_grad()
def evaluate(model: nn.Module, data: Iterable[Batch], loss_fn: LossFn | None = None, *,
             runtime: Runtime | None = None, device: str | torch.device | None = None) -> dict[str, float]:
    """Mean loss and accuracy of ``model`` over every batch of ``data`` (eval mode, no grad).

    The model's train/eval mode is restored afterwards. Under torch.distributed every rank evaluates
    its shard of each batch (:func:`lrkit.training.distributed.shard`) and the loss sum, correct count
    and ``n`` are summed over the ranks: every rank returns the global numbers. ``runtime``: device,
    AMP and memory format (default: the model's device, full precision). ``device`` (without a
    ``runtime``): as in :func:`fit`, the model is moved there and the batches go there.
    """
    check_type("model", model, nn.Module, "a torch.nn.Module")
    check_batches("data", data)
    loss_fn = loss_fn or nn.functional.cross_entropy
    if runtime is not None and device is not None:
        raise ValueError("evaluate: give a runtime or a device, not both")
    if device is not None:
        runtime = Runtime.resolve(model, device=device)
        _place(model, runtime, move=True)
    runtime = runtime if runtime is not None else Runtime.of(model)
    dd = distributed.world()[1] > 1
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=runtime.device)
    correct = torch.zeros((), dtype=torch.int64, device=runtime.device)
    n = 0
    try:
        for batch in data:
            x, y = runtime.batch(distributed.shard(batch, allow_empty=True) if dd else batch)
            with runtime.autocast():
                out = model(x)  # also on an empty shard: a DDP forward may be a collective
            if dd and y.shape[0] == 0:
                continue
            loss_sum += loss_fn(out.float(), y).double() * y.shape[0]
            correct += (out.argmax(1) == y).sum()
            n += y.shape[0]
    finally:
        model.train(was_training)
    if dd:
        loss_sum, correct, n = distributed.all_reduce_sum(torch.stack([loss_sum, correct.double(),
                                                                       loss_sum.new_tensor(n)]))
        n = int(n)
    if n == 0:
        raise ValueError("evaluation data is empty")
    return {"loss": float(loss_sum) / n, "acc": float(correct) / n, "n": n}


# -------------------- The batch stream and the losses ---------------------------------------------
def _iter_batches(data: Any, start: int) -> Iterator[Batch]:
    """Batches for iterations ``start, start+1, …``.

    A data source with ``get_batch(i)`` (lrkit's :class:`~lrkit.data.BatchLoader`) is indexed
    directly, so a resumed run sees exactly the batches an uninterrupted one would. Any other
    iterable (a list, a torch ``DataLoader``) is cycled, pass after pass; on resume its first ``start``
    batches are skipped, which is exact only if the iterable itself is deterministic. One
    ``RuntimeWarning`` says when batches repeat; an empty iterable, or a one-shot iterator that runs
    out, is a ``ValueError``.
    """
    if hasattr(data, "get_batch"):
        i = start
        while True:
            yield data.get_batch(i)
            i += 1
    try:
        n = len(data)
    except TypeError:
        n = None
    if n == 0:
        raise ValueError("training data yielded no batch (it is empty)")
    warned = False
    seen = 0
    while True:
        passed = 0
        it = iter(data)
        try:
            for batch in it:
                passed += 1
                if seen < start:
                    seen += 1
                    continue
                seen += 1
                yield batch
        finally:
            close = getattr(it, "close", None)
            if close is not None and it is not data:
                close()
        if passed == 0:
            if seen:
                raise ValueError(f"data ran out after {seen} batches and yields nothing when iterated again "
                                 "(a one-shot iterator?); pass a re-iterable such as a list or a DataLoader")
            raise ValueError("training data yielded no batch")
        if not warned:
            warnings.warn(f"data has {passed} batches and ran out; it is cycled, so batches repeat",
                          RuntimeWarning, stacklevel=3)
            warned = True


class _LossBuffer:
    """Each step's loss, and with a GradScaler its skipped flag, kept on the device until something needs
    them, then written to the History in one go (one host sync for all of them): the losses as the mean over
    the ranks under torch.distributed (:func:`flush`; ``sync=False`` after an error on one rank: no
    collective the others would never join), the skipped steps to ``history.meta['skipped']``."""

    def __init__(self, history: History, distributed: bool) -> None:
        self.history, self.distributed, self.pending = history, distributed, []
        self.flags: list[tuple[int, torch.Tensor]] = []

    def append(self, loss: torch.Tensor, iteration: int = 0, found_inf: torch.Tensor | None = None) -> None:
        self.pending.append(loss)
        if found_inf is not None:
            self.flags.append((iteration, found_inf))

    def flush(self, sync: bool = True) -> None:
        if not self.pending:
            return
        losses = torch.stack(self.pending)
        if self.distributed and sync:
            losses = distributed.all_reduce_mean(losses)
        n = len(self.pending)
        values = torch.cat([losses.float(), *(f.float().view(1) for _, f in self.flags)]).tolist()
        self.history.train_loss.extend(values[:n])
        skipped = [it for (it, _), f in zip(self.flags, values[n:], strict=True) if f]
        if skipped:
            self.history.meta.setdefault("skipped", []).extend(skipped)
        self.pending.clear()
        self.flags.clear()


# -------------------- The loop -------------------------------------------------------------------
@dataclass(frozen=True)
class _Plan:
    """``fit``'s arguments, checked: how long, when to evaluate, where and when to checkpoint."""

    iterations: int
    accumulation_steps: int
    eval_every: int | None
    checkpoint: Path | None
    checkpoint_every: int | None
    callbacks: list[Callback]

    @classmethod
    def check(cls, train_data: Any, *, iterations: Any, epochs: Any, accumulation_steps: Any, eval_every: Any,
              checkpoint: Any, checkpoint_every: Any, callbacks: Any) -> _Plan:
        check_batches("train_data", train_data)
        accumulation_steps = check_int("accumulation_steps", accumulation_steps, min=1)
        iterations = resolve_iterations(iterations, epochs, train_data, accumulation_steps)
        if eval_every is not None:
            eval_every = check_int("eval_every", eval_every, min=1)
        if checkpoint_every is not None:
            checkpoint_every = check_int("checkpoint_every", checkpoint_every, min=1)
            if checkpoint is None:
                raise ValueError("checkpoint_every needs a checkpoint path")
        path = Path(checkpoint) if checkpoint is not None else None
        return cls(iterations, accumulation_steps, eval_every, path, checkpoint_every, as_callbacks(callbacks))

    def evaluates_after(self, done: int) -> bool:
        return bool(self.eval_every and done % self.eval_every == 0) or done == self.iterations

    def checkpoints_after(self, done: int) -> bool:
        return self.checkpoint is not None and bool(self.checkpoint_every) and done % self.checkpoint_every == 0


class _Loop:
    """One ``fit`` run in motion: the batch stream, the loss buffer, the clock and the progress bar."""

    def __init__(self, plan: _Plan, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                 loss_fn: LossFn, train_data: Any, eval_data: Any, runtime: Runtime, *, progress: bool, desc: str):
        self.plan, self.model, self.optimizer, self.scheduler = plan, model, optimizer, scheduler
        self.loss_fn, self.train_data, self.eval_data, self.runtime = loss_fn, train_data, eval_data, runtime
        self.progress, self.desc = progress, desc
        self.distributed = distributed.world()[1] > 1
        self.needs_loss = any(cb.needs_loss for cb in plan.callbacks)  # else no loss sync per step
        self.history, self.start, self.elapsed = History(steps_per_epoch=steps_per_epoch(train_data)), 0, 0.0

    def resume(self) -> None:
        """Model, optimizer, scheduler, scaler, History and RNGs from the checkpoint, if there is one."""
        path = self.plan.checkpoint
        if path is not None and path.exists():
            self.start, self.history, self.elapsed = ckpt.load(path, self.model, self.optimizer, self.scheduler,
                                                               self.runtime.scaler)

    def run(self) -> None:
        """Iterations ``start … iterations - 1``, then the final checkpoint."""
        from tqdm.auto import tqdm

        train_mode(self.optimizer)  # a schedule-free optimizer: parameters to the gradient point y
        self.bar = tqdm(total=self.plan.iterations, initial=self.start, desc=self.desc, leave=False, mininterval=0.5,
                        disable=not self.progress or not distributed.is_main())
        self.batches = _iter_batches(self.train_data, self.start * self.plan.accumulation_steps)
        self.losses = _LossBuffer(self.history, self.distributed)
        self.t0 = time.perf_counter() - self.elapsed  # the clock runs on from a resumed run's
        try:
            self._iterate()
        finally:
            self.losses.flush(sync=False)
            self.bar.close()
            self.batches.close()
        if self.plan.checkpoint is not None:
            self.save(len(self.history))

    def _iterate(self) -> None:
        for it in range(self.start, self.plan.iterations):
            self.step(it)
            done = it + 1
            if self.eval_data is not None and self.plan.evaluates_after(done):
                self.evaluate(done)
            stop = self.dispatch(it)
            if stop is not None:
                self.history.meta["stopped"] = stop
                break
            if self.plan.checkpoints_after(done):
                self.save(done)
            self.bar.update(1)
        self.losses.flush()

    def step(self, it: int) -> None:
        """Train iteration ``it`` and record it: LR and momentum it ran with, its loss, the wall time."""
        micro = [next(self.batches) for _ in range(self.plan.accumulation_steps)]
        if self.distributed:
            micro = [distributed.shard(b) for b in micro]
        groups = self.optimizer.param_groups
        lrs, moms = [float(g["lr"]) for g in groups], [group_momentum(g) for g in groups]
        res = train_step(self.model, self.optimizer, self.loss_fn, micro, runtime=self.runtime)
        if self.scheduler is not None:
            self.scheduler.step()
        h = self.history
        h.iteration.append(it)
        h.lr.append(lrs)
        h.momentum.append(moms)
        self.losses.append(res.loss, it, res.found_inf)  # a skipped step: history.meta["skipped"] at the flush
        h.wall.append(time.perf_counter() - self.t0)

    def evaluate(self, done: int) -> None:
        """Evaluate on ``eval_data`` after ``done`` steps (schedule-free: at x, BatchNorm recomputed)."""
        self.losses.flush()
        with eval_weights(self.optimizer, self.model, self.train_data, runtime=self.runtime):
            ev = evaluate(self.model, self.eval_data, self.loss_fn, runtime=self.runtime)
        spe = self.history.steps_per_epoch
        ev = {"iteration": done, "epoch": done * self.plan.accumulation_steps / spe if spe else None, **ev}
        self.history.evals.append(ev)
        self.bar.set_postfix(acc=f"{ev['acc']:.3f}", loss=f"{ev['loss']:.3f}")

    def dispatch(self, it: int) -> str | None:
        """Call every callback; the reason to stop (one decision for all ranks), or None."""
        if not self.plan.callbacks:
            return None
        if self.needs_loss:
            self.losses.flush()  # callbacks see the complete history (a device sync per step)
        stop = None
        try:
            for cb in self.plan.callbacks:
                cb(it, self.history)
        except StopTraining as e:
            stop = str(e) or "stopped by a callback"
        if self.distributed and distributed.any_rank(stop is not None):
            stop = stop or "stopped by a callback on another rank"
        return stop

    def save(self, done: int) -> None:
        """The checkpoint after ``done`` steps (:func:`lrkit.training.checkpoint.save`)."""
        self.losses.flush()
        ckpt.save(self.plan.checkpoint, iteration=done, elapsed=time.perf_counter() - self.t0, model=self.model,
                  optimizer=self.optimizer, scheduler=self.scheduler, scaler=self.runtime.scaler, history=self.history)


def _place(model: nn.Module, runtime: Runtime, *, move: bool) -> None:
    """The model on the runtime's device (when a device was asked for and it is not all there yet) and in its
    memory format."""
    if move and any(t.device != runtime.device for t in (*model.parameters(), *model.buffers())):
        model.to(runtime.device)
    if runtime.channels_last:
        model.to(memory_format=torch.channels_last)


def check_batches(name: str, data: Any) -> None:
    """``TypeError`` naming ``name`` unless ``data`` can give batches: lrkit's ``BatchLoader`` (``get_batch``)
    or an iterable of ``(inputs, targets)`` (a list, a ``DataLoader``), not a string."""
    if isinstance(data, (str, bytes)) or not (hasattr(data, "get_batch") or isinstance(data, Iterable)):
        raise TypeError(f"{name} must be an iterable of (inputs, targets) batches or a BatchLoader, "
                        f"got {type(data).__name__}")


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    train_data: Any,
    *,
    iterations: int | None = None,
    epochs: float | None = None,
    loss_fn: LossFn | None = None,
    schedule: Any = None,
    momentum: Any = None,
    scheduler: Any = None,
    eval_data: Iterable[Batch] | None = None,
    eval_every: int | None = None,
    accumulation_steps: int = 1,
    amp: bool = False,
    scaler: torch.amp.GradScaler | None = None,
    device: str | torch.device | None = None,
    channels_last: bool = False,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    callbacks: Sequence[Callable[[int, History], None]] = (),
    progress: bool = True,
    desc: str = "train",
) -> History:
    """Train ``model`` for ``iterations`` steps (or ``epochs`` of ``train_data``); returns its :class:`History`.

    Per iteration ``t``: take ``accumulation_steps`` micro-batches, run :func:`train_step`, step the
    scheduler (which sets every param group's LR/momentum for ``t + 1``), record LR/momentum of every
    group, the training loss and the wall time; every ``eval_every`` iterations (and at the end)
    evaluate on ``eval_data``; call the callbacks; every ``checkpoint_every`` iterations write a checkpoint.

    Args:
        schedule: an :mod:`lrkit.schedules` schedule; wrapped in a
            :class:`~lrkit.training.scheduler.ScheduledLR` (with ``momentum``) unless ``scheduler`` is given.
            ``None`` and no ``scheduler``: the optimizer's LRs stay as they are.
        scheduler: any object with ``step()`` (e.g. a torch ``LRScheduler``), stepped once per
            optimizer step; its ``state_dict`` goes into checkpoints.
        amp / scaler / device / channels_last: the :class:`~lrkit.training.runtime.Runtime` (``amp=True``:
            bfloat16 where the device computes it natively — the CPU, CUDA GPUs of compute capability 8 and
            up — and float16 + a GradScaler on older GPUs; ``amp`` may also name the dtype). With ``device``
            the model is moved there.
        checkpoint / resume: path of the checkpoint file (:mod:`lrkit.training.checkpoint`); with
            ``resume=True`` and an existing checkpoint, model, optimizer, scheduler, scaler, History and
            RNG states are restored and training continues where it stopped — with lrkit's
            ``BatchLoader`` the result is the same History as an uninterrupted run (wall times aside).
        callbacks: :class:`~lrkit.training.callbacks.Callback` objects or functions ``f(iteration, history)``,
            called after every step (the protocol — ``StopTraining``, ``needs_loss`` — is documented in
            :mod:`lrkit.training.callbacks`).

    **No host sync per step** (:mod:`lrkit.training.syncs`) unless a callback needs the losses: each step's
    loss (and a GradScaler's skipped flag) stays on the device and is read in one go at an evaluation, a
    checkpoint and the end. AMP-skipped steps (the GradScaler found inf/NaN gradients) are listed in
    ``history.meta['skipped']`` from then on; a ScheduledLR does not advance on them. On CUDA, cuDNN's
    autotuner is on for the run (:meth:`Runtime.backend_settings`). Under torch.distributed
    (:mod:`lrkit.training.distributed`): each rank trains on its shard of every global batch, the recorded
    loss is the mean over the ranks, a ``StopTraining`` on any rank stops all, and rank 0 alone writes the
    checkpoint. A schedule-free optimizer is put in train mode at the start and evaluated at its average x
    (:mod:`lrkit.training.self_tuning`), which leaves the training run untouched.

    Example:
        >>> import torch
        >>> from lrkit.schedules import OneCycle
        >>> torch.manual_seed(0) and None
        >>> model = torch.nn.Linear(4, 2)
        >>> data = [(torch.randn(8, 4), torch.randint(0, 2, (8,))) for _ in range(5)]
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        >>> h = fit(model, opt, data, epochs=1, schedule=OneCycle(0.1, 5), eval_data=data[:1], progress=False)
        >>> len(h), h.evals[-1]["iteration"], len(h.lr[0])       # 5 steps, one LR per param group
        (5, 5, 1)
    """
    check_type("model", model, nn.Module, "a torch.nn.Module")
    check_type("optimizer", optimizer, torch.optim.Optimizer, "a torch.optim.Optimizer")
    plan = _Plan.check(train_data, iterations=iterations, epochs=epochs, accumulation_steps=accumulation_steps,
                       eval_every=eval_every, checkpoint=checkpoint, checkpoint_every=checkpoint_every,
                       callbacks=callbacks)
    if scheduler is not None and schedule is not None:
        raise ValueError("schedule: give a schedule or a scheduler, not both")
    if eval_data is not None:
        check_batches("eval_data", eval_data)
    runtime = Runtime.resolve(model, device=device, amp=amp, scaler=scaler, channels_last=channels_last)
    _place(model, runtime, move=device is not None)
    own = scheduler is None and schedule is not None
    if own:
        scheduler = ScheduledLR(optimizer, schedule, momentum=momentum)
    loop = _Loop(plan, model, optimizer, scheduler, loss_fn or nn.functional.cross_entropy, train_data, eval_data,
                 runtime, progress=progress, desc=desc)
    try:
        if resume:
            loop.resume()
        if loop.start < plan.iterations:
            with runtime.backend_settings():  # CUDA: cuDNN's autotuner on for the run, then as it was
                loop.run()
    finally:
        if own:
            scheduler.close()
    return loop.history
