"""The benchmark experiments, as data.

An :class:`Experiment` lists, for each scale (``smoke`` for CI, ``lite`` for ≤ ~1 h on 2 CPU cores,
``paper`` for the published protocol), the :class:`RunSpec` s to train. A RunSpec is plain data
(model name, optimizer settings, a schedule config from :meth:`lrkit.schedules.Schedule.to_config`,
iterations, data settings), so results carry their exact configuration and a changed configuration
is detected rather than silently mixed with old results.

Scaling: ``lite`` and ``smoke`` multiply every iteration count, step size and milestone of the
paper's protocol by one stated factor (rounded, at least 1). The exception is ``discriminative``
(:mod:`lrkit.bench.transfer`): a protocol of its own (pre-train, then fine-tune; the shared part in
its ``prepare``), ``smoke`` and ``lite`` scales and no ``paper`` scale.
"""

from __future__ import annotations

from typing import Any

from .. import schedules as S
from ..utils import did_you_mean
from .methods import build_runs as build_method_runs
from .methods import check_packages
from .rangetests import prepare_range_tests
from .spec import SCALES, Experiment, RunSpec
from .transfer import NO_PAPER_SCALE, build_runs, check_transfer, prepare_transfer

__all__ = ["EXPERIMENTS", "SCALES", "Experiment", "RunSpec", "get_experiment"]

def _n(x: float) -> int:
    return max(1, int(round(x)))


# --------------------------------------------------------------------------------------------------
# Smith 2017, Table 1 and Figure 3
# --------------------------------------------------------------------------------------------------
_CAFFE_SOLVER = {"name": "caffe_sgd", "lr": 0.001, "momentum": 0.9, "weight_decay": 0.004, "multipliers": True}
_SMITH_DATA = {"preprocess": "pixel_mean", "augment": False, "batch_size": 100}


_FULL_IS_LITE = "lite and paper already train on all of CIFAR-10"


def _smith_subset(scale: str) -> dict[str, Any]:
    # smoke runs on a subset so that CI stays within its budget; lite/paper use all of CIFAR-10
    return {"n_per_class": 100, "test_per_class": 50} if scale == "smoke" else {}


def smith_table2_triangular2(f: float = 1.0) -> S.Sequence:
    """The triangular2 run behind Smith 2017's Table 1 (81.4 % after 25,000 iterations): the three
    stages of his **Table 2** ("Hyper-parameter settings for CIFAR-10 example in Figure 1", attached to
    the claim by §4.1.1), each with its own cycle clock, as Appendix A's ``start_lr_policy`` restarts
    it — bounds 0.001–0.005 (stepsize 2,000) on 0–16k, 0.0001–0.0005 (1,000) on 16k–22k,
    0.00001–0.00005 (500) on 22k–25k. Every iteration count is multiplied by ``f`` (lite / smoke)."""
    stages = [(0.001, 0.005, 2000), (0.0001, 0.0005, 1000), (0.00001, 0.00005, 500)]
    return S.Sequence([S.triangular2(lo, hi, _n(step * f)) for lo, hi, step in stages],
                      [_n(16_000 * f), _n(22_000 * f)])


