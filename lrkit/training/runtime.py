"""Where and how a run computes — device, mixed precision, memory layout, gradient scaler — decided once.

nanoGPT builds its autocast context once and uses it everywhere; lrkit does the same with a
:class:`Runtime`: :func:`lrkit.training.fit`, :func:`lrkit.rangetest.lr_find` and
:func:`lrkit.rangetest.accuracy_range_test` resolve one from their ``device`` / ``amp`` / ``scaler`` /
``channels_last`` arguments (:meth:`Runtime.resolve`), and every function below them — a training step,
an evaluation, a BatchNorm recompute, test-time augmentation — takes that one object.

**The AMP rule** (written here only, :func:`amp_dtype_for`): autocast to float16 on CUDA, with a
``torch.amp.GradScaler`` (its scale skips the steps whose gradients overflowed); bfloat16 elsewhere,
which needs no scaler.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..utils import check_float, check_int

__all__ = ["Runtime", "amp_dtype_for", "default_device", "model_device", "resolve_iterations", "steps_per_epoch"]

Batch = tuple[torch.Tensor, torch.Tensor]


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter (CPU for a model without parameters)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def default_device(name: str | torch.device | None = None) -> torch.device:
    """``name`` as a torch device; None: CUDA when available, else the CPU (the CLI's and the bench's default)."""
    return torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))


def amp_dtype_for(device: torch.device) -> torch.dtype:
    """The autocast dtype of AMP on ``device``: float16 on CUDA (with a GradScaler), else bfloat16."""
    return torch.float16 if device.type == "cuda" else torch.bfloat16


@dataclass(frozen=True)
class Runtime:
    """How tensors are computed in one run.

    Args:
        device: where batches go (the model must be there).
        amp_dtype: the autocast dtype, or None for full precision.
        channels_last: 4-d inputs in ``torch.channels_last`` memory format (1.6× faster per step of the
            Caffe net on a CPU, BENCHMARKS.md §1).
        scaler: the ``torch.amp.GradScaler`` of float16 AMP (None otherwise).

    Example:
        >>> import torch
        >>> Runtime.resolve(torch.nn.Linear(2, 2), amp=True).amp_dtype
        torch.bfloat16
    """

    device: torch.device
    amp_dtype: torch.dtype | None = None
    channels_last: bool = False
    scaler: torch.amp.GradScaler | None = None

    @classmethod
    def resolve(cls, model: nn.Module, *, device: str | torch.device | None = None, amp: bool = False,
                scaler: torch.amp.GradScaler | None = None, channels_last: bool = False) -> Runtime:
        """The runtime of a run of ``model``: ``device`` (default: the model's), AMP's dtype when ``amp``
        (:func:`amp_dtype_for`), and for float16 a new GradScaler unless ``scaler`` is given."""
        dev = torch.device(device) if device is not None else model_device(model)
        amp_dtype = amp_dtype_for(dev) if amp else None
        if amp_dtype == torch.float16 and scaler is None:
            scaler = torch.amp.GradScaler(dev.type)
        return cls(dev, amp_dtype, bool(channels_last), scaler)

    @classmethod
    def of(cls, model: nn.Module, *, channels_last: bool = False) -> Runtime:
        """Full precision on ``model``'s device (what a function given no runtime uses)."""
        return cls(model_device(model), None, channels_last)

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` on the device (in ``channels_last`` format when asked and 4-d)."""
        x = x.to(self.device, non_blocking=True)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def batch(self, batch: Batch) -> Batch:
        """An ``(inputs, targets)`` batch on the device."""
        x, y = batch
        return self.inputs(x), y.to(self.device, non_blocking=True)

    def autocast(self) -> AbstractContextManager[Any]:
        """The autocast context of this runtime (disabled in full precision)."""
        if self.amp_dtype is None:
            return torch.autocast(device_type=self.device.type, enabled=False)
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)


def steps_per_epoch(data: Any) -> int | None:
    """Batches per pass over ``data``: its ``steps_per_epoch`` (lrkit's BatchLoader), else ``len(data)``,
    else None (an iterable without a length)."""
    if hasattr(data, "steps_per_epoch"):
        return int(data.steps_per_epoch)
    try:
        return len(data)
    except TypeError:
        return None


def resolve_iterations(iterations: Any, epochs: Any, data: Any, accumulation_steps: int, *, minimum: int = 1) -> int:
    """Optimizer steps of a run given as ``iterations``, or as ``epochs`` of ``data``:
    ``max(minimum, round(epochs · steps_per_epoch / accumulation_steps))``. ``ValueError`` naming the
    argument when neither is given, ``epochs`` is not > 0, ``data`` has no length, or the result is below
    ``minimum``."""
    if iterations is None:
        if epochs is None:
            raise ValueError("iterations: give iterations or epochs")
        spe = steps_per_epoch(data)
        if spe is None:
            raise ValueError("epochs needs train_data with a length; give iterations instead")
        epochs = check_float("epochs", epochs, min=0, min_open=True)
        iterations = max(minimum, int(round(epochs * spe / accumulation_steps)))
    return check_int("iterations", iterations, min=minimum)
