"""Host syncs: the calls that make Python wait for the device, found and counted.

On a GPU the host only queues kernels, and a fast loop keeps it running ahead of the device. Anything that
needs a value *on the host* waits until the queue has drained, and the GPU then idles while Python launches
the next step's kernels: ``.item()``, ``float(t)`` / ``int(t)`` / ``bool(t)`` (``if t:``), ``.tolist()``,
``.cpu()``, a copy without ``non_blocking=True``, a result whose shape depends on the data (``nonzero``, a
boolean-mask index), ``torch.equal``, ``torch.cuda.synchronize``. :class:`HostSyncs` records every such call
made from Python while it is active, on any device: on a CPU-only machine it shows where a GPU run would
wait. :class:`StepSyncs` is a :func:`~lrkit.training.fit` callback that files them under the step they
happened in, so that a test can say "no sync between two evaluations" (``tests/training/test_host_syncs.py``).

What counts as a copy that blocks is decided without a GPU, so it errs on the safe side: a ``.to(device)``
(or ``torch.tensor(..., device=...)``) that names a device and lacks ``non_blocking=True`` counts even when
the tensor is already there, because the same line crosses from the host to the GPU on a CUDA run. Calls made
*inside* a torch function implemented in Python (``torch.nn.functional``) are not seen one by one (the
mode is off while torch runs its own code); Python code that calls torch — an optimizer's ``step``, a
``GradScaler``, a module's ``forward`` — is. On a real GPU, ``torch.cuda.set_sync_debug_mode("warn")`` is
the device's own account.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from .callbacks import Callback

__all__ = ["HostSyncs", "StepSyncs", "Sync"]

#: a value read on the host
_READS = {"item", "tolist", "__float__", "__int__", "__bool__", "__index__", "__complex__", "numpy", "__array__",
          "__format__", "__repr__", "cpu"}
#: a result whose shape, or a Python value, depends on the data
_DATA_DEPENDENT = {"nonzero", "argwhere", "masked_select", "unique", "unique_consecutive", "equal", "allclose",
                   "is_nonzero", "bincount"}
_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_SKIP_FILES = (__file__, os.path.join(_TORCH_DIR, "overrides.py"), os.path.join(_TORCH_DIR, "_tensor.py"))


@dataclass(frozen=True)
class Sync:
    """One call that waits for the device: ``what`` it was, ``where`` (the innermost frame outside torch,
    ``file:line in function``) and ``origin`` (the file that made the call: a torch file when torch itself
    synced, e.g. ``GradScaler.step``'s found-inf check)."""

    what: str
    where: str
    origin: str


def _named_device(args: tuple, kwargs: dict[str, Any]) -> Any:
    """The device a ``Tensor.to`` / ``torch.tensor`` call names (a device, a string, an index, another tensor's
    device), or None."""
    if kwargs.get("device") is not None:
        return kwargs["device"]
    for a in args[1:]:
        if isinstance(a, (str, torch.device)) or (isinstance(a, int) and not isinstance(a, bool)):
            return a
        if isinstance(a, torch.Tensor):
            return a.device
    return None


def _bool_index(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8) for i in items)


def _classify(name: str, args: tuple, kwargs: dict[str, Any]) -> str | None:
    """What kind of host sync the call ``name(*args, **kwargs)`` is, or None."""
    if name in _READS:
        return f"Tensor.{name}"
    if name in _DATA_DEPENDENT:
        return f"{name} (data-dependent result)"
    if name in ("__getitem__", "__setitem__") and len(args) > 1 and _bool_index(args[1]):
        return f"Tensor.{name} with a boolean mask (data-dependent shape)"
    non_blocking = kwargs.get("non_blocking", False) or any(a is True for a in args[1:])
    if name == "to" and not non_blocking:
        dev = _named_device(args, kwargs)
        return None if dev is None else f"blocking copy Tensor.to({dev})"
    if name == "cuda" and not non_blocking:
        return "blocking copy Tensor.cuda()"
    if name == "copy_" and not non_blocking and len(args) > 1 and isinstance(args[1], torch.Tensor) \
            and args[1].device != args[0].device:
        return f"blocking copy Tensor.copy_ from {args[1].device}"
    if name in ("tensor", "as_tensor", "asarray") and kwargs.get("device") is not None:
        return f"host data copied by torch.{name}(device={kwargs['device']})"
    return None


