r"""Optimizers: an SGD with Caffe's semantics, optimizers built from plain data, and the adapters that
optimizers setting their own LR need.

- :class:`CaffeSGD` — SGD with the LR *inside* the momentum buffer and Caffe's per-parameter
  ``lr_mult`` / ``decay_mult`` (what Smith 2017 trained with).
- :func:`make_optimizer` — ``{"name": ..., **kwargs}`` → an optimizer; the bench's run specs and the
  CLI build every optimizer through it. Names: ``sgd``, ``adam``, ``adamw``, ``caffe_sgd``, and from
  the ``[modern]`` extra (``pip install 'lrkit[modern]'``, imported only when asked for):
  ``sgd_schedulefree`` / ``adamw_schedulefree`` (Defazio et al. 2024, arXiv 2405.15682),
  ``prodigy`` (Mishchenko & Defazio 2023, arXiv 2306.06101), ``dadapt_sgd`` / ``dadapt_adam``
  (D-Adaptation, Defazio & Mishchenko 2023).
- :func:`sets_own_lr` — why ``group["lr"]`` is not the step size of such an optimizer (or ``None``).
- :func:`train_mode` / :class:`eval_weights` — schedule-free's train/eval switch. A schedule-free
  optimizer takes gradients at :math:`y_t = (1-\beta) z_t + \beta x_t` but is evaluated at the
  average :math:`x_t`; ``optimizer.train()`` / ``optimizer.eval()`` move the parameters between the
  two, and BatchNorm running statistics gathered at :math:`y` are wrong at :math:`x`, so
  :class:`eval_weights` recomputes them there (:func:`recompute_bn`). :func:`lrkit.train.fit` uses
  both; for every other optimizer they do nothing.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn

from .utils import check_choice, check_int, get_rng_state, set_rng_state

__all__ = ["BN_BATCHES", "LR_FREE", "OPTIMIZERS", "SCHEDULE_FREE", "CaffeSGD", "bn_batches", "eval_weights",
           "has_eval_mode", "make_optimizer", "recompute_bn", "sets_own_lr", "train_mode"]


class CaffeSGD(torch.optim.Optimizer):
    r"""SGD with momentum exactly as Caffe's ``SGDSolver`` computes it.

    For every parameter :math:`w` with gradient :math:`g`, group LR :math:`\eta`, momentum :math:`\mu`,
    weight decay :math:`\lambda` and the per-parameter multipliers of a Caffe prototxt
    (``lr_mult``, ``decay_mult``):

    .. math::
        v \leftarrow \mu v + \eta\,\mathrm{lr\_mult}\,(g + \lambda\,\mathrm{decay\_mult}\,w), \qquad
        w \leftarrow w - v

    PyTorch's ``SGD`` keeps the LR *outside* the momentum buffer
    (:math:`b \leftarrow \mu b + g;\ w \leftarrow w - \eta b`); the two agree while the LR is constant
    and differ as soon as it changes every iteration — which is what cyclical schedules do. Smith's
    (2017) CLR results were obtained with Caffe's form.

    Each param group may carry ``lr_mult`` and ``decay_mult`` (default 1). Schedulers set the group's
    ``lr`` (Caffe's ``base_lr`` after its policy), the multipliers stay fixed.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.9, weight_decay: float = 0.0,
                 lr_mult: float = 1.0, decay_mult: float = 1.0):
        if not lr >= 0:
            raise ValueError(f"lr must be >= 0, got {lr}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if not weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, lr_mult=lr_mult,
                        decay_mult=decay_mult)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            rate = group["lr"] * group["lr_mult"]
            decay = group["weight_decay"] * group["decay_mult"]
            mom = group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if decay != 0:
                    g = g.add(p, alpha=decay)
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = torch.zeros_like(p)
                buf.mul_(mom).add_(g, alpha=rate)
                p.sub_(buf)
        return loss



def _sgd(params, **kw):
    return torch.optim.SGD(params, **kw)


def _adam(params, **kw):
    return torch.optim.Adam(params, **kw)


def _adamw(params, **kw):
    return torch.optim.AdamW(params, **kw)


def _caffe_sgd(params, **kw):
    return CaffeSGD(params, **kw)


