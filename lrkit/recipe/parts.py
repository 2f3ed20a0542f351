"""The fast recipe's building blocks: a loader with alternating flips (crops padded with zeros or by
reflection), weight averaging, test-time augmentation, freezing a parameter after some steps, and the test
curve that :func:`lrkit.recipe.train_recipe` draws (for reporting only). Each can be tested on its own.
"""

from __future__ import annotations

import copy
import time
from contextlib import nullcontext
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data import BatchLoader, augment_batch
from ..training import Callback, History
from ..training.runtime import Runtime, model_device
from ..training.self_tuning import eval_weights

__all__ = ["TTA_VIEWS", "Curve", "FreezeAfter", "RecipeLoader", "WeightAverage", "evaluate_tta", "reflect_pad"]

# --------------------------------------------------------------------------------------------------
# Data: alternating flips on top of BatchLoader
# --------------------------------------------------------------------------------------------------
def reflect_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """``x`` (``[N, C, H, W]``, any dtype: uint8 too) padded by ``pad`` pixels on every side by reflection, the
    border pixel not repeated (``F.pad``'s ``"reflect"``, which has no uint8 kernel), by indexing; exact."""
    def index(n: int) -> torch.Tensor:
        i = torch.arange(-pad, n + pad, device=x.device).abs()
        return torch.where(i >= n, 2 * (n - 1) - i, i)

    if not 0 <= pad < min(x.shape[-2:]):
        raise ValueError(f"pad must be in [0, {min(x.shape[-2:])}) for reflection, got {pad!r}")
    return x.index_select(2, index(x.shape[2])).index_select(3, index(x.shape[3]))


