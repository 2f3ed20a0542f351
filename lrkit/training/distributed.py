"""Data-parallel training under ``torch.distributed`` (one process per device, started by ``torchrun``).

:func:`lrkit.training.fit`, :func:`lrkit.training.evaluate`, :func:`lrkit.rangetest.lr_find` and
:func:`lrkit.rangetest.accuracy_range_test` run unchanged on every rank of an initialised process group
(gloo on CPU, NCCL on GPU). They call the few helpers of this module, which are all no-ops — no
collective, no synchronisation — when there is a single process (torch.distributed unavailable, not
initialised, or a world of size 1). So a single-process run is exactly what it was.

What happens on ``W > 1`` ranks (the rank numbered ``r``):

- **Batches.** Every rank iterates the *same global* batch stream and keeps its ``r``-th chunk of each
  batch (:func:`shard`: ``torch.tensor_split`` along the first dimension, so chunk sizes differ by at
  most one). lrkit's :class:`~lrkit.data.BatchLoader` makes batch ``i`` a pure function of
  ``(seed, i)``, so the ranks together see exactly the global batches of a single-process run. Any
  other iterable is treated the same way: each rank keeps its chunk of whatever batch *its* iterable
  yields — pass every rank the same loader (not one behind a ``DistributedSampler``, which would
  shard twice).
- **Gradients.** A :class:`~torch.nn.parallel.DistributedDataParallel` model averages its own
  gradients during ``backward`` (lrkit only adds ``no_sync()`` to all but the last micro-batch of an
  accumulated step). A plain model gets its gradients averaged after the step's last ``backward``
  (:func:`average_gradients`: one ``all_reduce`` per dtype/device, then ÷ ``W``). A DDP model is never
  averaged a second time.
- **Loss, evaluation, decisions.** Each step's loss is the mean of the ranks' losses
  (:func:`all_reduce_mean`) before it is recorded, smoothed or used by a callback, so every rank holds
  the same History. :func:`~lrkit.training.evaluate` shards each evaluation batch and sums loss, correct
  count and example count over the ranks (the global numbers, on every rank). If a callback raises
  ``StopTraining`` on any rank, every rank stops after that step (:func:`any_rank`).
- **Files.** ``fit``'s checkpoints are written by rank 0 alone; the others wait at a :func:`barrier`.
  Results and figures are the caller's to write: guard them with :func:`is_main`. Progress bars show
  on rank 0 only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["all_reduce_mean", "any_rank", "average_gradients", "barrier", "is_ddp", "is_main", "no_sync_unless",
           "shard", "world"]


def _dist():
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process; ``(0, 1)`` when torch.distributed is unavailable or no
    process group is initialised."""
    dist = _dist()
    return (dist.get_rank(), dist.get_world_size()) if dist is not None else (0, 1)


def is_main() -> bool:
    """True on rank 0 (and in a single process): the process that writes results, figures, checkpoints."""
    return world()[0] == 0


def is_ddp(model: nn.Module) -> bool:
    """True for a ``torch.nn.parallel.DistributedDataParallel`` model (it averages its own gradients)."""
    return isinstance(model, nn.parallel.DistributedDataParallel)


def shard(batch: Sequence[Any], *, allow_empty: bool = False) -> tuple[Any, ...]:
    """This rank's chunk of a global batch: every tensor of ``batch`` split along dim 0 into
    ``world_size`` chunks with ``torch.tensor_split`` (sizes ``⌈B/W⌉`` for the first ``B mod W`` ranks,
    ``⌊B/W⌋`` for the others), chunk number ``rank`` kept. Non-tensor items pass unchanged; one process:
    ``batch`` itself.

    Raises:
        ValueError: the batch has fewer examples than there are ranks (a rank would get nothing)
            unless ``allow_empty`` (evaluation, whose sums are exact with empty chunks).
    """
    rank, size = world()
    if size == 1:
        return batch
    n = next((t.shape[0] for t in batch if isinstance(t, torch.Tensor)), None)
    if n is not None and n < size and not allow_empty:
        raise ValueError(f"batch: a global batch of {n} examples cannot be shared by {size} ranks; "
                         f"use a batch size of at least {size} (a multiple of it, for exact equivalence)")
    return tuple(torch.tensor_split(t, size)[rank] if isinstance(t, torch.Tensor) else t for t in batch)


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """The element-wise mean of ``tensor`` over the ranks (a new tensor: all_reduce SUM, then ÷ world
    size); one process: ``tensor`` itself. Every rank must call it (a collective)."""
    dist = _dist()
    if dist is None or dist.get_world_size() == 1:
        return tensor
    out = tensor.detach().clone()
    dist.all_reduce(out)
    return out / dist.get_world_size()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of ``tensor`` over the ranks (a new tensor); one process: ``tensor`` itself."""
    dist = _dist()
    if dist is None or dist.get_world_size() == 1:
        return tensor
    out = tensor.detach().clone()
    dist.all_reduce(out)
    return out


def _comm_device() -> torch.device:
    dist = _dist()
    if dist is not None and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def any_rank(flag: bool) -> bool:
    """True on every rank if ``flag`` is true on any rank (all_reduce MAX of a 0/1 flag): one decision
    for all ranks. One process: ``flag``."""
    dist = _dist()
    if dist is None or dist.get_world_size() == 1:
        return bool(flag)
    t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=_comm_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def barrier() -> None:
    """Wait until every rank gets here; one process: nothing."""
    dist = _dist()
    if dist is not None and dist.get_world_size() > 1:
        dist.barrier()


def average_gradients(model: nn.Module) -> None:
    """Replace every ``.grad`` of ``model`` by its mean over the ranks (``Σ_r grad_r / W``).

    One ``all_reduce`` per (device, dtype) over the flattened gradients. Parameters without a gradient
    are skipped (every rank must have the same set: the same model). Nothing happens in a single
    process or for a :class:`~torch.nn.parallel.DistributedDataParallel` model (it has averaged them in
    ``backward`` already).
    """
    dist = _dist()
    if dist is None or dist.get_world_size() == 1 or is_ddp(model):
        return
    size = dist.get_world_size()
    groups: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}
    for p in model.parameters():
        if p.grad is not None:
            groups.setdefault((p.grad.device, p.grad.dtype), []).append(p.grad)
    for grads in groups.values():
        flat = torch.cat([g.detach().reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= size
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()


def no_sync_unless(model: nn.Module, last: bool):
    """``model.no_sync()`` for a DDP model on all but the ``last`` micro-batch of an accumulated step
    (its gradients are all-reduced once, on the last backward); a null context otherwise."""
    return model.no_sync() if not last and is_ddp(model) else contextlib.nullcontext()
