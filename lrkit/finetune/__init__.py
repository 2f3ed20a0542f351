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
   :class:`~lrkit.training.ScheduledLR` built with ``multipliers="initial"`` then drives every group
   with ``schedule(t) × lr_g / max lr``, and :func:`lrkit.rangetest.lr_find` sweeps them keeping the
   ratios (its ``sweep_lr`` is the top group's LR).

3. **Freezing** (:meth:`LayerGroups.freeze_to`, :meth:`~LayerGroups.freeze`,
   :meth:`~LayerGroups.unfreeze`, fastai's semantics: ``freeze_to(k)`` freezes groups ``0 … k-1``;
   ``freeze_to(-1)`` = ``freeze()`` trains only the last group; ``unfreeze()`` = ``freeze_to(0)``).
   Frozen parameters get ``requires_grad=False``: they receive no gradient, and since lrkit's
   :func:`~lrkit.training.train_step` zeroes gradients with ``set_to_none=True``, torch's optimizers
   (SGD, Adam, …, and :class:`~lrkit.training.CaffeSGD`) skip them entirely — no weight decay, no
   momentum — so they stay bit-identical, even in an optimizer built with every group.

   Normalisation layers (BatchNorm, InstanceNorm, LayerNorm, GroupNorm) in frozen groups:

   - ``train_bn=True`` (fastai's default): their affine parameters stay trainable and BatchNorm keeps
     updating its running statistics (it follows ``model.train()`` as usual);
   - ``train_bn=False``: their parameters are frozen too, and every frozen module with running
     statistics is held in **eval mode**, so its running mean/var (and ``num_batches_tracked``) stay
     bit-identical and the forward pass uses them. This is done with a *forward pre-hook* that
     switches the module to eval mode right before each forward. A hook is robust to every way of
     setting train mode — ``model.train()``, ``module.training = True``, a state restore such as
     :class:`lrkit.training.preserve_training_state` — and survives ``copy.deepcopy`` and pickling
     (it is a module-level function). Between a ``model.train()`` and the next forward the module's
     ``training`` flag may read ``True``; the forward itself always runs in eval mode. Unfreezing
     removes the hook and puts the module back into its model's mode.
   - ``update_bn_stats`` overrides the second half independently (default: ``= train_bn``).

4. **Gradual unfreezing** (:class:`GradualUnfreezing`): a callback for :func:`lrkit.training.fit`
   (``callbacks=[...]``) that starts with only the last group trainable and opens one more group,
   from the top, every ``N`` iterations (or at given iterations). With
   ``ScheduledLR(opt, SlantedTriangular(...), multipliers="initial")`` this is ULMFiT's
   discriminative fine-tuning + gradual unfreezing + slanted triangular LRs.

The modules: :mod:`~lrkit.finetune.groups` (layer groups, freezing), :mod:`~lrkit.finetune.lrs` (per-group
LRs), :mod:`~lrkit.finetune.unfreeze` (gradual unfreezing).
"""

from .groups import NORM_TYPES, LayerGroups, layer_groups, preset_groups, split_by_depth
from .lrs import ULMFIT_FACTOR, discriminative_lrs
from .unfreeze import GradualUnfreezing

__all__ = ["GradualUnfreezing", "LayerGroups", "NORM_TYPES", "ULMFIT_FACTOR", "discriminative_lrs", "layer_groups",
           "preset_groups", "split_by_depth"]