class RecipeLoader(BatchLoader):
    """A shuffling :class:`~lrkit.data.BatchLoader` with ``translate``-pixel random crops and
    ``flip`` = ``"alternate"`` | ``"random"`` | ``"none"``.

    ``"alternate"`` (Jordan 2024 §3.6): image ``k`` gets a fair coin ``b_k`` (drawn once from
    ``seed``) and is flipped in epoch ``e`` iff ``b_k XOR (e mod 2)`` — random in the first epoch,
    then every image alternates, so two consecutive epochs never show the same view. Batch ``i`` is
    still a pure function of ``(seed, i)``: the epoch's permutation comes from ``(seed, epoch)``, the
    crops from ``(seed, i)``, the flips from ``(seed, k, epoch)``.

    ``pad_mode``: the crops' border, ``"zeros"`` or ``"reflect"`` (airbench94's: the image mirrored at its
    edge, so a shifted crop shows no black band). The images are padded once, here. Everything per batch —
    permutation, crop offsets, flips — is drawn and applied on the images' device (a GPU batch needs
    nothing from the host: :func:`~lrkit.data.augment_batch`).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, *, translate: int = 2,
                 flip: str = "alternate", preprocess=None, seed: int = 0, device=None, pad_mode: str = "zeros"):
        super().__init__(x, y, batch_size, shuffle=True, augment=False, preprocess=preprocess, seed=seed,
                         device=device)
        if flip not in ("alternate", "random", "none"):
            raise ValueError(f"flip must be 'alternate', 'random' or 'none', got {flip!r}")
        if not isinstance(translate, int) or translate < 0:
            raise ValueError(f"translate must be an int >= 0, got {translate!r}")
        if pad_mode not in ("zeros", "reflect"):
            raise ValueError(f"pad_mode must be 'zeros' or 'reflect', got {pad_mode!r}")
        self.translate, self.flip, self.pad_mode = translate, flip, pad_mode
        if not translate:
            self._xp = self.x
        else:
            self._xp = F.pad(self.x, (translate,) * 4) if pad_mode == "zeros" else reflect_pad(self.x, translate)
        g = torch.Generator().manual_seed(seed * 9_999_991 + 17)
        self._coin = (torch.rand(len(self.x), generator=g) < 0.5).to(self.x.device)  # once, at set-up

    def flipped(self, k: torch.Tensor | int, epoch: int) -> torch.Tensor:
        """Whether image(s) ``k`` are flipped in ``epoch`` (``"alternate"`` mode)."""
        return self._coin[k] ^ bool(epoch % 2)

    def get_batch(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if i < 0:
            raise ValueError(f"batch index must be >= 0, got {i}")
        epoch, j = divmod(i, self.steps_per_epoch)
        idx = self._epoch_perm(epoch)[j * self.batch_size:(j + 1) * self.batch_size]
        flips = self.flipped(idx, epoch) if self.flip == "alternate" else self.flip == "random"
        xb = augment_batch(self._xp[idx], self._generator(i), pad=self.translate, flip=flips, prepadded=True)
        return self.preprocess(xb), self.y[idx]


# --------------------------------------------------------------------------------------------------
# Weight averaging, BN statistics, test-time augmentation
# --------------------------------------------------------------------------------------------------
class WeightAverage(Callback):
    r"""``fit`` callback: an exponential average of the weights, or Lookahead.

    Every ``every`` steps (and at the last one), with :math:`p = t/T` the fraction of training done,
    :math:`\beta = \mathrm{decay}^{\mathrm{every}}\,p^{\mathrm{power}}` and
    :math:`\bar w \leftarrow \beta\,\bar w + (1-\beta)\,w` for every parameter; buffers (BN
    statistics) are copied. ``mode="lookahead"`` then writes :math:`\bar w` back into the model
    (Zhang et al. 2019, "slow weights"), so after the last step model and average agree;
    ``mode="ema"`` leaves the model alone. :attr:`model` is the averaged copy — the one to evaluate.
    """

    needs_loss = False  # fit need not hand it the training losses (no device sync per step)

    def __init__(self, model: nn.Module, total_steps: int, *, mode: str = "lookahead", every: int = 5,
                 decay: float = 0.95, power: float = 3.0):
        if mode not in ("lookahead", "ema"):
            raise ValueError(f"mode must be 'lookahead' or 'ema', got {mode!r}")
        if not (isinstance(every, int) and every >= 1 and isinstance(total_steps, int) and total_steps >= 1):
            raise ValueError(f"every and total_steps must be positive ints, got {every!r}, {total_steps!r}")
        if not 0 <= decay < 1 or not power >= 0:
            raise ValueError(f"decay must be in [0, 1) and power >= 0, got {decay!r}, {power!r}")
        self.source, self.total, self.mode, self.every = model, total_steps, mode, every
        self.decay, self.power = decay, power
        self.model = copy.deepcopy(model)
        self.updates = 0

    def beta(self, done: int) -> float:
        return self.decay ** self.every * min(1.0, done / self.total) ** self.power

    @torch.no_grad()
    def __call__(self, it: int, history: History | None = None) -> None:
        done = it + 1
        if done % self.every and done != self.total:
            return
        b = self.beta(done)
        avg, src = list(self.model.parameters()), [p.detach() for p in self.source.parameters()]
        if len(avg) != len(src):
            raise ValueError(f"the averaged copy has {len(avg)} parameters, the model {len(src)}")
        torch._foreach_lerp_(avg, src, 1.0 - b)  # one kernel per dtype and device, not one per tensor
        if self.mode == "lookahead":
            torch._foreach_copy_(src, avg)
        bufs, src_bufs = list(self.model.buffers()), list(self.source.buffers())
        if bufs:
            torch._foreach_copy_(bufs, src_bufs)
        self.updates += 1


#: test-time views per image of each :func:`evaluate_tta` level
TTA_VIEWS = {0: 1, 1: 2, 2: 4, 3: 6}


def _views(x: torch.Tensor, level: int) -> list[tuple[torch.Tensor, float]]:
    if level == 0:
        return [(x, 1.0)]
    views = [(x, 0.5), (x.flip(3), 0.5)]
    if level == 2:  # the same two, shifted by 1 px (down-right, replicated border): 4 views of 1/4
        s = F.pad(x, (1, 0, 1, 0), mode="replicate")[:, :, : x.shape[2], : x.shape[3]]
        views = [(v, 0.25) for v, _ in views] + [(s, 0.25), (s.flip(3), 0.25)]
    if level == 3:  # airbench94's: ½ the mirror pair, ½ the mirror pairs shifted 1 px down-right and up-left
        h, w = x.shape[2], x.shape[3]
        p = F.pad(x, (1, 1, 1, 1), mode="reflect")
        shifted = (p[:, :, :h, :w], p[:, :, 2:, 2:])
        views = [(v, 0.25) for v, _ in views] + [(v, 0.125) for s in shifted for v in (s, s.flip(3))]
    return views


@torch.no_grad()
def evaluate_tta(model: nn.Module, data: Any, *, level: int = 1, runtime: Runtime | None = None) -> dict[str, float]:
    """Loss and accuracy of the weighted mean of ``model``'s logits over test-time views.

    ``level`` 0: the image; 1: mean of ``x`` and its horizontal flip; 2: also both shifted by one
    pixel down-right with a replicated border (4 views, equal weights); 3: airbench94's six views (its
    ``tta_level=2``) — ``x`` and its flip with weight ¼ each, and the mirror pairs of ``x`` shifted one pixel
    down-right and one pixel up-left with a reflected border, ⅛ each. Eval mode; the model's mode is
    restored. ``runtime``: device, AMP and memory format (default: the model's device, full precision,
    ``channels_last``).
    """
    if level not in TTA_VIEWS:
        raise ValueError(f"level must be 0, 1, 2 or 3, got {level!r}")
    runtime = runtime if runtime is not None else Runtime.of(model, channels_last=True)
    dev, was = runtime.device, model.training
    model.eval()
    loss, correct, n = 0.0, 0, 0
    try:
        for x, y in data:
            x, y = x.to(dev), y.to(dev)
            out = 0
            for v, w in _views(x, level):
                v = v.contiguous(memory_format=torch.channels_last) if runtime.channels_last else v
                with runtime.autocast():
                    out = out + w * model(v).float()
            loss += float(F.cross_entropy(out, y, reduction="sum"))
            correct += int((out.argmax(1) == y).sum())
            n += len(y)
    finally:
        model.train(was)
    if n == 0:
        raise ValueError("evaluation data is empty")
    return {"loss": loss / n, "acc": correct / n, "n": n}


class FreezeAfter(Callback):
    """``fit`` callback: ``param`` stops learning after ``steps`` optimizer steps (``requires_grad`` off), e.g.
    the recipe's whitening bias after its first epochs."""

    needs_loss = False

    def __init__(self, param: torch.nn.Parameter, steps: int):
        self.param, self.steps = param, int(steps)

    def __call__(self, it: int, history: History | None = None) -> None:
        if it + 1 == self.steps:
            self.param.requires_grad_(False)


