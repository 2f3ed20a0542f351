"""What a training run recorded: :class:`History`, one entry per optimizer step plus the evaluations.

Plain data that reads and writes strict JSON in lrkit's convention (:func:`lrkit.utils.dumps`); the
bench stores it in every result, a checkpoint holds it, and :func:`lrkit.plot.plot_history` draws it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..utils import atomic_write_text, dumps, loads

__all__ = ["History"]


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
        from ..plot import plot_history

        return plot_history(self, **kwargs)
