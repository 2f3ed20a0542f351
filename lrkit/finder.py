"""The LR range test (Smith 2017, §3.3) and its suggestions.

Two tests, both leaving model, optimizer, scaler and RNG states exactly as they found them:

- :func:`lr_find` — the loss-based test popularised by fastai: raise the LR from ``start_lr`` to
  ``end_lr`` over ``num_iter`` optimizer steps (exponentially or linearly), record the (smoothed)
  loss, stop when it diverges. Returns a :class:`RangeTest`, whose :meth:`RangeTest.suggest` offers
  ``'steepest'``, ``'valley'``, ``'minimum'`` and lrkit's own ``'robust'`` (with an interval).
- :func:`accuracy_range_test` — Smith's original test, used to pick the bounds of a cyclical
  schedule: raise the LR linearly for a few epochs, evaluate periodically, read off where accuracy
  starts to rise (``base_lr``) and where the rise stops or turns ragged (``max_lr``). Returns an
  :class:`AccuracyRangeTest`.

Every optimizer step goes through :func:`lrkit.train.train_step` (the accuracy test through
:func:`lrkit.train.fit`), so accumulation, AMP and GradScaler behave exactly as in training.

**State.** Before the sweep, :class:`preserve_training_state` snapshots — in memory, nothing is
written to disk — the model's parameters, buffers (persistent or not), gradients and per-module
train/eval flags, the optimizer's ``state_dict`` (state and every param-group hyper-parameter), its
step hooks and the attributes a torch LR scheduler patches onto it, the GradScaler's state, and the
python / numpy / torch (and CUDA) RNG states. Afterwards they are restored bit for bit — also when
the sweep diverges, raises, or is interrupted (``KeyboardInterrupt``).

**An optimizer with a scheduler attached** (a torch ``LRScheduler``, e.g.
:class:`lrkit.scheduler.ScheduledLR`) is accepted with a ``UserWarning``: the sweep overrides the
group LRs, the scheduler is *not* stepped, and the optimizer's own step hooks (through which
``ScheduledLR`` counts steps) are suspended during the sweep; everything is restored afterwards, so
the scheduler continues exactly where it was.
"""

from __future__ import annotations

import copy
import json
import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .train import get_rng_state, model_device, set_rng_state, train_step

__all__ = [
    "AccuracyRangeTest",
    "RangeTest",
    "Suggestion",
    "POINT_METHODS",
    "ROBUST_BASE",
    "SUGGESTION_METHODS",
    "accuracy_range_test",
    "clr_bounds",
    "scheduler_attached",
    "ema_smooth",
    "lr_find",
    "preserve_training_state",
]

POINT_METHODS = ("steepest", "valley", "minimum")
SUGGESTION_METHODS = (*POINT_METHODS, "robust")
#: the point rule that ``suggest("robust")`` bootstraps, chosen on held-out tasks (see RangeTest.suggest)
ROBUST_BASE = "minimum"

Batch = tuple[torch.Tensor, torch.Tensor]


# --------------------------------------------------------------------------------------------------
# Exact snapshot / restore
# --------------------------------------------------------------------------------------------------
_HOOK_ATTRS = ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks")
_PATCHED_ATTRS = ("step", "_opt_called")  # what torch's LRScheduler sets on the optimizer instance


def scheduler_attached(optimizer: torch.optim.Optimizer) -> bool:
    """True if a torch ``LRScheduler`` has been attached to ``optimizer``.

    A scheduler wraps ``optimizer.step`` (the wrapper carries ``_wrapped_by_lr_sched``) and sets
    ``initial_lr`` in every param group.
    """
    return bool(getattr(optimizer.step, "_wrapped_by_lr_sched", False)) or any(
        "initial_lr" in g for g in optimizer.param_groups)