class Curve(Callback):
    """``fit`` callback: evaluate ``model`` on the test set every ``every`` steps and after the last one
    (reporting only), with ``level`` test-time views, and time each evaluation so it can be left out of
    the training time.

    The evaluation runs inside :class:`lrkit.training.eval_weights`. For a schedule-free ``optimizer``, that
    means at its averaged weights, with the BatchNorm statistics recomputed there on ``bn_batches``
    batches of ``train``. For every other optimizer, it is a plain evaluation. ``points[k]`` holds
    iteration, epoch, loss, acc, ``train_seconds`` (the wall time of training up to that step, with
    the earlier evaluations left out) and ``eval_seconds``.
    """

    needs_loss = False  # reads wall times only

    def __init__(self, model: nn.Module, test: Any, spe: int, total: int, level: int, runtime: Runtime, *,
                 every: int | None = None, optimizer: Any = None, train: Any = None, bn_batches: int = 4):
        self.model, self.test, self.spe, self.total, self.level = model, test, spe, total, level
        self.runtime = runtime
        self.every = max(1, int(every or spe))
        self.optimizer, self.train, self.bn_batches = optimizer, train, bn_batches
        self.points: list[dict[str, float]] = []
        self.eval_seconds = 0.0

    def __call__(self, it: int, h: History) -> None:
        done = it + 1
        if done % self.every and done != self.total:
            return
        t_in = time.perf_counter()
        dev = model_device(self.model)
        if dev.type == "cuda":  # the queued training steps finish here: their time is training, not evaluation
            torch.cuda.synchronize(dev)
        t0 = time.perf_counter()
        weights = (eval_weights(self.optimizer, self.model, self.train, self.bn_batches, runtime=self.runtime)
                   if self.optimizer is not None else nullcontext())
        with weights:  # schedule-free: at x, BN recomputed; any other optimizer: a plain evaluation
            ev = evaluate_tta(self.model, self.test, level=self.level, runtime=self.runtime)
        dt = time.perf_counter() - t0
        self.points.append({"iteration": done, "epoch": done / self.spe, **ev,
                            "train_seconds": h.wall[-1] + (t0 - t_in) - self.eval_seconds, "eval_seconds": dt})
        self.eval_seconds += dt
