"""Toy loss surfaces and plain gradient descent on them — pure numpy, no torch — and their figures.

Notebook 01 uses these to make the update rule ``new_w = w - lr * grad(w)`` visible:

* :class:`Quadratic1D` — ``f(w) = a/2 · (w - c)²``. GD multiplies the distance to the minimum by
  ``1 - lr·a`` every step, so ``lr < 1/a`` creeps, ``lr = 1/a`` lands in one step,
  ``1/a < lr < 2/a`` overshoots and oscillates inwards, ``lr ≥ 2/a`` diverges.
* :class:`Bowl2D` — an ill-conditioned bowl ``f(x, y) = (a x² + b y²) / 2`` with ``b ≫ a``: the
  stable LR is limited by the steep direction (``lr < 2/b``), while progress along the flat one
  needs a large LR — the reason one LR never fits every direction.
* :class:`Saddle2D` — ``f(x, y) = x²/2 + y⁴/4 - y²/2``: a saddle at the origin and minima at
  ``(0, ±1)``. Near the saddle ``y`` grows by a factor ``1 + lr`` per step, so a larger LR escapes
  it faster (as long as it is below the divergence limit).

:func:`gradient_descent` returns a :class:`Trajectory`; :func:`classify_lr` names the regime;
:func:`update_steps` tabulates the first steps of the update rule; :func:`plot_gradient_descent` and
:func:`plot_lr_regimes` draw them (matplotlib, imported when drawing).

Beyond plain gradient descent (notebook 01 §3 and §7):

* :func:`heavy_ball` — gradient descent with momentum (PyTorch's form ``v ← μ·v + ∇f``, ``w ← w − lr·v``);
  :func:`steps_to` counts the steps a trajectory needs to shrink its loss gap by a factor;
  :func:`plot_paths` draws several trajectories on one surface.
* :func:`noisy_gd` — gradient descent with Gaussian gradient noise (a model of SGD's minibatch noise) on many
  independent chains at once, with an LR per step; :func:`noise_ball_gap` is the loss gap it settles at for a
  constant LR on a quadratic, :func:`plot_noise_ball` draws the ball and the gap over time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "Surface",
    "Quadratic1D",
    "Bowl2D",
    "Saddle2D",
    "SURFACES",
    "get_surface",
    "Trajectory",
    "gradient_descent",
    "classify_lr",
    "update_steps",
    "plot_gradient_descent",
    "plot_lr_regimes",
    "REGIMES",
    "heavy_ball",
    "steps_to",
    "plot_paths",
    "NoisyRun",
    "noisy_gd",
    "noise_ball_gap",
    "plot_noise_ball",
]

REGIMES = ("too small", "good", "too large", "divergent")


class Surface:
    """A differentiable loss ``f: R^dim -> R`` with a known minimum.

    Subclasses define ``dim``, :meth:`loss` and :meth:`grad` (both vectorised over leading axes of
    ``w``, whose last axis has length ``dim``), ``minimum`` (one minimiser), ``curvature`` (the
    largest Hessian eigenvalue at the minimum, ``L``; GD on the quadratic model is stable for
    ``lr < 2/L``), ``default_start`` and ``bounds`` (a box for plotting).
    """

    name: str = "surface"
    dim: int = 1

    def loss(self, w: Any) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def grad(self, w: Any) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def minimum(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def min_loss(self) -> float:
        return float(self.loss(self.minimum))

    @property
    def curvature(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def lr_limit(self) -> float:
        """``2 / L``: the largest stable LR near the minimum."""
        return 2.0 / self.curvature

    default_start: tuple[float, ...] = (0.0,)
    bounds: tuple[tuple[float, float], ...] = ((-1.0, 1.0),)

    def _w(self, w: Any) -> np.ndarray:
        arr = np.asarray(w, dtype=np.float64)
        if arr.ndim == 0 and self.dim == 1:
            arr = arr.reshape(1)
        if arr.shape[-1] != self.dim:
            raise ValueError(f"{self.name}: w must have last axis of length {self.dim}, "
                             f"got shape {arr.shape}")
        return arr

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Quadratic1D(Surface):
    """``f(w) = a/2 · (w - c)²``; curvature ``a``; GD contracts the error by ``|1 - lr·a|``."""

    name = "quadratic"
    dim = 1

    def __init__(self, a: float = 1.0, c: float = 0.0) -> None:
        if not a > 0:
            raise ValueError(f"a must be > 0, got {a!r}")
        self.a, self.c = float(a), float(c)
        self.default_start = (c + 4.0,)
        self.bounds = ((c - 5.0, c + 5.0),)

    def loss(self, w: Any) -> np.ndarray:
        w = self._w(w)
        return 0.5 * self.a * (w[..., 0] - self.c) ** 2

    def grad(self, w: Any) -> np.ndarray:
        w = self._w(w)
        return self.a * (w - self.c)

    @property
    def minimum(self) -> np.ndarray:
        return np.array([self.c])

    @property
    def curvature(self) -> float:
        return self.a

    def __repr__(self) -> str:
        return f"Quadratic1D(a={self.a}, c={self.c})"


class Bowl2D(Surface):
    """Ill-conditioned bowl ``f(x, y) = (a·x² + b·y²) / 2`` (condition number ``b / a``)."""

    name = "ill_conditioned"
    dim = 2

    def __init__(self, a: float = 1.0, b: float = 20.0) -> None:
        if not (a > 0 and b > 0):
            raise ValueError(f"a and b must be > 0, got {a!r}, {b!r}")
        self.a, self.b = float(a), float(b)
        self.default_start = (-4.0, 1.5)
        self.bounds = ((-5.0, 5.0), (-2.5, 2.5))

    def loss(self, w: Any) -> np.ndarray:
        w = self._w(w)
        return 0.5 * (self.a * w[..., 0] ** 2 + self.b * w[..., 1] ** 2)

    def grad(self, w: Any) -> np.ndarray:
        w = self._w(w)
        return w * np.array([self.a, self.b])

    @property
    def minimum(self) -> np.ndarray:
        return np.zeros(2)

    @property
    def curvature(self) -> float:
        return max(self.a, self.b)

    @property
    def condition_number(self) -> float:
        return max(self.a, self.b) / min(self.a, self.b)

    def __repr__(self) -> str:
        return f"Bowl2D(a={self.a}, b={self.b})"


class Saddle2D(Surface):
    """``f(x, y) = x²/2 + y⁴/4 - y²/2``: saddle at the origin, minima at ``(0, ±1)`` (loss -1/4).

    The Hessian at the minima is ``diag(1, 2)`` (curvature 2, stable for ``lr < 1``); at the saddle
    it is ``diag(1, -1)``, so GD pushes ``y`` away by a factor ``1 + lr`` per step.
    """

    name = "saddle"
    dim = 2

    def __init__(self) -> None:
        self.default_start = (2.0, 1e-3)
        self.bounds = ((-2.5, 2.5), (-1.8, 1.8))

    def loss(self, w: Any) -> np.ndarray:
        w = self._w(w)
        x, y = w[..., 0], w[..., 1]
        return 0.5 * x**2 + 0.25 * y**4 - 0.5 * y**2

    def grad(self, w: Any) -> np.ndarray:
        w = self._w(w)
        x, y = w[..., 0], w[..., 1]
        return np.stack([x, y**3 - y], axis=-1)

    @property
    def minimum(self) -> np.ndarray:
        return np.array([0.0, 1.0])

    @property
    def curvature(self) -> float:
        return 2.0

    def escape_steps(self, lr: float, start: Any = None, threshold: float = 0.5,
                     max_steps: int = 10_000) -> int | None:
        """Steps of GD until ``|y| > threshold`` (``None`` if it never escapes within ``max_steps``)."""
        traj = gradient_descent(self, start if start is not None else self.default_start, lr, max_steps)
        idx = np.flatnonzero(np.abs(traj.w[:, 1]) > threshold)
        return int(idx[0]) if len(idx) else None

    def __repr__(self) -> str:
        return "Saddle2D()"


SURFACES: dict[str, type[Surface]] = {"quadratic": Quadratic1D, "ill_conditioned": Bowl2D, "saddle": Saddle2D}


def get_surface(name: str | Surface, **kwargs: Any) -> Surface:
    """A surface by name (``'quadratic'``, ``'ill_conditioned'``, ``'saddle'``) or the surface itself."""
    if isinstance(name, Surface):
        return name
    if name not in SURFACES:
        raise ValueError(f"unknown surface {name!r}; choose one of {sorted(SURFACES)}")
    return SURFACES[name](**kwargs)


@dataclass
class Trajectory:
    """Plain gradient descent from ``w[0]``: ``w[k+1] = w[k] - lr * grad[k]``.

    ``w`` is ``[n+1, dim]`` and ``loss`` ``[n+1]`` (``n`` = steps actually taken); ``grad[k]`` is
    the gradient at ``w[k]``. ``diverged`` is True when the iterate left ``blowup`` × the starting
    distance (or became non-finite); the run then stops early.
    """

    w: np.ndarray
    loss: np.ndarray
    grad: np.ndarray
    lr: float
    surface: str
    diverged: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return len(self.w) - 1

    @property
    def final_loss(self) -> float:
        return float(self.loss[-1])

    def to_dict(self) -> dict[str, Any]:
        return {"w": self.w.tolist(), "loss": self.loss.tolist(), "lr": self.lr, "surface": self.surface,
                "diverged": self.diverged, "steps": self.steps}


def gradient_descent(surface: str | Surface, start: Any, lr: float, steps: int, *,
                     blowup: float = 1e6) -> Trajectory:
    """Run ``steps`` steps of ``w <- w - lr * grad(w)`` on ``surface`` from ``start``."""
    surf = get_surface(surface)
    if not np.isfinite(lr) or lr < 0:
        raise ValueError(f"lr must be a finite number >= 0, got {lr!r}")
    if int(steps) != steps or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    w = surf._w(start).astype(np.float64).reshape(surf.dim)
    ref = max(1.0, float(np.linalg.norm(w - surf.minimum)))
    ws, gs = [w.copy()], []
    diverged = False
    for _ in range(int(steps)):
        g = surf.grad(w)
        gs.append(g)
        w = w - lr * g
        if not np.all(np.isfinite(w)) or np.linalg.norm(w - surf.minimum) > blowup * ref:
            diverged = True
            ws.append(np.where(np.isfinite(w), w, np.nan))
            break
        ws.append(w.copy())
    W = np.array(ws)
    gs.append(surf.grad(W[-1]) if np.all(np.isfinite(W[-1])) else np.full(surf.dim, np.nan))
    with np.errstate(over="ignore", invalid="ignore"):
        loss = np.asarray(surf.loss(W), dtype=np.float64)
    if not diverged and len(W) > 2:
        # growing distance to every stationary point over the run also counts as divergence
        d = np.linalg.norm(W - surf.minimum, axis=1)
        diverged = bool(d[-1] > 1e3 * max(d[0], 1e-12))
    return Trajectory(w=W, loss=loss, grad=np.array(gs), lr=float(lr), surface=surf.name, diverged=diverged)


def classify_lr(surface: str | Surface, lr: float, *, start: Any = None, steps: int = 20,
                tol: float = 1e-3) -> str:
    """Name the regime of ``lr`` on ``surface``: one of :data:`REGIMES`.

    ``'divergent'``: the run blew up or ended farther from the minimum than it started;
    ``'too small'``: after ``steps`` steps the loss gap to the minimum is still above ``tol`` × the
    initial gap and the iterates never overshot the minimum; ``'too large'``: it does not blow up
    but overshoots (some coordinate of ``w - minimum`` changes sign, i.e. it zig-zags) and the loss
    gap is still above ``tol``; ``'good'``: the loss gap fell below ``tol`` × the initial gap.
    The verdict is for the given budget of ``steps``.
    """
    surf = get_surface(surface)
    start = surf.default_start if start is None else start
    traj = gradient_descent(surf, start, lr, steps)
    gap0 = float(traj.loss[0] - surf.min_loss)
    gap = float(traj.loss[-1] - surf.min_loss) if np.isfinite(traj.loss[-1]) else np.inf
    if traj.diverged or not np.isfinite(gap) or gap > gap0 * (1 + 1e-9):
        return "divergent"
    if gap <= tol * max(gap0, 1e-300):
        return "good"
    err = traj.w - surf.minimum
    if np.any(np.sign(err[1:]) * np.sign(err[:-1]) < 0):
        return "too large"
    return "too small"


def update_steps(surface: str | Surface, start: Any, lr: float, steps: int = 5) -> list[dict[str, Any]]:
    """The first ``steps`` applications of the update rule, one dict per step:
    ``{"step", "w", "grad", "lr_times_grad", "new_w", "loss", "new_loss"}`` (1-D values as floats)."""
    surf = get_surface(surface)
    traj = gradient_descent(surf, start, lr, steps)
    rows = []

    def val(v: np.ndarray) -> Any:
        v = np.asarray(v, dtype=np.float64)
        return float(v[0]) if surf.dim == 1 else [float(x) for x in v]

    for k in range(traj.steps):
        rows.append({"step": k, "w": val(traj.w[k]), "grad": val(traj.grad[k]),
                     "lr_times_grad": val(lr * traj.grad[k]), "new_w": val(traj.w[k + 1]),
                     "loss": float(traj.loss[k]), "new_loss": float(traj.loss[k + 1])})
    return rows


def heavy_ball(surface: str | Surface, start: Any, lr: float, momentum: float, steps: int, *,
               blowup: float = 1e6) -> Trajectory:
    """Gradient descent with (heavy-ball) momentum, in PyTorch's form (``torch.optim.SGD``, no dampening)::

        v ← momentum · v + ∇f(w);   w ← w − lr · v        (v = 0 at the start)

    Along a direction where the gradient stays ``g`` the velocity grows to ``g / (1 − momentum)``: the
    effective step is ``lr / (1 − momentum)``. On a quadratic of curvature ``λ`` the iteration is stable for
    ``0 < lr·λ < 2·(1 + momentum)``. ``momentum = 0`` is :func:`gradient_descent`. The Trajectory's
    ``meta["momentum"]`` holds ``momentum``; ``diverged`` as in :func:`gradient_descent`.
    """
    surf = get_surface(surface)
    if not np.isfinite(lr) or lr < 0:
        raise ValueError(f"lr must be a finite number >= 0, got {lr!r}")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
    if int(steps) != steps or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    w = surf._w(start).astype(np.float64).reshape(surf.dim)
    ref = max(1.0, float(np.linalg.norm(w - surf.minimum)))
    v = np.zeros_like(w)
    ws, gs, diverged = [w.copy()], [], False
    for _ in range(int(steps)):
        g = surf.grad(w)
        gs.append(g)
        v = momentum * v + g
        w = w - lr * v
        if not np.all(np.isfinite(w)) or np.linalg.norm(w - surf.minimum) > blowup * ref:
            diverged = True
            ws.append(np.where(np.isfinite(w), w, np.nan))
            break
        ws.append(w.copy())
    W = np.array(ws)
    gs.append(surf.grad(W[-1]) if np.all(np.isfinite(W[-1])) else np.full(surf.dim, np.nan))
    with np.errstate(over="ignore", invalid="ignore"):
        loss = np.asarray(surf.loss(W), dtype=np.float64)
    return Trajectory(w=W, loss=loss, grad=np.array(gs), lr=float(lr), surface=surf.name, diverged=diverged,
                      meta={"momentum": float(momentum)})


def steps_to(traj: Trajectory, surface: str | Surface, factor: float = 1e-6) -> int | None:
    """The first step at which ``traj``'s loss gap ``f(w) − f*`` is at most ``factor`` × its gap at the
    start, or None if it never gets there (or diverged first)."""
    surf = get_surface(surface)
    if not 0 < factor < 1:
        raise ValueError(f"factor must be in (0, 1), got {factor!r}")
    gap = traj.loss - surf.min_loss
    hit = np.flatnonzero(np.isfinite(gap) & (gap <= factor * gap[0]))
    return int(hit[0]) if len(hit) else None


@dataclass
class NoisyRun:
    """What :func:`noisy_gd` returns: the LR of every step, the loss gap averaged over the chains after every
    step (``gap[0]`` at the start, ``len(lr) + 1`` values) and every chain's last iterate ``[chains, dim]``."""

    lr: np.ndarray
    gap: np.ndarray
    final_w: np.ndarray
    noise: float


