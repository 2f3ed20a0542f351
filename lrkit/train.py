"""The one training loop of lrkit and its ``History``.

Everything that trains in lrkit goes through :func:`train_step` (one optimizer step, optionally over
several micro-batches and with AMP) and :func:`fit` (the loop: schedule, evaluation, history,
checkpoint/resume, progress bar). The LR range test (:mod:`lrkit.finder`) and the benchmarks reuse
them rather than copying them.

Iterations count optimizer steps. A schedule is applied per iteration by a
:class:`lrkit.scheduler.ScheduledLR` (a real ``torch.optim.lr_scheduler.LRScheduler``), so the LR of
iteration ``t`` is ``schedule(t)`` times the group's multiplier.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import distributed as _dist
from .optim import eval_weights, train_mode
from .utils import (
    atomic_torch_save,
    atomic_write_text,
    check_float,
    check_int,
    dumps,
    get_rng_state,
    loads,
    set_rng_state,
)

__all__ = ["History", "StepResult", "StopTraining", "evaluate", "fit", "model_device", "train_step"]

Batch = tuple[torch.Tensor, torch.Tensor]


# -------------------- One step -------------------------------------------------------------------
@dataclass
class StepResult:
    """What one optimizer step produced.

    ``loss`` is the mean loss over the step's micro-batches (a detached 0-dim tensor on the model's
    device, so that no host sync is forced); ``skipped`` is True when an AMP ``GradScaler`` found
    inf/NaN gradients and skipped ``optimizer.step()``.
    """

    loss: torch.Tensor
    skipped: bool = False


def _to_device(batch: Batch, device: torch.device, channels_last: bool) -> Batch:
    x, y = batch
    x = x.to(device, non_blocking=True)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y.to(device, non_blocking=True)


def _autocast(device: torch.device, amp_dtype: torch.dtype | None):
    if amp_dtype is None:
        return torch.autocast(device_type=device.type, enabled=False)
    return torch.autocast(device_type=device.type, dtype=amp_dtype)


def model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batches: Sequence[Batch],
    *,
    scaler: torch.amp.GradScaler | None = None,
    amp_dtype: torch.dtype | None = None,
    device: torch.device | None = None,
    channels_last: bool = False,
) -> StepResult:
    """One optimizer step over ``len(batches)`` micro-batches (gradient accumulation).

    Each micro-batch's loss is divided by the number of micro-batches before ``backward``, so k
    micro-batches of size b give the gradient of one batch of size k·b (for models without
    batch-dependent layers). With a ``scaler`` (``torch.amp.GradScaler``) the step goes through it;
    ``StepResult.skipped`` says whether the scaler skipped it (its scale dropped). Under
    torch.distributed the gradients are averaged over the ranks before the step (by DDP itself for a
    DDP model, else :func:`lrkit.distributed.average_gradients`); the loss returned is this rank's.
    """
    if len(batches) == 0:
        raise ValueError("batches must hold at least one (inputs, targets) micro-batch")
    device = device if device is not None else model_device(model)
    model.train()
    optimizer.zero_grad(set_to_none=True)
    k = len(batches)
    total = None
    for i, batch in enumerate(batches):
        x, y = _to_device(batch, device, channels_last)
        with _dist.no_sync_unless(model, last=i == k - 1):  # DDP: all-reduce on the last backward only
            with _autocast(device, amp_dtype):
                loss = loss_fn(model(x), y)
            part = loss / k
            if scaler is not None:
                scaler.scale(part).backward()
            else:
                part.backward()
        d = loss.detach().float()
        total = d if total is None else total + d
    _dist.average_gradients(model)  # a plain model under torch.distributed; nothing otherwise
    skipped = False
    if scaler is not None:
        before = scaler.get_scale()
        scaler.step(optimizer)
        scaler.update()
        skipped = scaler.get_scale() < before
    else:
        optimizer.step()
    return StepResult(loss=total / k, skipped=skipped)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: Iterable[Batch],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    *,
    device: torch.device | None = None,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> dict[str, float]:
    """Mean loss and accuracy of ``model`` over every batch of ``data`` (eval mode, no grad).

    The model's train/eval mode is restored afterwards. Under torch.distributed every rank evaluates
    its shard of each batch (:func:`lrkit.distributed.shard`) and the loss sum, correct count and ``n``
    are summed over the ranks: every rank returns the global numbers.
    """
    loss_fn = loss_fn or nn.functional.cross_entropy
    device = device if device is not None else model_device(model)
    dd = _dist.world()[1] > 1
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    n = 0
    try:
        for batch in data:
            x, y = _to_device(_dist.shard(batch, allow_empty=True) if dd else batch, device, channels_last)
            with _autocast(device, amp_dtype):
                out = model(x)  # also on an empty shard: a DDP forward may be a collective
            if dd and y.shape[0] == 0:
                continue
            loss_sum += loss_fn(out.float(), y).double() * y.shape[0]
            correct += (out.argmax(1) == y).sum()
            n += y.shape[0]
    finally:
        model.train(was_training)
    if dd:
        loss_sum, correct, n = _dist.all_reduce_sum(torch.stack([loss_sum, correct.double(),
                                                                  loss_sum.new_tensor(n)]))
        n = int(n)
    if n == 0:
        raise ValueError("evaluation data is empty")
    return {"loss": float(loss_sum) / n, "acc": float(correct) / n, "n": n}


# -------------------- History --------------------------------------------------------------------
@dataclass
class History:
    """What a training run recorded, one entry per optimizer step, plus periodic evaluations.

    ``lr[i]`` and ``momentum[i]`` hold one value per param group (momentum is ``None`` for groups
    without one); ``evals`` is a list of ``{"iteration", "epoch", "loss", "acc", ...}`` dicts;
    ``wall`` is the seconds elapsed at each step since the run (and any run it resumed) started.
    """

    iteration: list[int] = field(default_factory=list)
    lr: list[list[float]] = field(default_factory=list)
    momentum: list[list[float | None]] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    evals: list[dict[str, float]] = field(default_factory=list)
    steps_per_epoch: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.iteration)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def to_json(self) -> str:
        """Strict JSON (lrkit's convention for non-finite values: :func:`lrkit.utils.dumps`)."""
        return dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> History:
        d = loads(text)
        if not isinstance(d, dict) or "iteration" not in d:
            raise ValueError("not an lrkit History document")
        return cls.from_dict(d)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the history as JSON, atomically."""
        return atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike) -> History:
        path = Path(path)
        try:
            return cls.from_json(path.read_bytes())
        except (OSError, ValueError, TypeError, KeyError) as e:
            raise ValueError(f"{path} is not a readable lrkit History JSON file: {e}") from None

    def final_eval(self) -> dict[str, float] | None:
        return self.evals[-1] if self.evals else None

    def best_acc(self) -> float | None:
        return max((e["acc"] for e in self.evals if "acc" in e), default=None)

    def plot(self, **kwargs):
        """Figure with the LR, training loss and evaluation accuracy against iteration."""
        from .plot import plot_history

        return plot_history(self, **kwargs)


# -------------------- The loop -------------------------------------------------------------------
class StopTraining(Exception):
    """Raised by a :func:`fit` callback to end training after the current step (``fit`` returns the
    History, with the reason in ``history.meta["stopped"]``). The range test stops this way."""


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


def _group_values(optimizer: torch.optim.Optimizer) -> tuple[list[float], list[float | None]]:
    lrs = [float(g["lr"]) for g in optimizer.param_groups]
    moms = [float(g["momentum"]) if "momentum" in g else float(g["betas"][0]) if "betas" in g else None
            for g in optimizer.param_groups]
    return lrs, moms


def _steps_per_epoch(data: Any) -> int | None:
    if hasattr(data, "steps_per_epoch"):
        return int(data.steps_per_epoch)
    try:
        return len(data)
    except TypeError:
        return None


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    train_data: Any,
    *,
    iterations: int | None = None,
    epochs: float | None = None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
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
    evaluate on ``eval_data``; every ``checkpoint_every`` iterations write a checkpoint.

    Args:
        schedule: an :mod:`lrkit.schedules` schedule; wrapped in a
            :class:`~lrkit.scheduler.ScheduledLR` (with ``momentum``) unless ``scheduler`` is given.
            ``None`` and no ``scheduler``: the optimizer's LRs stay as they are.
        scheduler: any object with ``step()`` (e.g. a torch ``LRScheduler``), stepped once per
            optimizer step; its ``state_dict`` goes into checkpoints.
        amp: autocast (bfloat16 on CPU, float16 + a GradScaler on CUDA).
        checkpoint / resume: path of the checkpoint file; with ``resume=True`` and an existing
            checkpoint, model, optimizer, scheduler, scaler, History and RNG states are restored and
            training continues where it stopped — with lrkit's ``BatchLoader`` the result is the
            same History as an uninterrupted run (wall times aside).
        callbacks: ``f(iteration, history)`` called after every step; one may raise
            :class:`StopTraining` to end training there (``history.meta['stopped']`` says why). They see every
            loss in ``history.train_loss`` unless all have ``needs_loss = False`` (then no sync per step).
        AMP-skipped steps (the GradScaler found inf/NaN gradients) are listed in
            ``history.meta['skipped']``; a :class:`~lrkit.scheduler.ScheduledLR` does not advance on them.
        Under torch.distributed (see :mod:`lrkit.distributed`): each rank trains on its shard of every
        global batch, the recorded loss is the mean over the ranks, a ``StopTraining`` on any rank
        stops all, and rank 0 alone writes the checkpoint (the others wait at a barrier).
        A schedule-free optimizer is put in train mode at the start and evaluated at its average x, with
        BatchNorm statistics recomputed on the first ``lrkit.optim.BN_BATCHES`` batches of ``train_data``
        (:class:`lrkit.optim.eval_weights`, which leaves the training run untouched).
    """
    loss_fn = loss_fn or nn.functional.cross_entropy
    spe = _steps_per_epoch(train_data)
    accumulation_steps = check_int("accumulation_steps", accumulation_steps, min=1)
    if iterations is None:
        if epochs is None:
            raise ValueError("iterations: give iterations or epochs")
        if spe is None:
            raise ValueError("epochs needs train_data with a length; give iterations instead")
        epochs = check_float("epochs", epochs, min=0, min_open=True)
        iterations = max(1, int(round(epochs * spe / accumulation_steps)))
    iterations = check_int("iterations", iterations, min=1)
    if eval_every is not None:
        eval_every = check_int("eval_every", eval_every, min=1)
    if checkpoint_every is not None:
        checkpoint_every = check_int("checkpoint_every", checkpoint_every, min=1)
        if checkpoint is None:
            raise ValueError("checkpoint_every needs a checkpoint path")
    if scheduler is not None and schedule is not None:
        raise ValueError("schedule: give a schedule or a scheduler, not both")
    dev = torch.device(device) if device is not None else model_device(model)
    dd = _dist.world()[1] > 1
    if device is not None:
        model.to(dev)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    own_scheduler = scheduler is None and schedule is not None
    if own_scheduler:
        from .scheduler import ScheduledLR

        scheduler = ScheduledLR(optimizer, schedule, momentum=momentum)
    amp_dtype = (torch.float16 if dev.type == "cuda" else torch.bfloat16) if amp else None
    if amp_dtype == torch.float16 and scaler is None:
        scaler = torch.amp.GradScaler(dev.type)
    history, start, elapsed0 = History(steps_per_epoch=spe), 0, 0.0
    ckpt_path = Path(checkpoint) if checkpoint is not None else None
    if resume and ckpt_path is not None and ckpt_path.exists():
        start, history, elapsed0 = _load_checkpoint(ckpt_path, model, optimizer, scheduler, scaler)
    if start >= iterations:
        return history
    train_mode(optimizer)  # a schedule-free optimizer: parameters to the gradient point y

    def save_ckpt(done: int, elapsed: float) -> None:
        if _dist.is_main():  # rank 0 writes; the others wait, so nobody reads a file being written
            atomic_torch_save({"format": "lrkit-checkpoint-1", "iteration": done, "elapsed": elapsed,
                               "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                               "scheduler": scheduler.state_dict() if hasattr(scheduler, "state_dict") else None,
                               "scaler": scaler.state_dict() if scaler is not None else None,
                               "history": history.to_dict(), "rng": get_rng_state()}, ckpt_path)
        _dist.barrier()

    from tqdm.auto import tqdm
    bar = tqdm(total=iterations, initial=start, desc=desc, disable=not progress or not _dist.is_main(), leave=False,
               mininterval=0.5)
    batches = _iter_batches(train_data, start * accumulation_steps)
    pending: list[torch.Tensor] = []
    needs_loss = any(getattr(cb, "needs_loss", True) for cb in callbacks or ())  # else no loss sync per step
    t0 = time.perf_counter() - elapsed0

    def flush(sync: bool = True) -> None:  # distributed: the mean loss over the ranks (not after an error)
        if pending:
            losses = torch.stack(pending)
            history.train_loss.extend((_dist.all_reduce_mean(losses) if dd and sync else losses).tolist())
            pending.clear()

    try:
        for it in range(start, iterations):
            micro = [next(batches) for _ in range(accumulation_steps)]
            if dd:
                micro = [_dist.shard(b) for b in micro]
            lrs, moms = _group_values(optimizer)
            res = train_step(model, optimizer, loss_fn, micro, scaler=scaler, amp_dtype=amp_dtype,
                             device=dev, channels_last=channels_last)
            if scheduler is not None:
                scheduler.step()
            history.iteration.append(it)
            history.lr.append(lrs)
            history.momentum.append(moms)
            pending.append(res.loss)
            history.wall.append(time.perf_counter() - t0)
            if res.skipped:  # the GradScaler skipped optimizer.step() (inf/NaN gradients)
                history.meta.setdefault("skipped", []).append(it)
            done = it + 1
            if eval_data is not None and ((eval_every and done % eval_every == 0) or done == iterations):
                flush()
                with eval_weights(optimizer, model, train_data, device=dev, amp_dtype=amp_dtype,
                                  channels_last=channels_last):  # schedule-free: at x, BN recomputed
                    ev = evaluate(model, eval_data, loss_fn, device=dev, amp_dtype=amp_dtype,
                                  channels_last=channels_last)
                ev = {"iteration": done, "epoch": done * accumulation_steps / spe if spe else None, **ev}
                history.evals.append(ev)
                bar.set_postfix(acc=f"{ev['acc']:.3f}", loss=f"{ev['loss']:.3f}")
            if callbacks:
                if needs_loss:
                    flush()  # callbacks see the complete history (a device sync per step)
                stop = None
                try:
                    for cb in callbacks:
                        cb(it, history)
                except StopTraining as e:
                    stop = str(e) or "stopped by a callback"
                if dd and _dist.any_rank(stop is not None):  # one decision for all ranks
                    stop = stop or "stopped by a callback on another rank"
                if stop is not None:
                    history.meta["stopped"] = stop
                    break
            if ckpt_path is not None and checkpoint_every and done % checkpoint_every == 0:
                flush()
                save_ckpt(done, time.perf_counter() - t0)
            bar.update(1)
        flush()
    finally:
        flush(sync=False)  # after an error on one rank: no collective the others would never join
        bar.close()
        batches.close()
        if own_scheduler:
            scheduler.close()
    if ckpt_path is not None:
        save_ckpt(len(history), time.perf_counter() - t0)
    return history


def _load_checkpoint(path: Path, model, optimizer, scheduler, scaler) -> tuple[int, History, float]:
    try:
        state = torch.load(path, map_location=model_device(model), weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a corrupt file
        raise ValueError(f"checkpoint {path} is corrupt or unreadable: {e}") from e
    if not isinstance(state, dict) or state.get("format") != "lrkit-checkpoint-1":
        raise ValueError(f"checkpoint {path} is not an lrkit checkpoint")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state.get("scaler") is not None:
        scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"])
    return int(state["iteration"]), History.from_dict(state["history"]), float(state["elapsed"])
