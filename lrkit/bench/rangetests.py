"""Runs whose LR comes from lrkit's range test, measured once per experiment folder.

A :class:`~lrkit.bench.spec.RunSpec` with ``extra["lr_from_range_test"] = {"use": ..., "start_lr": ...,
"end_lr": ..., "num_iter": ...}`` has a schedule *shape* whose peak is 1; the runner multiplies it by
the LR that :meth:`lrkit.suggest.RangeTest.suggest` gives for that use, on a range test of the run's
model and optimizer from seed 0's initialisation and batches. The range test runs in the
experiment's ``prepare`` (:func:`prepare_range_tests`), before any run trains, and is stored as
``range-test-<run>.json`` by the results store (reused when its config matches, never overwritten).
"""

from __future__ import annotations

import time
from typing import Any

from .spec import RunSpec
from .store import cached

__all__ = ["KEY", "prepare_range_tests", "range_test_lr"]

KEY = "lr_from_range_test"


def range_test_lr(spec: RunSpec, ctx: Any) -> dict[str, Any]:
    """``{"lr", "low", "high", "use", "points", "reason", "seconds"}``: the run's LR from its range test."""
    finder = spec.extra[KEY]
    config = {"run": spec.name, "model": spec.model, "optimizer": spec.optimizer, "batch_size": spec.batch_size,
              "n_per_class": spec.n_per_class, "preprocess": spec.preprocess, "augment": spec.augment,
              "finder": finder, "seed": 0, "data": "synthetic" if ctx.data.source == "synthetic" else "cifar10"}

    def measure() -> dict[str, Any]:
        from ..data import cifar10_loaders
        from ..models import get_model
        from ..rangetest import lr_find
        from ..training import make_optimizer
        from ..utils import seed_everything

        L = cifar10_loaders(ctx.data, batch_size=spec.batch_size, n_per_class=spec.n_per_class, test_per_class=1,
                            augment=spec.augment, preprocess=spec.preprocess, seed=0, device=ctx.device)
        seed_everything(0)
        model = get_model(spec.model).to(ctx.device)
        opt = make_optimizer({**spec.optimizer, "lr": finder["start_lr"]}, model)
        t0 = time.perf_counter()
        rt = lr_find(model, L.train, opt, start_lr=finder["start_lr"], end_lr=finder["end_lr"],
                     num_iter=finder["num_iter"], channels_last=True, progress=False)
        s = rt.suggest(for_=finder["use"])
        return {"lr": s.lr, "low": s.low, "high": s.high, "use": finder["use"], "rule": s.rule, "points": len(rt),
                "reason": rt.reason, "sweep_lr": rt.sweep_lr.tolist(), "loss": rt.loss.tolist(),
                "seconds": time.perf_counter() - t0}

    return cached(ctx.folder / f"range-test-{spec.name}.json", config, measure, made="measured under")


def prepare_range_tests(runs: list[RunSpec], ctx: Any) -> list[RunSpec]:
    """Measure (or reuse) the range test of every run that takes its LR from one; return the runs."""
    for spec in runs:
        if KEY in spec.extra:
            got = range_test_lr(spec, ctx)
            print(f"{ctx.experiment}/{ctx.scale}/{spec.name}: range test → {got['use']} LR {got['lr']:.3g} "
                  f"[{got['low']:.3g}, {got['high']:.3g}]", flush=True)
    return runs
