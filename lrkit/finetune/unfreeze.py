"""Gradual unfreezing (ULMFiT §3.3): a :func:`~lrkit.training.fit` callback that opens one more layer
group, from the top, every ``N`` iterations (or at given iterations)."""


from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..training import Callback
from .groups import LayerGroups

__all__ = ["GradualUnfreezing"]


# --------------------------------------------------------------------------------------------------
# Gradual unfreezing
# --------------------------------------------------------------------------------------------------
class GradualUnfreezing(Callback):
    """Callback for :func:`lrkit.training.fit`: gradual unfreezing from the top (ULMFiT §3.3).

    At construction only the last group is trainable (``groups.freeze_to(-1)``). After the optimizer
    step that completes iteration ``m`` (1-based count of steps done) for every milestone ``m``,
    one more group — the highest still frozen — is opened. ``every=N`` puts milestones at ``N, 2N, …``
    (until every group is open); ``at=[m1, m2, …]`` gives them explicitly (increasing).

    The state is a pure function of the number of steps done (:meth:`open_groups`), so the callback
    is exact on a resumed run: call :meth:`apply` with the resumed iteration count before
    ``fit(..., resume=True)`` (fit only calls callbacks after steps).

    ``events`` records ``(steps_done, number_of_trainable_groups)`` at every change.
    """

    def __init__(self, groups: LayerGroups, every: int | None = None, *, at: Sequence[int] | None = None,
                 train_bn: bool = True, update_bn_stats: bool | None = None):
        if not isinstance(groups, LayerGroups):
            raise ValueError(f"groups must be a LayerGroups, got {type(groups).__name__}")
        if (every is None) == (at is None):
            raise ValueError("give exactly one of every (iterations between openings) or at (milestones)")
        n = len(groups)
        if every is not None:
            if not isinstance(every, (int, np.integer)) or isinstance(every, bool) or every < 1:
                raise ValueError(f"every must be a positive int, got {every!r}")
            milestones = [int(every) * (k + 1) for k in range(n - 1)]
        else:
            milestones = [int(m) for m in at]  # type: ignore[union-attr]
            if any(m < 1 for m in milestones) or any(b <= a for a, b in zip(milestones, milestones[1:],
                                                                            strict=False)):
                raise ValueError(f"at must be increasing positive iteration counts, got {list(at)}")
            if len(milestones) > n - 1:
                raise ValueError(f"at has {len(milestones)} milestones but only {n - 1} groups can be opened")
        self.groups = groups
        self.milestones = milestones
        self.train_bn, self.update_bn_stats = train_bn, update_bn_stats
        self.events: list[tuple[int, int]] = []
        self._open = -1
        self.apply(0)

    def open_groups(self, steps_done: int) -> int:
        """Number of trainable groups after ``steps_done`` optimizer steps."""
        return 1 + sum(1 for m in self.milestones if steps_done >= m)

    def apply(self, steps_done: int) -> None:
        """Set the freezing state for ``steps_done`` optimizer steps."""
        k = self.open_groups(steps_done)
        if k != self._open:
            self.groups.freeze_to(len(self.groups) - k, train_bn=self.train_bn,
                                  update_bn_stats=self.update_bn_stats)
            self._open = k
            self.events.append((int(steps_done), k))

    needs_loss = False  # fit need not sync the training losses for it

    def __call__(self, iteration: int, history: Any = None) -> None:
        self.apply(iteration + 1)