def noisy_gd(surface: str | Surface, lrs: Any, *, noise: float = 1.0, chains: int = 500, start: Any = None,
             seed: int = 0) -> NoisyRun:
    """Gradient descent with noisy gradients on ``chains`` independent copies at once::

        w ← w − lr_t · (∇f(w) + noise · ξ),    ξ ~ N(0, I) drawn afresh for every chain and step

    — the textbook model of SGD: a minibatch gradient is the full gradient plus zero-mean noise. ``lrs``
    is one LR per step (a sequence; its length is the number of steps). With a constant LR on a quadratic the
    chains stop converging and spread over a ball around the minimum whose loss gap is
    :func:`noise_ball_gap`.
    """
    surf = get_surface(surface)
    lr = np.asarray(lrs, dtype=np.float64).reshape(-1)
    if not len(lr) or not np.all(np.isfinite(lr)) or np.any(lr < 0):
        raise ValueError("lrs must be a non-empty sequence of finite LRs >= 0")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    if int(chains) != chains or chains < 1:
        raise ValueError(f"chains must be an int >= 1, got {chains!r}")
    rng = np.random.default_rng(seed)
    w0 = surf._w(surf.default_start if start is None else start).reshape(surf.dim)
    w = np.tile(w0, (int(chains), 1))
    gaps = [float(np.mean(surf.loss(w))) - surf.min_loss]
    for eta in lr:
        w = w - eta * (surf.grad(w) + noise * rng.standard_normal(w.shape))
        gaps.append(float(np.mean(surf.loss(w))) - surf.min_loss)
    return NoisyRun(lr=lr, gap=np.array(gaps), final_w=w, noise=float(noise))