def _smith_table1(scale: str, f: float) -> list[RunSpec]:
    step = _n(2000 * f)
    # paper: the full test set every 500 iterations, often enough to draw Fig. 1's curves (Caffe's
    # solver tests every 1,000: every other point)
    ev = {"smoke": _n(10_000 * f), "lite": _n(1000 * f), "paper": 500}[scale]
    common = dict(model="caffe_cifar10_full", optimizer=_CAFFE_SOLVER, eval_every=ev, **_SMITH_DATA,
                  **_smith_subset(scale))
    fixed_it, short_it = _n(70_000 * f), _n(25_000 * f)
    decay_steps = _n(4000 * f)
    # Caffe's "exp" policy: base_lr · γ^t; with the iteration count scaled by f, γ is scaled so that
    # the LR at the end of the run is the paper's: γ_f = γ^(1/f)
    gamma = 0.99994 ** (1 / f)
    return [
        RunSpec("fixed", schedule=S.MultiStep(0.001, [_n(60_000 * f), _n(65_000 * f)], 0.1).to_config(),
                iterations=fixed_it, **common),
        # Table 2's three stages: the run Table 1's triangular2 row reports (§4.1.1)
        RunSpec("triangular2", schedule=smith_table2_triangular2(f).to_config(), iterations=short_it, **common),
        # the ablation: Table 2's stages with a constant LR in each (its two ÷10 drops without the cycles)
        RunSpec("constant_stages", schedule=S.MultiStep(0.001, [_n(16_000 * f), _n(22_000 * f)], 0.1).to_config(),
                iterations=short_it, **common),
        # a variant, kept: one stage 0.001–0.006 for 25k, as §3.1's prose describes Figure 1 (the LR never
        # falls below 0.001)
        RunSpec("triangular2_flat", schedule=S.triangular2(0.001, 0.006, step).to_config(),
                iterations=short_it, **common),
        RunSpec("decay", schedule=S.Sequence([S.Polynomial(0.007, decay_steps, 1.0, 0.001), S.Constant(0.001)],
                                             [decay_steps]).to_config(),
                iterations=short_it, **common),
        RunSpec("exp", schedule=S.Exponential(0.001, gamma).to_config(), iterations=fixed_it, **common),
        # §3.1's exp_range (both bounds × γ^t), run to 70k as Fig. 4; the paper reads it at 42k
        RunSpec("exp_range", schedule=S.exp_range(0.001, 0.006, step, gamma).to_config(),
                iterations=fixed_it, **common),
        # a variant, kept: the Keras / torch CyclicLR form (only the amplitude decays), stopped at 42k
        RunSpec("exp_range_keras", schedule=S.exp_range_keras(0.001, 0.006, step, gamma).to_config(),
                iterations=_n(42_000 * f), **common),
    ]


def _smith_fig3(scale: str, f: float) -> list[RunSpec]:
    # "LR range test": 8 epochs of 50,000 images at batch 100 = 4,000 iterations, LR 0 → 0.02 linearly
    iters = _n(4000 * f)
    return [RunSpec("range_test", model="caffe_cifar10_full", optimizer=_CAFFE_SOLVER,
                    schedule=S.LinearWarmup(S.Constant(0.02), iters - 1, 0.0).to_config(),
                    iterations=iters, eval_every=_n(iters / 40), kind="accuracy_range_test",
                    extra={"start_lr": 0.0, "end_lr": 0.02}, **_SMITH_DATA, **_smith_subset(scale))]


# --------------------------------------------------------------------------------------------------
# SGDR (Loshchilov & Hutter 2017), scaled down
# --------------------------------------------------------------------------------------------------
_SGDR_EPOCHS = {"smoke": 2, "lite": 15, "full": 20, "paper": 200}
_SGDR_DATA = {"smoke": {"n_per_class": 50, "test_per_class": 50},
              "lite": {"n_per_class": 1000, "test_per_class": 200},
              "full": {}, "paper": {}}
_SGDR_MODEL = {"smoke": "wrn16_1", "lite": "wrn16_2", "full": "fastnet", "paper": "wrn28_10"}


def restart_points(t0: int, t_mult: int, until: int) -> list[int]:
    """The iterations at which cosine warm restarts with period ``t0`` × ``t_mult``^k end a cycle."""
    out, end, period = [], t0, t0
    while end <= until:
        out.append(end)
        period *= t_mult
        end += period
    return out


