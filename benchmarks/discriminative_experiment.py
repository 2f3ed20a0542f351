"""Discriminative fine-tuning on a CIFAR-10 transfer task (ULMFiT's recipe, measured).

Task: pre-train lrkit's FastNet on the six animal classes of CIFAR-10 (bird, cat, deer, dog, frog,
horse), then fine-tune on the four vehicle classes (airplane, automobile, ship, truck) with few labels
(``lite``: 100 per class) and test on all 4,000 vehicle test images. Five arms, each trained with
:func:`lrkit.train.fit` for the same number of iterations:

1. ``scratch``        — a fresh FastNet, one-cycle at the range test's LR;
2. ``frozen``         — pre-trained backbone frozen (``freeze()``: only the head and, fastai's default,
                        BatchNorm train), new head, one-cycle;
3. ``full``           — everything trainable with one LR, one-cycle;
4. ``discriminative`` — ULMFiT's per-group LRs (η_{l-1} = η_l / 2.6 over stem/block1/block2/block3/head),
                        one-cycle on top (``ScheduledLR(multipliers="initial")``);
5. ``gradual``        — discriminative LRs + gradual unfreezing (one more group from the top every
                        ``iterations / groups`` steps) + slanted triangular LRs.

LRs come from the range test (:func:`lrkit.finder.lr_find`, its ``'robust'`` suggestion, ``'valley'``
if that fails) run once on seed 0's data for each arm's optimizer (for ``discriminative`` the sweep
keeps the groups' ratios, the suggestion is the top group's LR; ``gradual`` uses the same LRs).
Seeds change the fine-tuning subset, the head's initialisation and the batch order; the backbone is
pre-trained once (seed 0).

With ImageNet weights for torchvision's ResNet-18 (``--imagenet-weights PATH``, env
``LRKIT_RESNET18_WEIGHTS``, or torchvision's download when online) arms 2–5 are repeated with that
backbone (arms ``in1k-…``); without them this part is skipped with a message. It is slow on a CPU.

Threads: ``--threads`` (default 2). On a 2-core machine that is busy with another job, use
``--threads 1``: measured here, a FastNet step at batch 32 took 1.1 s with 2 threads against a
competing 2-thread job and 0.07 s with 1 thread (oversubscribed intra-op threads spin).

One JSON per (arm, seed) is written atomically into ``--out``; ``--resume`` skips finished ones (and
reuses the pre-trained backbone and the chosen LRs). At the end: a markdown table and a figure.

    LRKIT_DATA_DIR=/path/to/cifar python benchmarks/discriminative_experiment.py --scale lite \
        --out results/discriminative
    python benchmarks/discriminative_experiment.py --synthetic --scale smoke --out /tmp/d  # no data
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn

from lrkit import models as M
from lrkit.data import cifar10_loaders, load_cifar10, synthetic_cifar10
from lrkit.discriminative import ULMFIT_FACTOR, GradualUnfreezing, layer_groups
from lrkit.scheduler import ScheduledLR
from lrkit.schedules import OneCycle, SlantedTriangular
from lrkit.train import atomic_write_text, fit, seed_everything

ANIMALS = [2, 3, 4, 5, 6, 7]
VEHICLES = [0, 1, 8, 9]
ARMS = ["scratch", "frozen", "full", "discriminative", "gradual"]
IN1K_ARMS = ["in1k-frozen", "in1k-full", "in1k-discriminative", "in1k-gradual"]

SCALES = {
    # pretrain: iterations, batch, images per class (None: all); finetune: iterations, batch, labels
    # per class, test images per class (None: all 1000); range test points
    "smoke": dict(pre_iters=8, pre_batch=16, pre_per_class=40, iters=8, batch=16, per_class=20,
                  test_per_class=10, finder_iters=8, in1k_iters=4),
    "lite": dict(pre_iters=500, pre_batch=128, pre_per_class=None, iters=150, batch=32, per_class=100,
                 test_per_class=None, finder_iters=60, in1k_iters=60),
}
MOMENTUM, WD = 0.9, 5e-4


def log(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------------------------------
def suggest_lr(model, loader, optimizer, num_iter: int) -> dict:
    """Range test on ``optimizer``'s groups (ratios kept); robust suggestion, valley as fallback."""
    from lrkit.finder import lr_find

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*it is cycled.*", category=RuntimeWarning)
        rt = lr_find(model, loader, optimizer, start_lr=1e-5, end_lr=10.0, num_iter=num_iter,
                     progress=False)
    for method in ("robust", "valley"):
        try:
            s = rt.suggest(method)
            return {"lr": float(s.lr), "low": float(s.low), "high": float(s.high), "method": method,
                    "points": len(rt), "reason": rt.reason}
        except ValueError as e:  # too few points
            last = e
    raise RuntimeError(f"range test gave no suggestion: {last}")


