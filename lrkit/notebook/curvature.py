"""Sharpness of a real net's loss: the top Hessian eigenvalue by power iteration on Hessian-vector
products, measured along a full-batch gradient-descent run (notebook 01 §8, the edge of stability).

- :func:`hessian_vector_product` — ``H v = ∇(∇L · v)``: two passes of ``torch.autograd``, no Hessian stored.
- :func:`top_hessian_eigenvalue` — power iteration on it (``λ_max`` of the loss Hessian, the "sharpness").
- :func:`sharpness_run` — full-batch gradient descent at a fixed LR, the sharpness every few steps.
- :func:`plot_sharpness` — the sharpness of each run against its ``2/η`` line, and its loss.

Gradient descent on a quadratic of curvature ``L`` diverges when ``L > 2/η`` (notebook 01 §1). On a
neural net the curvature changes as it trains: Cohen et al. (2021, arXiv 2103.00065) find that under
full-batch GD it rises ("progressive sharpening") until it reaches ``2/η`` and then hovers there while the
loss keeps falling, non-monotonically ("the edge of stability").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["hessian_vector_product", "plot_sharpness", "sharpness_run", "top_hessian_eigenvalue"]


def hessian_vector_product(grads: Sequence[torch.Tensor], params: Sequence[torch.Tensor],
                           v: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """``H v``: the gradient of ``Σ grads · v`` with respect to ``params``, where ``grads`` is ``∇L`` computed
    with ``create_graph=True`` (Pearlmutter's trick: the Hessian itself is never formed)."""
    return list(torch.autograd.grad(grads, params, grad_outputs=list(v), retain_graph=True))


def top_hessian_eigenvalue(loss_fn: Callable[[], torch.Tensor], params: Sequence[torch.Tensor], *,
                           iters: int = 20, v0: Sequence[torch.Tensor] | None = None,
                           generator: torch.Generator | None = None) -> tuple[float, list[torch.Tensor]]:
    """The eigenvalue of largest magnitude of the Hessian of ``loss_fn()`` at ``params`` (for a net being
    trained, its largest, the "sharpness"), by ``iters`` steps of power iteration::

        v ← H v / ‖H v‖,    λ = vᵀ H v   (the Rayleigh quotient at the last unit v)

    ``v0`` (e.g. the vector a previous call returned) warm-starts it; otherwise ``v0`` is Gaussian, drawn
    from ``generator``. Returns ``(λ, v)`` with ``v`` the last unit vector, one tensor per parameter.
    """
    if int(iters) != iters or iters < 1:
        raise ValueError(f"iters must be an int >= 1, got {iters!r}")
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError("params has no tensor that requires a gradient")
    grads = torch.autograd.grad(loss_fn(), params, create_graph=True)
    if v0 is None:
        v = [torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device) for p in params]
    else:
        v = [t.detach().clone() for t in v0]
        if [t.shape for t in v] != [p.shape for p in params]:
            raise ValueError("v0 must hold one tensor shaped like each parameter that requires a gradient")
    lam = 0.0
    for _ in range(int(iters)):
        norm = torch.sqrt(sum((t * t).sum() for t in v))
        v = [t / norm for t in v]
        hv = hessian_vector_product(grads, params, v)
        lam = float(sum((h * t).sum() for h, t in zip(hv, v, strict=True)))
        v = [h.detach() for h in hv]
    norm = torch.sqrt(sum((t * t).sum() for t in v))
    return lam, [t / norm for t in v]


def sharpness_run(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, lr: float, steps: int, every: int,
                  power_iters: int = 20, warm_iters: int = 8, seed: int = 0) -> dict[str, Any]:
    """Full-batch gradient descent ``w ← w − lr · ∇L(w)`` on ``(x, y)`` for ``steps`` steps, with the mean
    squared error to the one-hot labels, ``L = mean_i ½‖f(x_i) − onehot(y_i)‖²`` (Cohen et al.'s loss, whose
    sharpness does not fall as the loss goes to 0 the way cross-entropy's does).

    Every ``every`` steps (and at step 0 and ``steps``) it records the loss, the training accuracy and the
    sharpness (:func:`top_hessian_eigenvalue`: ``power_iters`` at step 0, then ``warm_iters`` warm-started from
    the previous vector). Returns ``{"lr", "limit" (2/lr), "step", "sharpness", "loss", "acc"}`` (lists) plus
    ``"loss_every_step"`` (the loss before each step). ``model`` is trained in place.
    """
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    for name, v in (("steps", steps), ("every", every), ("power_iters", power_iters), ("warm_iters", warm_iters)):
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    with torch.no_grad():
        classes = int(model(x[:1]).shape[-1])
    target = nn.functional.one_hot(y, classes).to(x.dtype)

    def loss_fn() -> torch.Tensor:
        return 0.5 * ((model(x) - target) ** 2).sum(dim=1).mean()

    gen = torch.Generator().manual_seed(seed)
    out: dict[str, Any] = {"lr": float(lr), "limit": 2.0 / lr, "step": [], "sharpness": [], "loss": [], "acc": [],
                           "loss_every_step": []}
    v = None
    for step in range(int(steps) + 1):
        if step % every == 0 or step == steps:
            lam, v = top_hessian_eigenvalue(loss_fn, params, iters=power_iters if v is None else warm_iters, v0=v,
                                            generator=gen)
            with torch.no_grad():
                out_ = model(x)
                loss = 0.5 * ((out_ - target) ** 2).sum(dim=1).mean()
                out["acc"].append(float((out_.argmax(1) == y).float().mean()))
            out["step"].append(step)
            out["sharpness"].append(lam)
            out["loss"].append(float(loss))
        if step == steps:
            break
        model.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        out["loss_every_step"].append(float(loss.detach()))
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
    return out


def plot_sharpness(runs: Mapping[Any, Mapping[str, Any]]):
    """Left: each run's sharpness against the step with its ``2/η`` dashed in the same colour; right: its
    training loss at every step (log scale). ``runs`` maps a label to :func:`sharpness_run`'s result."""
    import matplotlib.pyplot as plt

    fig, (a_s, a_l) = plt.subplots(1, 2, figsize=(12, 4.2))
    for k, (label, r) in enumerate(runs.items()):
        a_s.plot(r["step"], r["sharpness"], "o-", ms=3, color=f"C{k}",
                 label=f"{label} (2/η = {r['limit']:.0f}, dashed)")
        a_s.axhline(r["limit"], color=f"C{k}", ls="--", lw=1)
        a_l.semilogy(np.arange(len(r["loss_every_step"])), r["loss_every_step"], color=f"C{k}", lw=1, label=label)
    a_s.set(xlabel="gradient-descent step", ylabel="top Hessian eigenvalue",
            title="sharpness against 2/η (dashed)")
    a_s.legend(fontsize=8)
    a_l.set(xlabel="gradient-descent step", ylabel="training loss (MSE, log)", title="training loss")
    a_l.legend(fontsize=8)
    for a in (a_s, a_l):
        a.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig
