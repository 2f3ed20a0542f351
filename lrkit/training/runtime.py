"""Where and how a run computes — device, mixed precision, memory layout, gradient scaler — decided once.

nanoGPT builds its autocast context once and uses it everywhere; lrkit does the same with a
:class:`Runtime`: :func:`lrkit.training.fit`, :func:`lrkit.rangetest.lr_find` and
:func:`lrkit.rangetest.accuracy_range_test` resolve one from their ``device`` / ``amp`` / ``scaler`` /
``channels_last`` arguments (:meth:`Runtime.resolve`), and every function below them — a training step,
an evaluation, a BatchNorm recompute, test-time augmentation — takes that one object.

**The AMP rule** (written here only, :func:`amp_dtype_for`): autocast to bfloat16 wherever the device
computes it natively — the CPU, and CUDA GPUs of compute capability 8 and up (A100, H100, …) — which needs
no scaler: its range is float32's, nothing overflows, no step is skipped and nothing is read back on the
host. On older CUDA GPUs, float16 with a ``torch.amp.GradScaler`` (its scale skips the steps whose
gradients overflowed). ``amp`` may also name the dtype.

**Backend settings** (:meth:`Runtime.backend_settings`): on CUDA, cuDNN's autotuner
(``torch.backends.cudnn.benchmark``) is on while a run trains — a fixed batch shape is what it is for —
unless deterministic algorithms were asked for; the flag is put back afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..utils import check_float, check_int

__all__ = ["Runtime", "amp_dtype_for", "cuda_bf16_native", "default_device", "model_device", "resolve_iterations",
           "steps_per_epoch"]

Batch = tuple[torch.Tensor, torch.Tensor]


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter (CPU for a model without parameters)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def default_device(name: str | torch.device | None = None) -> torch.device:
    """``name`` as a torch device; None: CUDA when available, else the CPU (the CLI's and the bench's default)."""
    return torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))


def cuda_bf16_native() -> bool:
    """Whether the current CUDA GPU computes bfloat16 natively (compute capability 8 and up; False without
    CUDA). ``torch.cuda.is_bf16_supported()`` alone also says True where bfloat16 is only emulated (slowly)."""
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # a torch whose is_bf16_supported has no including_emulation
        return bool(torch.cuda.is_bf16_supported())


def amp_dtype_for(device: torch.device) -> torch.dtype:
    """The autocast dtype of AMP on ``device``: bfloat16 (no GradScaler), except float16 (with a GradScaler)
    on a CUDA GPU without native bfloat16 (:func:`cuda_bf16_native`)."""
    if device.type == "cuda" and not cuda_bf16_native():
        return torch.float16
    return torch.bfloat16


_AMP_NAMES = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}


def _amp_dtype(amp: Any, device: torch.device) -> torch.dtype | None:
    """``amp`` as an autocast dtype: False/None → None, True → :func:`amp_dtype_for`, a dtype or its name."""
    if isinstance(amp, (bool, int)) or amp is None:  # True / False (and 1 / 0)
        return amp_dtype_for(device) if amp else None
    dtype = _AMP_NAMES.get(amp, amp) if isinstance(amp, str) else amp
    if dtype not in (torch.bfloat16, torch.float16):
        raise ValueError(f"amp must be True/False, torch.bfloat16/torch.float16 or their name, got {amp!r}")
    return dtype


@dataclass(frozen=True)
class Runtime:
    """How tensors are computed in one run.

    Args:
        device: where batches go (the model must be there).
        amp_dtype: the autocast dtype, or None for full precision.
        channels_last: 4-d inputs in ``torch.channels_last`` memory format (1.6× faster per step of the
            Caffe net on a CPU, BENCHMARKS.md §1).
        scaler: the ``torch.amp.GradScaler`` of float16 AMP (None otherwise).
        cudnn_benchmark: turn cuDNN's autotuner on while a run trains (:meth:`backend_settings`).

    Example:
        >>> import torch
        >>> Runtime.resolve(torch.nn.Linear(2, 2), amp=True).amp_dtype
        torch.bfloat16
    """

    device: torch.device
    amp_dtype: torch.dtype | None = None
    channels_last: bool = False
    scaler: torch.amp.GradScaler | None = None
    cudnn_benchmark: bool = False

    @classmethod
    def resolve(cls, model: nn.Module, *, device: str | torch.device | None = None, amp: Any = False,
                scaler: torch.amp.GradScaler | None = None, channels_last: bool = False) -> Runtime:
        """The runtime of a run of ``model``: ``device`` (default: the model's), AMP's dtype when ``amp``
        (True: :func:`amp_dtype_for`; or ``torch.bfloat16`` / ``torch.float16`` or their name), for float16
        a new GradScaler unless ``scaler`` is given, and on CUDA cuDNN's autotuner unless deterministic
        algorithms are asked for (``torch.use_deterministic_algorithms`` / ``cudnn.deterministic``)."""
        dev = torch.device(device) if device is not None else model_device(model)
        amp_dtype = _amp_dtype(amp, dev)
        if amp_dtype == torch.float16 and scaler is None:
            scaler = torch.amp.GradScaler(dev.type)
        tune = dev.type == "cuda" and not (torch.are_deterministic_algorithms_enabled()
                                           or torch.backends.cudnn.deterministic)
        return cls(dev, amp_dtype, bool(channels_last), scaler, tune)

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

    @contextmanager
    def backend_settings(self) -> Iterator[None]:
        """Inside: the process-wide backend flags this runtime asks for — ``torch.backends.cudnn.benchmark``
        when :attr:`cudnn_benchmark` (cuDNN times its algorithms for each new input shape once, then uses
        the fastest); afterwards the flags are as they were."""
        before = torch.backends.cudnn.benchmark
        if self.cudnn_benchmark:
            torch.backends.cudnn.benchmark = True
        try:
            yield
        finally:
            torch.backends.cudnn.benchmark = before

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
