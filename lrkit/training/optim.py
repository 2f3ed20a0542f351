r"""Optimizers built from plain data, and an SGD with Caffe's semantics.

- :class:`CaffeSGD` — SGD with the LR *inside* the momentum buffer and Caffe's per-parameter
  ``lr_mult`` / ``decay_mult`` (what Smith 2017 trained with).
- :func:`make_optimizer` — ``{"name": ..., **kwargs}`` → an optimizer; the bench's run specs and the
  CLI build every optimizer through it. Names: ``sgd``, ``adam``, ``adamw``, ``caffe_sgd``, and from
  the ``[modern]`` extra (``pip install 'lrkit[modern]'``, imported only when asked for):
  ``sgd_schedulefree`` / ``adamw_schedulefree`` (Defazio et al. 2024, arXiv 2405.15682),
  ``prodigy`` (Mishchenko & Defazio 2023, arXiv 2306.06101), ``dadapt_sgd`` / ``dadapt_adam``
  (D-Adaptation, Defazio & Mishchenko 2023). What their ``lr`` means, and the train/eval switch of the
  schedule-free ones: :mod:`lrkit.training.self_tuning`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..utils import check_choice, check_type

__all__ = ["OPTIMIZERS", "CaffeSGD", "make_optimizer"]


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
    optimizer comes as its package makes it, in eval mode: :func:`lrkit.training.fit` switches it to
    train mode (:func:`~lrkit.training.self_tuning.train_mode`); a loop of your own calls ``optimizer.train()`` first.
    """
    if not isinstance(config, dict):
        raise ValueError(f"optimizer config must be a dict like {{'name': 'sgd', 'lr': 0.1}}, got {config!r}")
    check_type("model", model, nn.Module, "a torch.nn.Module")
    cfg = dict(config)
    name = check_choice("optimizer name", cfg.pop("name", None), OPTIMIZERS)
    params: Any = model.parameters()
    if name == "caffe_sgd" and cfg.pop("multipliers", False):
        from ..models import multiplier_param_groups

        params = multiplier_param_groups(model)
    try:
        return OPTIMIZERS[name](params, **cfg)
    except TypeError as e:  # an unknown keyword
        raise ValueError(f"optimizer {name!r}: {e}") from None
