"""The fast recipe, read top to bottom: :func:`train_recipe` is its phases —
setup → find the peak LR → train → final evaluation → account (FLOPs, seconds, the record).

Like airbench94's ``main``, each phase is one function, in the order the program runs; the
hyper-parameters are the table of :mod:`lrkit.recipe.table`, the pieces (loader, averaging, test-time
augmentation, the test curve) are in :mod:`lrkit.recipe.parts`, the LR methods in
:mod:`lrkit.recipe.methods`.

**Data discipline.** ``val_per_class`` training images per class are held out; the range test reads
the loss on them, and the validation accuracy is what the recipes are to be tuned on. The test set
is evaluated once per epoch *only to draw the reported curve and read time-to-target*, and once at
the end; no choice — peak LR, stopping, any setting — reads it.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..data import cifar10_loaders
from ..models import AirNet
from ..rangetest import Choice, RangeTest, lr_from_range_test
from ..rangetest.reading import CLR_RATIO
from ..training import History, ScheduledLR, fit
from ..training.optim import OPTIMIZERS
from ..training.runtime import Runtime
from ..training.self_tuning import bn_batches, eval_weights, recompute_bn
from ..utils import seed_everything
from .methods import WARMUP_FRAC, Method, build_schedule, get_method
from .parts import TTA_VIEWS, Curve, FreezeAfter, RecipeLoader, WeightAverage, evaluate_tta
from .table import recipe_config

__all__ = ["RecipeResult", "train_recipe"]


@dataclass
class RecipeResult:
    target: int
    config: dict[str, Any]
    peak_lr: float
    peak_source: str
    range_test: Any                   # lrkit.rangetest.RangeTest (None without a range test)
    history: History
    curve: list[dict[str, float]]     # per-epoch test evaluations (reporting only)
    final_test: dict[str, float]
    final_val: dict[str, float] | None
    time_to_target: float | None      # seconds (range test + setup + training + that evaluation)
    seconds: dict[str, float]
    flops: dict[str, float]
    model: nn.Module = field(repr=False)
    info: dict[str, Any] = field(default_factory=dict)
    peak_suggestion: Any = None       # the range test's Suggestion the peak came from (None: none)


def _param_groups(model: nn.Module, whiten_bias_group: str = "biases") -> tuple[list, list]:
    """The recipe's two groups: the weights (matrices and filters) and the biases (BN shifts), the whitening
    conv's bias in the biases group or, with ``whiten_bias_group="weights"``, in the weights group."""
    weights, biases = [], []
    for p in model.parameters():
        if p.requires_grad:
            with_weights = p.dim() > 1 or (whiten_bias_group == "weights" and p is model.whiten.bias)
            (weights if with_weights else biases).append(p)
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


# --------------------------------------------------------------------------------------------------
# The phases
# --------------------------------------------------------------------------------------------------
@dataclass
class _Setup:
    """What the setup made: config, data, loaders, the net and its two parameter groups, the step counts."""

    cfg: dict[str, Any]
    loaders: Any
    train: RecipeLoader   # what the final model trains on (the split, or with train_on_all the split + held out)
    probe: RecipeLoader   # what the range test trains on: the split (the held-out loss is what it reads)
    model: nn.Module
    weights: list
    biases: list
    batch_size: int
    steps_per_epoch: int
    total: int
    loss_fn: nn.Module
    amp: Any              # fit's and the range test's amp: False, True or the dtype's name
    runtime: Runtime      # evaluation: the device, the autocast dtype on CUDA when amp, channels_last
    seconds: float


@dataclass
class _Peak:
    lr: float
    base: float | None    # CLR's base_lr (None for the other schedules)
    source: str
    range_test: RangeTest | None
    seconds: float
    suggestion: Any = None


@dataclass
class _Trained:
    history: History
    curve: Curve
    average: WeightAverage | None
    optimizer: torch.optim.Optimizer
    evaluated: nn.Module   # the averaged model (the model itself without averaging)
    freeze_at: int
    seconds: float         # the last step's wall time, without the curve's evaluations


@dataclass
class _Final:
    test: dict[str, float]
    val: dict[str, float] | None
    seconds: float
    test_seconds: float    # up to the end of the test evaluation (what time-to-target counts)


