"""A fast CIFAR-10 recipe: ``lrkit quickstart --target 85|90|94``.

Written from published ideas, not from anyone's code: patch-whitening first layer (Coates & Ng
2011-style ZCA/PCA of image patches; frozen, as in Jordan 2024, arXiv 2404.00498 §3.2), partial
identity (Dirac) init, BatchNorm with frozen scales and fast-moving statistics, label smoothing
(Szegedy et al. 2016), derandomised *alternating* flips (Jordan 2024 §3.6), Lookahead (Zhang et al.
2019) with a step size ramped up over training, flip/translate test-time augmentation, and a
one-cycle-shaped LR (Smith & Topin 2019) whose peak comes from lrkit's range test.

Everything runs through lrkit's pieces: :class:`RecipeLoader` is a :class:`~lrkit.data.BatchLoader`
(batch ``i`` still a pure function of ``(seed, i)``), the range test is :func:`lrkit.finder.lr_find`,
the schedule is a :class:`~lrkit.schedules.OneCycle` driven by
:class:`~lrkit.scheduler.ScheduledLR` inside :func:`lrkit.train.fit`; weight averaging and the
per-epoch curve are ``fit`` callbacks.

**Data discipline.** ``val_per_class`` training images per class are held out; the range test reads
the loss on them, and the validation accuracy is what the recipes are to be tuned on. The test set
is evaluated once per epoch *only to draw the reported curve and read time-to-target*, and once at
the end; no choice — peak LR, stopping, any setting — reads it.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .data import BatchLoader, augment_batch
from .train import History, model_device

__all__ = ["RECIPES", "RecipeLoader", "RecipeResult", "WeightAverage", "evaluate_tta", "recompute_bn",
           "train_recipe", "write_recipe_run"]

# Shared by every target; each line says why. LR values are for the *mean* (not summed) loss.
_COMMON: dict[str, Any] = {
    "whiten_kernel": 2,        # 2×2 patches: 12-dim, cheap; 32→31 px keeps the 3 pools at 15/7/3
    "whiten_eps": 5e-4,        # added to the patch eigenvalues: caps the gain of near-empty directions
    "whiten_images": 5000,     # patch covariance from 5k training images (≈4.8 M patches): plenty for 12×12
    "whiten_bias_epochs": 3,   # whitening filters frozen; its bias learns for the first 3 epochs only
    "bn_momentum": 0.4,        # torch convention (new-batch weight): stats follow the fast-moving weights
    "bn_eps": 1e-12,           # scales frozen at 1 → keep BN exactly scale-invariant, even for quiet channels
    "bn_weight": False,        # BN scales frozen: the convs are scale-invariant, only shifts learn
    "dirac": True,             # partial identity init: the first c_in filters pass their input through
    "head_scale": 1 / 9,       # small logits at init; acts as a LR/temperature cut for the un-normalised head
    "label_smoothing": 0.2,    # short runs overfit the hard labels fast; 0.2 is the published value
    "momentum": 0.85,          # Nesterov; less momentum = less lag behind a schedule that changes in ~500 steps
    "nesterov": True,
    "wd_lr": 1e-3,             # λ·η_peak per step at batch 1024 (×B/1024): fixes the decay per epoch, whatever
                               # peak the range test picks (λ = wd_lr/η); scale-invariant convs make λ·η the knob
    "bias_lr_mult": 4.0,       # BN shifts are not scale-invariant: the weights' effective rate is η/‖w‖² ≈ 3η+
                               # at init (per-filter ‖w‖² ≈ 1/3), so biases get 4η (and λ/4: same λ·η)
    "pct_start": 0.23,         # LR rises linearly over 23 % of steps, then falls linearly (published shape)
    "div_factor": 5.0,         # start at peak/5 (0.2 → 1.0 in relative units)
    "final_div_factor": 1e4,   # end ≈ 0
    "find": {"start_lr": 1e-2, "end_lr": 30.0, "num_iter": 30, "smoothing": 0.1, "val_batches": 1},
    #                          # 30 steps (~2/3 epoch of compute at B=512); loss read on 500 validation images
    "peak_scale": 1.0,         # one-cycle peak = this × suggest(for_="one_cycle") (lrkit's min/3 rule)
    "peak_bounds": (0.05, 20.0),  # clamp: a 30-point test is noisy; outside this it is certainly wrong
    "peak_fallback": 1.0,      # peak used (and recorded) if the test gives no suggestion; also λ during the test
    "average": {"mode": "lookahead", "every": 5, "decay": 0.95, "power": 3},
    #                          # every 5 steps slow ← slow + α(fast − slow), fast ← slow; α = 1 − 0.95⁵·(t/T)³:
    #                          # no averaging early (weights move fast), strong averaging as the LR anneals
    "bn_recompute_batches": 4,  # BN statistics recomputed at the final (averaged) weights: 4 training batches
    "translate": 2,            # random crops of ±2 px (zero pad 2): ±4 costs accuracy in ≤ 12-epoch runs
    "flip": "alternate",       # each image flipped in alternate epochs (random in the first): no repeats
    "eval_batch_size": 500,
    "curve_tta": 1,            # per-epoch test curve: flip TTA (reporting only)
    "amp_on_cuda": True,       # float16 autocast + GradScaler on CUDA; CPU stays float32 (bf16 is slower here)
}

#: one dict per target accuracy (%); times are for the 2-core CPU of GUIDE.md (≈1,300 img/s at half
#: width, ≈430 img/s at full width, 2 threads, channels_last)
RECIPES: dict[int, dict[str, Any]] = {
    85: {**_COMMON,
         "widths": (32, 128, 128),  # half width: 3× the throughput of full width
         "epochs": 4,               # 45k × 4 / 1,300 img/s ≈ 140 s training, + ≈ 15 s test and evaluation
         "batch_size": 512,         # ≈ 88 steps/epoch: enough steps in 4 epochs; CPU speed flat above 256
         "tta": 1},                 # flip TTA: +≈0.3–0.5 points for 2× a (cheap) evaluation
    90: {**_COMMON,
         "widths": (32, 128, 128),
         "epochs": 8,               # ≈ 280 s of training: room under 8 min for range test and evaluations
         "batch_size": 512,
         "tta": 1},
    94: {**_COMMON,
         "widths": (64, 256, 256),  # the published width: 94 % needs the capacity (half width plateaus lower)
         "epochs": 12,              # published 10 with 50k images; we train on 45k (validation held out)
         #                            → 12 epochs ≈ 45k × 12 / 430 img/s ≈ 21 min, under 30 with the rest
         "batch_size": 1024,        # ≈ 44 steps/epoch, ≈ 530 steps: the published step count
         "find": {**_COMMON["find"], "num_iter": 20},  # at B=1024 a test point costs 2.4 s: 20 of them
         "tta": 2},                 # flip × {0, 1-px} translate: 4 views, +≈0.2 over flip alone
}


# --------------------------------------------------------------------------------------------------
# Data: alternating flips on top of BatchLoader
# --------------------------------------------------------------------------------------------------
class RecipeLoader(BatchLoader):
    """A shuffling :class:`~lrkit.data.BatchLoader` with ``translate``-pixel random crops and
    ``flip`` = ``"alternate"`` | ``"random"`` | ``"none"``.

    ``"alternate"`` (Jordan 2024 §3.6): image ``k`` gets a fair coin ``b_k`` (drawn once from
    ``seed``) and is flipped in epoch ``e`` iff ``b_k XOR (e mod 2)`` — random in the first epoch,
    then every image alternates, so two consecutive epochs never show the same view. Batch ``i`` is
    still a pure function of ``(seed, i)``: the epoch's permutation comes from ``(seed, epoch)``, the
    crops from ``(seed, i)``, the flips from ``(seed, k, epoch)``.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, *, translate: int = 2,
                 flip: str = "alternate", preprocess=None, seed: int = 0, device=None):
        super().__init__(x, y, batch_size, shuffle=True, augment=False, preprocess=preprocess, seed=seed,
                         device=device)
        if flip not in ("alternate", "random", "none"):
            raise ValueError(f"flip must be 'alternate', 'random' or 'none', got {flip!r}")
        if not isinstance(translate, int) or translate < 0:
            raise ValueError(f"translate must be an int >= 0, got {translate!r}")
        self.translate, self.flip = translate, flip
        self._xp = F.pad(self.x, (translate,) * 4) if translate else self.x
        g = torch.Generator().manual_seed(seed * 9_999_991 + 17)
        self._coin = (torch.rand(len(self.x), generator=g) < 0.5).to(self.x.device)

    def flipped(self, k: torch.Tensor | int, epoch: int) -> torch.Tensor:
        """Whether image(s) ``k`` are flipped in ``epoch`` (``"alternate"`` mode)."""
        return self._coin[k] ^ bool(epoch % 2)

    def get_batch(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if i < 0:
            raise ValueError(f"batch index must be >= 0, got {i}")
        epoch, j = divmod(i, self.steps_per_epoch)
        idx = self._epoch_perm(epoch)[j * self.batch_size:(j + 1) * self.batch_size]
        g = torch.Generator().manual_seed((self.seed + 1) * 7_368_787 + i)
        xb = augment_batch(self._xp[idx], g, pad=self.translate, flip=self.flip == "random", prepadded=True)
        if self.flip == "alternate":
            xb = torch.where(self.flipped(idx, epoch).view(-1, 1, 1, 1), xb.flip(3), xb)
        return self.preprocess(xb), self.y[idx]


# --------------------------------------------------------------------------------------------------
# Weight averaging, BN statistics, test-time augmentation
# --------------------------------------------------------------------------------------------------
class WeightAverage:
    r"""``fit`` callback: an exponential average of the weights, or Lookahead.

    Every ``every`` steps (and at the last one), with :math:`p = t/T` the fraction of training done,
    :math:`\beta = \mathrm{decay}^{\mathrm{every}}\,p^{\mathrm{power}}` and
    :math:`\bar w \leftarrow \beta\,\bar w + (1-\beta)\,w` for every parameter; buffers (BN
    statistics) are copied. ``mode="lookahead"`` then writes :math:`\bar w` back into the model
    (Zhang et al. 2019, "slow weights"), so after the last step model and average agree;
    ``mode="ema"`` leaves the model alone. :attr:`model` is the averaged copy — the one to evaluate.
    """

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
        for avg, p in zip(self.model.parameters(), self.source.parameters(), strict=True):
            avg.lerp_(p.detach(), 1.0 - b)
            if self.mode == "lookahead":
                p.copy_(avg)
        for avg, buf in zip(self.model.buffers(), self.source.buffers(), strict=True):
            avg.copy_(buf)
        self.updates += 1


@torch.no_grad()
def recompute_bn(model: nn.Module, loader: Any, batches: int, *, channels_last: bool = True) -> None:
    """Reset every BatchNorm's statistics and re-estimate them (cumulative average) on the first
    ``batches`` batches of ``loader`` (``get_batch(i)``), at the model's current weights."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns or batches < 1:
        return
    dev, was = model_device(model), model.training
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    try:
        for i in range(batches):
            x = loader.get_batch(i)[0].to(dev)
            model(x.contiguous(memory_format=torch.channels_last) if channels_last else x)
    finally:
        for m, mom in zip(bns, saved, strict=True):
            m.momentum = mom
        model.train(was)


def _views(x: torch.Tensor, level: int) -> list[tuple[torch.Tensor, float]]:
    if level == 0:
        return [(x, 1.0)]
    views = [(x, 0.5), (x.flip(3), 0.5)]
    if level == 2:  # the same two, shifted by 1 px (down-right, replicated border): 4 views of 1/4
        s = F.pad(x, (1, 0, 1, 0), mode="replicate")[:, :, : x.shape[2], : x.shape[3]]
        views = [(v, 0.25) for v, _ in views] + [(s, 0.25), (s.flip(3), 0.25)]
    return views


@torch.no_grad()
def evaluate_tta(model: nn.Module, data: Any, *, level: int = 1, channels_last: bool = True,
                 amp_dtype: torch.dtype | None = None) -> dict[str, float]:
    """Loss and accuracy of the weighted mean of ``model``'s logits over test-time views.

    ``level`` 0: the image; 1: mean of ``x`` and its horizontal flip; 2: also both shifted by one
    pixel (4 views, equal weights). Eval mode; the model's mode is restored.
    """
    if level not in (0, 1, 2):
        raise ValueError(f"level must be 0, 1 or 2, got {level!r}")
    dev, was = model_device(model), model.training
    model.eval()
    loss, correct, n = 0.0, 0, 0
    try:
        for x, y in data:
            x, y = x.to(dev), y.to(dev)
            out = 0
            for v, w in _views(x, level):
                v = v.contiguous(memory_format=torch.channels_last) if channels_last else v
                with torch.autocast(dev.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    out = out + w * model(v).float()
            loss += float(F.cross_entropy(out, y, reduction="sum"))
            correct += int((out.argmax(1) == y).sum())
            n += len(y)
    finally:
        model.train(was)
    if n == 0:
        raise ValueError("evaluation data is empty")
    return {"loss": loss / n, "acc": correct / n, "n": n}


class _Curve:
    """``fit`` callback: TTA-evaluate the averaged model on the test set at every epoch's end
    (reporting only), timing each evaluation so it can be left out of the training time."""

    def __init__(self, avg: WeightAverage, test: Any, spe: int, total: int, level: int, amp_dtype):
        self.avg, self.test, self.spe, self.total, self.level, self.amp = avg, test, spe, total, level, amp_dtype
        self.points: list[dict[str, float]] = []
        self.eval_seconds = 0.0

    def __call__(self, it: int, h: History) -> None:
        done = it + 1
        if done % self.spe and done != self.total:
            return
        t0 = time.perf_counter()
        ev = evaluate_tta(self.avg.model, self.test, level=self.level, amp_dtype=self.amp)
        dt = time.perf_counter() - t0
        self.points.append({"iteration": done, "epoch": done / self.spe, **ev,
                            "train_seconds": h.wall[-1] - self.eval_seconds, "eval_seconds": dt})
        self.eval_seconds += dt


# --------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------
@dataclass
class RecipeResult:
    target: int
    config: dict[str, Any]
    peak_lr: float
    peak_source: str
    range_test: Any                   # lrkit.suggest.RangeTest
    history: History
    curve: list[dict[str, float]]     # per-epoch test evaluations (reporting only)
    final_test: dict[str, float]
    final_val: dict[str, float] | None
    time_to_target: float | None      # seconds (range test + setup + training + that evaluation)
    seconds: dict[str, float]
    flops: dict[str, float]
    model: nn.Module = field(repr=False)
    info: dict[str, Any] = field(default_factory=dict)


def _param_groups(model: nn.Module) -> tuple[list, list]:
    weights, biases = [], []
    for p in model.parameters():
        if p.requires_grad:
            (weights if p.dim() > 1 else biases).append(p)
    return weights, biases


def _flops(model: nn.Module, x: torch.Tensor, loss_fn) -> tuple[float, float]:
    """FLOPs per image of one training step (forward + backward) and of one forward."""
    from torch.utils.flop_counter import FlopCounterMode

    m = copy.deepcopy(model)
    with FlopCounterMode(display=False) as fc:
        loss_fn(m(x), torch.zeros(len(x), dtype=torch.long, device=x.device)).backward()
    train = fc.get_total_flops() / len(x)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        m.eval()
        m(x)
    return float(train), float(fc.get_total_flops() / len(x))


def train_recipe(target: int, data: Any, *, seed: int = 0, device: Any = "cpu", threads: int | None = None,
                 progress: bool = False, val_per_class: int = 500,
                 overrides: dict[str, Any] | None = None) -> RecipeResult:
    """Range test, training and evaluation of ``RECIPES[target]`` (``overrides`` replace entries).

    ``data``: a :class:`lrkit.data.Cifar10`. ``val_per_class`` images per class are held out of the
    training set (0: train on all, the range test then reads the training loss). Returns the
    :class:`RecipeResult`; ``seconds`` splits the wall time into ``range_test``, ``setup``
    (loaders, whitening), ``training`` (without the curve's evaluations), ``curve_eval`` and
    ``final_eval`` (BN recompute + test and validation TTA).
    """
    from .data import cifar10_loaders
    from .finder import lr_find
    from .models import AirNet
    from .scheduler import ScheduledLR
    from .schedules import OneCycle
    from .train import fit
    from .utils import seed_everything

    if target not in RECIPES:
        raise ValueError(f"target must be one of {sorted(RECIPES)}, got {target!r}")
    cfg = {**RECIPES[target], **(overrides or {})}
    unknown = set(overrides or {}) - set(RECIPES[target])
    if unknown:
        raise ValueError(f"overrides: unknown recipe keys {sorted(unknown)}")
    if threads is not None:
        torch.set_num_threads(int(threads))
    dev = torch.device(device)
    amp = bool(cfg["amp_on_cuda"]) and dev.type == "cuda"
    amp_dtype = torch.float16 if amp else None
    B = int(cfg["batch_size"])
    t_start = time.perf_counter()
    seed_everything(seed)
    L = cifar10_loaders(data, batch_size=B, eval_batch_size=cfg["eval_batch_size"], val_per_class=val_per_class,
                        augment=False, seed=seed, device=dev)
    B = L.train.batch_size  # cifar10_loaders may shrink it (tiny data)
    train = RecipeLoader(L.train.x, L.train.y, B, translate=cfg["translate"], flip=cfg["flip"],
                         preprocess=L.preprocess, seed=seed, device=dev)
    model = AirNet(tuple(cfg["widths"]), len(L.classes), whiten_kernel=cfg["whiten_kernel"],
                   bn_momentum=cfg["bn_momentum"], bn_eps=cfg["bn_eps"], bn_weight=cfg["bn_weight"],
                   head_scale=cfg["head_scale"], dirac=cfg["dirac"]).to(dev)
    model.init_whitening(L.preprocess(L.train.x[: cfg["whiten_images"]]), cfg["whiten_eps"])
    model.to(memory_format=torch.channels_last)
    weights, biases = _param_groups(model)
    mult, wd_lr = float(cfg["bias_lr_mult"]), cfg["wd_lr"] * B / 1024

    def set_groups(opt, peak: float) -> None:
        for g, m in zip(opt.param_groups, (1.0, mult), strict=True):
            g["lr"], g["weight_decay"] = peak * m, wd_lr / (peak * m)

    opt = torch.optim.SGD([{"params": weights}, {"params": biases}], lr=1.0, momentum=cfg["momentum"],
                          nesterov=cfg["nesterov"])
    set_groups(opt, cfg["peak_fallback"])
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg["label_smoothing"])
    t_setup = time.perf_counter() - t_start

    # range test (its time counts), on the validation loss when there is a validation split
    t0 = time.perf_counter()
    f = cfg["find"]
    rt = lr_find(model, train, opt, loss_fn, start_lr=f["start_lr"], end_lr=f["end_lr"], num_iter=f["num_iter"],
                 smoothing=f["smoothing"], val_data=L.val if L.val is not None else None,
                 val_batches=f["val_batches"], amp=amp, channels_last=True, progress=progress)
    try:
        sug = rt.suggest(for_="one_cycle")
        # the sweep's LR is the reference group's (the largest); the weights' is its ratio of that
        peak, source = sug.lr * rt.config["ratios"][0] * cfg["peak_scale"], f"range test ({sug.rule})"
    except ValueError as e:
        peak, source = float(cfg["peak_fallback"]), f"fallback (range test gave no suggestion: {e})"
    lo, hi = cfg["peak_bounds"]
    if not lo <= peak <= hi:
        source += f"; {peak:.3g} clamped to [{lo:g}, {hi:g}]"
        peak = min(max(peak, lo), hi)
    t_range = time.perf_counter() - t0

    # training
    set_groups(opt, peak)
    spe = train.steps_per_epoch
    total = max(1, round(cfg["epochs"] * spe))
    sched = OneCycle(max_lr=peak, total_steps=total, pct_start=cfg["pct_start"], div_factor=cfg["div_factor"],
                     final_div_factor=cfg["final_div_factor"], anneal="linear")
    scheduler = ScheduledLR(opt, sched, multipliers=[1.0, mult])
    a = cfg["average"]
    avg = WeightAverage(model, total, mode=a["mode"], every=a["every"], decay=a["decay"], power=a["power"])
    curve = _Curve(avg, L.test, spe, total, cfg["curve_tta"], amp_dtype)
    freeze_at = round(cfg["whiten_bias_epochs"] * spe)

    def freeze_whitening_bias(it: int, h: History) -> None:
        if it + 1 == freeze_at:
            model.whiten.bias.requires_grad_(False)

    try:
        hist = fit(model, opt, train, iterations=total, loss_fn=loss_fn, scheduler=scheduler, amp=amp, device=dev,
                   channels_last=True, callbacks=[freeze_whitening_bias, avg, curve], progress=progress,
                   desc=f"recipe {target}")
    finally:
        scheduler.close()
    t_train = curve.points[-1]["train_seconds"]  # the last step's wall, without the curve's evaluations

    # final evaluation: BN statistics at the averaged weights, then TTA on all test images
    t0 = time.perf_counter()
    recompute_bn(avg.model, train, cfg["bn_recompute_batches"])
    final = evaluate_tta(avg.model, L.test, level=cfg["tta"], amp_dtype=amp_dtype)
    t_final_test = time.perf_counter() - t0
    final_val = evaluate_tta(avg.model, L.val, level=cfg["tta"], amp_dtype=amp_dtype) if L.val is not None else None
    t_final = time.perf_counter() - t0

    ttt = None
    for p in curve.points:
        if p["acc"] * 100 >= target:
            ttt = t_setup + t_range + p["train_seconds"] + p["eval_seconds"]
            break
    if ttt is None and final["acc"] * 100 >= target:
        ttt = t_setup + t_range + t_train + t_final_test
    x = train.get_batch(0)[0][:4].to(dev).contiguous(memory_format=torch.channels_last)
    f_train, f_eval = _flops(avg.model, x, loss_fn)
    views = {0: 1, 1: 2, 2: 4}
    n_val = L.val.num_examples if L.val is not None else 0
    eval_imgs = (views[cfg["curve_tta"]] * L.test.num_examples * len(curve.points)
                 + views[cfg["tta"]] * (L.test.num_examples + n_val) + cfg["bn_recompute_batches"] * B
                 + len(rt) * (f["val_batches"] * cfg["eval_batch_size"] if L.val is not None else 0))
    flops = {"train_per_image": f_train, "eval_per_image": f_eval,
             "range_test": f_train * len(rt) * B, "training": f_train * total * B,
             "evaluation": f_eval * eval_imgs}
    flops["total"] = flops["range_test"] + flops["training"] + flops["evaluation"]
    seconds = {"setup": t_setup, "range_test": t_range, "training": t_train, "curve_eval": curve.eval_seconds,
               "final_eval": t_final, "total": time.perf_counter() - t_start}
    info = {"train_images": train.num_examples, "val_images": n_val, "test_images": L.test.num_examples,
            "steps_per_epoch": spe, "iterations": total, "batch_size": B, "threads": torch.get_num_threads(),
            "device": str(dev), "amp": amp, "parameters": sum(p.numel() for p in model.parameters()),
            "weight_decay": wd_lr / peak, "whiten_bias_steps": min(freeze_at, total),
            "averaging_updates": avg.updates, "data_source": data.source}
    return RecipeResult(target, cfg, float(peak), source, rt, hist, curve.points, final, final_val, ttt,
                        seconds, flops, avg.model, info)


def write_recipe_run(res: RecipeResult, folder: Any) -> dict[str, Any]:
    """Write ``range_test.png``, ``training.png``, ``history.json``, ``range_test.json`` and
    ``summary.json`` into ``folder``; returns the summary."""
    from pathlib import Path

    import matplotlib.pyplot as plt

    from .utils import atomic_write_text, dumps, versions

    folder = Path(folder)
    res.range_test.plot().savefig(folder / "range_test.png", dpi=110, bbox_inches="tight")
    h = res.history
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    a1.plot(h.iteration, h.train_loss, lw=0.8, label="training loss (label-smoothed)")
    a1.set_xlabel("iteration")
    a1.set_ylabel("loss")
    b = a1.twinx()
    b.plot(h.iteration, [lr[0] for lr in h.lr], color="C1", lw=1, label="LR (weights)")
    b.set_ylabel("LR")
    a1.set_title(f"recipe {res.target}: one-cycle, peak {res.peak_lr:.3g}")
    ts = [res.seconds["setup"] + res.seconds["range_test"] + p["train_seconds"] for p in res.curve]
    a2.plot(ts, [100 * p["acc"] for p in res.curve], "o-", label="test accuracy (averaged model, TTA)")
    a2.axhline(res.target, color="gray", ls="--", lw=0.8, label=f"target {res.target} %")
    a2.set_xlabel("seconds (range test + training; evaluations excluded)")
    a2.set_ylabel("test accuracy (%)")
    a2.set_title("test curve (reporting only: no choice reads it)")
    a2.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(folder / "training.png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    h.save(folder / "history.json")
    res.range_test.save(folder / "range_test.json")
    summary = {"command": "quickstart", "target": res.target, "config": res.config, "versions": versions(),
               "peak_lr": res.peak_lr, "peak_source": res.peak_source, "final_test": res.final_test,
               "final_val": res.final_val, "time_to_target_seconds": res.time_to_target,
               "reached_target": res.time_to_target is not None, "curve": res.curve, "seconds": res.seconds,
               "flops": res.flops, **res.info,
               "note": "the test set is never used for a choice: the range test reads validation loss; "
                       "the per-epoch test curve is reporting only"}
    atomic_write_text(folder / "summary.json", dumps(summary, indent=2))
    return summary


def _fmt_time(s: float | None) -> str:
    return "not reached" if s is None or not math.isfinite(s) else f"{s:.0f} s ({s / 60:.1f} min)"
