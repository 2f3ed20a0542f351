"""One cycle against piecewise-constant LR: Smith 2018 (arXiv 1803.09820) and Smith & Topin 2017 (arXiv
1708.07120, Fig. 1a: one triangular cycle 0.1 → 3.0 for 10k iterations against piecewise constant 0.35 for
80k, ResNet-56, a total batch of 1,000 — 125 per GPU on 8 GPUs, as Caffe runs a prototxt's batch on each GPU
and the authors' logs and ``x.sh`` show).

Scales. ``paper``: that protocol (ResNet-56, batch 1,000; 10M images for one cycle, 80M for the baseline: GPU
work). ``full``: ResNet-20, batch 125 (the paper's per-GPU batch) and every iteration count × 1/10, so it sees
1/80 of the paper's images (2.5 epochs of one cycle against the paper's 200) — a scaled-down variant, not the
claim's regime. Both differ from the paper in its mirror-only augmentation (lrkit crops and flips), its
BatchNorm moving-average fractions (0.95 for the cycle, 0.999 for the baseline; lrkit: PyTorch's 0.9) and its
ResNet's transition blocks (an average-pool shortcut; lrkit's is He et al.'s option A).

One run, ``clr_range_test``, takes its peak from lrkit's range test: its spec's schedule is a *shape* with
peak 1 and ``extra["lr_from_range_test"] = {"use", "start_lr", "end_lr", "num_iter"}``. The range test
runs in the experiment's ``prepare`` (:func:`prepare_range_tests`), before any run trains, on the run's
model and optimizer from seed 0's initialisation and batches; it is stored as ``range-test-<run>.json``
(reused when its config matches, never overwritten, :func:`lrkit.bench.store.cached`), and the trainer
(:func:`train_onecycle`) scales the shape by the LR that :func:`lrkit.rangetest.choose_lr` gives for that use.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ... import schedules as S
from ...data import cifar10_loaders
from ...models import get_model
from ...rangetest import USE_RULES, lr_from_range_test
from ...training import make_optimizer
from ...utils import seed_everything
from ..analysis import Reading, acc_at, anytime_notes, paired, plus_minus
from ..figures import curves_figure
from ..plain import finish_run, fit_run, start_run, train_plain
from ..spec import Experiment, RunSpec, scaled
from ..store import cached

__all__ = ["EXPERIMENT", "KEY", "prepare_range_tests", "range_test_config", "range_test_lr", "train_onecycle"]

#: the ``RunSpec.extra`` entry of a run whose LR comes from the range test
KEY = "lr_from_range_test"

_OC = {"smoke": (1, 2, {"n_per_class": 50, "test_per_class": 50}),
       "lite": (4, 16, {"n_per_class": 1000, "test_per_class": 200})}
#: Smith & Topin (2017) Fig. 1a, from their public solver files: ResNet-56, 125 images per GPU × 8 GPUs, SGD
#: momentum 0.9, weight decay 1e-4; piecewise constant 0.35, ×0.1 at 50k and 70k, 80k iterations; one triangular
#: cycle 0.1 → 3.0 → 0.1 with stepsize 5k, 10k iterations. ``full`` scales every iteration count by 1/10 and uses
#: ResNet-20 at 125 per batch (the authors' ResNet-20 log ran the same schedules): (factor, net, batch)
_ST = {"full": (0.1, "resnet20", 125), "paper": (1.0, "resnet56", 1000)}
#: the range test of ``clr_range_test``: its sweep and the reading's rule for the use (a refit reading is a new
#: configuration, so stored runs of an older rule are never mixed with the new ones)
_ST_FINDER = {"use": "one_cycle", "start_lr": 1e-5, "end_lr": 10.0, "num_iter": 200, "rule": USE_RULES["one_cycle"]}


def _onecycle(scale: str, f: float) -> list[RunSpec]:
    if scale in _ST:
        return _super_convergence(scale)
    oc_epochs, pc_epochs, data = _OC[scale]
    n_train = 10 * data.get("n_per_class", 5000)
    spe = n_train // 128
    sgd = {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4, "nesterov": False}
    ev = max(1, spe // 2) if scale != "smoke" else spe
    return [
        RunSpec("one_cycle", model="resnet20", optimizer=sgd,
                schedule=S.OneCycle(1.0, oc_epochs * spe, pct_start=0.45, div_factor=10, final_div_factor=100,
                                    anneal="linear", three_phase=True).to_config(),
                momentum="auto", iterations=oc_epochs * spe, batch_size=128, eval_every=ev, **data),
        RunSpec("piecewise_constant", model="resnet20", optimizer=sgd,
                schedule=S.MultiStep(0.1, [scaled(pc_epochs * spe * 0.5), scaled(pc_epochs * spe * 0.75)],
                                     0.1).to_config(),
                iterations=pc_epochs * spe, batch_size=128, eval_every=ev, **data),
    ]


def _super_convergence(scale: str) -> list[RunSpec]:
    g, model, batch = _ST[scale]
    sgd = {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4, "nesterov": False}
    pc_it, oc_it, step = scaled(80_000 * g), scaled(10_000 * g), scaled(5_000 * g)
    common = dict(model=model, optimizer=sgd, batch_size=batch, eval_every=scaled(1000 * g))
    # the paper's LRs at both batches: at 125 (full) they are the per-GPU batch's, not rescaled (the linear rule
    # would give a peak of 3.0 × 125 / 1000 = 0.375); this is a stated difference of the full scale
    clr = S.Cyclic(0.1, 3.0, step, mode="triangular")
    shape = S.Cyclic(0.1 / 3.0, 1.0, step, mode="triangular")  # peak 1, times the range test's LR
    return [
        RunSpec("piecewise_lr0.35",
                schedule=S.MultiStep(0.35, [scaled(50_000 * g), scaled(70_000 * g)], 0.1).to_config(),
                iterations=pc_it, **common),
        RunSpec("clr_0.1-3.0", schedule=clr.to_config(), iterations=oc_it, **common),
        # a variant added after the lite result: the peak from lrkit's range test (for_="one_cycle")
        RunSpec("clr_range_test", schedule=shape.to_config(), iterations=oc_it,
                extra={"lr_from_range_test": _ST_FINDER, "variant": "added after the lite result"}, **common),
    ]


# --------------------------------------------------------------------------------------------------
# The range test of a run, and its trainer
# --------------------------------------------------------------------------------------------------
def range_test_config(spec: RunSpec, data_source: str) -> dict[str, Any]:
    """What determines the range test of ``spec`` (its cached file is reused only under this config)."""
    return {"run": spec.name, "model": spec.model, "optimizer": spec.optimizer, "batch_size": spec.batch_size,
            "n_per_class": spec.n_per_class, "preprocess": spec.preprocess, "augment": spec.augment,
            "finder": spec.extra[KEY], "seed": 0, "data": "synthetic" if data_source == "synthetic" else "cifar10"}


def range_test_lr(spec: RunSpec, ctx: Any) -> dict[str, Any]:
    """``{"lr", "low", "high", "use", "rule", "points", "reason", "sweep_lr", "loss", "seconds"}``: the run's LR
    from its range test (measured once, cached in the experiment's folder)."""
    finder = spec.extra[KEY]

    def measure() -> dict[str, Any]:
        L = cifar10_loaders(ctx.data, batch_size=spec.batch_size, n_per_class=spec.n_per_class, test_per_class=1,
                            augment=spec.augment, preprocess=spec.preprocess, seed=0, device=ctx.device)
        seed_everything(0)
        model = get_model(spec.model).to(ctx.device)
        opt = make_optimizer({**spec.optimizer, "lr": finder["start_lr"]}, model)
        t0 = time.perf_counter()
        choice, rt = lr_from_range_test(model, L.train, opt, asks=[finder["use"]], start_lr=finder["start_lr"],
                                        end_lr=finder["end_lr"], num_iter=finder["num_iter"], channels_last=True,
                                        progress=False)
        return {"lr": choice.lr, "low": choice.low, "high": choice.high, "use": finder["use"],
                "rule": choice.suggestion.rule, "points": len(rt), "reason": rt.reason,
                "sweep_lr": rt.sweep_lr.tolist(), "loss": rt.loss.tolist(), "seconds": time.perf_counter() - t0}

    return cached(ctx.folder / f"range-test-{spec.name}.json", range_test_config(spec, ctx.data.source), measure,
                  made="measured under")


def prepare_range_tests(runs: list[RunSpec], ctx: Any) -> list[RunSpec]:
    """Measure (or reuse) the range test of every run that takes its LR from one; return the runs."""
    for spec in runs:
        if KEY in spec.extra:
            got = range_test_lr(spec, ctx)
            print(f"{ctx.experiment}/{ctx.scale}/{spec.name}: range test → {got['use']} LR {got['lr']:.3g} "
                  f"[{got['low']:.3g}, {got['high']:.3g}]", flush=True)
    return runs


def train_onecycle(spec: RunSpec, seed: int, ctx: Any, started: float) -> dict[str, Any]:
    """The plain trainer; a run with :data:`KEY` trains its schedule shape × the range test's LR and records
    the LR it chose (``chosen_lr``)."""
    if KEY not in spec.extra:
        return train_plain(spec, seed, ctx, started)
    run = start_run(spec, seed, ctx)
    chosen = {k: v for k, v in range_test_lr(spec, ctx).items() if k not in ("config", "sweep_lr", "loss")}
    hist = fit_run(run, ctx, schedule=spec.build_schedule() * chosen["lr"])
    return finish_run(run, ctx, hist, started, chosen_lr=chosen)


# --------------------------------------------------------------------------------------------------
# What the report says, and the figure
# --------------------------------------------------------------------------------------------------
def onecycle_notes(r: Reading) -> list[str]:
    """full / paper (Smith & Topin's protocol): each one-cycle run against piecewise constant, then the
    anytime comparison; smoke / lite: the anytime comparison both ways."""
    if "piecewise_lr0.35" in r.summary:
        return _super_convergence_notes(r.summary) + anytime_notes(r.summary, "piecewise_lr0.35")
    return anytime_notes(r.summary, "piecewise_constant") + anytime_notes(r.summary, "one_cycle")


def _super_convergence_notes(summ: dict[str, dict[str, Any]], base: str = "piecewise_lr0.35") -> list[str]:
    """Each one-cycle run (1/8 of the iterations) against piecewise constant, paired by seed: at
    their own final iterations (the claim), and at equal iterations (piecewise constant's evaluation
    at the one-cycle run's last iteration)."""
    notes = []
    for name in [n for n in summ if n != base]:
        if base not in summ:
            break
        m, half, n = paired(summ, name, base)
        ok = m >= 0 if n < 2 else m + half >= 0
        lr = summ[name]["results"][0].get("chosen_lr")
        peak = f" (peak {lr['lr']:.3g} from the range test)" if lr else ""
        its = summ[name]["iterations"]
        notes.append(f"{name}{peak} at {its:,} iterations vs {base} at "
                     f"{summ[base]['iterations']:,}: {summ[name]['acc_mean']:.2f} % vs {summ[base]['acc_mean']:.2f} %, "
                     f"{plus_minus(m, half, n)} → equal or better accuracy with "
                     f"1/{summ[base]['iterations'] / its:.0f} of the iterations: "
                     f"**{'yes' if ok else 'no'}**")
        at = [acc_at(res, its) for res in summ[base]["results"]]
        if all(a is not None for a in at):
            m, half, n = paired(summ, name, base, base_at=its)
            notes.append(f"at equal iterations ({its:,}): {name} {summ[name]['acc_mean']:.2f} % vs {base} "
                         f"{100 * float(np.mean(at)):.2f} %, {plus_minus(m, half, n)}")
    return notes


def onecycle_figure(r: Reading) -> Any:
    """Test accuracy against epoch."""
    return curves_figure(r, x="epoch")


EXPERIMENT = Experiment(
    "onecycle", "One-cycle vs piecewise-constant LR (CIFAR ResNet)", "onecycle",
    "smoke/lite: lrkit's own protocol, one-cycle (three-phase, momentum cycled) for E epochs vs piecewise constant "
    "for 4E epochs. paper: Smith & Topin's Fig. 1a — one triangular cycle 0.1→3.0 for 10k iterations (and with "
    "the peak from lrkit's range test) vs piecewise constant 0.35 for 80k, ResNet-56, batch 1,000; full: the same "
    "schedules × 1/10 on ResNet-20 at batch 125 (1/80 of the paper's images); iterations each needs to reach the "
    "other's accuracy.",
    {"smoke": 1 / 50, "lite": 4 / 50, "full": 0.1, "paper": 1.0}, _onecycle, prepare=prepare_range_tests,
    trainer=train_onecycle, notes=onecycle_notes, figure=onecycle_figure)
