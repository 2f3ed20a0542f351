"""The ``discriminative`` experiment: ULMFiT's fine-tuning recipe (Howard & Ruder 2018, arXiv 1801.06146),
measured on a CIFAR-10 transfer task.

Protocol. Pre-train lrkit's FastNet on the six animal classes of CIFAR-10 (bird, cat, deer, dog, frog,
horse), then fine-tune it on the four vehicle classes (airplane, automobile, ship, truck) with few
labels (``lite``: 100 per class) and test on the vehicle test images (``lite``: all 4,000). Five arms,
each trained with :func:`lrkit.training.fit` for the same number of iterations, SGD (momentum 0.9,
weight decay 5e-4):

1. ``scratch``        — a fresh FastNet, one-cycle at the range test's LR;
2. ``frozen``         — pre-trained backbone frozen (``freeze()``: only the head and, fastai's default,
                        BatchNorm train), new head, one-cycle;
3. ``full``           — everything trainable with one LR, one-cycle;
4. ``discriminative`` — ULMFiT's per-group LRs (η_{l-1} = η_l / 2.6 over stem/block1/block2/block3/head),
                        one-cycle on top (``ScheduledLR(multipliers="initial")``);
5. ``gradual``        — discriminative LRs + gradual unfreezing (one more group from the top every
                        epoch, as ULMFiT §3.3; ``lite``: every ``iterations // groups`` steps) + slanted
                        triangular LRs.

The arms are the rows of ULMFiT's Table 7 (its classifier fine-tuning ablation): ``scratch`` = "From
scratch", ``frozen`` = "Last", ``full`` = "Full", ``discriminative`` = "Full + discr", ``gradual`` = "Freez +
discr + stlr" (full ULMFiT); :data:`lrkit.bench.references.REFERENCES` ``["ulmfit"]`` holds their errors.
Unlike Table 7's rows, lrkit's ``full`` and ``discriminative`` arms anneal with one-cycle.

LRs come from the range test (:func:`lrkit.rangetest.lr_find`, 1e-5 → 10, its ``'robust'`` suggestion,
``'valley'`` if that fails, by the one policy of :func:`lrkit.rangetest.choose_lr`), run once on seed 0's
data for each arm's optimizer (for ``discriminative`` the sweep keeps the groups' ratios and the suggestion
is the top group's LR; ``gradual`` uses the same LRs). A run's schedule config is the schedule's *shape*
with peak 1; it is multiplied by the chosen LR. Seeds change the fine-tuning subset, the head's
initialisation and the batch order; the backbone is pre-trained once (seed 0). Each run is evaluated 5
times (every ``ceil(iterations / 5)`` steps).

ImageNet arms. With ImageNet weights for torchvision's ResNet-18 — env ``LRKIT_RESNET18_WEIGHTS`` naming
a state-dict file, or ``LRKIT_RESNET18_WEIGHTS=download`` for torchvision's download — arms 2–5 are
repeated with that backbone (``in1k-frozen``, …); without it they are skipped with one message. They
are slow on a CPU.

Scales (:data:`TRANSFER_SCALES`). ``smoke`` (seconds; CI); ``lite`` (a backbone pre-trained for 500 iterations:
56.8 % on the animal classes, too weak for fine-tuning to pay — measured: 10.6 min on one torch thread); ``full``
(the same fine-tuning task on a backbone pre-trained for 15 epochs to a strong source accuracy, gradual unfreezing
one group per epoch as ULMFiT does, 3 seeds).
There is **no** ``paper`` scale: ULMFiT's published numbers are on text classification, so no CIFAR
protocol would reproduce them; asking for it is an error.

Files, in the runner's layout (:mod:`lrkit.bench.runner`), under ``<out>/discriminative/<scale>/``::

    manifest.json                      the runner's manifest (config hash of every arm)
    <arm>-seed<k>.json                 one finished run: the runner's result format, plus the arm's layer
                                       groups, per-group peak LRs, unfreezing events and chosen LR
    backbone-fastnet-animals.pt/.json  the pre-trained backbone (state dict) and its config + diagnostics
    range-test-<arm>.json              the chosen LR of each range test, with the config it was measured under

The backbone and the range tests are the experiment's ``prepare`` (:func:`prepare_transfer`); each arm
and seed is then one unit of the runner's loop (:func:`train_arm`). Finished runs are skipped when
rerun; the backbone and the LRs are reused when their config matches and are an error (never
overwritten) when it does not (:func:`lrkit.bench.store.cached`). A killed run restarts from its
beginning (runs are short). ``benchmarks/discriminative_experiment.py`` wraps this module.
"""

