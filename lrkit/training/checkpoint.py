"""The checkpoint of a :func:`~lrkit.training.fit` run: :func:`save` and :func:`load`, side by side.

One file (written atomically, ``torch.save``) holds everything an exact resume needs: the iterations
done and the seconds they took, the model's and the optimizer's state dicts, the scheduler's and the
GradScaler's (when there are), the :class:`~lrkit.training.history.History` so far and the python /
numpy / torch (and CUDA) RNG states. With lrkit's ``BatchLoader`` (batch ``i`` a pure function of
``(seed, i)``), training on from it gives the History an uninterrupted run gives, wall times aside.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..utils import atomic_torch_save, get_rng_state, set_rng_state
from . import distributed
from .history import History
from .runtime import model_device

__all__ = ["FORMAT", "load", "save"]

#: the ``"format"`` entry of every checkpoint file; :func:`load` refuses any other
FORMAT = "lrkit-checkpoint-1"
_KEYS = ("iteration", "elapsed", "model", "optimizer", "history", "rng")


def save(path: str | os.PathLike, *, iteration: int, elapsed: float, model: torch.nn.Module,
         optimizer: torch.optim.Optimizer, scheduler: Any, scaler: Any, history: History) -> None:
    """Write the checkpoint of a run after ``iteration`` steps that took ``elapsed`` seconds.

    Under torch.distributed rank 0 writes and the others wait at a barrier, so no rank reads a file
    being written."""
    if distributed.is_main():
        atomic_torch_save({"format": FORMAT, "iteration": iteration, "elapsed": elapsed,
                           "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                           "scheduler": scheduler.state_dict() if hasattr(scheduler, "state_dict") else None,
                           "scaler": scaler.state_dict() if scaler is not None else None,
                           "history": history.to_dict(), "rng": get_rng_state()}, path)
    distributed.barrier()


def load(path: str | os.PathLike, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any = None,
         scaler: Any = None) -> tuple[int, History, float]:
    """Restore model, optimizer, scheduler, scaler and RNG states from the checkpoint at ``path``;
    returns ``(iterations done, History, seconds elapsed)``.

    A file that is not an lrkit checkpoint — unreadable, another format, a state dict without the
    entries :func:`save` writes — is a ``ValueError`` naming it, before anything is restored."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=model_device(model), weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a corrupt file
        raise ValueError(f"checkpoint {path} is corrupt or unreadable: {e}") from e
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"checkpoint {path} is not an lrkit checkpoint")
    missing = [k for k in _KEYS if k not in state]
    if missing:
        raise ValueError(f"checkpoint {path} lacks {missing}: not a complete lrkit checkpoint")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state.get("scaler") is not None:
        scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"])
    return int(state["iteration"]), History.from_dict(state["history"]), float(state["elapsed"])