def _setup(cfg: dict[str, Any], data: Any, *, seed: int, device: Any, val_per_class: int, n_per_class: int | None,
           test_per_class: int | None, started: float) -> _Setup:
    """Seeded loaders (the validation split held out; with ``train_on_all`` a second training loader that
    holds it too), the whitened AirNet, its parameter groups. Every image goes to the device once, and the
    statistics (mean/std, whitening) are computed there: the mean/std in float32 on a GPU, in float64 on the CPU
    (what the stored CPU runs used)."""
    dev = torch.device(device)
    amp = cfg["amp_on_cuda"] if dev.type == "cuda" else False
    seed_everything(seed)
    L = cifar10_loaders(data, batch_size=int(cfg["batch_size"]), eval_batch_size=cfg["eval_batch_size"],
                        val_per_class=val_per_class, n_per_class=n_per_class, test_per_class=test_per_class,
                        augment=False, seed=seed, device=dev,
                        stats_dtype=torch.float32 if dev.type == "cuda" else torch.float64)  # CPU: as stored runs
    B = L.train.batch_size  # cifar10_loaders may shrink it (tiny data)

    def loader(x: torch.Tensor, y: torch.Tensor) -> RecipeLoader:
        return RecipeLoader(x, y, B, translate=cfg["translate"], flip=cfg["flip"], preprocess=L.preprocess, seed=seed,
                            device=dev, pad_mode=cfg["pad_mode"])

    probe = loader(L.train.x, L.train.y)
    train = probe
    if cfg["train_on_all"] and L.val is not None:
        train = loader(torch.cat([L.train.x, L.val.x]), torch.cat([L.train.y, L.val.y]))
    model = AirNet(tuple(cfg["widths"]), len(L.classes), whiten_kernel=cfg["whiten_kernel"],
                   bn_momentum=cfg["bn_momentum"], bn_eps=cfg["bn_eps"], bn_weight=cfg["bn_weight"],
                   head_scale=cfg["head_scale"], dirac=cfg["dirac"]).to(dev)
    model.init_whitening(L.preprocess(L.train.x[: cfg["whiten_images"]]), cfg["whiten_eps"])
    model.to(memory_format=torch.channels_last)
    weights, biases = _param_groups(model, cfg["whiten_bias_group"])
    spe = train.steps_per_epoch
    runtime = Runtime.resolve(model, device=dev, amp=amp, channels_last=True)
    return _Setup(cfg, L, train, probe, model, weights, biases, B, spe, max(1, round(cfg["epochs"] * spe)),
                  nn.CrossEntropyLoss(label_smoothing=cfg["label_smoothing"]), amp, runtime,
                  time.perf_counter() - started)


def _find_peak(method: Method, s: _Setup, progress: bool) -> _Peak:
    """The peak LR: the range test's suggestion for ``method.rule`` (its time counts), with the recipe's
    SGD, on the validation loss when there is a validation split — or the method's own ``lr``."""
    t0 = time.perf_counter()
    if not method.range_test:
        source = "set by hand" if method.optimizer == "sgd" else "the optimizer's lr"
        return _Peak(float(method.lr), None, source, None, time.perf_counter() - t0)
    cfg, f = s.cfg, s.cfg["find"]
    opt, _ = _optimizer(get_method("one_cycle_rt"), s.weights, s.biases, cfg["peak_fallback"], cfg, s.batch_size,
                        s.total)
    choice, rt = lr_from_range_test(s.model, s.probe, opt, asks=[method.rule], fallback=cfg["peak_fallback"],
                                    loss_fn=s.loss_fn, start_lr=f["start_lr"], end_lr=f["end_lr"],
                                    num_iter=f["num_iter"], smoothing=f["smoothing"], val_data=s.loaders.val,
                                    val_batches=f["val_batches"], amp=s.amp, channels_last=True, progress=progress)
    peak, base, source = _peak_from(choice, rt, method, cfg)
    lo, hi = cfg["peak_bounds"]
    if not lo <= peak <= hi:  # a 30-point test is noisy; outside the bounds it is certainly wrong
        source += f"; {peak:.3g} clamped to [{lo:g}, {hi:g}]"
        if base is not None:
            base *= min(max(peak, lo), hi) / peak
        peak = min(max(peak, lo), hi)
    return _Peak(peak, base, source, rt, time.perf_counter() - t0, choice.suggestion)


def _peak_from(choice: Choice, rt: RangeTest, method: Method, cfg: dict[str, Any]) -> tuple[float, float | None, str]:
    """(peak, CLR base, source) from the range test's choice: the sweep's LR is the reference group's (the
    largest); the weights' is its ratio of that, × the recipe's ``peak_scale`` × the method's ``lr_scale``."""
    if choice.fell_back:
        peak = choice.lr
        base = peak / CLR_RATIO if method.schedule == "clr" else None
        return peak, base, f"fallback (range test gave no suggestion: {choice.why_not})"
    sug = choice.suggestion
    ratio = rt.config["ratios"][0] * cfg["peak_scale"] * method.lr_scale
    source = f"range test ({sug.method})" + (f" × {method.lr_scale:g}" if method.lr_scale != 1.0 else "")
    return sug.lr * ratio, sug.base_lr * ratio if sug.base_lr is not None else None, source