def _frames() -> tuple[str, str]:
    """(origin file, where) of the call being recorded."""
    f = sys._getframe(2)
    while f is not None and f.f_code.co_filename in _SKIP_FILES:
        f = f.f_back
    origin = f.f_code.co_filename if f is not None else "?"
    while f is not None and f.f_code.co_filename.startswith(_TORCH_DIR):
        f = f.f_back
    where = f"{f.f_code.co_filename}:{f.f_lineno} in {f.f_code.co_name}" if f is not None else "?"
    return origin, where


class HostSyncs(TorchFunctionMode):
    """Context manager: every host sync made from Python while it is active, in :attr:`syncs` (a list of
    :class:`Sync`), on any device.

    It is a ``TorchFunctionMode`` (it sees every torch call and every ``Tensor`` method, including
    ``__bool__`` / ``__float__``) and, for as long as it is active, it also wraps ``torch.cuda.synchronize``
    and the ``synchronize`` of CUDA streams and events. It slows every torch call a little: use it in
    tests and audits, not in timed runs.

    Example:
        >>> import torch
        >>> with HostSyncs() as s:
        ...     t = torch.ones(3) * 2
        ...     total = float(t.sum())
        >>> [x.what for x in s.syncs]
        ['Tensor.__float__']
    """

    def __init__(self) -> None:
        super().__init__()
        self.syncs: list[Sync] = []
        self._saved: list[tuple[Any, str, Any]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        what = _classify(getattr(func, "__name__", ""), args, kwargs)
        if what is not None:
            self.record(what)
        return func(*args, **kwargs)

    def record(self, what: str) -> None:
        origin, where = _frames()
        self.syncs.append(Sync(what, where, origin))

    def _wrap(self, owner: Any, name: str, what: str) -> None:
        original = getattr(owner, name)

        def waits(*args, **kwargs):
            self.record(what)
            return original(*args, **kwargs)

        self._saved.append((owner, name, original))
        setattr(owner, name, waits)

    def __enter__(self) -> HostSyncs:
        self._wrap(torch.cuda, "synchronize", "torch.cuda.synchronize")
        self._wrap(torch.cuda.Stream, "synchronize", "torch.cuda.Stream.synchronize")
        self._wrap(torch.cuda.Event, "synchronize", "torch.cuda.Event.synchronize")
        return super().__enter__()

    def __exit__(self, *exc: Any) -> None:
        try:
            super().__exit__(*exc)
        finally:
            while self._saved:
                owner, name, original = self._saved.pop()
                setattr(owner, name, original)

    def __len__(self) -> int:
        return len(self.syncs)


class StepSyncs(Callback):
    """``fit`` callback (put it last): the host syncs of each step, ``per_step[it]``, counted by ``syncs``.

    Step ``it``'s share is everything between the previous call of this callback and this one: fetching its
    batch, the step itself, the scheduler, the evaluation ``fit`` makes after it (when due) and the callbacks
    before this one. The first share also holds ``fit``'s own set-up (from this callback's creation).
    """

    needs_loss = False

    def __init__(self, syncs: HostSyncs) -> None:
        self.syncs = syncs
        self.per_step: dict[int, list[Sync]] = {}
        self._mark = len(syncs)

    def __call__(self, iteration: int, history: Any = None) -> None:
        new = self.syncs.syncs[self._mark:]
        self._mark = len(self.syncs)
        if new:
            self.per_step[iteration] = new

    def outside(self, allowed: Any) -> dict[int, list[Sync]]:
        """The steps with syncs for which ``allowed(iteration)`` is False (e.g. not an evaluation point)."""
        return {it: s for it, s in self.per_step.items() if not allowed(it)}