def _sgdr(scale: str, f: float) -> list[RunSpec]:
    epochs = _SGDR_EPOCHS[scale]
    data = _SGDR_DATA[scale]
    n_train = 10 * data.get("n_per_class", 5000)
    spe = n_train // 128
    total = epochs * spe
    g = epochs / 200  # every epoch quantity of the paper's 200-epoch protocol is scaled by g
    sgd = {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "nesterov": False}
    common = dict(model=_SGDR_MODEL[scale], optimizer=sgd, batch_size=128, augment=True, **data,
                  eval_every=max(1, spe // 2) if scale != "smoke" else spe)
    step = S.MultiStep(0.1, [_n(60 * g * spe), _n(120 * g * spe), _n(160 * g * spe)], 0.2)
    if scale in ("smoke", "lite"):  # as the lite results were made: every run for the whole budget
        return [RunSpec("step_lr0.1", schedule=step.to_config(), iterations=total, **common),
                *[RunSpec(f"sgdr_T0={t0}_Tm=2", schedule=S.CosineWarmRestarts(t0 * g * spe, 2.0, eta_max=0.05)
                          .to_config(), iterations=total, **common) for t0 in (1, 10)]]
    # full / paper: each SGDR run ends at its last restart point within the budget (the anytime
    # comparison is read at restart points); every run is also evaluated at every restart point of both
    t0s = {t0: _n(t0 * g * spe) for t0 in (1, 10)}
    ends = {t0: restart_points(p, 2, total) for t0, p in t0s.items()}
    at = sorted(set(ends[1]) | set(ends[10]))
    return [RunSpec("step_lr0.1", schedule=step.to_config(), iterations=total, extra={"eval_at": at}, **common),
            *[RunSpec(f"sgdr_T0={t0}_Tm=2", schedule=S.CosineWarmRestarts(t0s[t0], 2.0, eta_max=0.05).to_config(),
                      iterations=ends[t0][-1], extra={"eval_at": at, "restarts": ends[t0]}, **common)
              for t0 in (1, 10)]]


# --------------------------------------------------------------------------------------------------
# One-cycle vs piecewise constant (Smith 2018; Smith & Topin 2017)
# --------------------------------------------------------------------------------------------------
_OC = {"smoke": (1, 2, {"n_per_class": 50, "test_per_class": 50}),
       "lite": (4, 16, {"n_per_class": 1000, "test_per_class": 200})}
#: Smith & Topin (2017) Fig. 1a, from their public solver files: ResNet-56, batch 125, SGD momentum 0.9,
#: weight decay 1e-4; piecewise constant 0.35, ×0.1 at 50k and 70k, 80k iterations; one triangular cycle
#: 0.1 → 3.0 → 0.1 with stepsize 5k, 10k iterations. ``full`` scales every iteration count by 1/10 and
#: uses ResNet-20 (their Fig. 6b ran ResNet-20 with the same schedules).
_ST = {"full": (0.1, "resnet20"), "paper": (1.0, "resnet56")}
_ST_FINDER = {"use": "one_cycle", "start_lr": 1e-5, "end_lr": 10.0, "num_iter": 200}


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
                schedule=S.MultiStep(0.1, [_n(pc_epochs * spe * 0.5), _n(pc_epochs * spe * 0.75)], 0.1).to_config(),
                iterations=pc_epochs * spe, batch_size=128, eval_every=ev, **data),
    ]


def _super_convergence(scale: str) -> list[RunSpec]:
    g, model = _ST[scale]
    sgd = {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4, "nesterov": False}
    pc_it, oc_it, step = _n(80_000 * g), _n(10_000 * g), _n(5_000 * g)
    common = dict(model=model, optimizer=sgd, batch_size=125, eval_every=_n(1000 * g))
    # batch 125 as in the paper, so the paper's peak needs no batch-size rule (linear scaling × 125/125 = 1)
    clr = S.Cyclic(0.1, 3.0, step, mode="triangular")
    shape = S.Cyclic(0.1 / 3.0, 1.0, step, mode="triangular")  # peak 1, times the range test's LR
    return [
        RunSpec("piecewise_lr0.35", schedule=S.MultiStep(0.35, [_n(50_000 * g), _n(70_000 * g)], 0.1).to_config(),
                iterations=pc_it, **common),
        RunSpec("clr_0.1-3.0", schedule=clr.to_config(), iterations=oc_it, **common),
        # a variant added after the lite result: the peak from lrkit's range test (for_="one_cycle")
        RunSpec("clr_range_test", schedule=shape.to_config(), iterations=oc_it,
                extra={"lr_from_range_test": _ST_FINDER, "variant": "added after the lite result"}, **common),
    ]


