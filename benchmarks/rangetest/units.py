"""The benchmark's units: one grid training (a task at one LR and seed) and one finder sweep (a finder's range
test of a task from a seed's initialisation), each one JSON cached by lrkit's results store, so a killed run
resumes and a rule can be rescored without retraining."""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from . import tasks as R

_CACHE: dict[str, Any] = {}


def _cifar(data_dir: str | None):
    from lrkit.data import load_cifar10

    if "cifar" not in _CACHE:
        _CACHE["cifar"] = load_cifar10(data_dir, download=False)
    return _CACHE["cifar"]


def task_data(name: str, data_dir: str | None):
    key = f"data:{name}"
    if key not in _CACHE:
        _CACHE[key] = R.make_data(name, None if name == "digits" else _cifar(data_dir))
    return _CACHE[key]


def loaders(task: R.Task, seed: int, data_dir: str | None):
    """(train BatchLoader with the seed's order, validation BatchLoader): the split is fixed, the seed
    sets the batch order (and, in :func:`R.make_model`, the initial weights)."""
    from lrkit.data import BatchLoader

    tx, ty, vx, vy = task_data(task.data, data_dir)
    pre = ChannelNorm(tx)
    train = BatchLoader(tx, ty, min(task.batch_size, len(tx)), shuffle=True, preprocess=pre, seed=seed)
    val = BatchLoader(vx, vy, 500, shuffle=False, preprocess=pre)
    return train, val


class ChannelNorm:
    """uint8 images → float, standardised per channel with the training images' statistics (any channel count)."""

    def __init__(self, x):
        xf = x.float()
        self.mean = xf.mean(dim=(0, 2, 3)).view(-1, 1, 1)
        self.std = xf.std(dim=(0, 2, 3)).clamp_min(1e-3).view(-1, 1, 1)

    def __call__(self, x):
        return (x.float() - self.mean) / self.std


def _config(kind: str, task: R.Task, seed: int, **kw: Any) -> dict[str, Any]:
    return {"kind": kind, "task": task.to_dict(), "seed": seed, "data": {"train_per_class": R.TRAIN_PER_CLASS,
            "val_per_class": R.VAL_PER_CLASS, "noise": R.NOISE}, **kw}


def unit_train(task_name: str, lr: float, seed: int, out: str, data_dir: str | None) -> dict[str, Any]:
    """Validation accuracy of ``task`` trained with value ``lr`` from ``seed`` (stored, or trained)."""
    from lrkit.bench import store

    task = R.TASKS[task_name]
    path = Path(out) / "tasks" / task_name / f"seed{seed}" / f"train_lr{lr:.4g}.json"

    def compute() -> dict[str, Any]:
        from lrkit.training import fit

        train, val = loaders(task, seed, data_dir)
        model = R.make_model(task, seed)
        opt = R.make_optimizer(task, model.parameters(), lr)
        mom = "auto" if task.schedule in ("one_cycle", "clr") else None
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            h = fit(model, opt, train, iterations=task.steps, schedule=R.make_schedule(task, lr), momentum=mom,
                    eval_data=val, progress=False, channels_last=task.net != "mlp")
        ev = h.final_eval()
        tail = [v for v in h.train_loss[-20:] if math.isfinite(v)]
        return {"val_acc": float(ev["acc"]), "val_loss": float(ev["loss"]),
                "train_loss_tail": float(np.mean(tail)) if tail else None, "seconds": time.perf_counter() - t0,
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}

    return store.cached(path, _config("train", task, seed, lr=lr), compute)


#: sweep variants: the default, and the two of the stability table
VARIANTS = {"default": {}, "long": {"num_iter": 300}, "start5": {"start_lr": 1e-5}}
FINDERS = ("lrkit", "fastai", "torch-lr-finder", "lightning")


def sweep_args(task: R.Task, variant: str) -> dict[str, Any]:
    start, end = R.SWEEP[task.kind]
    args = {"start_lr": start, "end_lr": end, "num_iter": 100, **VARIANTS[variant]}
    return args


def unit_sweep(task_name: str, finder: str, seed: int, variant: str, out: str, data_dir: str | None
               ) -> dict[str, Any]:
    """One finder's range test from the seed's initial weights on the seed's first batches (stored, or run)."""
    import peers  # benchmarks/peers.py: the other libraries' finders
    import torch

    from lrkit.bench import store

    task = R.TASKS[task_name]
    args = sweep_args(task, variant)
    path = Path(out) / "tasks" / task_name / f"seed{seed}" / f"sweep_{finder}_{variant}.json"

    def compute() -> dict[str, Any]:
        train, _ = loaders(task, seed, data_dir)
        batches = [train.get_batch(i) for i in range(args["num_iter"])]
        model = R.make_model(task, seed)
        t0 = time.perf_counter()
        if finder == "lrkit":
            from lrkit.rangetest import lr_find

            rt = lr_find(model, batches, R.make_optimizer(task, model.parameters(), args["start_lr"]),
                         start_lr=args["start_lr"], end_lr=args["end_lr"], num_iter=args["num_iter"], progress=False,
                         channels_last=task.net != "mlp")
            res = {"lr": rt.sweep_lr.tolist(), "loss": [v if math.isfinite(v) else None for v in rt.loss.tolist()],
                   "reason": rt.reason, "suggestions": {}}
        else:
            try:
                sw = peers.SWEEPS[finder](model, lambda p, lr: R.make_optimizer(task, p, lr),
                                          torch.nn.CrossEntropyLoss(), batches, args["start_lr"], args["end_lr"],
                                          diverge=True)
            except Exception as e:  # noqa: BLE001 - a failing peer has no suggestion; reported, not fatal
                return {"lr": [], "loss": [], "suggestions": {}, "error": f"{type(e).__name__}: {e}",
                        "seconds": time.perf_counter() - t0}
            res = {"lr": sw.lr, "loss": sw.loss, "suggestions": sw.suggestions}
        return {**res, "points": len(res["lr"]), "seconds": time.perf_counter() - t0,
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}

    return store.cached(path, _config("sweep", task, seed, finder=finder, variant=variant, **args), compute)


def call(unit: tuple) -> Any:
    fn, args = unit
    return {"train": unit_train, "sweep": unit_sweep}[fn](*args)