from __future__ import annotations

import copy
import hashlib
import io
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ... import models as M
from ...data import cifar10_loaders
from ...finetune import ULMFIT_FACTOR, GradualUnfreezing, layer_groups
from ...rangetest import USE_RULES, choose_lr, lr_find
from ...schedules import OneCycle, SlantedTriangular
from ...training import ScheduledLR, fit
from ...utils import atomic_write_bytes, seed_everything
from ..analysis import Reading, paired_final
from ..spec import Experiment, RunSpec
from ..store import BenchError, cached, result_record

__all__ = ["ANIMALS", "ARMS", "EXPERIMENT", "IN1K_ARMS", "NO_PAPER_SCALE", "TRANSFER_SCALES", "VEHICLES", "WEIGHTS_ENV",
           "SCRATCH", "backbone_config", "build_runs", "check_transfer", "lr_config", "prepare_transfer", "train_arm"]

NO_PAPER_SCALE = "ULMFiT's numbers are on text; use lite"

ANIMALS = (2, 3, 4, 5, 6, 7)   # pre-training classes: bird, cat, deer, dog, frog, horse
VEHICLES = (0, 1, 8, 9)        # fine-tuning classes: airplane, automobile, ship, truck
ARMS = ("scratch", "frozen", "full", "discriminative", "gradual")
IN1K_ARMS = ("in1k-frozen", "in1k-full", "in1k-discriminative", "in1k-gradual")
WEIGHTS_ENV = "LRKIT_RESNET18_WEIGHTS"

#: pre-training: iterations, batch, images per class (None: all 5,000); fine-tuning: iterations, batch,
#: labels per class, test images per class (None: all 1,000); range-test points; ImageNet-arm iterations
TRANSFER_SCALES: dict[str, dict[str, Any]] = {
    "smoke": dict(pre_iters=8, pre_batch=16, pre_per_class=40, iters=8, batch=16, per_class=20,
                  test_per_class=10, finder_iters=8, in1k_iters=4),
    "lite": dict(pre_iters=500, pre_batch=128, pre_per_class=None, iters=150, batch=32, per_class=100,
                 test_per_class=None, finder_iters=60, in1k_iters=60),
    # a strong backbone: 15 epochs of the 30,000 animal images at batch 256, one cycle to the peak lrkit's recipe work
    # found for this net (0.2, Nesterov: 84 % on all of CIFAR-10 in 4 epochs, GUIDE.md), not a range test; the arms'
    # LRs from the range test read for their one-cycle / STLR peak; gradual unfreezing one group per epoch
    "full": dict(pre_iters=1755, pre_batch=256, pre_per_class=None, pre_lr=0.2, iters=150, batch=32, per_class=100,
                 test_per_class=None, finder_iters=100, in1k_iters=60, unfreeze="epoch", asks=("one_cycle",)),
}
SGD = {"name": "sgd", "momentum": 0.9, "weight_decay": 5e-4}
FINDER = {"start_lr": 1e-5, "end_lr": 10.0, "suggestion": "robust, valley if that fails"}
EVALS_PER_RUN = 5
_N_GROUPS = {"fastnet": 5, "resnet18": 6}  # lrkit's layer-group presets (stem … head)

BACKBONE_FILE = "backbone-fastnet-animals"
LRS_PREFIX = "range-test-"