# --------------------------------------------------------------------------------------------------
# Discriminative fine-tuning (ULMFiT's recipe) on a CIFAR-10 transfer task: lrkit.bench.transfer
# --------------------------------------------------------------------------------------------------
def _discriminative(scale: str, f: float) -> list[RunSpec]:
    return build_runs(scale)


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in [
        Experiment("smith2017-table1", "Smith 2017 Table 1: CLR policies vs fixed LR (Caffe CIFAR-10 net)",
                   "smith2017-table1",
                   "Five LR policies on Caffe's cifar10_full net with Caffe's SGD; final test accuracy.",
                   {"smoke": 0.002, "lite": 0.1, "paper": 1.0}, _smith_table1,
                   unavailable={"full": _FULL_IS_LITE}),
        Experiment("smith2017-fig3", "Smith 2017 Fig. 3: accuracy-based LR range test",
                   "smith2017-fig3",
                   "LR raised linearly 0 → 0.02 over 8 epochs; base/max LR read from the accuracy curve.",
                   {"smoke": 0.025, "lite": 1.0, "paper": 1.0}, _smith_fig3,
                   unavailable={"full": _FULL_IS_LITE}),
        Experiment("sgdr", "SGDR vs step decay: anytime test error", "sgdr",
                   "Cosine warm restarts (T_0 = 1 and 10 epochs of 200, T_mult 2, η_max 0.05, scaled to the budget) vs "
                   "×0.2 steps at 30/60/80 %; test error at every restart point (full/paper: each SGDR run ends at "
                   "its last restart within the budget).",
                   {"smoke": 2 / 200, "lite": 15 / 200, "full": 20 / 200, "paper": 1.0}, _sgdr),
        Experiment("onecycle", "One-cycle vs piecewise-constant LR (CIFAR ResNet)", "onecycle",
                   "smoke/lite: one-cycle (three-phase, momentum cycled) for E epochs vs piecewise constant for 4E "
                   "epochs. full/paper: Smith & Topin's Fig. 1a — one triangular cycle 0.1→3.0 for 10k iterations "
                   "(and with the peak from lrkit's range test) vs piecewise constant 0.35 for 80k, batch 125; "
                   "iterations each needs to reach the other's accuracy.",
                   {"smoke": 1 / 50, "lite": 4 / 50, "full": 0.1, "paper": 1.0}, _onecycle,
                   prepare=prepare_range_tests),
        Experiment("discriminative", "Discriminative fine-tuning (ULMFiT's recipe) on CIFAR-10 animals → vehicles",
                   "ulmfit",
                   "FastNet pre-trained on the 6 animal classes, fine-tuned on the 4 vehicle classes with few labels: "
                   "scratch / frozen / full / discriminative (LR ÷2.6 per group) / gradual (+ unfreezing, STLR), "
                   "LRs from the range test; ImageNet ResNet-18 arms with LRKIT_RESNET18_WEIGHTS.",
                   {}, _discriminative, seeds={"smoke": 2, "lite": 3},
                   unavailable={"paper": NO_PAPER_SCALE, "full": "lite already uses all the labels it needs"},
                   prepare=prepare_transfer,
                   check=check_transfer),
        Experiment("methods", "LR methods on the fast recipe: range test, schedules, schedule-free, LR-free",
                   "methods",
                   "The 85 % recipe's half-width AirNet (batch 512, 45k training / 5k validation images) trained "
                   "with each LR method of lrkit.recipe.METHODS and a one-cycle grid (the reference: best "
                   "validation accuracy), at two budgets; test accuracy every half epoch; steps to targets "
                   "and performance profiles (lrkit.bench.methods).",
                   {}, build_method_runs, seeds={"smoke": 1, "lite": 3, "full": 3},
                   unavailable={"paper": "the methods come from several papers; there is no one protocol"},
                   check=check_packages),
    ]
}


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {sorted(EXPERIMENTS)}"
                         + did_you_mean(name, EXPERIMENTS))
    return EXPERIMENTS[name]
