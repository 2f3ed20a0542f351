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
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .recipe_parts import Curve, FreezeAfter, RecipeLoader, WeightAverage, evaluate_tta
from .training import History
from .training.self_tuning import eval_weights

__all__ = ["RECIPES", "RecipeLoader", "RecipeResult", "WeightAverage", "evaluate_tta", "train_recipe",
           "write_recipe_run"]

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
    "curve_every": 1.0,        # test curve every epoch (reporting only; `lrkit bench run methods`: every ½ epoch)
    "curve_tta": 1,            # per-epoch test curve: flip TTA (reporting only)
    "amp_on_cuda": True,       # float16 autocast + GradScaler on CUDA; CPU stays float32 (bf16 is slower here)
}

#: one dict per target accuracy (%); times are for the 2-core CPU of GUIDE.md (≈1,300 img/s at half
#: width, ≈430 img/s at full width, 2 threads, channels_last)
RECIPES: dict[int, dict[str, Any]] = {
    85: {**_COMMON,
         "widths": (32, 128, 128),  # half width: 3× the throughput of full width
         "epochs": 5,               # 4 epochs: validation 86.6 / 84.5 / 83.3 % on seeds 0-2 (median below 85);
         #                            5 epochs: 156–179 s of training (2 threads, idle, 2026-11-26)
         "batch_size": 512,         # ≈ 88 steps/epoch: enough steps in 4 epochs; CPU speed flat above 256
         "tta": 1},                 # flip TTA: +≈0.3–0.5 points for 2× a (cheap) evaluation
    90: {**_COMMON,
         "widths": (32, 128, 128),
         "epochs": 10,              # 8 epochs: validation 90.64 / 89.98 / 89.80 % on seeds 0-2 (two below 90);
         #                            10 epochs: 91.14 / 90.50 / 90.38 % (benchmarks/tune_recipe.py), ≈ 320 s
         "batch_size": 512,
         "tta": 1},
    94: {**_COMMON,
         "widths": (64, 256, 256),  # the published width: 94 % needs the capacity (half width plateaus lower)
         "epochs": 15,              # 45k × 15 / 430 img/s ≈ 26 min of training: what the 30-min goal leaves.
         #                            Validation (H200, float16, seeds 0-1; BENCHMARKS.md §9): 12 epochs
         #                            93.31–93.87 % over peak × 1-4, 15 epochs 93.88–93.99 %
         "peak_scale": 2.0,         # the best of × 1, 2, 3, 4 on that validation grid (93.99 %; × 3 93.97 %)
         "batch_size": 1024,        # 43 steps/epoch, 645 steps
         "find": {**_COMMON["find"], "num_iter": 20},  # at B=1024 a test point costs 2.4 s: 20 of them
         "tta": 2},                 # flip × {0, 1-px} translate: 4 views, +≈0.2 over flip alone
}


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


def _optimizer(method: Any, weights: list, biases: list, peak: float, cfg: dict[str, Any], B: int, total: int):
    """The optimizer of ``method`` at LR ``peak`` over the recipe's two groups (weights, biases) and the
    groups' LR multipliers. The recipe's SGD and schedule-free SGD give the biases ``bias_lr_mult`` × the
    LR. Both tie the weight decay to the LR (λ·η = ``wd_lr`` × B/1024), and so does schedule-free AdamW
    (decoupled: λ·lr per step). Prodigy and D-Adaptation take their own settings (``method.options``)."""
    from .methods import WARMUP_FRAC
    from .training.optim import OPTIMIZERS

    wd_lr = cfg["wd_lr"] * B / 1024
    kind, opts = method.optimizer, dict(method.options)
    mults = (1.0, float(cfg["bias_lr_mult"])) if kind in ("sgd", "sgd_schedulefree") else (1.0, 1.0)
    tied = kind in ("sgd", "sgd_schedulefree", "adamw_schedulefree")
    groups = [{"params": ps, "lr": peak * m, **({"weight_decay": wd_lr / (peak * m)} if tied else {})}
              for ps, m in zip((weights, biases), mults, strict=True)]
    if kind == "sgd":
        opt = torch.optim.SGD(groups, lr=peak, momentum=cfg["momentum"], nesterov=cfg["nesterov"])
    else:
        if kind in ("sgd_schedulefree", "adamw_schedulefree"):
            opts["warmup_steps"] = max(1, round(WARMUP_FRAC * total))
        opt = OPTIMIZERS[kind](groups, lr=peak, **opts)
    return opt, list(mults)