def noise_ball_gap(curvatures: Any, lr: float, noise: float = 1.0) -> float:
    """The loss gap that :func:`noisy_gd` settles at with a constant ``lr`` on the quadratic
    ``f(w) = Σ a_i w_i² / 2`` (``curvatures`` = the ``a_i``)::

        E[f(w) − f*] = Σ_i lr · noise² / (2 · (2 − lr · a_i))      (≈ lr · noise² · dim / 4 for small lr)

    from the stationary variance ``lr · noise² / (a_i (2 − lr a_i))`` of each coordinate: the gap grows
    in proportion to the LR, the ball's radius like its square root. Infinite when ``lr ≥ 2 / max(a_i)``.
    """
    a = np.asarray(curvatures, dtype=np.float64).reshape(-1)
    if not len(a) or np.any(a <= 0):
        raise ValueError(f"curvatures must be > 0, got {curvatures!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    if lr * a.max() >= 2:
        return float("inf")
    return float(np.sum(lr * noise ** 2 / (2 * (2 - lr * a))))


# --------------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------------
def plot_gradient_descent(traj: Trajectory, surface: str | Surface, *, title: str | None = None,
                          axes: Any = None):
    """Two panels: the path on the loss surface (1-D curve or 2-D contours) and the loss gap
    ``f(w) - f*`` against the step (log scale). Returns the Figure."""
    import matplotlib.pyplot as plt

    surf = get_surface(surface)
    if axes is None:
        fig, (a_path, a_loss) = plt.subplots(1, 2, figsize=(11, 4))
    else:
        a_path, a_loss = axes
        fig = a_path.figure
    w = traj.w
    finite = np.all(np.isfinite(w), axis=1)
    (lo, hi), *rest = surf.bounds
    if surf.dim == 1:
        wf = w[finite, 0]
        lo, hi = min(lo, np.nanmin(wf) if len(wf) else lo), max(hi, np.nanmax(wf) if len(wf) else hi)
        lo, hi = max(lo, -50.0), min(hi, 50.0)
        grid = np.linspace(lo, hi, 400)
        a_path.plot(grid, surf.loss(grid[:, None]), color="0.3", lw=1.5, label="loss f(w)")
        shown = finite & (np.abs(w[:, 0]) <= 50)
        a_path.plot(w[shown, 0], traj.loss[shown], "o-", color="tab:red", ms=4, lw=0.8, alpha=0.8,
                    label="w after each step")
        a_path.plot(w[0, 0], traj.loss[0], "s", color="black", ms=7, label="start")
        a_path.set(xlabel="w", ylabel="loss")
    else:
        (ylo, yhi) = rest[0]
        xs, ys = np.linspace(lo, hi, 200), np.linspace(ylo, yhi, 200)
        X, Y = np.meshgrid(xs, ys)
        Z = surf.loss(np.stack([X, Y], axis=-1))
        a_path.contour(X, Y, Z, levels=25, cmap="viridis", linewidths=0.8)
        inside = finite & (w[:, 0] >= lo) & (w[:, 0] <= hi) & (w[:, 1] >= ylo) & (w[:, 1] <= yhi)
        a_path.plot(w[inside, 0], w[inside, 1], "o-", color="tab:red", ms=3, lw=0.8, label="path")
        a_path.plot(w[0, 0], w[0, 1], "s", color="black", ms=7, label="start")
        a_path.plot(*surf.minimum, "*", color="gold", ms=14, mec="black", label="minimum")
        a_path.set(xlim=(lo, hi), ylim=(ylo, yhi), xlabel="w₁", ylabel="w₂")
    a_path.legend(fontsize=8, loc="upper center")
    with np.errstate(invalid="ignore", over="ignore"):
        gap = np.clip(traj.loss - surf.min_loss, 1e-16, 1e300)
    a_loss.semilogy(np.arange(len(gap)), gap, "o-", ms=3, color="tab:blue")
    a_loss.set(xlabel="step", ylabel="loss − minimum (log)", title="progress")
    a_loss.grid(True, which="both", alpha=0.3)
    verdict = classify_lr(surf, traj.lr, start=w[0], steps=max(1, traj.steps))
    a_path.set_title(title or f"{surf.name}: lr = {traj.lr:.3g} → {verdict}"
                     + (" (diverged)" if traj.diverged else ""))
    fig.tight_layout()
    return fig


def plot_lr_regimes(surface: str | Surface, lrs: Mapping[str, float], *, start: Any = None,
                    steps: int = 20):
    """One row per LR (label -> lr): the path and the loss gap, as :func:`plot_gradient_descent`."""
    import matplotlib.pyplot as plt

    surf = get_surface(surface)
    start = surf.default_start if start is None else start
    fig, axes = plt.subplots(len(lrs), 2, figsize=(11, 3.2 * len(lrs)), squeeze=False)
    for row, (label, lr) in zip(axes, lrs.items(), strict=True):
        traj = gradient_descent(surf, start, lr, steps)
        plot_gradient_descent(traj, surf, axes=row, title=f"{label}: lr = {lr:g}")
    fig.tight_layout()
    return fig


def plot_paths(surface: str | Surface, trajectories: Mapping[str, Trajectory], *, title: str | None = None):
    """Several trajectories on one 2-D ``surface``: their paths on the contours (left) and their loss gaps
    against the step (right, log scale). Returns the Figure."""
    import matplotlib.pyplot as plt

    surf = get_surface(surface)
    if surf.dim != 2:
        raise ValueError(f"plot_paths draws 2-D surfaces, got {surf.name} (dim {surf.dim})")
    fig, (a_path, a_loss) = plt.subplots(1, 2, figsize=(12, 4.2))
    (lo, hi), (ylo, yhi) = surf.bounds
    X, Y = np.meshgrid(np.linspace(lo, hi, 200), np.linspace(ylo, yhi, 200))
    a_path.contour(X, Y, surf.loss(np.stack([X, Y], axis=-1)), levels=25, cmap="Greys", linewidths=0.6)
    for k, (label, tr) in enumerate(trajectories.items()):
        ok = np.all(np.isfinite(tr.w), axis=1)
        a_path.plot(tr.w[ok, 0], tr.w[ok, 1], "o-", ms=2.5, lw=0.9, color=f"C{k}", label=label)
        with np.errstate(invalid="ignore", over="ignore"):
            gap = np.clip(tr.loss - surf.min_loss, 1e-16, 1e300)
        a_loss.semilogy(np.arange(len(gap)), gap, color=f"C{k}", label=label)
    a_path.plot(*surf.minimum, "*", color="gold", ms=14, mec="black")
    a_path.set(xlim=(lo, hi), ylim=(ylo, yhi), xlabel="w₁", ylabel="w₂", title=title or surf.name)
    a_path.legend(fontsize=8, loc="upper right")
    a_loss.set(xlabel="step", ylabel="loss − minimum (log)", title="progress")
    a_loss.grid(True, which="both", alpha=0.3)
    a_loss.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_noise_ball(surface: str | Surface, runs: Mapping[str, NoisyRun], *, zoom: float = 0.6):
    """:func:`noisy_gd` runs on a quadratic ``surface``: every chain's last iterate around the minimum
    (left, the box ``±zoom``) and the loss gap averaged over the chains against the step (right, log-log),
    with the plateau :func:`noise_ball_gap` predicts for each run's last LR dashed. Returns the Figure."""
    import matplotlib.pyplot as plt

    surf = get_surface(surface)
    curv = [surf.a, surf.b] if isinstance(surf, Bowl2D) else [surf.curvature]
    fig, (a_ball, a_gap) = plt.subplots(1, 2, figsize=(12, 4.4))
    if surf.dim == 2:
        X, Y = np.meshgrid(np.linspace(-zoom, zoom, 200), np.linspace(-zoom, zoom, 200))
        a_ball.contour(X, Y, surf.loss(np.stack([X, Y], axis=-1)), levels=12, cmap="Greys", linewidths=0.6)
    for k, (label, r) in enumerate(runs.items()):
        w = r.final_w
        a_ball.scatter(w[:, 0], w[:, 1] if surf.dim == 2 else np.zeros(len(w)), s=5, alpha=0.5, color=f"C{k}",
                       label=label)
        steps = np.arange(1, len(r.gap))
        a_gap.loglog(steps, r.gap[1:], color=f"C{k}", lw=1 + 1.2 * k, alpha=0.9, zorder=10 - k, label=label)
        plateau = noise_ball_gap(curv, float(r.lr[-1]), r.noise) if r.lr[-1] > 0 else 0.0
        if np.isfinite(plateau) and plateau > 0:
            a_gap.axhline(plateau, color=f"C{k}", ls="--", lw=0.8)
    a_ball.plot(0, 0, "*", color="gold", ms=14, mec="black")
    a_ball.set(xlim=(-zoom, zoom), ylim=(-zoom, zoom), xlabel="w₁", ylabel="w₂", aspect="equal",
               title="where the chains are at the end")
    a_ball.legend(fontsize=8, loc="upper right", markerscale=3)
    a_gap.set(xlabel="step", ylabel="mean loss − minimum", title="loss gap (dashed: the predicted ball)")
    a_gap.grid(True, which="both", alpha=0.3)
    a_gap.legend(fontsize=8)
    fig.tight_layout()
    return fig
