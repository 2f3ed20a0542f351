"""The callback protocol of :func:`lrkit.training.fit`: :class:`Callback` and :class:`StopTraining`.

A callback is called after every optimizer step as ``callback(iteration, history)``, where
``iteration`` is the 0-based index of the step just taken and ``history`` the run's
:class:`~lrkit.training.history.History`, which already holds that step (its LR, momentum and wall
time) and any evaluation made after it. The order within a step is: train step → scheduler step →
record → evaluate (when due) → callbacks, in the order given → checkpoint (when due).

- To end training after the current step, raise :class:`StopTraining` with the reason;
  ``history.meta["stopped"]`` keeps it (the range test stops this way). Under torch.distributed a
  stop on any rank stops every rank.
- ``needs_loss`` says whether the callback reads ``history.train_loss``. The losses stay on the
  device until something needs them; when no callback does, ``fit`` does not wait for each step's loss
  (one host sync per step less) and writes them at evaluations, checkpoints and the end.

Subclass :class:`Callback` (``needs_loss = False`` when you only read LRs, wall times or the model);
a plain function ``f(iteration, history)`` is accepted too and counts as needing the losses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

__all__ = ["Callback", "FunctionCallback", "StopTraining", "as_callbacks"]


class StopTraining(Exception):
    """Raised by a :func:`~lrkit.training.fit` callback to end training after the current step
    (``fit`` returns the History, with the reason in ``history.meta["stopped"]``)."""


class Callback:
    """Base class of a ``fit`` callback: override :meth:`__call__`; set ``needs_loss = False`` if it never
    reads ``history.train_loss``."""

    #: whether the callback reads ``history.train_loss`` (then each step's loss is synced before it runs)
    needs_loss: ClassVar[bool] = True

    def __call__(self, iteration: int, history: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class FunctionCallback(Callback):
    """A plain function ``f(iteration, history)`` as a :class:`Callback` (it may read the losses)."""

    def __init__(self, fn: Callable[[int, Any], Any]) -> None:
        self.fn = fn

    def __call__(self, iteration: int, history: Any) -> None:
        self.fn(iteration, history)

    def __repr__(self) -> str:
        return f"FunctionCallback({self.fn!r})"


def as_callbacks(callbacks: Iterable[Any] | None) -> list[Callback]:
    """``callbacks`` as a list of :class:`Callback` (plain functions wrapped); a ``TypeError`` naming
    ``callbacks`` for anything that is not callable (a string, a number, a single function not in a list)."""
    if callbacks is None:
        return []
    if callable(callbacks) or isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, Iterable):
        raise TypeError(f"callbacks must be a list of callables f(iteration, history), got {callbacks!r}")
    out: list[Callback] = []
    for k, cb in enumerate(callbacks):
        if isinstance(cb, Callback):
            out.append(cb)
        elif callable(cb):
            out.append(FunctionCallback(cb))
        else:
            raise TypeError(f"callbacks[{k}] must be callable f(iteration, history), got {cb!r}")
    return out