class preserve_training_state:
    """Context manager: on exit, put model, optimizer, scaler and RNGs back exactly as on entry.

    Restored bit for bit (whether the block finishes, raises or is interrupted): every parameter
    and buffer (same tensor objects, values copied back; parameters/buffers added or removed in the
    block are undone), every ``.grad``, every module's ``training`` flag, the optimizer's
    ``state_dict`` (momentum buffers, Adam moments and steps, all param-group hyper-parameters;
    keys added to groups — e.g. ``initial_lr`` — disappear), its step hooks and the instance
    attributes a torch LR scheduler patches in (``step``, ``_opt_called``), the scaler's
    attributes, and the python / numpy / torch / CUDA RNG states.

    With ``suspend_hooks=True`` the optimizer's own step pre/post hooks are removed inside the block
    (and put back on exit), so e.g. a :class:`~lrkit.scheduler.ScheduledLR` does not count the
    sweep's steps. Global optimizer hooks are left alone.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                 scaler: Any = None, *, suspend_hooks: bool = False):
        self.model, self.optimizer, self.scaler = model, optimizer, scaler
        self.suspend_hooks = suspend_hooks

    def __enter__(self) -> preserve_training_state:
        self._modes = [(m, m.training) for m in self.model.modules()]
        self._containers = [(m, dict(m._parameters), dict(m._buffers)) for m in self.model.modules()]
        self._values: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] = {}
        with torch.no_grad():
            for _, params, buffers in self._containers:
                for t in list(params.values()) + list(buffers.values()):
                    if t is not None and id(t) not in self._values:
                        g = t.grad.detach().clone() if t.grad is not None else None
                        self._values[id(t)] = (t, t.detach().clone(), g)
        opt = self.optimizer
        if opt is not None:
            self._opt_state = copy.deepcopy(opt.state_dict())
            self._opt_attrs = {k: opt.__dict__[k] for k in _PATCHED_ATTRS if k in opt.__dict__}
            self._hooks = {a: dict(getattr(opt, a)) for a in _HOOK_ATTRS if hasattr(opt, a)}
            if self.suspend_hooks:
                for a in self._hooks:
                    getattr(opt, a).clear()
        if self.scaler is not None:
            self._scaler_dict = copy.deepcopy(self.scaler.__dict__)
        self._rng = get_rng_state()
        return self

    def restore(self) -> None:
        with torch.no_grad():
            for m, params, buffers in self._containers:
                m._parameters.clear()
                m._parameters.update(params)
                m._buffers.clear()
                m._buffers.update(buffers)
            for t, value, grad in self._values.values():
                t.copy_(value)
                t.grad = grad.clone() if grad is not None else None
        for m, mode in self._modes:
            m.training = mode
        opt = self.optimizer
        if opt is not None:
            opt.load_state_dict(copy.deepcopy(self._opt_state))
            for k in _PATCHED_ATTRS:
                if k in self._opt_attrs:
                    opt.__dict__[k] = self._opt_attrs[k]
                else:
                    opt.__dict__.pop(k, None)
            for a, hooks in self._hooks.items():
                d = getattr(opt, a)
                d.clear()
                d.update(hooks)
        if self.scaler is not None:
            self.scaler.__dict__.clear()
            self.scaler.__dict__.update(copy.deepcopy(self._scaler_dict))
        set_rng_state(self._rng)

    def __exit__(self, *exc) -> bool:
        self.restore()
        return False


# --------------------------------------------------------------------------------------------------
# Smoothing and the suggestion rules (pure numpy)
# --------------------------------------------------------------------------------------------------
def ema_smooth(values: Sequence[float] | np.ndarray, smoothing: float = 0.05) -> np.ndarray:
    r"""Bias-corrected exponential moving average, as fastai smooths its LR-finder loss.

    With :math:`\beta = 1 - \text{smoothing}`:
    :math:`a_i = \beta a_{i-1} + (1-\beta) x_i,\ a_{-1} = 0`, and
    :math:`s_i = a_i / (1 - \beta^{i+1})`. ``smoothing`` is the weight of the newest value:
    0.05 (β = 0.95, the default here and torch-lr-finder's), fastai uses β = 0.98 (smoothing=0.02);
    ``smoothing=1`` returns the values unchanged.
    """
    if not 0 < smoothing <= 1:
        raise ValueError(f"smoothing must be in (0, 1], got {smoothing!r}")
    x = np.asarray(values, dtype=np.float64)
    beta = 1.0 - smoothing
    out = np.empty_like(x)
    avg = 0.0
    for i, v in enumerate(x):
        avg = beta * avg + (1.0 - beta) * v
        out[i] = avg / (1.0 - beta ** (i + 1))
    return out


def _steepest_index(log_lr: np.ndarray, y: np.ndarray) -> int:
    """Index of the most negative d y / d log10(lr) (central differences on a non-uniform grid)."""
    grad = np.gradient(y, log_lr)
    return int(np.nanargmin(grad))


def _valley_bounds(y: np.ndarray) -> tuple[int, int]:
    """First and last index of the longest strictly decreasing subsequence of ``y`` (the "valley").

    Ties between equally long valleys go to the one that ends first.
    """
    n = len(y)
    lds = np.ones(n, dtype=np.int64)
    prev = np.full(n, -1, dtype=np.int64)
    for i in range(1, n):
        cand = np.where(y[:i] > y[i], lds[:i], 0)
        j = int(np.argmax(cand))
        if cand[j] > 0:
            lds[i] = cand[j] + 1
            prev[i] = j
    end = int(np.argmax(lds))
    start = end
    while prev[start] >= 0:
        start = int(prev[start])
    return start, end


def _valley_index(y: np.ndarray) -> int:
    start, end = _valley_bounds(y)
    return start + (end - start) // 2


def _rule_index(method: str, log_lr: np.ndarray, y: np.ndarray) -> int:
    """Index (into ``y``) that the point rule ``method`` reads its LR from."""
    if method == "steepest":
        return _steepest_index(log_lr, y)
    if method == "valley":
        return _valley_index(y)
    return int(np.argmin(y))  # 'minimum' (its LR is this point's / 10)


def _centered_mean(x: np.ndarray, half: int) -> np.ndarray:
    c = np.concatenate([[0.0], np.cumsum(x)])
    n = len(x)
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + half + 1, 0, n)
    return (c[hi] - c[lo]) / (hi - lo)


@dataclass
class Suggestion:
    """A suggested LR. ``low``/``high`` bound an uncertainty interval (equal to ``lr`` for the point
    rules); ``index`` is the sweep point it was read from (None if it is not one point)."""

    lr: float
    low: float
    high: float
    method: str
    index: int | None = None

    def __float__(self) -> float:
        return float(self.lr)


# --------------------------------------------------------------------------------------------------
# JSON helpers (NaN/inf-safe, strict JSON)
# --------------------------------------------------------------------------------------------------
def _enc(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return _enc(x.tolist())
    if isinstance(x, (list, tuple)):
        return [_enc(v) for v in x]
    if isinstance(x, dict):
        return {str(k): _enc(v) for k, v in x.items()}
    if isinstance(x, (np.floating, float)):
        x = float(x)
        if math.isfinite(x):
            return x
        return {"__float__": "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")}
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def _dec(x: Any) -> Any:
    if isinstance(x, dict):
        if set(x) == {"__float__"}:
            return float(x["__float__"])
        return {k: _dec(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_dec(v) for v in x]
    return x


# --------------------------------------------------------------------------------------------------
# RangeTest
# --------------------------------------------------------------------------------------------------
@dataclass
class RangeTest:
    """Result of :func:`lr_find`: one point per accepted optimizer step.

    Attributes:
        sweep_lr: ``[n]`` LR of the reference group (the group with the largest initial LR), the
            x-axis of every suggestion and plot.
        loss: ``[n]`` raw recorded loss (training loss, or validation loss in validation mode).
        smoothed: ``[n]`` :func:`ema_smooth` of ``loss`` with ``smoothing``.
        lr: ``[n, groups]`` LR of every param group at every point.
        train_loss: ``[n]`` raw training loss (equal to ``loss`` unless ``loss_kind == 'val'``).
        stopped_early / reason: whether and why the sweep ended before ``num_iter`` points
            (``'completed'``, ``'diverged'``, ``'non-finite loss …'``, ``'too many AMP-skipped steps'``).
        skipped_steps: optimizer steps the GradScaler skipped (not recorded, LR not advanced).

    Build one directly from arrays for experiments: ``RangeTest(sweep_lr=lrs, loss=losses)``.
    """

    sweep_lr: np.ndarray
    loss: np.ndarray
    smoothed: np.ndarray | None = None
    lr: np.ndarray | None = None
    train_loss: np.ndarray | None = None
    loss_kind: str = "train"
    mode: str = "exp"
    smoothing: float = 0.05
    ref_group: int = 0
    stopped_early: bool = False
    reason: str = "completed"
    skipped_steps: int = 0
    config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sweep_lr = np.asarray(self.sweep_lr, dtype=np.float64).reshape(-1)
        self.loss = np.asarray(self.loss, dtype=np.float64).reshape(-1)
        if self.sweep_lr.shape != self.loss.shape:
            raise ValueError(f"sweep_lr {self.sweep_lr.shape} and loss {self.loss.shape} differ in length")
        if self.smoothed is None:
            self.smoothed = ema_smooth(self.loss, self.smoothing) if len(self.loss) else self.loss.copy()
        self.smoothed = np.asarray(self.smoothed, dtype=np.float64).reshape(-1)
        if self.lr is None:
            self.lr = self.sweep_lr[:, None].copy()
        self.lr = np.asarray(self.lr, dtype=np.float64).reshape(len(self.sweep_lr), -1)
        if self.train_loss is None:
            self.train_loss = self.loss.copy()
        self.train_loss = np.asarray(self.train_loss, dtype=np.float64).reshape(-1)

    def __len__(self) -> int:
        return len(self.sweep_lr)

    # -------------------------------------------------------------------------------- suggestions
    def _default_skip_start(self) -> int:
        return len(self) // 10

    def _window(self, skip_start: int | None, skip_end: int) -> tuple[int, int]:
        skip_start = self._default_skip_start() if skip_start is None else int(skip_start)
        if skip_start < 0 or skip_end < 0:
            raise ValueError("skip_start and skip_end must be >= 0")
        lo, hi = skip_start, len(self) - int(skip_end)
        keep = np.arange(lo, max(lo, hi))
        keep = keep[(self.sweep_lr[keep] > 0) & np.isfinite(self.smoothed[keep])]
        if len(keep) < 3:
            raise ValueError(f"need at least 3 points with lr > 0 to suggest an LR, have {len(keep)} "
                             f"(len={len(self)}, skip_start={skip_start}, skip_end={skip_end})")
        if np.any(np.diff(keep) != 1):
            raise ValueError("the recorded curve has gaps (non-finite values) inside the window")
        return int(keep[0]), int(keep[-1]) + 1

    def suggest(self, method: str = "valley", *, skip_start: int | None = None, skip_end: int = 0,
                n_boot: int = 200, ci: float = 0.9, seed: int = 0, base: str | None = None) -> Suggestion:
        """Suggest an LR from the reference group's sweep (``sweep_lr``).

        All rules look at the smoothed loss on points ``skip_start … len - skip_end`` (default
        ``skip_start``: the first 10 % of the points, ``len // 10`` — the early, flat and still
        EMA-dominated part of the curve; fastai skips the same share):

        - ``'steepest'``: the LR where d(smoothed loss)/d(log10 lr) is most negative — the gradient
          is taken against log10 of the LR (``numpy.gradient`` on the actual, possibly uneven grid),
          not against the point index.
        - ``'valley'``: fastai's rule — the longest valley is the longest strictly decreasing
          subsequence of the smoothed loss; the suggestion is the point half way (by index, i.e. the
          geometric middle of an exponential sweep) between its first and last point.
        - ``'minimum'``: the LR of the lowest smoothed loss divided by 10 (clamped to the sweep).
        - ``'robust'``: lrkit's rule with an uncertainty interval: one of the point rules above
          (``base``, default :data:`ROBUST_BASE`) applied to ``n_boot`` resampled curves. The trend
          of the raw loss is a centred running mean (half-width ``round(0.25 / smoothing)`` points);
          each replicate adds the residuals back to the trend with a random sign per block of
          ``round(n ** (1/3))`` consecutive points (a block *wild* bootstrap, seeded by ``seed``),
          is re-smoothed with the same EMA, and the base rule is applied to it. Flipping signs in
          place — rather than moving blocks around — keeps the noise where it was measured: the
          loss is far noisier near divergence than on the flat start, and residuals moved from the
          divergent end into the flat start would fake dips there. ``lr`` is the median of the
          replicates' LRs (in log space), ``low``/``high`` their central ``ci`` interval.
          Deterministic for a fixed ``seed``; the global RNGs are not touched.

          Why ``'minimum'`` is the default base: of the three point rules, bootstrapped, it had the
          lowest mean regret on three held-out CIFAR-10 tasks (tasks that are *not* the ones the
          suggestion-quality benchmark reports, though one shares its sweep with an evaluation task;
          see ``benchmarks/bench_suggestion_quality.py`` and BENCHMARKS.md §3). The median over
          replicates makes the noisiest rule — one argmin — stable,
          and the interval says how far the noise alone can move it.
        """
        if method not in SUGGESTION_METHODS:
            raise ValueError(f"method must be one of {SUGGESTION_METHODS}, got {method!r}")
        if base is not None and method != "robust":
            raise ValueError(f"base only applies to method='robust', not {method!r}")
        lo, hi = self._window(skip_start, skip_end)
        if method == "robust":
            return self._robust(lo, hi, n_boot=n_boot, ci=ci, seed=seed, base=base or ROBUST_BASE)
        x = np.log10(self.sweep_lr[lo:hi])
        i = lo + _rule_index(method, x, self.smoothed[lo:hi])
        lr = self._rule_lr(method, i, lo, hi)
        return Suggestion(lr=lr, low=lr, high=lr, method=method, index=i)

    def _rule_lr(self, method: str, i: int, lo: int, hi: int) -> float:
        if method == "minimum":
            return float(np.clip(self.sweep_lr[i] / 10.0, self.sweep_lr[lo], self.sweep_lr[hi - 1]))
        return float(self.sweep_lr[i])

    def _robust(self, lo: int, hi: int, *, n_boot: int, ci: float, seed: int, base: str) -> Suggestion:
        if base not in POINT_METHODS:
            raise ValueError(f"base must be one of {POINT_METHODS}, got {base!r}")
        if n_boot < 1:
            raise ValueError(f"n_boot must be >= 1, got {n_boot}")
        if not 0 < ci < 1:
            raise ValueError(f"ci must be in (0, 1), got {ci}")
        finite = np.isfinite(self.loss)
        n = int(np.argmin(finite)) if not finite.all() else len(self.loss)
        hi = min(hi, n)
        raw = self.loss[:n]
        half = max(1, round(0.25 / self.smoothing))
        trend = _centered_mean(raw, half)
        resid = raw - trend
        block = max(1, round(n ** (1 / 3)))
        n_blocks = -(-n // block)
        rng = np.random.default_rng(seed)
        x = np.log10(self.sweep_lr[lo:hi])
        estimates = np.empty(n_boot)
        for b in range(n_boot):
            signs = np.repeat(rng.choice([-1.0, 1.0], size=n_blocks), block)[:n]
            ys = ema_smooth(trend + signs * resid, self.smoothing)[lo:hi]
            estimates[b] = math.log10(self._rule_lr(base, lo + _rule_index(base, x, ys), lo, hi))
        q = (1 - ci) / 2
        mid, low, high = np.quantile(estimates, [0.5, q, 1 - q])
        return Suggestion(lr=float(10 ** mid), low=float(10 ** low), high=float(10 ** high),
                          method="robust", index=None)

    def suggestions(self, **kwargs) -> dict[str, Suggestion]:
        """Every method of :data:`SUGGESTION_METHODS`, as ``{method: Suggestion}``."""
        return {m: self.suggest(m, **kwargs) for m in SUGGESTION_METHODS}

    # ------------------------------------------------------------------------------- plot / json
    def plot(self, ax=None, suggestions: bool | Sequence[str] = True, skip_start: int | None = None,
             skip_end: int = 0, raw: bool = True):
        """Loss against LR (log x): raw points, smoothed curve, the suggestions marked.

        Returns the matplotlib Figure. See :func:`lrkit.plot.plot_range_test`.
        """
        from .plot import plot_range_test

        return plot_range_test(self, ax=ax, suggestions=suggestions, skip_start=skip_start,
                               skip_end=skip_end, raw=raw)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "lrkit-range-test-1",
            "sweep_lr": self.sweep_lr, "loss": self.loss, "smoothed": self.smoothed, "lr": self.lr,
            "train_loss": self.train_loss, "loss_kind": self.loss_kind, "mode": self.mode,
            "smoothing": self.smoothing, "ref_group": self.ref_group,
            "stopped_early": self.stopped_early, "reason": self.reason,
            "skipped_steps": self.skipped_steps, "config": self.config,
        }

    def to_json(self) -> str:
        """Strict JSON (non-finite floats encoded as ``{"__float__": "nan"}``)."""
        return json.dumps(_enc(self.to_dict()), allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> RangeTest:
        d = _dec(json.loads(text))
        if d.pop("format", None) != "lrkit-range-test-1":
            raise ValueError("not an lrkit RangeTest JSON document")
        lr = np.asarray(d.pop("lr"), dtype=np.float64).reshape(len(d["sweep_lr"]), -1)
        return cls(lr=lr, **d)

    def save(self, path) -> Any:
        from .train import atomic_write_text

        return atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path) -> RangeTest:
        from pathlib import Path

        return cls.from_json(Path(path).read_text())


# --------------------------------------------------------------------------------------------------
# Data helpers
# --------------------------------------------------------------------------------------------------
def _batch_stream(data: Iterable[Batch], needed: int) -> Iterator[Batch]:
    """Yield batches from ``data``; restart it (with one RuntimeWarning) if it runs out.

    A source with a known length shorter than ``needed`` is warned about before the sweep.
    """
    try:
        n = len(data)  # type: ignore[arg-type]
    except TypeError:
        n = None
    warned = False
    total = 0
    if n == 0:
        raise ValueError("data yielded no batch (it is empty)")
    if n is not None and n < needed:
        warnings.warn(f"data has {n} batches but the sweep needs {needed} (num_iter × "
                      f"accumulation_steps); it is cycled, so batches repeat", RuntimeWarning,
                      stacklevel=4)
        warned = True
    while True:
        empty = True
        it = iter(data)
        try:
            for batch in it:
                empty = False
                total += 1
                yield batch
        finally:
            close = getattr(it, "close", None) or getattr(it, "_shutdown_workers", None)
            if close is not None and it is not data:
                try:
                    close()
                except Exception:  # noqa: BLE001 - best effort cleanup
                    pass
        if empty:
            if total:
                raise ValueError(f"data ran out after {total} batches and yields nothing when iterated "
                                 "again (a one-shot iterator?); pass a re-iterable such as a list or a "
                                 "DataLoader, or more batches")
            raise ValueError("data yielded no batch")
        if not warned:
            warnings.warn("data ran out before the sweep ended; it is cycled, so batches repeat",
                          RuntimeWarning, stacklevel=4)
            warned = True


@torch.no_grad()
def _mean_loss(model: nn.Module, batches: Sequence[Batch], loss_fn, amp_dtype) -> float:
    """Example-weighted mean loss over ``batches`` (already on the device), in eval mode."""
    was = [(m, m.training) for m in model.modules()]
    model.eval()
    total = None
    n = 0
    try:
        for x, y in batches:
            dev = x.device
            ctx = (torch.autocast(device_type=dev.type, dtype=amp_dtype) if amp_dtype is not None
                   else torch.autocast(device_type=dev.type, enabled=False))
            with ctx:
                out = model(x)
            part = loss_fn(out.float(), y).double() * len(y)
            total = part if total is None else total + part
            n += len(y)
    finally:
        for m, mode in was:
            m.training = mode
    return float(total) / n


def _check_common(start_lr, end_lr, num_iter, accumulation_steps) -> None:
    for name, v in (("start_lr", start_lr), ("end_lr", end_lr)):
        if not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{name} must be a finite number, got {v!r}")
    if not start_lr < end_lr:
        raise ValueError(f"start_lr must be < end_lr, got start_lr={start_lr!r} >= end_lr={end_lr!r}")
    if not isinstance(num_iter, int) or isinstance(num_iter, bool) or num_iter < 2:
        raise ValueError(f"num_iter must be an int >= 2, got {num_iter!r}")
    if not isinstance(accumulation_steps, int) or accumulation_steps < 1:
        raise ValueError(f"accumulation_steps must be a positive int, got {accumulation_steps!r}")


def _warn_if_scheduler(optimizer: torch.optim.Optimizer) -> None:
    if scheduler_attached(optimizer):
        warnings.warn("the optimizer has an LR scheduler attached: the range test overrides its "
                      "param groups' LRs during the sweep (the scheduler is not stepped and the "
                      "optimizer's step hooks are suspended) and restores everything afterwards",
                      UserWarning, stacklevel=3)


def _set_lrs(optimizer: torch.optim.Optimizer, values: Sequence[float]) -> None:
    for g, v in zip(optimizer.param_groups, values, strict=True):
        if isinstance(g["lr"], torch.Tensor):
            g["lr"].fill_(v)
        else:
            g["lr"] = v


def _ramp(start_lr: float, end_lr: float, n: int, mode: str) -> np.ndarray:
    """The reference LR of the ``n`` sweep points, from lrkit's schedules (first = start, last = end)."""
    from .schedules import Constant, Exponential, LinearWarmup

    if mode == "exp":
        sched = Exponential(start_lr, (end_lr / start_lr) ** (1.0 / (n - 1)))
    else:
        sched = LinearWarmup(Constant(end_lr), warmup_steps=n - 1, warmup_start=start_lr)
    ramp = np.asarray(sched(np.arange(n)), dtype=np.float64)
    ramp[0], ramp[-1] = start_lr, end_lr
    return ramp


def _ratios(optimizer: torch.optim.Optimizer) -> tuple[int, np.ndarray]:
    lrs = np.array([float(g["lr"]) for g in optimizer.param_groups], dtype=np.float64)
    ref = int(np.argmax(lrs))
    if lrs[ref] <= 0:
        return ref, np.ones_like(lrs)
    return ref, lrs / lrs[ref]


# --------------------------------------------------------------------------------------------------
# The loss-based range test
# --------------------------------------------------------------------------------------------------
def lr_find(
    model: nn.Module,
    data: Iterable[Batch],
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_iter: int = 100,
    mode: str = "exp",
    smoothing: float = 0.05,
    diverge_th: float | None = 5.0,
    accumulation_steps: int = 1,
    amp: bool = False,
    scaler: Any = None,
    val_data: Iterable[Batch] | None = None,
    val_batches: int = 4,
    device: str | torch.device | None = None,
    channels_last: bool = False,
    max_skipped: int | None = None,
    progress: bool = True,
) -> RangeTest:
    """Run the LR range test and return a :class:`RangeTest`; all state is restored afterwards.

    Point ``k`` (``0 ≤ k < num_iter``) trains one optimizer step (:func:`lrkit.train.train_step`
    over ``accumulation_steps`` micro-batches, whose mean loss is recorded) at the reference LR
    ``start_lr · (end_lr/start_lr)^(k/(num_iter-1))`` (``mode='exp'``) or
    ``start_lr + (end_lr-start_lr)·k/(num_iter-1)`` (``'linear'``), so the first point is at
    ``start_lr`` and the last at ``end_lr``.

    Args:
        data: any iterable of ``(inputs, targets)`` batches (a torch ``DataLoader``, a list, an
            lrkit ``BatchLoader``). If it holds fewer than ``num_iter × accumulation_steps`` batches
            it is cycled (restarted) with a ``RuntimeWarning``; an empty one raises ``ValueError``.
        optimizer: its param groups keep their LR ratios: the group with the largest current LR
            (the reference group, ``RangeTest.ref_group``) sweeps ``start_lr → end_lr``, every other
            group gets ``ratio × `` that (ratio = its LR / the largest; all 1 if every LR is 0).
            Every group's LR is recorded (``RangeTest.lr``). Other hyper-parameters are untouched.
            A scheduler already attached gives a ``UserWarning`` (see the module docstring).
        loss_fn: defaults to cross-entropy.
        smoothing: weight of the newest loss in the bias-corrected EMA (β = 1 − smoothing; see
            :func:`ema_smooth`).
        diverge_th: stop when smoothed loss > ``diverge_th`` × the best smoothed loss so far (the
            diverging point is recorded). ``None`` or ``inf`` disables it. Must be > 1. (Meant for
            positive losses such as cross-entropy.)
        amp: autocast (bfloat16 on CPU; float16 with a GradScaler on CUDA, as :func:`lrkit.train.fit`).
        scaler: a ``torch.amp.GradScaler`` (or anything with ``scale/step/update/get_scale``). A step
            it skips (inf/NaN gradients) is neither recorded nor advances the LR; after more than
            ``max_skipped`` skipped steps (default ``num_iter``) the sweep stops.
        val_data / val_batches: validation mode — the recorded loss is the mean validation loss
            (eval mode, no grad) after every step, over a *fixed* set of ``val_batches`` batches:
            the first ``val_batches`` batches of one pass over ``val_data``, taken once before the
            sweep (pass a shuffled loader for a random sample). The training loss is still kept in
            ``RangeTest.train_loss``.
        device: where batches go; the model must already be there (default: the model's device).

    Raises:
        ValueError: bad arguments (the message names the argument); empty data.
        FloatingPointError: the loss is NaN/inf at the very first step (before any update, so it is
            not the LR's fault: check model, data and loss_fn). A non-finite loss later ends the
            sweep instead (``reason='non-finite loss …'``, the point not recorded).
    """
    _check_common(start_lr, end_lr, num_iter, accumulation_steps)
    if mode not in ("exp", "linear"):
        raise ValueError(f"mode must be 'exp' or 'linear', got {mode!r}")
    if not start_lr > 0:
        raise ValueError(f"start_lr must be > 0 (the test is read on a log-LR axis), got {start_lr!r}")
    if not (isinstance(smoothing, (int, float)) and 0 < smoothing <= 1):
        raise ValueError(f"smoothing must be in (0, 1], got {smoothing!r}")
    if diverge_th is not None and not diverge_th > 1:
        raise ValueError(f"diverge_th must be > 1 (or None to disable), got {diverge_th!r}")
    if val_data is not None and (not isinstance(val_batches, int) or val_batches < 1):
        raise ValueError(f"val_batches must be a positive int, got {val_batches!r}")
    if max_skipped is not None and max_skipped < 0:
        raise ValueError(f"max_skipped must be >= 0, got {max_skipped!r}")
    max_skipped = num_iter if max_skipped is None else max_skipped
    loss_fn = loss_fn or nn.functional.cross_entropy
    md = model_device(model)
    dev = torch.device(device) if device is not None else md
    if dev.type != md.type or (dev.index is not None and md.index is not None and dev.index != md.index):
        raise ValueError(f"device={dev} but the model is on {md}; move the model there first")
    amp_dtype = None
    if amp:
        amp_dtype = torch.float16 if dev.type == "cuda" else torch.bfloat16
        if scaler is None and amp_dtype == torch.float16:
            scaler = torch.amp.GradScaler(dev.type)
    div = math.inf if diverge_th is None else float(diverge_th)
    _warn_if_scheduler(optimizer)

    ramp = _ramp(start_lr, end_lr, num_iter, mode)
    ref, ratios = _ratios(optimizer)
    beta = 1.0 - smoothing

    lrs: list[list[float]] = []
    losses: list[float] = []
    train_losses: list[float] = []
    smoothed: list[float] = []
    reason, skipped = "completed", 0
    from tqdm.auto import tqdm

    with preserve_training_state(model, optimizer, scaler, suspend_hooks=True):
        val_set: list[Batch] | None = None
        if val_data is not None:
            val_set = []
            for x, y in val_data:
                val_set.append((x.to(dev), y.to(dev)))
                if len(val_set) == val_batches:
                    break
            if not val_set:
                raise ValueError("val_data yielded no batch")
        stream = _batch_stream(data, num_iter * accumulation_steps)
        bar = tqdm(total=num_iter, desc="lr_find", disable=not progress, leave=False, mininterval=0.5)
        avg, best = 0.0, math.inf
        try:
            k = 0
            while k < num_iter:
                group_lrs = (ramp[k] * ratios).tolist()
                _set_lrs(optimizer, group_lrs)
                micro = [next(stream) for _ in range(accumulation_steps)]
                res = train_step(model, optimizer, loss_fn, micro, scaler=scaler, amp_dtype=amp_dtype,
                                 device=dev, channels_last=channels_last)
                if res.skipped:
                    skipped += 1
                    if skipped > max_skipped:
                        reason = "too many AMP-skipped steps"
                        break
                    continue
                train_loss = float(res.loss)
                value = train_loss if val_set is None else _mean_loss(model, val_set, loss_fn, amp_dtype)
                if not math.isfinite(value):
                    if k == 0:
                        raise FloatingPointError(
                            f"the {'validation' if val_set is not None else 'training'} loss is "
                            f"{value} at the first step, before any update at start_lr={start_lr:g} "
                            "could matter: check the model, the data and loss_fn")
                    reason = f"non-finite loss at lr={ramp[k]:.3g}"
                    break
                avg = beta * avg + (1.0 - beta) * value
                s = avg / (1.0 - beta ** (k + 1))
                lrs.append(group_lrs)
                losses.append(value)
                train_losses.append(train_loss)
                smoothed.append(s)
                best = min(best, s)
                k += 1
                bar.update(1)
                if s > div * best:
                    reason = "diverged"
                    break
        finally:
            bar.close()
            stream.close()

    n = len(losses)
    return RangeTest(
        sweep_lr=np.array([row[ref] for row in lrs], dtype=np.float64),
        loss=np.array(losses, dtype=np.float64),
        smoothed=np.array(smoothed, dtype=np.float64),
        lr=np.array(lrs, dtype=np.float64).reshape(n, len(ratios)),
        train_loss=np.array(train_losses, dtype=np.float64),
        loss_kind="train" if val_data is None else "val",
        mode=mode, smoothing=float(smoothing), ref_group=ref,
        stopped_early=n < num_iter, reason=reason, skipped_steps=skipped,
        config={"start_lr": float(start_lr), "end_lr": float(end_lr), "num_iter": num_iter,
                "mode": mode, "smoothing": float(smoothing), "diverge_th": div,
                "accumulation_steps": accumulation_steps, "amp": bool(amp),
                "val_batches": val_batches if val_data is not None else None,
                "ratios": ratios.tolist()},
    )


# --------------------------------------------------------------------------------------------------
# Smith's accuracy-based range test
# --------------------------------------------------------------------------------------------------
def _centered_mean_window(a: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(a) == 0:
        return a.astype(np.float64).copy()
    return _centered_mean(a.astype(np.float64), window // 2)


def clr_bounds(lr: np.ndarray, acc: np.ndarray, *, smooth_window: int = 3, base_frac: float = 0.1,
               top_frac: float = 0.9, drop_frac: float = 0.1, min_rise: float = 0.02,
               ) -> tuple[float | None, float | None, str, np.ndarray]:
    """Smith's CLR bounds from an accuracy-vs-LR curve; returns ``(base_lr, max_lr, note, smoothed)``.

    The rule, on ``a`` = accuracy smoothed by a centred running mean of ``smooth_window`` points
    (windows shrink at the ends), with ``a0 = a[0]`` (the accuracy before training, ≈ chance) and
    ``rise = max(a) - a0``:

    1. if ``rise < min_rise`` there is no suggestion (``None, None``; the note says why);
    2. ``base`` = the first point with ``a ≥ a0 + base_frac · rise`` — where accuracy starts to rise;
    3. from ``base`` on, follow the running maximum of ``a`` until ``a`` falls more than
       ``drop_frac · rise`` below it (the curve turns ragged or falls); call that running maximum
       ``peak`` (the global maximum if it never falls that far);
    4. ``max`` = the first point in ``[base, peak]`` with ``a ≥ a0 + top_frac · (a[peak] - a0)`` —
       where the rise slows down before the peak.

    ``base_lr``/``max_lr`` are the LRs of those points.
    """
    lr = np.asarray(lr, dtype=np.float64)
    acc = np.asarray(acc, dtype=np.float64)
    if lr.shape != acc.shape or len(lr) < 2:
        raise ValueError("lr and acc must be 1-D arrays of the same length >= 2")
    for name, v in (("base_frac", base_frac), ("top_frac", top_frac), ("drop_frac", drop_frac)):
        if not 0 < v <= 1:
            raise ValueError(f"{name} must be in (0, 1], got {v!r}")
    a = _centered_mean_window(acc, int(smooth_window))
    a0 = a[0]
    rise = float(np.max(a) - a0)
    if not rise >= min_rise:
        return (None, None, f"accuracy rose by only {rise:.3g} < min_rise={min_rise:g}: widen the LR "
                "range or train longer", a)
    b = int(np.argmax(a >= a0 + base_frac * rise))
    peak = b
    for i in range(b + 1, len(a)):
        if a[i] > a[peak]:
            peak = i
        elif a[peak] - a[i] > drop_frac * rise:
            break
    seg = a[b:peak + 1]
    m = b + int(np.argmax(seg >= a0 + top_frac * (a[peak] - a0)))
    note = "rise stopped before the end of the range" if peak < len(a) - 1 else \
        "accuracy still rising at end_lr: max_lr may be larger"
    return float(lr[b]), float(lr[m]), note, a


@dataclass
class AccuracyRangeTest:
    """Result of :func:`accuracy_range_test`: one point per evaluation.

    Attributes:
        lr: reference-group LR of the last step before each evaluation (``start_lr`` for the
            evaluation before training, iteration 0).
        acc / loss: evaluation accuracy and loss; ``iteration``: optimizer steps done.
        smoothed_acc: the curve :func:`clr_bounds` reads (see there for the rule).
        base_lr / max_lr: the suggested CLR bounds (None if accuracy never rose enough); ``note``
            explains edge cases.
        step_lr / step_loss: reference-group LR and training loss of every step.
    """

    lr: np.ndarray
    acc: np.ndarray
    loss: np.ndarray | None = None
    iteration: np.ndarray | None = None
    step_lr: np.ndarray | None = None
    step_loss: np.ndarray | None = None
    smoothed_acc: np.ndarray | None = None
    base_lr: float | None = None
    max_lr: float | None = None
    note: str = ""
    rule: dict[str, float] = field(default_factory=lambda: {
        "smooth_window": 3, "base_frac": 0.1, "top_frac": 0.9, "drop_frac": 0.1, "min_rise": 0.02})
    config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lr = np.asarray(self.lr, dtype=np.float64).reshape(-1)
        self.acc = np.asarray(self.acc, dtype=np.float64).reshape(-1)
        n = len(self.lr)
        self.loss = np.full(n, np.nan) if self.loss is None else np.asarray(self.loss, dtype=np.float64)
        self.iteration = (np.arange(n) if self.iteration is None
                          else np.asarray(self.iteration, dtype=np.int64))
        self.step_lr = np.asarray([] if self.step_lr is None else self.step_lr, dtype=np.float64)
        self.step_loss = np.asarray([] if self.step_loss is None else self.step_loss, dtype=np.float64)
        if self.smoothed_acc is None and n >= 2:
            self.base_lr, self.max_lr, self.note, self.smoothed_acc = clr_bounds(
                self.lr, self.acc, **self.rule)
        self.smoothed_acc = np.asarray(self.acc if self.smoothed_acc is None else self.smoothed_acc,
                                       dtype=np.float64)

    def suggest(self, **rule) -> tuple[float | None, float | None]:
        """``(base_lr, max_lr)``; keyword arguments override the rule's parameters (:func:`clr_bounds`)."""
        base, top, _, _ = clr_bounds(self.lr, self.acc, **{**self.rule, **rule})
        return base, top

    def plot(self, ax=None):
        """Accuracy against LR (linear x), the smoothed curve and the suggested bounds."""
        from .plot import plot_accuracy_range_test

        return plot_accuracy_range_test(self, ax=ax)

    def to_dict(self) -> dict[str, Any]:
        return {"format": "lrkit-accuracy-range-test-1", "lr": self.lr, "acc": self.acc,
                "loss": self.loss, "iteration": self.iteration, "step_lr": self.step_lr,
                "step_loss": self.step_loss, "smoothed_acc": self.smoothed_acc,
                "base_lr": self.base_lr, "max_lr": self.max_lr, "note": self.note,
                "rule": self.rule, "config": self.config}

    def to_json(self) -> str:
        return json.dumps(_enc(self.to_dict()), allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> AccuracyRangeTest:
        d = _dec(json.loads(text))
        if d.pop("format", None) != "lrkit-accuracy-range-test-1":
            raise ValueError("not an lrkit AccuracyRangeTest JSON document")
        return cls(**d)


def accuracy_range_test(
    model: nn.Module,
    train_data: Iterable[Batch],
    eval_data: Iterable[Batch],
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    *,
    start_lr: float = 0.0,
    end_lr: float = 0.02,
    iterations: int | None = None,
    epochs: float | None = None,
    eval_every: int | None = None,
    accumulation_steps: int = 1,
    amp: bool = False,
    scaler: Any = None,
    smooth_window: int = 3,
    base_frac: float = 0.1,
    top_frac: float = 0.9,
    drop_frac: float = 0.1,
    min_rise: float = 0.02,
    progress: bool = True,
) -> AccuracyRangeTest:
    """Smith's (2017, §3.3) LR range test: train while the LR rises linearly, evaluate periodically.

    The LR of the reference group (largest current LR; others keep their ratio) goes linearly
    from ``start_lr`` at the first step to ``end_lr`` at the last one (``LinearWarmup(Constant(end_lr))``
    from :mod:`lrkit.schedules`, driven by a :class:`~lrkit.scheduler.ScheduledLR` inside
    :func:`lrkit.train.fit`; AMP-skipped steps do not advance it). ``eval_data`` is evaluated
    before training and every ``eval_every`` steps (default: ``iterations // 20``, i.e. ~20 points)
    and at the end. Smith used 4–8 epochs (``epochs=``; needs ``len(train_data)``) or give
    ``iterations``. The bounds are read off by :func:`clr_bounds` (the rule is documented there).

    Model, optimizer, scaler and RNG states are restored exactly afterwards (also on errors and
    interruption), as in :func:`lr_find`. The model must already be on its device.
    """
    from .scheduler import ScheduledLR
    from .schedules import Constant, LinearWarmup
    from .train import evaluate, fit

    if iterations is None:
        if epochs is None:
            raise ValueError("give iterations or epochs")
        try:
            spe = int(getattr(train_data, "steps_per_epoch", None) or len(train_data))  # type: ignore[arg-type]
        except TypeError:
            raise ValueError("epochs needs train_data with a length; give iterations instead") from None
        if not epochs > 0:
            raise ValueError(f"epochs must be > 0, got {epochs!r}")
        iterations = max(2, int(round(epochs * spe / max(1, accumulation_steps))))
    _check_common(start_lr, end_lr, iterations, accumulation_steps)
    if start_lr < 0:
        raise ValueError(f"start_lr must be >= 0, got {start_lr!r}")
    if eval_every is None:
        eval_every = max(1, iterations // 20)
    if not isinstance(eval_every, int) or eval_every < 1:
        raise ValueError(f"eval_every must be a positive int, got {eval_every!r}")
    loss_fn = loss_fn or nn.functional.cross_entropy
    dev = model_device(model)
    amp_dtype = (torch.float16 if dev.type == "cuda" else torch.bfloat16) if amp else None
    _warn_if_scheduler(optimizer)
    rule = {"smooth_window": smooth_window, "base_frac": base_frac, "top_frac": top_frac,
            "drop_frac": drop_frac, "min_rise": min_rise}

    with preserve_training_state(model, optimizer, scaler, suspend_hooks=True):
        ref, ratios = _ratios(optimizer)
        first = evaluate(model, eval_data, loss_fn, device=dev, amp_dtype=amp_dtype)
        sched = LinearWarmup(Constant(end_lr), warmup_steps=iterations - 1, warmup_start=start_lr)
        scheduler = ScheduledLR(optimizer, sched, multipliers=ratios.tolist())
        try:
            hist = fit(model, optimizer, train_data, iterations=iterations, loss_fn=loss_fn,
                       scheduler=scheduler, eval_data=eval_data, eval_every=eval_every,
                       accumulation_steps=accumulation_steps, amp=amp, scaler=scaler,
                       progress=progress, desc="accuracy range test")
        finally:
            scheduler.close()

    lr = [float(start_lr)] + [hist.lr[e["iteration"] - 1][ref] for e in hist.evals]
    return AccuracyRangeTest(
        lr=np.array(lr), acc=np.array([first["acc"]] + [e["acc"] for e in hist.evals]),
        loss=np.array([first["loss"]] + [e["loss"] for e in hist.evals]),
        iteration=np.array([0] + [e["iteration"] for e in hist.evals]),
        step_lr=np.array([row[ref] for row in hist.lr]), step_loss=np.array(hist.train_loss),
        rule=rule,
        config={"start_lr": float(start_lr), "end_lr": float(end_lr), "iterations": iterations,
                "eval_every": eval_every, "accumulation_steps": accumulation_steps, "amp": bool(amp),
                "ratios": ratios.tolist(), "ref_group": ref},
    )