def sgd(params) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=0.1, momentum=MOMENTUM, weight_decay=WD)


def new_head(model: nn.Module, n_out: int, seed: int) -> nn.Module:
    torch.manual_seed(10_000 + seed)
    if isinstance(model, M.FastNet):
        model.head = nn.Linear(model.head.in_features, n_out)
    else:
        model.fc = nn.Linear(model.fc.in_features, n_out)
    return model


def make_arm(arm: str, backbone: nn.Module, lrs: dict, iters: int, seed: int):
    """(model, groups, optimizer, scheduler, callbacks) of an arm."""
    base = arm.removeprefix("in1k-")
    key = arm if arm in lrs else base
    if base == "scratch":
        torch.manual_seed(seed)
        model = M.fastnet(len(VEHICLES))
    else:
        model = new_head(copy.deepcopy(backbone), len(VEHICLES), seed)
    groups = layer_groups(model)
    callbacks = []
    if base in ("scratch", "full"):
        opt = sgd(groups.param_groups(lrs[key]["lr"]))
        sched = ScheduledLR(opt, OneCycle(lrs[key]["lr"], iters), multipliers="initial")
    elif base == "frozen":
        groups.freeze()
        opt = sgd(groups.param_groups(lrs[key]["lr"]))
        sched = ScheduledLR(opt, OneCycle(lrs[key]["lr"], iters), multipliers="initial")
    else:
        top = lrs[key]["lr"]
        opt = sgd(groups.param_groups(top, factor=ULMFIT_FACTOR))
        if base == "discriminative":
            sched = ScheduledLR(opt, OneCycle(top, iters), multipliers="initial")
        else:
            sched = ScheduledLR(opt, SlantedTriangular(top, iters, cut_frac=max(0.1, 1.0 / iters), ratio=32),
                                multipliers="initial")
            callbacks.append(GradualUnfreezing(groups, every=max(1, iters // len(groups))))
    return model, groups, opt, sched, callbacks


def choose_lrs(arms, backbone, loader, num_iter: int) -> dict:
    out = {}
    for arm in arms:
        base = arm.removeprefix("in1k-")
        if base == "gradual":
            continue
        if base == "scratch":
            torch.manual_seed(0)
            model = M.fastnet(len(VEHICLES))
        else:
            model = new_head(copy.deepcopy(backbone), len(VEHICLES), 0)
        groups = layer_groups(model)
        if base == "frozen":
            groups.freeze()
        factor = ULMFIT_FACTOR if base == "discriminative" else None
        opt = sgd(groups.param_groups(1.0, factor=factor))
        t = time.perf_counter()
        out[arm] = suggest_lr(model, loader, opt, num_iter)
        s = out[arm]
        log(f"  range test {arm:>22}: lr={s['lr']:.3g} [{s['low']:.3g}, {s['high']:.3g}] "
            f"({s['method']}, {time.perf_counter() - t:.0f}s)")
    return out


# --------------------------------------------------------------------------------------------------
def pretrain(data, sc, out: Path, resume: bool) -> nn.Module:
    path = out / "backbone_animals.pt"
    model = M.fastnet(len(ANIMALS))
    if resume and path.exists():
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        log(f"pre-trained backbone: reused {path}")
        return model
    seed_everything(0)
    ld = cifar10_loaders(data, classes=ANIMALS, batch_size=sc["pre_batch"], n_per_class=sc["pre_per_class"],
                         test_per_class=sc["test_per_class"] or 200, seed=0)
    t = time.perf_counter()
    opt = sgd(model.parameters())
    lr = suggest_lr(model, ld.train, opt, sc["finder_iters"])["lr"]
    hist = fit(model, opt, ld.train, iterations=sc["pre_iters"], schedule=OneCycle(lr, sc["pre_iters"]),
               eval_data=ld.test, progress=False, desc="pretrain")
    ev = hist.final_eval()
    log(f"pre-trained FastNet on animals: {sc['pre_iters']} it, lr={lr:.3g}, test acc {ev['acc']:.3f} "
        f"on {ev['n']} images ({time.perf_counter() - t:.0f}s)")
    tmp = path.with_suffix(".tmp")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, path)
    return model


def imagenet_backbone(args, out: Path) -> tuple[nn.Module | None, str]:
    """torchvision ResNet-18 with ImageNet weights, or (None, why not)."""
    path = args.imagenet_weights or os.environ.get("LRKIT_RESNET18_WEIGHTS")
    if path:
        if not os.path.isfile(path):
            return None, f"weights file {path} does not exist"
        return M.torchvision_resnet("resnet18", len(VEHICLES), weights=path), f"weights from {path}"
    if args.no_download:
        return None, "no --imagenet-weights / LRKIT_RESNET18_WEIGHTS given and --no-download"
    try:
        import socket

        old = socket.getdefaulttimeout()
        socket.setdefaulttimeout(10)
        try:
            model = M.torchvision_resnet("resnet18", len(VEHICLES), weights="DEFAULT")
        finally:
            socket.setdefaulttimeout(old)
        return model, "torchvision's ImageNet weights (downloaded or cached)"
    except Exception as e:  # noqa: BLE001 - offline: any error means "not available"
        return None, ("no weights file given and torchvision's download failed (offline?): "
                      f"{str(e).split(' Pass weights=')[0][:200]}")


# --------------------------------------------------------------------------------------------------
def run_one(arm, seed, data, backbone, lrs, sc, iters, out: Path, config: dict) -> dict:
    seed_everything(seed)
    ld = cifar10_loaders(data, classes=VEHICLES, batch_size=sc["batch"], n_per_class=sc["per_class"],
                         test_per_class=sc["test_per_class"], seed=seed)
    model, groups, opt, sched, callbacks = make_arm(arm, backbone, lrs, iters, seed)
    t = time.perf_counter()
    hist = fit(model, opt, ld.train, iterations=iters, scheduler=sched, eval_data=ld.test,
               callbacks=callbacks, progress=False, desc=arm)
    wall = time.perf_counter() - t
    ev = hist.final_eval()
    res = {
        "arm": arm, "seed": seed, "acc": ev["acc"], "test_loss": ev["loss"], "n_test": ev["n"],
        "iterations": iters, "wall_s": wall, "groups": groups.names,
        "group_lrs": [max(col) for col in zip(*hist.lr, strict=True)],  # peak LR of each group
        "unfreeze_events": callbacks[0].events if callbacks else None,
        "lr_history": hist.lr, "train_loss_last10": hist.train_loss[-10:],
        "config": config,
    }
    atomic_write_text(out / f"result_{arm}_seed{seed}.json", json.dumps(res))
    return res


def table(results: dict[str, list[dict]]) -> str:
    lines = ["| arm | mean acc | std | per-seed |", "| --- | --- | --- | --- |"]
    for arm, rs in results.items():
        accs = [r["acc"] for r in sorted(rs, key=lambda r: r["seed"])]
        sd = statistics.stdev(accs) if len(accs) > 1 else float("nan")
        lines.append(f"| {arm} | {100 * statistics.mean(accs):.2f} % | {100 * sd:.2f} | "
                     + ", ".join(f"{100 * a:.2f}" for a in accs) + " |")
    return "\n".join(lines)


def figure(results: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lrkit.plot import plot_layer_lrs

    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 4.2))
    arms = list(results)
    for i, arm in enumerate(arms):
        accs = [100 * r["acc"] for r in results[arm]]
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        a.bar(i, statistics.mean(accs), yerr=sd, color=f"C{i}", alpha=0.7, capsize=4)
        a.plot([i] * len(accs), accs, "k.", ms=5)
    a.set_xticks(range(len(arms)), arms, rotation=20, fontsize=8)
    a.set(ylabel="vehicle test accuracy (%)", title="fine-tuning arms (mean ± std, dots: seeds)")
    lo = min(100 * r["acc"] for rs in results.values() for r in rs)
    a.set_ylim(max(0, lo - 10), None)
    g = next((rs for arm, rs in results.items() if arm == "gradual"), None)
    if g:
        r = sorted(g, key=lambda r: r["seed"])[0]
        plot_layer_lrs(r["lr_history"], r["groups"], events=r["unfreeze_events"], ax=b,
                       title="gradual: STLR × per-group ratio (2.6), unfreezing events")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=None,
                    help="CIFAR-10 folder (default: LRKIT_DATA_DIR / lrkit's cache)")
    ap.add_argument("--synthetic", action="store_true", help="use lrkit's synthetic stand-in (tests only)")
    ap.add_argument("--scale", choices=sorted(SCALES), default="smoke")
    ap.add_argument("--seeds", type=int, default=3, help="number of seeds (0, 1, …)")
    ap.add_argument("--out", default="results/discriminative")
    ap.add_argument("--resume", action="store_true", help="skip (arm, seed) results already in --out")
    ap.add_argument("--imagenet-weights", default=None, help="state-dict file of torchvision's ResNet-18")
    ap.add_argument("--no-download", action="store_true", help="never try torchvision's weight download")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    if args.seeds < 1:
        ap.error("--seeds must be >= 1")
    torch.set_num_threads(args.threads)
    sc = SCALES[args.scale]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    if args.synthetic:
        data = synthetic_cifar10(max(40, sc["per_class"]), 20, seed=0)
        log("DATA: synthetic stand-in (not CIFAR-10; for tests only)")
    else:
        data = load_cifar10(args.data_dir, download=False)
        log(f"DATA: CIFAR-10 from {data.source}")
    config = {"scale": args.scale, "data": "synthetic" if args.synthetic else "cifar10", **sc,
              "momentum": MOMENTUM, "weight_decay": WD}
    cfg_path = out / "config.json"
    if args.resume and cfg_path.exists():
        old = json.loads(cfg_path.read_text())
        if old != config:
            raise SystemExit(f"--resume: {cfg_path} was written with another configuration: {old}")
    atomic_write_text(cfg_path, json.dumps(config, indent=1))

    backbone = pretrain(data, sc, out, args.resume)
    plan: list[tuple[str, nn.Module, int]] = [(arm, backbone, sc["iters"]) for arm in ARMS]
    in1k, why = imagenet_backbone(args, out)
    if in1k is None:
        log(f"SKIPPING the ImageNet ResNet-18 part: {why}. Pass --imagenet-weights PATH (a state dict of "
            "torchvision.models.resnet18) or set LRKIT_RESNET18_WEIGHTS to run it.")
    else:
        log(f"ImageNet ResNet-18: {why}")
        plan += [(arm, in1k, sc["in1k_iters"]) for arm in IN1K_ARMS]

    lr_path = out / "lrs.json"
    lrs = json.loads(lr_path.read_text()) if args.resume and lr_path.exists() else {}
    seed0 = cifar10_loaders(data, classes=VEHICLES, batch_size=sc["batch"], n_per_class=sc["per_class"],
                            test_per_class=sc["test_per_class"], seed=0)
    for bb, arms in ((backbone, ARMS), (in1k, IN1K_ARMS)):
        todo = [a for a in arms if a not in lrs and not a.endswith("gradual")]
        if bb is not None and todo:
            lrs.update(choose_lrs(todo, bb, seed0.train, sc["finder_iters"]))
            atomic_write_text(lr_path, json.dumps(lrs, indent=1))
    lrs.setdefault("gradual", lrs["discriminative"])
    if in1k is not None:
        lrs.setdefault("in1k-gradual", lrs["in1k-discriminative"])

    results: dict[str, list[dict]] = {}
    for arm, bb, iters in plan:
        for seed in range(args.seeds):
            f = out / f"result_{arm}_seed{seed}.json"
            if args.resume and f.exists():
                r = json.loads(f.read_text())
                log(f"  {arm:>22} seed {seed}: acc {r['acc']:.4f} (done already)")
            else:
                r = run_one(arm, seed, data, bb, lrs, sc, iters, out, config)
                log(f"  {arm:>22} seed {seed}: acc {r['acc']:.4f} ({r['wall_s']:.0f}s)")
            results.setdefault(arm, []).append(r)

    md = table(results)
    wall = time.perf_counter() - t0
    log("\n" + md + "\n")
    log(f"test images per run: {results['scratch'][0]['n_test']}; iterations per arm: {sc['iters']}; "
        f"wall time {wall:.0f}s")
    atomic_write_text(out / "table.md", md + "\n")
    figure(results, out / "discriminative.png")
    log(f"figure: {out / 'discriminative.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
