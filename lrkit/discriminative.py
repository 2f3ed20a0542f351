"""Discriminative fine-tuning: layer groups, per-group LRs, freezing and gradual unfreezing.

The recipe of ULMFiT (Howard & Ruder 2018) and fastai, for any ``nn.Module``:

1. **Layer groups** (:class:`LayerGroups`), ordered from input to output:

   - :func:`layer_groups` ``(model)`` — lrkit's presets (Caffe net, CIFAR ResNets, FastNet,
     torchvision ResNets);
   - :func:`layer_groups` ``(model, ["layer2", "layer3", "fc"])`` — named *boundaries*: a group starts
     at each named module, in registration order (parameters before the first boundary form a
     leading group called ``"start"``);
   - :func:`layer_groups` ``(model, {"stem": ["conv1", "bn1"], "body": [...], ...})`` — explicit
     groups: every parameter must be covered exactly once;
   - :func:`split_by_depth` ``(model, n)`` — ``n`` contiguous groups by depth, balanced by parameter
     count (``by="params"``) or by the number of top-level children (``by="children"``).

2. **Per-group LRs** (:func:`discriminative_lrs`, :meth:`LayerGroups.param_groups`): ``slice(lo, hi)``
   or ``(lo, hi)`` (fastai: first group ``lo``, last ``hi``, geometric in between), ``slice(hi)``
   (fastai: the last group ``hi``, all others ``hi / 10``), ``lr`` with ``factor=2.6`` (ULMFiT:
   :math:`\\eta^{l-1} = \\eta^l / 2.6`), or one explicit value per group. The param groups (dicts with
   ``params``, ``lr`` and ``name``) go to any torch optimizer; a
   :class:`~lrkit.scheduler.ScheduledLR` built with ``multipliers="initial"`` then drives every group
   with ``schedule(t) × lr_g / max lr``, and :func:`lrkit.finder.lr_find` sweeps them keeping the
   ratios (its ``sweep_lr`` is the top group's LR).

3. **Freezing** (:meth:`LayerGroups.freeze_to`, :meth:`~LayerGroups.freeze`,
   :meth:`~LayerGroups.unfreeze`, fastai's semantics: ``freeze_to(k)`` freezes groups ``0 … k-1``;
   ``freeze_to(-1)`` = ``freeze()`` trains only the last group; ``unfreeze()`` = ``freeze_to(0)``).
   Frozen parameters get ``requires_grad=False``: they receive no gradient, and since lrkit's
   :func:`~lrkit.train.train_step` zeroes gradients with ``set_to_none=True``, torch's optimizers
   (SGD, Adam, …, and :class:`~lrkit.train.CaffeSGD`) skip them entirely — no weight decay, no
   momentum — so they stay bit-identical, even in an optimizer built with every group.

   Normalisation layers (BatchNorm, InstanceNorm, LayerNorm, GroupNorm) in frozen groups:

   - ``train_bn=True`` (fastai's default): their affine parameters stay trainable and BatchNorm keeps
     updating its running statistics (it follows ``model.train()`` as usual);
   - ``train_bn=False``: their parameters are frozen too, and every frozen module with running
     statistics is held in **eval mode**, so its running mean/var (and ``num_batches_tracked``) stay
     bit-identical and the forward pass uses them. This is done with a *forward pre-hook* that
     switches the module to eval mode right before each forward. A hook is robust to every way of
     setting train mode — ``model.train()``, ``module.training = True``, a state restore such as
     :class:`lrkit.finder.preserve_training_state` — and survives ``copy.deepcopy`` and pickling
     (it is a module-level function). Between a ``model.train()`` and the next forward the module's
     ``training`` flag may read ``True``; the forward itself always runs in eval mode. Unfreezing
     removes the hook and puts the module back into its model's mode.
   - ``update_bn_stats`` overrides the second half independently (default: ``= train_bn``).

4. **Gradual unfreezing** (:class:`GradualUnfreezing`): a callback for :func:`lrkit.train.fit`
   (``callbacks=[...]``) that starts with only the last group trainable and opens one more group,
   from the top, every ``N`` iterations (or at given iterations). With
   ``ScheduledLR(opt, SlantedTriangular(...), multipliers="initial")`` this is ULMFiT's
   discriminative fine-tuning + gradual unfreezing + slanted triangular LRs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .layers import NORM_TYPES, LayerGroups, discriminative_lrs, layer_groups, preset_groups, split_by_depth
from .training import Callback

__all__ = [
    "GradualUnfreezing",
    "LayerGroups",
    "NORM_TYPES",
    "ULMFIT_FACTOR",
    "discriminative_lrs",
    "layer_groups",
    "preset_groups",
    "split_by_depth",
]

#: ULMFiT's factor between the LRs of neighbouring layer groups (η^{l-1} = η^l / 2.6).
ULMFIT_FACTOR = 2.6


# --------------------------------------------------------------------------------------------------
# Gradual unfreezing
# --------------------------------------------------------------------------------------------------
class GradualUnfreezing(Callback):
    """Callback for :func:`lrkit.train.fit`: gradual unfreezing from the top (ULMFiT §3.3).

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