#: optimizers of the ``[modern]`` extra: name → (package, class); imported when first built
_MODERN = {"sgd_schedulefree": ("schedulefree", "SGDScheduleFree"),
           "adamw_schedulefree": ("schedulefree", "AdamWScheduleFree"),
           "prodigy": ("prodigyopt", "Prodigy"),
           "dadapt_sgd": ("dadaptation", "DAdaptSGD"),
           "dadapt_adam": ("dadaptation", "DAdaptAdam")}


def _modern(name: str) -> Callable[..., torch.optim.Optimizer]:
    package, cls = _MODERN[name]

    def build(params, **kw):
        try:
            module = importlib.import_module(package)
        except ImportError:
            raise ValueError(f"optimizer {name!r} needs the {package!r} package, which is not installed: "
                             "pip install 'lrkit[modern]'") from None
        return getattr(module, cls)(params, **kw)

    build.__name__ = f"_{name}"
    return build


#: the optimizers :func:`make_optimizer` knows: name → constructor ``f(params, **kwargs)``
OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "sgd": _sgd, "adam": _adam, "adamw": _adamw, "caffe_sgd": _caffe_sgd, **{n: _modern(n) for n in _MODERN}}


def make_optimizer(config: dict[str, Any], model: nn.Module) -> torch.optim.Optimizer:
    """An optimizer from plain data: ``{"name": one of OPTIMIZERS, **kwargs}``.

    ``caffe_sgd`` takes ``multipliers=True`` to use the model's per-parameter Caffe lr/decay
    multipliers (:func:`lrkit.models.multiplier_param_groups`); other keys go to the constructor. An
    unknown name or keyword is a ``ValueError`` naming it; so is a name of the ``[modern]`` extra
    whose package is missing (the message says ``pip install 'lrkit[modern]'``). A schedule-free
    optimizer comes as its package makes it, in eval mode: :func:`lrkit.train.fit` switches it to
    train mode (:func:`train_mode`); a loop of your own calls ``optimizer.train()`` first.
    """
    if not isinstance(config, dict):
        raise ValueError(f"optimizer config must be a dict like {{'name': 'sgd', 'lr': 0.1}}, got {config!r}")
    cfg = dict(config)
    name = check_choice("optimizer name", cfg.pop("name", None), OPTIMIZERS)
    params: Any = model.parameters()
    if name == "caffe_sgd" and cfg.pop("multipliers", False):
        from .models import multiplier_param_groups

        params = multiplier_param_groups(model)
    try:
        return OPTIMIZERS[name](params, **cfg)
    except TypeError as e:  # an unknown keyword
        raise ValueError(f"optimizer {name!r}: {e}") from None


# --------------------------------------------------------------------------------------------------
# Optimizers that set their own LR
# --------------------------------------------------------------------------------------------------
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
    stream :func:`lrkit.train.fit` trains on. A one-shot iterator is a ``ValueError`` (drawing from it
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
                 device: torch.device | None = None, amp_dtype: torch.dtype | None = None,
                 channels_last: bool = False) -> int:
    r"""Recompute every BatchNorm layer's running statistics at the model's current weights.

    Each BN layer's ``running_mean`` / ``running_var`` are reset and, with ``momentum=None`` (a
    cumulative average), set to the plain mean over ``batches`` of the per-batch statistics
    (:math:`\bar\mu = \frac1n\sum_b \mu_b`, :math:`\bar\sigma^2 = \frac1n\sum_b s_b^2` with unbiased
    :math:`s_b^2`): forward passes in train mode, no grad, the targets unused. Afterwards every
    module's train/eval flag and BN ``momentum`` are as before and the python/numpy/torch RNG states
    are restored (dropout in those passes does not shift the training run's random stream). Returns
    the number of batches used; without BN layers nothing runs (0).
    """
    layers = _bn_layers(model)
    if not layers:
        return 0
    dev = device if device is not None else next(model.parameters()).device
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
            x = x.to(dev, non_blocking=True)
            if channels_last and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(dev.type, dtype=amp_dtype) if amp_dtype is not None else nullcontext():
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
                 bn_batches: int = BN_BATCHES, *, device: torch.device | None = None,
                 amp_dtype: torch.dtype | None = None, channels_last: bool = False):
        self.optimizer, self.model, self.train_data = optimizer, model, train_data
        self.bn_batches = check_int("bn_batches", bn_batches, min=0)
        self.kw = {"device": device, "amp_dtype": amp_dtype, "channels_last": channels_last}
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
                recompute_bn(self.model, bn_batches(self.train_data, self.bn_batches), **self.kw)
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