def train_recipe(target: int, data: Any, *, seed: int = 0, device: Any = "cpu", threads: int | None = None,
                 progress: bool = False, val_per_class: int = 500, overrides: dict[str, Any] | None = None,
                 method: Any = "one_cycle_rt", n_per_class: int | None = None,
                 test_per_class: int | None = None) -> RecipeResult:
    """Range test, training and evaluation of ``RECIPES[target]`` (``overrides`` replace entries).

    ``data``: a :class:`lrkit.data.Cifar10`. ``val_per_class`` images per class are held out of the
    training set (0: train on all, the range test then reads the training loss). Returns the
    :class:`RecipeResult`; ``seconds`` splits the wall time into ``range_test``, ``setup``
    (loaders, whitening), ``training`` (without the curve's evaluations), ``curve_eval`` and
    ``final_eval`` (BN recompute + test and validation TTA).

    ``method`` (a :class:`lrkit.methods.Method` or its name) swaps the LR method. The default,
    ``one_cycle_rt``, is the recipe: one-cycle at the range test's one-cycle peak. Everything else about
    the run stays as it is: data, net, loss, averaging (``overrides={"average": None}`` turns it off),
    and evaluation. A method without a ``rule`` runs no range test (``range_test`` is None).
    ``n_per_class`` / ``test_per_class``: seeded subsets (smoke runs; None: all images).
    """
    from .data import cifar10_loaders
    from .methods import build_schedule, get_method
    from .models import AirNet
    from .rangetest import lr_find
    from .training import ScheduledLR, fit
    from .training.runtime import Runtime
    from .training.self_tuning import bn_batches, recompute_bn
    from .utils import seed_everything

    if target not in RECIPES:
        raise ValueError(f"target must be one of {sorted(RECIPES)}, got {target!r}")
    cfg = {**RECIPES[target], **(overrides or {})}
    unknown = set(overrides or {}) - set(RECIPES[target])
    if unknown:
        raise ValueError(f"overrides: unknown recipe keys {sorted(unknown)}")
    method = get_method(method)
    if threads is not None:
        torch.set_num_threads(int(threads))
    dev = torch.device(device)
    amp = bool(cfg["amp_on_cuda"]) and dev.type == "cuda"
    amp_dtype = torch.float16 if amp else None
    B = int(cfg["batch_size"])
    t_start = time.perf_counter()
    seed_everything(seed)
    L = cifar10_loaders(data, batch_size=B, eval_batch_size=cfg["eval_batch_size"], val_per_class=val_per_class,
                        n_per_class=n_per_class, test_per_class=test_per_class, augment=False, seed=seed,
                        device=dev)
    B = L.train.batch_size  # cifar10_loaders may shrink it (tiny data)
    train = RecipeLoader(L.train.x, L.train.y, B, translate=cfg["translate"], flip=cfg["flip"],
                         preprocess=L.preprocess, seed=seed, device=dev)
    model = AirNet(tuple(cfg["widths"]), len(L.classes), whiten_kernel=cfg["whiten_kernel"],
                   bn_momentum=cfg["bn_momentum"], bn_eps=cfg["bn_eps"], bn_weight=cfg["bn_weight"],
                   head_scale=cfg["head_scale"], dirac=cfg["dirac"]).to(dev)
    model.init_whitening(L.preprocess(L.train.x[: cfg["whiten_images"]]), cfg["whiten_eps"])
    model.to(memory_format=torch.channels_last)
    weights, biases = _param_groups(model)
    spe = train.steps_per_epoch
    total = max(1, round(cfg["epochs"] * spe))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg["label_smoothing"])
    t_setup = time.perf_counter() - t_start

    # range test (its time counts), with the recipe's SGD, on the validation loss when there is a validation split
    t0 = time.perf_counter()
    rt, base = None, None
    if method.range_test:
        opt, _ = _optimizer(get_method("one_cycle_rt"), weights, biases, cfg["peak_fallback"], cfg, B, total)
        f = cfg["find"]
        rt = lr_find(model, train, opt, loss_fn, start_lr=f["start_lr"], end_lr=f["end_lr"],
                     num_iter=f["num_iter"], smoothing=f["smoothing"], val_data=L.val if L.val is not None else None,
                     val_batches=f["val_batches"], amp=amp, channels_last=True, progress=progress)
        try:
            sug = rt.suggest(for_=method.rule)
            # the sweep's LR is the reference group's (the largest); the weights' is its ratio of that
            ratio = rt.config["ratios"][0] * cfg["peak_scale"] * method.lr_scale
            peak, source = sug.lr * ratio, f"range test ({sug.rule})"
            if method.lr_scale != 1.0:
                source += f" × {method.lr_scale:g}"
            base = sug.base_lr * ratio if sug.base_lr is not None else None
        except ValueError as e:
            peak, source = float(cfg["peak_fallback"]), f"fallback (range test gave no suggestion: {e})"
            base = peak / 6 if method.schedule == "clr" else None
        lo, hi = cfg["peak_bounds"]
        if not lo <= peak <= hi:
            source += f"; {peak:.3g} clamped to [{lo:g}, {hi:g}]"
            if base is not None:
                base *= min(max(peak, lo), hi) / peak
            peak = min(max(peak, lo), hi)
    else:
        peak, source = float(method.lr), "set by hand" if method.optimizer == "sgd" else "the optimizer's lr"
    t_range = time.perf_counter() - t0

    # training
    opt, mults = _optimizer(method, weights, biases, peak, cfg, B, total)
    sched = build_schedule(method, peak, total, base=base,
                           one_cycle={k: cfg[k] for k in ("pct_start", "div_factor", "final_div_factor")})
    scheduler = None
    if sched is not None:
        with warnings.catch_warnings():  # LR-free + cosine: the schedule multiplies their lr = 1, as documented
            warnings.simplefilter("ignore", UserWarning)
            scheduler = ScheduledLR(opt, sched, multipliers=mults)
    a = cfg["average"]
    avg = WeightAverage(model, total, mode=a["mode"], every=a["every"], decay=a["decay"], power=a["power"]) if a \
        else None
    evaluated = avg.model if avg is not None else model
    every = max(1, round(cfg["curve_every"] * spe))
    curve = Curve(evaluated, L.test, spe, total, cfg["curve_tta"], Runtime(dev, amp_dtype, channels_last=True),
                  every=every, optimizer=opt,
                  train=train, bn_batches=cfg["bn_recompute_batches"])
    freeze_at = round(cfg["whiten_bias_epochs"] * spe)

    try:
        hist = fit(model, opt, train, iterations=total, loss_fn=loss_fn, scheduler=scheduler, amp=amp, device=dev,
                   channels_last=True,
                   callbacks=[FreezeAfter(model.whiten.bias, freeze_at)] + ([avg] if avg else []) + [curve],
                   progress=progress, desc=f"recipe {target}: {method.name}")
    finally:
        if scheduler is not None:
            scheduler.close()
    t_train = curve.points[-1]["train_seconds"]  # the last step's wall, without the curve's evaluations

    # final evaluation: BN statistics at the evaluated weights, then TTA on all test images
    t0 = time.perf_counter()
    n_bn = cfg["bn_recompute_batches"]
    runtime = Runtime(dev, amp_dtype, channels_last=True)
    with eval_weights(opt, evaluated, train, n_bn, runtime=runtime):
        if avg is not None:
            recompute_bn(avg.model, bn_batches(train, n_bn), runtime=runtime)
        final = evaluate_tta(evaluated, L.test, level=cfg["tta"], runtime=runtime)
        t_final_test = time.perf_counter() - t0
        final_val = evaluate_tta(evaluated, L.val, level=cfg["tta"], runtime=runtime) if L.val is not None \
            else None
    t_final = time.perf_counter() - t0

    ttt = None
    for p in curve.points:
        if p["acc"] * 100 >= target:
            ttt = t_setup + t_range + p["train_seconds"] + p["eval_seconds"]
            break
    if ttt is None and final["acc"] * 100 >= target:
        ttt = t_setup + t_range + t_train + t_final_test
    x = train.get_batch(0)[0][:4].to(dev).contiguous(memory_format=torch.channels_last)
    f_train, f_eval = _flops(evaluated, x, loss_fn)
    views = {0: 1, 1: 2, 2: 4}
    n_val = L.val.num_examples if L.val is not None else 0
    n_rt = len(rt) if rt is not None else 0
    eval_imgs = (views[cfg["curve_tta"]] * L.test.num_examples * len(curve.points)
                 + views[cfg["tta"]] * (L.test.num_examples + n_val) + n_bn * B
                 + n_rt * (cfg["find"]["val_batches"] * cfg["eval_batch_size"] if L.val is not None else 0))
    flops = {"train_per_image": f_train, "eval_per_image": f_eval,
             "range_test": f_train * n_rt * B, "training": f_train * total * B,
             "evaluation": f_eval * eval_imgs}
    flops["total"] = flops["range_test"] + flops["training"] + flops["evaluation"]
    seconds = {"setup": t_setup, "range_test": t_range, "training": t_train, "curve_eval": curve.eval_seconds,
               "final_eval": t_final, "total": time.perf_counter() - t_start}
    info = {"train_images": train.num_examples, "val_images": n_val, "test_images": L.test.num_examples,
            "steps_per_epoch": spe, "iterations": total, "batch_size": B, "threads": torch.get_num_threads(),
            "device": str(dev), "amp": amp, "parameters": sum(p.numel() for p in model.parameters()),
            "weight_decay": opt.param_groups[0].get("weight_decay"), "whiten_bias_steps": min(freeze_at, total),
            "averaging_updates": avg.updates if avg is not None else 0, "data_source": data.source,
            "method": method.to_dict(), "base_lr": base}
    return RecipeResult(target, cfg, float(peak), source, rt, hist, curve.points, final, final_val, ttt,
                        seconds, flops, evaluated, info)


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