def _train(method: Method, s: _Setup, peak: _Peak, *, progress: bool, desc: str) -> _Trained:
    """``fit`` with the method's optimizer and schedule; callbacks: the whitening bias frozen after its
    epochs, the weight average (Lookahead), the test curve (reporting only)."""
    cfg = s.cfg
    opt, mults = _optimizer(method, s.weights, s.biases, peak.lr, cfg, s.batch_size, s.total)
    sched = build_schedule(method, peak.lr, s.total, base=peak.base,
                           one_cycle={k: cfg[k] for k in ("pct_start", "div_factor", "final_div_factor")})
    # LR-free + cosine: the schedule multiplies their lr = 1, as documented (no warning)
    scheduler = ScheduledLR(opt, sched, multipliers=mults, warn_own_lr=False) if sched is not None else None
    a = cfg["average"]
    avg = WeightAverage(s.model, s.total, mode=a["mode"], every=a["every"], decay=a["decay"], power=a["power"]) \
        if a else None
    evaluated = avg.model if avg is not None else s.model
    curve = Curve(evaluated, s.loaders.test, s.steps_per_epoch, s.total, cfg["curve_tta"], s.runtime,
                  every=max(1, round(cfg["curve_every"] * s.steps_per_epoch)), optimizer=opt, train=s.train,
                  bn_batches=cfg["bn_recompute_batches"])
    freeze_at = round(cfg["whiten_bias_epochs"] * s.steps_per_epoch)
    callbacks = [FreezeAfter(s.model.whiten.bias, freeze_at)] + ([avg] if avg else []) + [curve]
    net = compiled(s.model, cfg["compile"])  # the same parameters: averaging, freezing and evaluation see them
    try:
        hist = fit(net, opt, s.train, iterations=s.total, loss_fn=s.loss_fn, scheduler=scheduler, amp=s.amp,
                   device=s.runtime.device, channels_last=True, callbacks=callbacks, progress=progress, desc=desc)
    finally:
        if scheduler is not None:
            scheduler.close()
    return _Trained(hist, curve, avg, opt, evaluated, freeze_at, curve.points[-1]["train_seconds"])


def compiled(model: nn.Module, mode: Any) -> nn.Module:
    """``model`` through ``torch.compile`` when ``mode`` is True or a mode name, else ``model`` itself. The
    compiled module shares its parameters and buffers with ``model``."""
    if mode is False or mode is None:
        return model
    return torch.compile(model) if mode is True else torch.compile(model, mode=mode)


def _final_eval(s: _Setup, t: _Trained) -> _Final:
    """BatchNorm statistics at the evaluated weights, then TTA on all test (and validation) images. With
    ``train_on_all`` the validation images were trained on: no validation accuracy."""
    t0 = time.perf_counter()
    n_bn = s.cfg["bn_recompute_batches"]
    with eval_weights(t.optimizer, t.evaluated, s.train, n_bn, runtime=s.runtime):
        if t.average is not None:
            recompute_bn(t.average.model, bn_batches(s.train, n_bn), runtime=s.runtime)
        test = evaluate_tta(t.evaluated, s.loaders.test, level=s.cfg["tta"], runtime=s.runtime)
        test_seconds = time.perf_counter() - t0
        val = evaluate_tta(t.evaluated, s.loaders.val, level=s.cfg["tta"], runtime=s.runtime) \
            if s.loaders.val is not None and s.train is s.probe else None
    return _Final(test, val, time.perf_counter() - t0, test_seconds)


def _time_to_target(target: int, s: _Setup, peak: _Peak, t: _Trained, final: _Final) -> float | None:
    """Seconds (setup + range test + training + that evaluation) until the test curve first reaches
    ``target`` %, or the final evaluation does; None if neither does."""
    for p in t.curve.points:
        if p["acc"] * 100 >= target:
            return s.seconds + peak.seconds + p["train_seconds"] + p["eval_seconds"]
    if final.test["acc"] * 100 >= target:
        return s.seconds + peak.seconds + t.seconds + final.test_seconds
    return None


