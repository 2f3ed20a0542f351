r"""Optimizers that set their own LR — schedule-free and LR-free — and what lrkit does about them.

This is the one place these semantics are stated; the scheduler, the range test, the recipe's methods
and the loop link here.

- **Schedule-free** (Defazio et al. 2024, arXiv 2405.15682; ``schedulefree``'s ``SGDScheduleFree`` /
  ``AdamWScheduleFree``). ``group["lr"]`` is the constant step after the optimizer's built-in warmup
  (``warmup_steps``), and through ``lr_max`` it weights the optimizer's average: a schedule on top is
  compatible but is not what the method needs (a momentum schedule would also change the β its
  ``train()`` / ``eval()`` switch interpolates with). It takes gradients at
  :math:`y_t = (1-\beta) z_t + \beta x_t` but is evaluated at the average :math:`x_t`;
  ``optimizer.train()`` / ``optimizer.eval()`` move the parameters between the two, and BatchNorm
  running statistics gathered at :math:`y` are wrong at :math:`x`, so :class:`eval_weights`
  recomputes them there (:func:`recompute_bn`).
- **LR-free** (Prodigy, Mishchenko & Defazio 2023, arXiv 2306.06101; D-Adaptation, Defazio & Mishchenko
  2023). They estimate the step size ``d`` themselves and ``group["lr"]`` multiplies it (default 1.0):
  a schedule scales that estimate, a range test sweeps the multiplier.

:func:`sets_own_lr` says which (or None for an ordinary optimizer). :func:`lrkit.training.fit` puts a
schedule-free optimizer in train mode (:func:`train_mode`) and evaluates it inside
:class:`eval_weights`; :class:`~lrkit.training.ScheduledLR` and the range tests warn once, saying what
their LR means there. For every other optimizer these functions do nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import nn

from ..utils import check_int, get_rng_state, set_rng_state
from .runtime import Runtime

__all__ = ["BN_BATCHES", "LR_FREE", "SCHEDULE_FREE", "bn_batches", "eval_weights", "has_eval_mode", "recompute_bn",
           "sets_own_lr", "train_mode"]

#: :func:`sets_own_lr`'s answers
SCHEDULE_FREE = "schedule-free: the LR is the base step of a schedule-free average"
LR_FREE = "LR-free: lr multiplies the step size the optimizer estimates (default 1.0)"


def sets_own_lr(optimizer: torch.optim.Optimizer) -> str | None:
    """Why ``group["lr"]`` of ``optimizer`` is not a plain step size, or ``None`` for ordinary optimizers.

    :data:`SCHEDULE_FREE` for schedule-free optimizers (param groups with ``train_mode`` and
    ``weight_sum``: ``lr`` is the constant step after their built-in warmup, and ``lr_max`` weights
    their average); :data:`LR_FREE` for Prodigy and D-Adaptation (classes of ``prodigyopt`` /
    ``dadaptation``, or groups with ``d`` and ``growth_rate``: they estimate the step size ``d`` and
    ``lr`` multiplies it).
    """
    group = optimizer.param_groups[0] if optimizer.param_groups else {}
    if "train_mode" in group and "weight_sum" in group:
        return SCHEDULE_FREE
    if type(optimizer).__module__.split(".")[0] in ("prodigyopt", "dadaptation") or {"d", "growth_rate"} <= set(group):
        return LR_FREE
    return None


def has_eval_mode(optimizer: torch.optim.Optimizer) -> bool:
    """True for an optimizer with its own ``train()`` / ``eval()`` switch (schedule-free ones)."""
    return callable(getattr(optimizer, "train", None)) and callable(getattr(optimizer, "eval", None))


def train_mode(optimizer: torch.optim.Optimizer) -> None:
    """``optimizer.train()`` if it has the switch (parameters to the gradient point :math:`y`); else nothing."""
    if has_eval_mode(optimizer):
        optimizer.train()


def _in_train_mode(optimizer: torch.optim.Optimizer) -> bool:
    return all(g.get("train_mode", True) for g in optimizer.param_groups)


#: batches :func:`recompute_bn` runs by default: the schedulefree README's example uses 50
BN_BATCHES = 50


def bn_batches(data: Any, n: int = BN_BATCHES) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The batches BatchNorm statistics are recomputed on: the first ``n`` batches of one fresh pass over
    ``data`` (at most one pass).

    A data source with ``get_batch(i)`` (lrkit's :class:`~lrkit.data.BatchLoader`) gives
    ``get_batch(0 … n-1)`` — the same batches every time, and the loader's own epoch counter is not
    touched; any other re-iterable (a list, a ``DataLoader``) gives the first ``n`` of a new
    ``iter(data)`` (a shuffled ``DataLoader``: a new random sample each time). Neither disturbs the
    stream :func:`lrkit.training.fit` trains on. A one-shot iterator is a ``ValueError`` (drawing from it
    would steal training batches).
    """
    n = check_int("bn_batches", n, min=0)
    try:
        n = min(n, len(data))
    except TypeError:
        pass
    if hasattr(data, "get_batch"):
        return (data.get_batch(i) for i in range(n))
    it = iter(data)
    if it is data:
        raise ValueError("BatchNorm statistics at the evaluated weights need a fresh pass over the training "
                         "data, but it is a one-shot iterator; pass a re-iterable (a list, a DataLoader)")
    return itertools.islice(it, n)