def log(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------------------------------
# The runs, as data
# --------------------------------------------------------------------------------------------------
def pretrain_config(scale: str) -> dict[str, Any]:
    """Everything that determines the pre-trained FastNet (except the data, added at run time)."""
    sc = TRANSFER_SCALES[scale]
    config = {"model": "fastnet", "classes": list(ANIMALS), "iterations": sc["pre_iters"],
              "batch_size": sc["pre_batch"], "n_per_class": sc["pre_per_class"],
              "test_per_class": sc["test_per_class"] or 200, "optimizer": SGD,
              "schedule": "OneCycle at the range test's LR", "finder": {**FINDER, "num_iter": sc["finder_iters"]},
              "seed": 0}
    if sc.get("pre_lr") is not None:  # a stated peak, no range test
        config.update(optimizer={**SGD, "nesterov": True}, schedule=f"OneCycle, peak {sc['pre_lr']}", finder=None,
                      peak_lr=sc["pre_lr"])
    return config


def finder_config(scale: str) -> dict[str, Any]:
    """The range test every arm's LR comes from: its sweep and what it is read for (a use's reading names its
    rule, so a refit reading is a new configuration)."""
    sc = TRANSFER_SCALES[scale]
    asks = sc.get("asks")
    if asks is None:
        return dict(FINDER)
    return {"start_lr": FINDER["start_lr"], "end_lr": FINDER["end_lr"],
            "suggestion": "; ".join(f"for_={a!r}: {USE_RULES[a]}" for a in asks), "asks": list(asks)}


def lr_key(arm: str) -> str:
    """The range test an arm's LR comes from (``gradual`` uses ``discriminative``'s)."""
    return arm.replace("gradual", "discriminative")


def build_runs(scale: str) -> list[RunSpec]:
    """One :class:`RunSpec` per arm (kind ``"transfer"``), the ImageNet arms last.

    A spec's ``extra`` holds what the runner's fields cannot: the arm, its backbone (and the
    pre-training's config), the layer factor, the range test its LR comes from, the unfreezing
    period; ``extra["requires"]`` names the environment variable an arm needs (ImageNet weights).
    """
    if scale == "paper":
        raise ValueError(f"discriminative has no paper scale: {NO_PAPER_SCALE}")
    if scale not in TRANSFER_SCALES:
        raise ValueError(f"unknown scale {scale!r} for discriminative; choose one of {sorted(TRANSFER_SCALES)}")
    sc = TRANSFER_SCALES[scale]
    runs = []
    for arm in ARMS + IN1K_ARMS:
        base = arm.removeprefix("in1k-")
        in1k = arm != base
        model = "resnet18" if in1k else "fastnet"
        iters = sc["in1k_iters"] if in1k else sc["iters"]
        if base == "gradual":
            shape = SlantedTriangular(1.0, iters, cut_frac=max(0.1, 1.0 / iters), ratio=32)
        else:
            shape = OneCycle(1.0, iters)
        extra: dict[str, Any] = {
            "arm": base,
            "backbone": ("imagenet" if in1k else "none" if base == "scratch" else "fastnet_animals"),
            "target_classes": list(VEHICLES),
            "trainable": {"frozen": "head + BatchNorm", "gradual": "gradually unfrozen"}.get(base, "all"),
            "layer_factor": ULMFIT_FACTOR if base in ("discriminative", "gradual") else None,
            "lr": {"range_test": lr_key(arm), **finder_config(scale), "num_iter": sc["finder_iters"], "data_seed": 0},
        }
        if base == "gradual":
            per_epoch = (sc["per_class"] * len(VEHICLES)) // sc["batch"]  # the loader drops the last batch
            extra["unfreeze_every"] = per_epoch if sc.get("unfreeze") == "epoch" else max(1, iters // _N_GROUPS[model])
        if extra["backbone"] == "fastnet_animals":
            extra["pretrain"] = pretrain_config(scale)
        if in1k:
            extra["requires"] = WEIGHTS_ENV
        runs.append(RunSpec(arm, model=model, optimizer=SGD, schedule=shape.to_config(), iterations=iters,
                            batch_size=sc["batch"], eval_every=max(1, math.ceil(iters / EVALS_PER_RUN)),
                            n_per_class=sc["per_class"], test_per_class=sc["test_per_class"],
                            kind="transfer", extra=extra))
    return runs


# --------------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------------
def _sgd(params) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=0.1, momentum=SGD["momentum"], weight_decay=SGD["weight_decay"])


def _vehicle_loaders(data, spec: RunSpec, seed: int, device):
    return cifar10_loaders(data, classes=list(VEHICLES), batch_size=spec.batch_size, n_per_class=spec.n_per_class,
                           test_per_class=spec.test_per_class, seed=seed, device=device)


def _suggest_lr(model: nn.Module, loader, optimizer, num_iter: int, device,
                asks: tuple[str, ...] = ("robust", "valley")) -> dict[str, Any]:
    """Range test on ``optimizer``'s groups (ratios kept); the first of ``asks`` that reads the curve (default:
    the robust suggestion, valley as fallback)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*it is cycled.*", category=RuntimeWarning)
        rt = lr_find(model, loader, optimizer, start_lr=FINDER["start_lr"], end_lr=FINDER["end_lr"],
                     num_iter=num_iter, device=device, progress=False)
    try:
        choice = choose_lr(rt, list(asks))
    except ValueError as e:  # neither rule can read the curve (e.g. too few points)
        raise BenchError(str(e)) from None
    return {"lr": choice.lr, "low": choice.low, "high": choice.high, "method": choice.ask, "points": len(rt),
            "reason": rt.reason}


def _with_new_head(backbone: nn.Module, seed: int) -> nn.Module:
    """A copy of ``backbone`` with a fresh head for the vehicle classes (initialised from ``seed``)."""
    model = copy.deepcopy(backbone)
    torch.manual_seed(10_000 + seed)
    if isinstance(model, M.FastNet):
        model.head = nn.Linear(model.head.in_features, len(VEHICLES))
    else:
        model.fc = nn.Linear(model.fc.in_features, len(VEHICLES))
    return model


def _arm_model(spec: RunSpec, backbone: nn.Module | None, seed: int, lr: float, device):
    """(model, layer groups, SGD) of an arm: a fresh FastNet (scratch) or ``backbone`` with a new head,
    the backbone frozen for ``frozen``, the groups' LRs ``lr`` ÷ the arm's layer factor per group."""
    if backbone is None:
        torch.manual_seed(seed)
        model = M.fastnet(len(VEHICLES))
    else:
        model = _with_new_head(backbone, seed)
    model.to(device)
    groups = layer_groups(model)
    if spec.extra["arm"] == "frozen":
        groups.freeze()
    return model, groups, _sgd(groups.param_groups(lr, factor=spec.extra["layer_factor"]))


def data_kind(source: str) -> str:
    """What the stored configs call the data: ``"synthetic"`` or ``"cifar10"``."""
    return "synthetic" if source == "synthetic" else "cifar10"


def backbone_config(scale: str, source: str) -> dict[str, Any]:
    """The identity of the pre-trained FastNet (``backbone-fastnet-animals.json`` is reused under it only)."""
    return {**pretrain_config(scale), "data": data_kind(source)}


#: the identity of the ``scratch`` arm's "backbone": a fresh FastNet, seeded
SCRATCH = {"init": "fastnet, seeded"}


def lr_config(spec: RunSpec, backbone: dict[str, Any], source: str) -> dict[str, Any]:
    """What determines the LR of ``spec``'s range test (``range-test-<key>.json`` is reused under it only);
    ``backbone``: the identity of the arm's backbone."""
    return {"range_test": spec.extra["lr"]["range_test"],
            "finder": {k: v for k, v in spec.extra["lr"].items() if k != "range_test"},
            "model": spec.model, "backbone": backbone, "optimizer": SGD, "batch_size": spec.batch_size,
            "n_per_class": spec.n_per_class, "test_per_class": spec.test_per_class, "data": data_kind(source)}


def _weights_id(source: str) -> str:
    """A stable identity of the ImageNet weights: torchvision's download, or the file's content hash."""
    if source == "download":
        return "torchvision:DEFAULT"
    h = hashlib.sha256()
    with open(source, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return f"sha256:{h.hexdigest()[:16]}"


class _Shared:
    """What the arms share — backbones and range-test LRs — computed once, cached in the folder
    (:func:`lrkit.bench.store.cached`)."""

    def __init__(self, ctx: Any, weights: str | None):
        self.folder, self.scale, self.data, self.device = ctx.folder, ctx.scale, ctx.data, ctx.device
        self.weights, self.progress = weights, ctx.progress
        self._backbones: dict[str, tuple[nn.Module, dict[str, Any]]] = {}

    # ---------------------------------------------------------------------------------- backbones
    def backbone(self, kind: str) -> tuple[nn.Module | None, dict[str, Any]]:
        """(backbone, its identity) for ``kind`` in none / fastnet_animals / imagenet."""
        if kind == "none":
            return None, SCRATCH
        if kind not in self._backbones:
            self._backbones[kind] = self._pretrained_fastnet() if kind == "fastnet_animals" else self._imagenet()
        return self._backbones[kind]

    def _pretrain(self, config: dict[str, Any], pt: Path) -> dict[str, Any]:
        """Pre-train FastNet on the animal classes; write its state dict to ``pt``; return its description."""
        seed_everything(0)  # seeded before the model is built: the backbone no longer depends on what ran before
        model = M.fastnet(len(ANIMALS)).to(self.device)
        ld = cifar10_loaders(self.data, classes=list(ANIMALS), batch_size=config["batch_size"],
                             n_per_class=config["n_per_class"], test_per_class=config["test_per_class"], seed=0,
                             device=self.device)
        t = time.perf_counter()
        opt = _sgd(model.parameters())
        if config.get("peak_lr") is not None:
            opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=SGD["momentum"], nesterov=True,
                                  weight_decay=SGD["weight_decay"])
            chosen = {"lr": config["peak_lr"], "method": "stated"}
        else:
            chosen = _suggest_lr(model, ld.train, opt, config["finder"]["num_iter"], self.device)
        hist = fit(model, opt, ld.train, iterations=config["iterations"],
                   schedule=OneCycle(chosen["lr"], config["iterations"]), eval_data=ld.test,
                   progress=self.progress, desc="pretrain")
        ev = hist.final_eval()
        seconds = time.perf_counter() - t
        log(f"pre-trained FastNet on animals: {config['iterations']} it, lr={chosen['lr']:.3g}, "
            f"test acc {ev['acc']:.3f} on {ev['n']} images ({seconds:.0f} s)")
        model.to("cpu")
        buf = io.BytesIO()
        torch.save(model.state_dict(), buf)
        atomic_write_bytes(pt, buf.getvalue())  # the state dict first, its description (= "done") last
        return {"lr": chosen, "final": ev, "seconds": seconds, "data_source": self.data.source}

    def _pretrained_fastnet(self) -> tuple[nn.Module, dict[str, Any]]:
        config = backbone_config(self.scale, self.data.source)
        pt, meta_path = self.folder / f"{BACKBONE_FILE}.pt", self.folder / f"{BACKBONE_FILE}.json"
        cached(meta_path, config, lambda: self._pretrain(config, pt), made="pre-trained with")
        if not pt.exists():  # the weights file is git-ignored: rebuilt from the stored configuration
            log(f"{pt} is missing: pre-training again from the configuration in {meta_path}")
            self._pretrain(config, pt)
        model = M.fastnet(len(ANIMALS))
        model.load_state_dict(torch.load(pt, map_location="cpu", weights_only=True))
        return model, config

    def _imagenet(self) -> tuple[nn.Module, dict[str, Any]]:
        weights = "DEFAULT" if self.weights == "download" else self.weights
        try:
            model = M.torchvision_resnet("resnet18", len(VEHICLES), weights=weights)
        except Exception as e:  # noqa: BLE001 - offline download, bad file: say which and why
            raise BenchError(f"{WEIGHTS_ENV}={self.weights}: cannot load ImageNet ResNet-18 weights: {e}") from e
        return model, {"weights": _weights_id(self.weights)}

    # ---------------------------------------------------------------------------------- LRs
    def lr(self, spec: RunSpec) -> dict[str, Any]:
        """The chosen LR of ``spec``'s range test (``range-test-<key>.json``), measured once."""
        key = spec.extra["lr"]["range_test"]
        backbone, identity = self.backbone(spec.extra["backbone"])
        config = lr_config(spec, identity, self.data.source)

        def measure() -> dict[str, Any]:
            seed_everything(0)
            ld = _vehicle_loaders(self.data, spec, 0, self.device)
            model, _, opt = _arm_model(spec, backbone, 0, 1.0, self.device)
            t = time.perf_counter()
            asks = tuple(config["finder"].get("asks") or ("robust", "valley"))
            entry = {**_suggest_lr(model, ld.train, opt, config["finder"]["num_iter"], self.device, asks),
                     "seconds": time.perf_counter() - t}
            log(f"  range test {key:>22}: lr={entry['lr']:.3g} [{entry['low']:.3g}, {entry['high']:.3g}] "
                f"({entry['method']}, {entry['seconds']:.0f} s)")
            return entry

        return cached(self.folder / f"{LRS_PREFIX}{key}.json", config, measure, made="measured under")


def check_transfer() -> str | None:
    """The ImageNet weights named by ``WEIGHTS_ENV`` (None: unset); a file that does not exist is an error."""
    weights = os.environ.get(WEIGHTS_ENV) or None
    if weights is not None and weights != "download" and not os.path.isfile(weights):
        raise BenchError(f"{WEIGHTS_ENV}={weights}: no such file (give a state dict of torchvision's resnet18, "
                         "or 'download')")
    return weights


# --------------------------------------------------------------------------------------------------
# The experiment: what the arms share (prepare), then one arm, one seed (train_arm)
# --------------------------------------------------------------------------------------------------
def prepare_transfer(runs: list[RunSpec], ctx: Any) -> list[RunSpec]:
    """Pre-train the backbone and measure every arm's range test (each cached in the folder), before
    any arm trains; return the runs that can train here (the ImageNet arms need ``WEIGHTS_ENV``)."""
    weights = check_transfer()
    plan = [r for r in runs if not (r.extra.get("requires") == WEIGHTS_ENV and weights is None)]
    if len(plan) < len(runs):
        log(f"skipping the ImageNet ResNet-18 arms ({', '.join(r.name for r in runs if r not in plan)}): "
            f"set {WEIGHTS_ENV} to a state-dict file of torchvision's resnet18, or to 'download'")
    shared = _Shared(ctx, weights)
    for spec in plan:
        shared.lr(spec)
    ctx.extras["transfer"] = shared
    return plan


def train_arm(spec: RunSpec, seed: int, ctx: Any, started: float) -> dict[str, Any]:
    """Train one arm with one seed (the runner's trainer for ``kind="transfer"``)."""
    shared = ctx.extras.get("transfer") or _Shared(ctx, check_transfer())
    chosen = {k: v for k, v in shared.lr(spec).items() if k != "config"}
    backbone, identity = shared.backbone(spec.extra["backbone"])
    base, dev = spec.extra["arm"], ctx.device
    seed_everything(seed)
    ld = _vehicle_loaders(ctx.data, spec, seed, dev)
    model, groups, opt = _arm_model(spec, backbone, seed, chosen["lr"], dev)
    scheduler = ScheduledLR(opt, spec.build_schedule() * chosen["lr"], multipliers="initial")
    callbacks = []
    if base == "gradual":
        if len(groups) != _N_GROUPS[spec.model]:
            raise BenchError(f"{spec.model} has {len(groups)} layer groups, the experiment assumes "
                             f"{_N_GROUPS[spec.model]}")
        callbacks.append(GradualUnfreezing(groups, every=spec.extra["unfreeze_every"]))
    hist = fit(model, opt, ld.train, iterations=spec.iterations, scheduler=scheduler, eval_data=ld.test,
               eval_every=spec.eval_every, callbacks=callbacks, device=dev, progress=ctx.progress,
               desc=f"{ctx.experiment}/{spec.name}")
    return {
        **result_record(spec, seed, experiment=ctx.experiment, scale=ctx.scale, hist=hist, data=ctx.data, device=dev,
                        started=started),
        # the arm's specifics
        "groups": groups.names,
        "group_lrs": [max(col) for col in zip(*hist.lr, strict=True)],  # peak LR of each group
        "unfreeze_events": callbacks[0].events if callbacks else None,
        "chosen_lr": chosen,
        "backbone": identity,
    }


def _runs(scale: str, factor: float) -> list[RunSpec]:
    return build_runs(scale)  # a protocol of its own: no factor


# --------------------------------------------------------------------------------------------------
# What the report says, and the figure
# --------------------------------------------------------------------------------------------------
def discriminative_notes(r: Reading) -> list[str]:
    """Each arm against ``full`` (paired by seed) and ULMFiT's claim: ``gradual`` beats ``full``."""
    summ = r.summary
    notes = []
    for prefix in ("", "in1k-"):
        full = f"{prefix}full"
        if full not in summ:
            continue
        for arm in summ:
            if arm == full or not arm.startswith(prefix) or (not prefix and arm.startswith("in1k-")):
                continue
            m, sd, n = paired_final(summ, arm, full)
            notes.append(f"{arm} vs {full}: {m:+.2f} pp (mean over {n} seeds of the per-seed difference, "
                         f"std {sd:.2f})")
        gradual = f"{prefix}gradual"
        m, sd, n = paired_final(summ, gradual, full) if gradual in summ else (0.0, 0.0, 0)
        if n:
            notes.append(f"ULMFiT's claim — discriminative LRs + gradual unfreezing + STLR ({gradual}) beat "
                         f"fine-tuning the whole model at one LR ({full}): **{'yes' if m > 0 else 'no'}**, "
                         f"{summ[gradual]['acc_mean']:.2f} % vs {summ[full]['acc_mean']:.2f} % "
                         f"({m:+.2f} ± {sd:.2f} pp over {n} seeds)")
    lrs = {res["run"]: res.get("chosen_lr") for s in summ.values() for res in s["results"][:1]}
    chosen = [f"{arm} {c['lr']:.3g} [{c['low']:.3g}, {c['high']:.3g}]" for arm, c in lrs.items() if c]
    if chosen:
        notes.append("LRs from the range test (top group; suggestion [interval]): " + ", ".join(chosen))
    return notes


def discriminative_figure(r: Reading) -> Any:
    """Final accuracy per arm (bars: mean ± std, dots: seeds); the gradual arm's per-group LRs."""
    import matplotlib.pyplot as plt

    from ...plot import plot_layer_lrs

    scale, summ = r.scale, r.summary
    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 4.2))
    order = [spec.name for spec in r.experiment.runs(scale)]  # the protocol's order
    arms = sorted(summ, key=lambda arm: order.index(arm) if arm in order else len(order))
    for i, arm in enumerate(arms):
        accs = [100 * res["final"]["acc"] for res in summ[arm]["results"] if res.get("final")]
        a.bar(i, summ[arm]["acc_mean"], yerr=summ[arm]["acc_std"], color=f"C{i}", alpha=0.7, capsize=4)
        a.plot([i] * len(accs), accs, "k.", ms=5)
    a.set_xticks(range(len(arms)), arms, rotation=20, fontsize=8)
    lo = min((100 * res["final"]["acc"] for s in summ.values() for res in s["results"] if res.get("final")),
             default=0)
    a.set_ylim(max(0.0, lo - 10), None)
    a.set(ylabel="vehicle test accuracy (%)", title=f"fine-tuning arms — {scale} (mean ± std, dots: seeds)")
    if "gradual" in summ:
        first = min(summ["gradual"]["results"], key=lambda res: res["seed"])
        plot_layer_lrs(first["history"]["lr"], first.get("groups"), events=first.get("unfreeze_events"), ax=b,
                       title="gradual: STLR × per-group ratio (2.6), unfreezing events")
    else:
        b.set_axis_off()
    fig.tight_layout()
    return fig


EXPERIMENT = Experiment(
    "discriminative", "Discriminative fine-tuning (ULMFiT's recipe) on CIFAR-10 animals → vehicles", "ulmfit",
    "FastNet pre-trained on the 6 animal classes, fine-tuned on the 4 vehicle classes with few labels: "
    "scratch / frozen / full / discriminative (LR ÷2.6 per group) / gradual (+ unfreezing, STLR), "
    "LRs from the range test; ImageNet ResNet-18 arms with LRKIT_RESNET18_WEIGHTS.",
    {}, _runs, seeds={"smoke": 2, "lite": 3, "full": 3},
    unavailable={"paper": NO_PAPER_SCALE},
    prepare=prepare_transfer, check=check_transfer, trainer=train_arm, notes=discriminative_notes,
    figure=discriminative_figure)