def _flop_budget(s: _Setup, peak: _Peak, t: _Trained) -> dict[str, float]:
    """FLOPs of the range test, the training and every evaluation (forward + backward per training image)."""
    cfg, L, B = s.cfg, s.loaders, s.batch_size
    x = s.train.get_batch(0)[0][:4].to(s.runtime.device).contiguous(memory_format=torch.channels_last)
    f_train, f_eval = _flops(t.evaluated, x, s.loss_fn)
    views = TTA_VIEWS
    n_val = L.val.num_examples if L.val is not None and s.train is s.probe else 0
    n_rt = len(peak.range_test) if peak.range_test is not None else 0
    eval_imgs = (views[cfg["curve_tta"]] * L.test.num_examples * len(t.curve.points)
                 + views[cfg["tta"]] * (L.test.num_examples + n_val) + cfg["bn_recompute_batches"] * B
                 + n_rt * (cfg["find"]["val_batches"] * cfg["eval_batch_size"] if L.val is not None else 0))
    flops = {"train_per_image": f_train, "eval_per_image": f_eval, "range_test": f_train * n_rt * B,
             "training": f_train * s.total * B, "evaluation": f_eval * eval_imgs}
    flops["total"] = flops["range_test"] + flops["training"] + flops["evaluation"]
    return flops


def _account(target: int, method: Method, data: Any, s: _Setup, peak: _Peak, t: _Trained, final: _Final,
             started: float) -> RecipeResult:
    """The record: time to target, FLOPs, seconds per phase, and what the run was."""
    ttt = _time_to_target(target, s, peak, t, final)
    flops = _flop_budget(s, peak, t)
    seconds = {"setup": s.seconds, "range_test": peak.seconds, "training": t.seconds,
               "curve_eval": t.curve.eval_seconds, "final_eval": final.seconds, "total": time.perf_counter() - started}
    L = s.loaders
    info = {"train_images": s.train.num_examples, "val_images": L.val.num_examples if L.val is not None else 0,
            "test_images": L.test.num_examples, "steps_per_epoch": s.steps_per_epoch, "iterations": s.total,
            "batch_size": s.batch_size, "threads": torch.get_num_threads(), "device": str(s.runtime.device),
            "amp": bool(s.amp), "amp_dtype": str(s.runtime.amp_dtype).removeprefix("torch.") if s.amp else None,
            "train_on_all": s.train is not s.probe, "parameters": sum(p.numel() for p in s.model.parameters()),
            "weight_decay": t.optimizer.param_groups[0].get("weight_decay"),
            "whiten_bias_steps": min(t.freeze_at, s.total),
            "averaging_updates": t.average.updates if t.average is not None else 0, "data_source": data.source,
            "method": method.to_dict(), "base_lr": peak.base}
    return RecipeResult(target, s.cfg, float(peak.lr), peak.source, peak.range_test, t.history, t.curve.points,
                        final.test, final.val, ttt, seconds, flops, t.evaluated, info, peak.suggestion)


# --------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------
def train_recipe(target: int, data: Any, *, seed: int = 0, device: Any = "cpu", threads: int | None = None,
                 progress: bool = False, val_per_class: int = 500, overrides: dict[str, Any] | None = None,
                 method: Any = "one_cycle_rt", n_per_class: int | None = None,
                 test_per_class: int | None = None) -> RecipeResult:
    """Range test, training and evaluation of ``RECIPES[target]`` (``overrides`` replace entries).

    ``data``: a :class:`lrkit.data.Cifar10`. ``val_per_class`` images per class are held out of the
    training set (0: train on all, the range test then reads the training loss; the recipe's
    ``train_on_all``: the range test reads them, then the final model trains on them too). Returns the
    :class:`RecipeResult`; ``seconds`` splits the wall time into ``range_test``, ``setup``
    (loaders, whitening), ``training`` (without the curve's evaluations), ``curve_eval`` and
    ``final_eval`` (BN recompute + test and validation TTA).

    ``method`` (a :class:`lrkit.recipe.methods.Method` or its name) swaps the LR method. The default,
    ``one_cycle_rt``, is the recipe: one-cycle at the range test's one-cycle peak. Everything else about
    the run stays as it is: data, net, loss, averaging (``overrides={"average": None}`` turns it off),
    and evaluation. A method without a ``rule`` runs no range test (``range_test`` is None).
    ``n_per_class`` / ``test_per_class``: seeded subsets (smoke runs; None: all images).
    """
    cfg = recipe_config(target, overrides)
    method = get_method(method)
    if threads is not None:
        torch.set_num_threads(int(threads))
    started = time.perf_counter()
    # ---- setup: data, net, whitening ---------------------------------------------------------------
    s = _setup(cfg, data, seed=seed, device=device, val_per_class=val_per_class, n_per_class=n_per_class,
               test_per_class=test_per_class, started=started)
    # ---- find the peak LR (the range test's time counts) ---------------------------------------------
    peak = _find_peak(method, s, progress)
    # ---- train ------------------------------------------------------------------------------------
    trained = _train(method, s, peak, progress=progress, desc=f"recipe {target}: {method.name}")
    # ---- final evaluation -------------------------------------------------------------------------
    final = _final_eval(s, trained)
    # ---- account: time to target, FLOPs, the record -----------------------------------------------
    return _account(target, method, data, s, peak, trained, final, started)