def _bn_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
            and m.running_mean is not None]


@torch.no_grad()
def recompute_bn(model: nn.Module, batches: Iterable[tuple[torch.Tensor, Any]], *,
                 runtime: Runtime | None = None) -> int:
    r"""Recompute every BatchNorm layer's running statistics at the model's current weights.

    Each BN layer's ``running_mean`` / ``running_var`` are reset and, with ``momentum=None`` (a
    cumulative average), set to the plain mean over ``batches`` of the per-batch statistics
    (:math:`\bar\mu = \frac1n\sum_b \mu_b`, :math:`\bar\sigma^2 = \frac1n\sum_b s_b^2` with unbiased
    :math:`s_b^2`): forward passes in train mode, no grad, the targets unused. Afterwards every
    module's train/eval flag and BN ``momentum`` are as before and the python/numpy/torch RNG states
    are restored (dropout in those passes does not shift the training run's random stream). Returns
    the number of batches used; without BN layers nothing runs (0). ``runtime``: device, autocast and
    memory format of the passes (default: the model's device, full precision).
    """
    layers = _bn_layers(model)
    if not layers:
        return 0
    runtime = runtime if runtime is not None else Runtime.of(model)
    modes = [(m, m.training) for m in model.modules()]
    momenta = [m.momentum for m in layers]
    rng = get_rng_state()
    n = 0
    try:
        for m in layers:
            m.reset_running_stats()
            m.momentum = None
        model.train()
        for x, _ in batches:
            x = runtime.inputs(x)
            with runtime.autocast():
                model(x)
            n += 1
    finally:
        for m, mode in modes:
            m.training = mode
        for m, mom in zip(layers, momenta, strict=True):
            m.momentum = mom
        set_rng_state(rng)
    return n


class eval_weights:
    r"""Context manager: inside, ``model`` has the weights ``optimizer`` is evaluated at.

    For an optimizer with a train/eval switch (schedule-free): on entry ``optimizer.eval()``
    (parameters :math:`y \to x`, the average), then, if the model has BatchNorm layers and
    ``bn_batches > 0``, :func:`recompute_bn` over :func:`bn_batches(train_data, bn_batches)
    <bn_batches>` — the running statistics at :math:`x`, not those collected at :math:`y` during
    training; evaluate inside the block. On exit the BN buffers (``running_mean``, ``running_var``,
    ``num_batches_tracked``) get their training values back, ``optimizer.train()`` is called and the
    parameters get back the exact :math:`y` they had (``train()`` recomputes :math:`y` from :math:`x`
    and :math:`z` only up to rounding) — so evaluating has no effect on the training run. If the
    optimizer was in eval mode on entry it stays so (parameters at :math:`x`).

    For every other optimizer it does nothing: ``with eval_weights(...): evaluate(...)`` is exactly
    ``evaluate(...)``. To *keep* the evaluated weights (to save or deploy the model), call
    ``optimizer.eval()`` and :func:`recompute_bn` yourself.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, model: nn.Module, train_data: Any = None,
                 bn_batches: int = BN_BATCHES, *, runtime: Runtime | None = None):
        self.optimizer, self.model, self.train_data = optimizer, model, train_data
        self.bn_batches = check_int("bn_batches", bn_batches, min=0)
        self.runtime = runtime
        self.active = has_eval_mode(optimizer)

    def __enter__(self) -> eval_weights:
        if not self.active:
            return self
        opt = self.optimizer
        self._was_train = _in_train_mode(opt)
        self._y = [p.detach().clone() for g in opt.param_groups for p in g["params"]] if self._was_train else None
        layers = _bn_layers(self.model) if self.bn_batches and self.train_data is not None else []
        self._bn = [(t, t.clone()) for m in layers for t in (m.running_mean, m.running_var, m.num_batches_tracked)
                    if t is not None]
        opt.eval()
        try:
            if layers:
                recompute_bn(self.model, bn_batches(self.train_data, self.bn_batches), runtime=self.runtime)
        except BaseException:
            self._restore()
            raise
        return self

    @torch.no_grad()
    def _restore(self) -> None:
        for t, saved in self._bn:
            t.copy_(saved)
        if self._was_train:
            self.optimizer.train()
            params = [p for g in self.optimizer.param_groups for p in g["params"]]
            for p, y in zip(params, self._y, strict=True):
                p.copy_(y)

    def __exit__(self, *exc) -> bool:
        if self.active:
            self._restore()
        return False
