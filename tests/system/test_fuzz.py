"""Bad input, everywhere: every public entry point refuses it with a message that names the culprit.

- the API raises ``ValueError`` (``TypeError`` for an object of the wrong kind, such as a string where a
  model or an optimizer is expected; ``DataNotFoundError`` for data that is not there) and the message
  names the argument (or the file) — at the door, not deep inside torch;
- the CLI prints one line on stderr (no traceback) naming the option (or the file) and exits with 2.

Everything here is tiny: synthetic data, a linear model, at most a few optimizer steps, and CLI
arguments that are refused before CIFAR-10 would be loaded (``--data-dir`` points at a folder that
does not exist or holds broken files, so an argument checked too late shows up as a wrong message
rather than as a long run).
"""

from __future__ import annotations

import functools
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from lrkit import cli
from lrkit import data as D
from lrkit import finetune as DL
from lrkit import schedules as S
from lrkit.notebook import check_parameters
from lrkit.rangetest import RangeTest, accuracy_range_test, choose_lr, lr_find
from lrkit.recipe import RecipeLoader
from lrkit.training import ScheduledLR, evaluate, fit, make_optimizer
from lrkit.training import checkpoint as C
from lrkit.utils import seed_everything

NAN, INF = math.nan, math.inf


# --------------------------------------------------------------------------------------------------
# Tiny things to feed the API
# --------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _syn() -> D.Cifar10:
    return D.synthetic_cifar10(4, 2, seed=0)  # 40 training, 20 test images


def _loader(batch_size: int = 8) -> D.BatchLoader:
    c = _syn()
    return D.BatchLoader(c.train_x, c.train_y, batch_size, shuffle=False)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))


def _deep() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 8), nn.ReLU(), nn.Linear(8, 10))


def _sgd(model: nn.Module | None = None, lr: float = 0.01) -> torch.optim.Optimizer:
    return torch.optim.SGD((model or _model()).parameters(), lr=lr, momentum=0.9)


def _find(**kw):
    model = _model()
    args = {"start_lr": 1e-4, "end_lr": 1.0, "num_iter": 5, "progress": False} | kw
    return lr_find(model, _loader(), _sgd(model), **args)


def _find_nan_group_lr():
    model = _model()
    opt = _sgd(model)
    opt.param_groups[0]["lr"] = NAN
    return lr_find(model, _loader(), opt, num_iter=5, progress=False)


def _art(**kw):
    model = _model()
    args = {"iterations": 3, "progress": False} | kw
    return accuracy_range_test(model, _loader(), _loader(), _sgd(model), **args)


def _fit(**kw):
    model = _model()
    args = {"iterations": 2, "progress": False} | kw
    return fit(model, _sgd(model), _loader(), **args)


@functools.lru_cache(maxsize=1)
def _rt() -> RangeTest:
    lrs = np.logspace(-5, 1, 50)
    loss = 2.3 - 0.5 * np.exp(-((np.log10(lrs) + 2) ** 2)) + np.where(lrs > 1, (lrs - 1) * 3, 0)
    return RangeTest(sweep_lr=lrs, loss=loss)


def _sched_lr(**kw):
    return ScheduledLR(_sgd(), **({"schedule": S.Constant(0.1)} | kw))


def _loaders(**kw):
    return D.cifar10_loaders(_syn(), **({"batch_size": 8, "eval_batch_size": 10} | kw))


def _xy():
    c = _syn()
    return c.train_x, c.train_y


def _sgd_lr(lr: float) -> torch.optim.Optimizer:
    opt = _sgd()
    opt.param_groups[0]["lr"] = lr
    return opt


def _torch_scheduler_state() -> dict:
    return torch.optim.lr_scheduler.StepLR(_sgd(), 10).state_dict()  # another scheduler's state


def _checkpoint(tmp: Path, state) -> Path:
    path = tmp / "ckpt.pt"
    torch.save(state, path)
    return path


def _load_checkpoint(tmp: Path, state):
    model = _model()
    return C.load(_checkpoint(tmp, state), model, _sgd(model))


def _fit_resume(tmp: Path, state):
    model = _model()
    return fit(model, _sgd(model), _loader(), iterations=2, checkpoint=_checkpoint(tmp, state), resume=True,
               progress=False)


# --------------------------------------------------------------------------------------------------
# Broken data folders
# --------------------------------------------------------------------------------------------------
def _batch_bytes(n: int = 10, labels: list[int] | None = None, width: int = 3072) -> bytes:
    labels = labels if labels is not None else [i % 10 for i in range(n)]
    return pickle.dumps({"data": np.zeros((n, width), dtype=np.uint8), "labels": labels})


def _data_folder(tmp: Path, **override: bytes | None) -> Path:
    """``tmp/data/cifar-10-batches-py`` with tiny valid batch files; ``override`` replaces (or, with
    ``None``, removes) some of them."""
    folder = tmp / "data" / D.BATCHES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for name in (*D.TRAIN_FILES, *D.TEST_FILES):
        content = override.get(name, _batch_bytes())
        if content is not None:
            (folder / name).write_bytes(content)
    return tmp / "data"


def _truncated() -> bytes:
    return _batch_bytes()[:100]


# --------------------------------------------------------------------------------------------------
# API cases: (thunk(tmp_path), expected exception, text the message must contain)
# --------------------------------------------------------------------------------------------------
def _case(id_: str, fn, needle: str, exc: type[BaseException] = ValueError):
    return pytest.param(fn, exc, needle, id=id_)


API_CASES = [
    # ---- schedules: OneCycle
    _case("OneCycle-max_lr-nan", lambda t: S.OneCycle(NAN, 100), "max_lr"),
    _case("OneCycle-max_lr-inf", lambda t: S.OneCycle(INF, 100), "max_lr"),
    _case("OneCycle-max_lr-negative", lambda t: S.OneCycle(-0.1, 100), "max_lr"),
    _case("OneCycle-max_lr-zero", lambda t: S.OneCycle(0, 100), "max_lr"),
    _case("OneCycle-max_lr-str", lambda t: S.OneCycle("fast", 100), "max_lr"),
    _case("OneCycle-max_lr-None", lambda t: S.OneCycle(None, 100), "max_lr"),
    _case("OneCycle-total_steps-zero", lambda t: S.OneCycle(0.1, 0), "total_steps"),
    _case("OneCycle-total_steps-fraction", lambda t: S.OneCycle(0.1, 10.5), "total_steps"),
    _case("OneCycle-total_steps-str", lambda t: S.OneCycle(0.1, "100"), "total_steps"),
    _case("OneCycle-total_steps-bool", lambda t: S.OneCycle(0.1, True), "total_steps"),
    _case("OneCycle-pct_start-1.5", lambda t: S.OneCycle(0.1, 100, pct_start=1.5), "pct_start"),
    _case("OneCycle-pct_start-nan", lambda t: S.OneCycle(0.1, 100, pct_start=NAN), "pct_start"),
    _case("OneCycle-pct_start-empty-phase", lambda t: S.OneCycle(0.1, 3, pct_start=0.1), "pct_start"),
    _case("OneCycle-div_factor-zero", lambda t: S.OneCycle(0.1, 100, div_factor=0), "div_factor"),
    _case("OneCycle-final_div_factor-negative", lambda t: S.OneCycle(0.1, 100, final_div_factor=-1),
          "final_div_factor"),
    _case("OneCycle-anneal-unknown", lambda t: S.OneCycle(0.1, 100, anneal="cosine"), "anneal"),
    _case("OneCycle-momentum-inverted", lambda t: S.OneCycle(0.1, 100, base_momentum=0.99, max_momentum=0.9),
          "max_momentum"),
    _case("OneCycle-t-nan", lambda t: S.OneCycle(0.1, 100)(NAN), "t must"),
    _case("OneCycle-t-past-end", lambda t: S.OneCycle(0.1, 100)(101), "total_steps"),
    # ---- Cyclic / triangular
    _case("Cyclic-base_lr-nan", lambda t: S.Cyclic(NAN, 0.1), "base_lr"),
    _case("Cyclic-max_lr-below-base", lambda t: S.Cyclic(0.1, 0.01), "max_lr"),
    _case("Cyclic-max_lr-inf", lambda t: S.Cyclic(0.001, INF), "max_lr"),
    _case("Cyclic-step_size_up-zero", lambda t: S.Cyclic(0.001, 0.006, step_size_up=0), "step_size_up"),
    _case("Cyclic-step_size_up-inf", lambda t: S.Cyclic(0.001, 0.006, step_size_up=INF), "step_size_up"),
    _case("Cyclic-step_size_down-negative", lambda t: S.Cyclic(0.001, 0.006, step_size_down=-5), "step_size_down"),
    _case("Cyclic-mode-unknown", lambda t: S.Cyclic(0.001, 0.006, mode="triangle"), "mode"),
    _case("Cyclic-gamma-above-1", lambda t: S.Cyclic(0.001, 0.006, gamma=1.5), "gamma"),
    _case("Cyclic-scale_mode-unknown", lambda t: S.Cyclic(0.001, 0.006, scale_mode="epoch"), "scale_mode"),
    _case("Cyclic-scale_fn-not-callable", lambda t: S.Cyclic(0.001, 0.006, scale_fn=42), "scale_fn"),
    _case("triangular-base_lr-negative", lambda t: S.triangular(-1, 0.006, 2000), "base_lr"),
    _case("triangular2-step_size_up-nan", lambda t: S.triangular2(0.001, 0.006, NAN), "step_size_up"),
    _case("exp_range-gamma-zero", lambda t: S.exp_range(0.001, 0.006, 2000, gamma=0), "gamma"),
    # ---- CosineWarmRestarts
    _case("SGDR-T_0-zero", lambda t: S.CosineWarmRestarts(0, eta_max=0.1), "T_0"),
    _case("SGDR-T_0-nan", lambda t: S.CosineWarmRestarts(NAN, eta_max=0.1), "T_0"),
    _case("SGDR-T_mult-below-1", lambda t: S.CosineWarmRestarts(10, 0.5, eta_max=0.1), "T_mult"),
    _case("SGDR-eta_max-nan", lambda t: S.CosineWarmRestarts(10, eta_max=NAN), "eta_max"),
    _case("SGDR-eta_min-above-max", lambda t: S.CosineWarmRestarts(10, eta_max=0.1, eta_min=0.2), "eta_min"),
    _case("SGDR-cycle_decay-zero", lambda t: S.CosineWarmRestarts(10, eta_max=0.1, cycle_decay=0), "cycle_decay"),
    _case("SGDR-warmup_steps-negative", lambda t: S.CosineWarmRestarts(10, eta_max=0.1, warmup_steps=-1),
          "warmup_steps"),
    _case("SGDR-cycle_limit-zero", lambda t: S.CosineWarmRestarts(10, eta_max=0.1, cycle_limit=0), "cycle_limit"),
    # ---- MultiStep / Step / Exponential / Polynomial
    _case("MultiStep-milestones-decreasing", lambda t: S.MultiStep(0.1, [30, 10]), "milestones"),
    _case("MultiStep-milestones-str", lambda t: S.MultiStep(0.1, "10,20"), "milestones"),
    _case("MultiStep-milestones-zero", lambda t: S.MultiStep(0.1, [0]), "milestones"),
    _case("MultiStep-gamma-nan", lambda t: S.MultiStep(0.1, [10], gamma=NAN), "gamma"),
    _case("MultiStep-lr-negative", lambda t: S.MultiStep(-0.1, [10]), "lr must"),
    _case("Step-step_size-zero", lambda t: S.Step(0.1, 0), "step_size"),
    _case("Step-gamma-negative", lambda t: S.Step(0.1, 10, gamma=-0.1), "gamma"),
    _case("Step-lr-inf", lambda t: S.Step(INF, 10), "lr must"),
    _case("Exponential-gamma-zero", lambda t: S.Exponential(0.1, 0), "gamma"),
    _case("Exponential-gamma-nan", lambda t: S.Exponential(0.1, NAN), "gamma"),
    _case("Exponential-total_steps-negative", lambda t: S.Exponential(0.1, 0.99, total_steps=-5), "total_steps"),
    _case("Exponential-overflow", lambda t: S.Exponential(0.1, 10.0)(400), "non-finite"),
    _case("Polynomial-power-zero", lambda t: S.Polynomial(0.1, 100, power=0), "power"),
    _case("Polynomial-end-negative", lambda t: S.Polynomial(0.1, 100, end=-1), "end must"),
    _case("Polynomial-total_steps-zero", lambda t: S.Polynomial(0.1, 0), "total_steps"),
    # ---- LinearWarmup / SlantedTriangular / Sequence
    _case("LinearWarmup-schedule-str", lambda t: S.LinearWarmup("cosine", 10), "schedule"),
    _case("LinearWarmup-warmup_steps-negative", lambda t: S.LinearWarmup(S.Cosine(0.1, 100), -1), "warmup_steps"),
    _case("LinearWarmup-warmup_steps-too-long", lambda t: S.LinearWarmup(S.Cosine(0.1, 100), 200), "warmup_steps"),
    _case("LinearWarmup-warmup_start-nan", lambda t: S.LinearWarmup(S.Cosine(0.1, 100), 10, warmup_start=NAN),
          "warmup_start"),
    _case("STLR-cut_frac-zero", lambda t: S.SlantedTriangular(0.01, 100, cut_frac=0), "cut_frac"),
    _case("STLR-cut_frac-too-small", lambda t: S.SlantedTriangular(0.01, 100, cut_frac=0.001), "cut_frac"),
    _case("STLR-ratio-below-1", lambda t: S.SlantedTriangular(0.01, 100, ratio=0.5), "ratio"),
    _case("STLR-max_lr-nan", lambda t: S.SlantedTriangular(NAN, 100), "max_lr"),
    _case("Sequence-schedules-empty", lambda t: S.Sequence([], []), "schedules"),
    _case("Sequence-schedules-not-a-list", lambda t: S.Sequence(S.Constant(0.1), [1]), "schedules"),
    _case("Sequence-milestones-missing", lambda t: S.Sequence([S.Constant(0.1), S.Constant(0.01)], []),
          "milestones"),
    _case("Sequence-milestones-decreasing",
          lambda t: S.Sequence([S.Constant(0.1), S.Constant(0.01), S.Constant(0.001)], [10, 5]), "milestones"),
    # ---- from_config
    _case("from_config-typo-did-you-mean", lambda t: S.from_config({"name": "OneCycel", "max_lr": 0.1}),
          "'OneCycle'"),
    _case("from_config-no-such-module", lambda t: S.from_config({"name": "no_such_module:X"}), "no_such_module"),
    _case("from_config-not-a-schedule", lambda t: S.from_config({"name": "lrkit.schedules:math"}),
          "lrkit.schedules:math"),
    _case("from_config-unknown-key",
          lambda t: S.from_config({"name": "OneCycle", "max_lr": 0.1, "total_steps": 100, "bogus": 1}), "bogus"),
    _case("from_config-missing-key", lambda t: S.from_config({"name": "OneCycle", "max_lr": 0.1}), "total_steps"),
    _case("from_config-no-name", lambda t: S.from_config({"max_lr": 0.1}), "'name'"),
    _case("from_config-name-not-str", lambda t: S.from_config({"name": 3}), "config name"),
    _case("from_config-not-a-dict", lambda t: S.from_config("OneCycle"), "config"),
    _case("from_config-bad-value", lambda t: S.from_config({"name": "OneCycle", "max_lr": NAN, "total_steps": 10}),
          "max_lr"),
    # ---- ScheduledLR
    _case("ScheduledLR-multipliers-nan", lambda t: _sched_lr(multipliers=[NAN]), "multipliers"),
    _case("ScheduledLR-multipliers-inf", lambda t: _sched_lr(multipliers=[INF]), "multipliers"),
    _case("ScheduledLR-multipliers-negative", lambda t: _sched_lr(multipliers=[-1.0]), "multipliers"),
    _case("ScheduledLR-multipliers-wrong-length", lambda t: _sched_lr(multipliers=[1.0, 1.0]), "multipliers"),
    _case("ScheduledLR-multipliers-str-entry", lambda t: _sched_lr(multipliers=["a"]), "multipliers"),
    _case("ScheduledLR-multipliers-unknown-mode", lambda t: _sched_lr(multipliers="first"), "multipliers"),
    _case("ScheduledLR-schedule-str", lambda t: _sched_lr(schedule="OneCycle"), "schedule"),
    _case("ScheduledLR-schedule-wrong-length", lambda t: _sched_lr(schedule=[S.Constant(0.1)] * 2), "schedule"),
    _case("ScheduledLR-momentum-unknown", lambda t: _sched_lr(momentum="yes"), "momentum"),
    _case("ScheduledLR-momentum-auto-without", lambda t: _sched_lr(momentum="auto"), "momentum"),
    # ---- lr_find
    _case("lr_find-start_lr-nan", lambda t: _find(start_lr=NAN), "start_lr"),
    _case("lr_find-start_lr-zero", lambda t: _find(start_lr=0), "start_lr"),
    _case("lr_find-start_lr-negative", lambda t: _find(start_lr=-1e-3), "start_lr"),
    _case("lr_find-end_lr-inf", lambda t: _find(end_lr=INF), "end_lr"),
    _case("lr_find-end_lr-nan", lambda t: _find(end_lr=NAN), "end_lr"),
    _case("lr_find-start-above-end", lambda t: _find(start_lr=1.0, end_lr=0.1), "start_lr"),
    _case("lr_find-num_iter-1", lambda t: _find(num_iter=1), "num_iter"),
    _case("lr_find-num_iter-float", lambda t: _find(num_iter=5.0), "num_iter"),
    _case("lr_find-mode-unknown", lambda t: _find(mode="log"), "mode must"),
    _case("lr_find-smoothing-zero", lambda t: _find(smoothing=0), "smoothing"),
    _case("lr_find-smoothing-above-1", lambda t: _find(smoothing=1.5), "smoothing"),
    _case("lr_find-smoothing-nan", lambda t: _find(smoothing=NAN), "smoothing"),
    _case("lr_find-diverge_th-1", lambda t: _find(diverge_th=1), "diverge_th"),
    _case("lr_find-diverge_th-nan", lambda t: _find(diverge_th=NAN), "diverge_th"),
    _case("lr_find-accumulation_steps-zero", lambda t: _find(accumulation_steps=0), "accumulation_steps"),
    _case("lr_find-val_batches-zero", lambda t: _find(val_data=_loader(), val_batches=0), "val_batches"),
    _case("lr_find-max_skipped-negative", lambda t: _find(max_skipped=-1), "max_skipped"),
    _case("lr_find-nan-group-lr", lambda t: _find_nan_group_lr(), "optimizer"),
    _case("lr_find-empty-data", lambda t: lr_find(_model(), [], _sgd(), num_iter=5, progress=False), "data"),
    # ---- accuracy_range_test
    _case("art-iterations-1", lambda t: _art(iterations=1), "iterations"),
    _case("art-neither-iterations-nor-epochs", lambda t: _art(iterations=None), "iterations"),
    _case("art-epochs-negative", lambda t: _art(iterations=None, epochs=-1), "epochs"),
    _case("art-start_lr-nan", lambda t: _art(start_lr=NAN), "start_lr"),
    _case("art-end_lr-zero", lambda t: _art(end_lr=0), "end_lr"),
    _case("art-start-above-end", lambda t: _art(start_lr=0.1, end_lr=0.01), "start_lr"),
    _case("art-eval_every-zero", lambda t: _art(eval_every=0), "eval_every"),
    _case("art-accumulation_steps-zero", lambda t: _art(accumulation_steps=0), "accumulation_steps"),
    _case("art-smooth_window-zero", lambda t: _art(smooth_window=0), "smooth_window"),
    _case("art-min_rise-nan", lambda t: _art(min_rise=NAN), "min_rise"),
    _case("art-base_frac-nan", lambda t: _art(base_frac=NAN), "base_frac"),
    _case("art-top_frac-above-1", lambda t: _art(top_frac=2.0), "top_frac"),
    # ---- RangeTest.suggest / load
    _case("suggest-method-typo", lambda t: _rt().suggest("valey"), "method"),
    _case("suggest-skip_start-negative", lambda t: _rt().suggest(skip_start=-1), "skip_start"),
    _case("suggest-skip_start-float", lambda t: _rt().suggest(skip_start=1.5), "skip_start"),
    _case("suggest-skip_end-negative", lambda t: _rt().suggest(skip_end=-1), "skip_end"),
    _case("suggest-skip_end-everything", lambda t: _rt().suggest(skip_end=100), "skip_end"),
    _case("suggest-n_boot-zero", lambda t: _rt().suggest("robust", n_boot=0), "n_boot"),
    _case("suggest-ci-1", lambda t: _rt().suggest("robust", ci=1.0), "ci must"),
    _case("suggest-ci-nan", lambda t: _rt().suggest("robust", ci=NAN), "ci must"),
    _case("suggest-base-robust", lambda t: _rt().suggest("robust", base="robust"), "base must"),
    _case("suggest-base-with-point-rule", lambda t: _rt().suggest("valley", base="minimum"), "base only"),
    _case("suggest-seed-negative", lambda t: _rt().suggest("robust", seed=-1), "seed must"),
    _case("RangeTest-lengths-differ", lambda t: RangeTest(sweep_lr=[1.0, 2.0], loss=[1.0]), "sweep_lr"),
    _case("RangeTest.load-missing", lambda t: RangeTest.load(t / "missing-rt.json"), "missing-rt.json"),
    _case("RangeTest.load-corrupt",
          lambda t: (t / "corrupt-rt.json").write_text("{not json") and RangeTest.load(t / "corrupt-rt.json"),
          "corrupt-rt.json"),
    _case("RangeTest.load-not-a-range-test",
          lambda t: (t / "other.json").write_text('{"a": 1}') and RangeTest.load(t / "other.json"), "other.json"),
    _case("RangeTest.load-truncated",
          lambda t: (t / "cut.json").write_text(_rt().to_json()[:200]) and RangeTest.load(t / "cut.json"),
          "cut.json"),
    # ---- fit
    _case("fit-iterations-zero", lambda t: _fit(iterations=0), "iterations"),
    _case("fit-iterations-float", lambda t: _fit(iterations=2.5), "iterations"),
    _case("fit-neither-iterations-nor-epochs", lambda t: _fit(iterations=None), "iterations"),
    _case("fit-epochs-nan", lambda t: _fit(iterations=None, epochs=NAN), "epochs"),
    _case("fit-epochs-zero", lambda t: _fit(iterations=None, epochs=0), "epochs"),
    _case("fit-eval_every-zero", lambda t: _fit(eval_every=0, eval_data=_loader()), "eval_every"),
    _case("fit-checkpoint_every-zero", lambda t: _fit(checkpoint=t / "ck.pt", checkpoint_every=0),
          "checkpoint_every"),
    _case("fit-checkpoint_every-without-path", lambda t: _fit(checkpoint_every=5), "checkpoint"),
    _case("fit-accumulation_steps-zero", lambda t: _fit(accumulation_steps=0), "accumulation_steps"),
    _case("fit-accumulation_steps-bool", lambda t: _fit(accumulation_steps=True), "accumulation_steps"),
    _case("fit-schedule-and-scheduler", lambda t: _fit(schedule=S.Constant(0.1), scheduler=object()), "schedule"),
    # ---- make_optimizer
    _case("make_optimizer-typo-did-you-mean", lambda t: make_optimizer({"name": "sgdd"}, _model()), "'sgd'"),
    _case("make_optimizer-unknown-kwarg", lambda t: make_optimizer({"name": "adam", "lrr": 0.1}, _model()), "lrr"),
    _case("make_optimizer-no-name", lambda t: make_optimizer({"lr": 0.1}, _model()), "optimizer name"),
    _case("make_optimizer-not-a-dict", lambda t: make_optimizer("sgd", _model()), "config"),
    _case("make_optimizer-caffe-lr-nan", lambda t: make_optimizer({"name": "caffe_sgd", "lr": NAN}, _model()),
          "lr must"),
    _case("make_optimizer-caffe-momentum-1.5",
          lambda t: make_optimizer({"name": "caffe_sgd", "momentum": 1.5}, _model()), "momentum"),
    # ---- data
    _case("loaders-val_per_class-negative", lambda t: _loaders(val_per_class=-1), "val_per_class"),
    _case("loaders-val_per_class-float", lambda t: _loaders(val_per_class=1.5), "val_per_class"),
    _case("loaders-val_per_class-too-many", lambda t: _loaders(val_per_class=100), "val_per_class"),
    _case("loaders-test_per_class-zero", lambda t: _loaders(test_per_class=0), "test_per_class"),
    _case("loaders-test_per_class-too-many", lambda t: _loaders(test_per_class=100), "test_per_class"),
    _case("loaders-eval_batch_size-zero", lambda t: _loaders(eval_batch_size=0), "eval_batch_size"),
    _case("loaders-batch_size-zero", lambda t: _loaders(batch_size=0), "batch_size"),
    _case("loaders-batch_size-float", lambda t: _loaders(batch_size=2.5), "batch_size"),
    _case("loaders-n_per_class-zero", lambda t: _loaders(n_per_class=0), "n_per_class"),
    _case("loaders-n_per_class-too-many", lambda t: _loaders(n_per_class=1000), "n_per_class"),
    _case("loaders-classes-out-of-range", lambda t: _loaders(classes=[0, 10]), "classes"),
    _case("loaders-preprocess-unknown", lambda t: _loaders(preprocess="zscore"), "preprocess"),
    _case("BatchLoader-batch_size-zero", lambda t: D.BatchLoader(*_xy(), 0), "batch_size"),
    _case("BatchLoader-batch_size-too-big", lambda t: D.BatchLoader(*_xy(), 10**6), "batch_size"),
    _case("BatchLoader-x-float", lambda t: D.BatchLoader(_xy()[0].float(), _xy()[1], 4), "x must"),
    _case("BatchLoader-y-length", lambda t: D.BatchLoader(_xy()[0], _xy()[1][:-1], 4), "x and y"),
    _case("synthetic-n_train_per_class-zero", lambda t: D.synthetic_cifar10(0), "n_train_per_class"),
    _case("load_cifar10-missing-dir", lambda t: D.load_cifar10(t / "nowhere", download=False), "nowhere",
          D.DataNotFoundError),
    _case("load_cifar10-truncated-batch",
          lambda t: D.load_cifar10(_data_folder(t, data_batch_1=_truncated()), download=False), "data_batch_1"),
    _case("load_cifar10-missing-test_batch",
          lambda t: D.load_cifar10(_data_folder(t, test_batch=None), download=False), "test_batch",
          D.DataNotFoundError),
    _case("load_cifar10-wrong-shape",
          lambda t: D.load_cifar10(_data_folder(t, data_batch_3=_batch_bytes(width=100)), download=False),
          "data_batch_3"),
    _case("load_cifar10-bad-labels",
          lambda t: D.load_cifar10(_data_folder(t, test_batch=_batch_bytes(labels=[42] * 10)), download=False),
          "test_batch"),
    _case("load_cifar10-too-few-images", lambda t: D.load_cifar10(_data_folder(t), download=False),
          D.BATCHES_DIR),
    # ---- discriminative
    _case("discriminative_lrs-factor-below-1", lambda t: DL.discriminative_lrs(3, 0.1, factor=0.5), "factor"),
    _case("discriminative_lrs-factor-nan", lambda t: DL.discriminative_lrs(3, 0.1, factor=NAN), "factor"),
    _case("discriminative_lrs-factor-with-spread",
          lambda t: DL.discriminative_lrs(3, slice(1e-3, 1e-1), factor=2.6), "factor"),
    _case("discriminative_lrs-lr-negative", lambda t: DL.discriminative_lrs(3, -0.1), "lr"),
    _case("discriminative_lrs-lr-nan", lambda t: DL.discriminative_lrs(3, NAN), "lr"),
    _case("discriminative_lrs-lr-str", lambda t: DL.discriminative_lrs(3, "fast"), "lr"),
    _case("discriminative_lrs-n-zero", lambda t: DL.discriminative_lrs(0, 0.1), "n must"),
    _case("discriminative_lrs-slice-reversed", lambda t: DL.discriminative_lrs(3, slice(0.1, 0.01)), "lr"),
    _case("discriminative_lrs-list-wrong-length", lambda t: DL.discriminative_lrs(3, [0.1, 0.2]), "lr"),
    _case("discriminative_lrs-tuple-of-one", lambda t: DL.discriminative_lrs(3, (1e-3,)), "lr"),
    _case("layer_groups-spec-str", lambda t: DL.layer_groups(_deep(), "fc"), "spec"),
    _case("layer_groups-unknown-module", lambda t: DL.layer_groups(_deep(), ["nope"]), "nope"),
    _case("layer_groups-out-of-order", lambda t: DL.layer_groups(_deep(), ["3", "1"]), "boundaries"),
    _case("layer_groups-empty", lambda t: DL.layer_groups(_deep(), []), "boundaries"),
    _case("layer_groups-params-left-out", lambda t: DL.layer_groups(_deep(), {"a": ["1"]}), "spec"),
    _case("split_by_depth-n-zero", lambda t: DL.split_by_depth(_deep(), 0), "n must"),
    _case("split_by_depth-by-unknown", lambda t: DL.split_by_depth(_deep(), 2, by="layers"), "by must"),
    _case("freeze_to-beyond", lambda t: DL.split_by_depth(_deep(), 2).freeze_to(99), "k=99"),
    # ---- notebook.check_parameters / utils
    _case("check_parameters-SMOKE-yes", lambda t: check_parameters(SMOKE="yes"), "SMOKE"),
    _case("check_parameters-SMOKE-1", lambda t: check_parameters(SMOKE=1), "SMOKE"),
    _case("check_parameters-SEED-negative", lambda t: check_parameters(SEED=-1), "SEED"),
    _case("check_parameters-SEED-float", lambda t: check_parameters(SEED=1.5), "SEED"),
    _case("check_parameters-DATA_DIR-int", lambda t: check_parameters(DATA_DIR=3), "DATA_DIR"),
    _case("check_parameters-THREADS-zero", lambda t: check_parameters(THREADS=0), "THREADS"),
    _case("check_parameters-LR-nan", lambda t: check_parameters(LR=NAN), "LR"),
    _case("check_parameters-LR-inf", lambda t: check_parameters(LR=INF), "LR"),
    _case("check_parameters-N-bool", lambda t: check_parameters(N_PER_CLASS=True), "N_PER_CLASS"),
    # ---- the doors: an object of the wrong kind, a non-finite value, a foreign state (issue #29)
    _case("fit-model-str", lambda t: fit("resnet20", _sgd(), _loader(), iterations=2, progress=False), "model",
          TypeError),
    _case("fit-optimizer-str", lambda t: fit(_model(), "sgd", _loader(), iterations=2, progress=False), "optimizer",
          TypeError),
    _case("fit-train_data-str", lambda t: fit(_model(), _sgd(), "cifar10", iterations=2, progress=False),
          "train_data", TypeError),
    _case("fit-eval_data-int", lambda t: _fit(eval_data=3), "eval_data", TypeError),
    _case("fit-callbacks-str", lambda t: _fit(callbacks="print"), "callbacks", TypeError),
    _case("fit-callbacks-entry", lambda t: _fit(callbacks=[1]), "callbacks[0]", TypeError),
    _case("fit-resume-foreign-checkpoint", lambda t: _fit_resume(t, {"format": "something-else"}), "ckpt.pt"),
    _case("checkpoint.load-empty", lambda t: _load_checkpoint(t, {}), "not an lrkit checkpoint"),
    _case("checkpoint.load-incomplete", lambda t: _load_checkpoint(t, {"format": C.FORMAT, "iteration": 3}), "lacks"),
    _case("evaluate-model-str", lambda t: evaluate("fastnet", _loader()), "model", TypeError),
    _case("evaluate-data-str", lambda t: evaluate(_model(), "test"), "data", TypeError),
    _case("lr_find-model-str", lambda t: lr_find("fastnet", _loader(), _sgd(), num_iter=5, progress=False), "model",
          TypeError),
    _case("lr_find-optimizer-str", lambda t: lr_find(_model(), _loader(), "sgd", num_iter=5, progress=False),
          "optimizer", TypeError),
    _case("lr_find-data-str", lambda t: lr_find(_model(), "cifar10", _sgd(), num_iter=5, progress=False), "data",
          TypeError),
    _case("art-optimizer-str", lambda t: accuracy_range_test(_model(), _loader(), _loader(), "sgd", iterations=3,
                                                             progress=False), "optimizer", TypeError),
    _case("ScheduledLR-optimizer-str", lambda t: ScheduledLR("sgd", S.Constant(0.1)), "optimizer", TypeError),
    _case("ScheduledLR-group-lr-nan", lambda t: ScheduledLR(_sgd_lr(NAN), S.Constant(0.1)), "param_groups[0]['lr']"),
    _case("ScheduledLR-group-lr-inf", lambda t: ScheduledLR(_sgd_lr(INF), S.Constant(0.1)), "param_groups[0]['lr']"),
    _case("ScheduledLR-group-lr-negative", lambda t: ScheduledLR(_sgd_lr(-0.1), S.Constant(0.1)),
          "param_groups[0]['lr']"),
    _case("ScheduledLR.load_state_dict-empty", lambda t: _sched_lr().load_state_dict({}), "state_dict"),
    _case("ScheduledLR.load_state_dict-None", lambda t: _sched_lr().load_state_dict(None), "state_dict"),
    _case("ScheduledLR.load_state_dict-foreign", lambda t: _sched_lr().load_state_dict(_torch_scheduler_state()),
          "state_dict"),
    _case("ScheduledLR.load_state_dict-incomplete",
          lambda t: _sched_lr().load_state_dict({"version": 1, "t": 3}), "state_dict"),
    _case("make_optimizer-model-str", lambda t: make_optimizer({"name": "sgd", "lr": 0.1}, "fastnet"), "model",
          TypeError),
    _case("layer_groups-model-str", lambda t: DL.layer_groups("fastnet"), "model", TypeError),
    _case("split_by_depth-model-str", lambda t: DL.split_by_depth("fastnet", 2), "model", TypeError),
    _case("augment_batch-pad-negative", lambda t: D.augment_batch(_xy()[0][:4], torch.Generator(), pad=-2), "pad"),
    _case("augment_batch-pad-float", lambda t: D.augment_batch(_xy()[0][:4], torch.Generator(), pad=2.5), "pad"),
    _case("augment_batch-x-3d", lambda t: D.augment_batch(_xy()[0][0], torch.Generator(), pad=2), "x must"),
    _case("RecipeLoader-translate-negative", lambda t: RecipeLoader(*_xy(), 4, translate=-1), "translate"),
    _case("choose_lr-no-suggestion", lambda t: choose_lr(RangeTest(sweep_lr=[1e-3, 1e-2], loss=[2.3, 2.2]),
                                                         ["one_cycle"]), "no suggestion"),
    _case("choose_lr-asks-str", lambda t: choose_lr(_rt(), "valley"), "asks"),
    _case("seed_everything-negative", lambda t: seed_everything(-1), "seed must"),
]


@pytest.mark.parametrize(("fn", "exc", "needle"), API_CASES)
def test_api_refuses_bad_input(fn, exc, needle, tmp_path):
    with pytest.raises(exc) as info:
        fn(tmp_path)
    assert needle in str(info.value), f"{needle!r} not in: {info.value}"


# --------------------------------------------------------------------------------------------------
# CLI cases: argv (with {tmp} and {nowhere} filled in), text stderr must contain
# --------------------------------------------------------------------------------------------------
_NO_CUDA_DEVICE = "cuda" if not torch.cuda.is_available() else f"cuda:{torch.cuda.device_count()}"
_FIND = ["find", "--data-dir", "{nowhere}", "--out", "{tmp}/runs", "--no-progress"]
_QUICK = ["quickstart", "--data-dir", "{nowhere}", "--out", "{tmp}/runs", "--no-progress"]
_SCHED = ["schedule", "-o", "{tmp}/s.png"]
_BENCH = ["bench", "run", "smith2017-table1", "--data-dir", "{nowhere}", "--out", "{tmp}/bench", "--no-progress"]


def _cli(id_: str, argv: list[str], needle: str):
    return pytest.param(argv, needle, id=id_)


CLI_CASES = [
    _cli("command-typo", ["fnd"], "'find'"),
    _cli("find-model-typo", [*_FIND, "--model", "fastnt"], "'fastnet'"),
    _cli("find-model-unknown", [*_FIND, "--model", "nope"], "--model"),
    _cli("quickstart-model-unknown", [*_QUICK, "--model", "resnet999"], "--model"),
    _cli("find-optimizer-typo", [*_FIND, "--optimizer", "sgdd"], "--optimizer"),
    _cli("find-device-unavailable", [*_FIND, "--device", _NO_CUDA_DEVICE], "--device"),
    _cli("find-device-index", [*_FIND, "--device", "cuda:99"], "--device"),
    _cli("find-device-garbage", [*_FIND, "--device", "tpu0"], "--device"),
    _cli("quickstart-device-unavailable", [*_QUICK, "--device", _NO_CUDA_DEVICE], "--device"),
    _cli("find-start-lr-nan", [*_FIND, "--start-lr", "nan"], "--start-lr"),
    _cli("find-start-lr-inf", [*_FIND, "--start-lr", "inf"], "--start-lr"),
    _cli("find-start-lr-negative", [*_FIND, "--start-lr", "-1"], "--start-lr"),
    _cli("find-start-lr-zero", [*_FIND, "--start-lr", "0"], "--start-lr"),
    _cli("find-start-lr-word", [*_FIND, "--start-lr", "abc"], "--start-lr"),
    _cli("find-end-lr-nan", [*_FIND, "--end-lr", "NaN"], "--end-lr"),
    _cli("find-end-lr-inf", [*_FIND, "--end-lr", "Infinity"], "--end-lr"),
    _cli("find-start-above-end", [*_FIND, "--start-lr", "1", "--end-lr", "0.1"], "--start-lr"),
    _cli("find-num-iter-zero", [*_FIND, "--num-iter", "0"], "--num-iter"),
    _cli("find-num-iter-1", [*_FIND, "--num-iter", "1"], "--num-iter"),
    _cli("find-num-iter-float", [*_FIND, "--num-iter", "2.5"], "--num-iter"),
    _cli("find-batch-size-negative", [*_FIND, "--batch-size", "-3"], "--batch-size"),
    _cli("find-weight-decay-nan", [*_FIND, "--weight-decay", "nan"], "--weight-decay"),
    _cli("find-weight-decay-negative", [*_FIND, "--weight-decay", "-1"], "--weight-decay"),
    _cli("find-mode-unknown", [*_FIND, "--mode", "log"], "--mode"),
    _cli("find-val-per-class-zero", [*_FIND, "--val-per-class", "0"], "--val-per-class"),
    _cli("find-val-per-class-all", [*_FIND, "--val-per-class", "5000"], "--val-per-class"),
    _cli("find-n-per-class-too-many", [*_FIND, "--n-per-class", "6000"], "--n-per-class"),
    _cli("find-val-batches-zero", [*_FIND, "--val-batches", "0"], "--val-batches"),
    _cli("find-seed-negative", [*_FIND, "--seed", "-1"], "--seed"),
    _cli("find-out-is-a-file", [*_FIND[:-3], "--out", "{tmp}/a-file", "--no-progress"], "--out"),
    _cli("find-missing-data-dir", _FIND, "--data-dir"),
    _cli("quickstart-epochs-zero", [*_QUICK, "--epochs", "0"], "--epochs"),
    _cli("quickstart-find-iters-1", [*_QUICK, "--find-iters", "1"], "--find-iters"),
    _cli("quickstart-test-per-class-too-many", [*_QUICK, "--test-per-class", "2000"], "--test-per-class"),
    _cli("quickstart-n-per-class-zero", [*_QUICK, "--n-per-class", "0"], "--n-per-class"),
    _cli("schedule-kind-typo", [*_SCHED, "OneCycel", "max_lr=0.1"], "'OneCycle'"),
    _cli("schedule-kind-no-module", [*_SCHED, "no_such_module:X"], "no_such_module"),
    _cli("schedule-pair-without-equals", [*_SCHED, "OneCycle", "oops"], "oops"),
    _cli("schedule-pair-empty-key", [*_SCHED, "OneCycle", "=1"], "=1"),
    _cli("schedule-pair-empty-value", [*_SCHED, "OneCycle", "max_lr="], "max_lr"),
    _cli("schedule-pair-twice", [*_SCHED, "OneCycle", "max_lr=0.1", "max_lr=0.2", "total_steps=9"], "max_lr"),
    _cli("schedule-pair-name", [*_SCHED, "OneCycle", "name=Cyclic"], "name"),
    _cli("schedule-max_lr-nan", [*_SCHED, "OneCycle", "max_lr=nan", "total_steps=10"], "max_lr"),
    _cli("schedule-max_lr-negative", [*_SCHED, "OneCycle", "max_lr=-1", "total_steps=10"], "max_lr"),
    _cli("schedule-total_steps-zero", [*_SCHED, "OneCycle", "max_lr=0.1", "total_steps=0"], "total_steps"),
    _cli("schedule-unknown-key", [*_SCHED, "OneCycle", "max_lr=0.1", "total_steps=10", "bogus=1"], "bogus"),
    _cli("schedule-missing-key", [*_SCHED, "OneCycle", "max_lr=0.1"], "total_steps"),
    _cli("schedule-cyclic-bounds", [*_SCHED, "Cyclic", "base_lr=0.1", "max_lr=0.01"], "max_lr"),
    _cli("schedule-cyclic-mode", [*_SCHED, "Cyclic", "base_lr=0.001", "max_lr=0.006", "mode=triangle"], "mode"),
    _cli("schedule-endless-without-steps", [*_SCHED, "Constant", "lr=0.1"], "--steps"),
    _cli("schedule-steps-zero", [*_SCHED, "OneCycle", "max_lr=0.1", "total_steps=10", "--steps", "0"], "--steps"),
    _cli("schedule-momentum-without", [*_SCHED, "Constant", "lr=0.1", "--steps", "10", "--momentum"], "--momentum"),
    _cli("schedule-output-format", ["schedule", "OneCycle", "max_lr=0.1", "total_steps=10", "-o", "{tmp}/s.xyz"],
         "--output"),
    _cli("bench-run-unknown", ["bench", "run", "nope", "--out", "{tmp}/bench"], "nope"),
    _cli("bench-run-typo", ["bench", "run", "smith2017-tabel1", "--out", "{tmp}/bench"], "'smith2017-table1'"),
    _cli("bench-run-only-unknown", [*_BENCH, "--only", "nope"], "--only"),
    _cli("bench-run-scale-unknown", [*_BENCH, "--scale", "huge"], "--scale"),
    _cli("bench-run-seeds-zero", [*_BENCH, "--seeds", "0"], "--seeds"),
    _cli("bench-run-threads-zero", [*_BENCH, "--threads", "0"], "--threads"),
    _cli("bench-run-device-unavailable", [*_BENCH, "--device", _NO_CUDA_DEVICE], "--device"),
    _cli("bench-run-scale-unavailable", ["bench", "run", "discriminative", "--scale", "paper", "--out", "{tmp}/b"],
         "paper"),
    _cli("bench-run-missing-data-dir", _BENCH, "--data-dir"),
    _cli("bench-report-unknown", ["bench", "report", "nope", "--out", "{tmp}/bench"], "nope"),
]

# broken data files: (id, argv prefix, files to override in the data folder, file named in the message)
DATA_CASES = [
    ("find-truncated-batch", _FIND, {"data_batch_1": _truncated()}, "data_batch_1"),
    ("find-missing-test-batch", _FIND, {"test_batch": None}, "test_batch"),
    ("find-bad-labels", _FIND, {"test_batch": _batch_bytes(labels=[42] * 10)}, "test_batch"),
    ("find-wrong-shape", _FIND, {"data_batch_2": _batch_bytes(width=7)}, "data_batch_2"),
    ("find-not-a-pickle", _FIND, {"data_batch_5": b"this is not a pickle"}, "data_batch_5"),
    ("quickstart-truncated-batch", _QUICK, {"data_batch_1": _truncated()}, "data_batch_1"),
    ("bench-truncated-batch", _BENCH, {"data_batch_1": _truncated()}, "data_batch_1"),
]


def _run_cli(argv: list[str], capsys) -> tuple[int, str]:
    try:
        rc = cli.main(argv)
    except SystemExit as e:  # argparse's own errors
        rc = e.code
    return rc, capsys.readouterr().err


def _assert_one_line_error(rc, err: str, needle: str) -> None:
    assert rc == 2, f"exit status {rc}, stderr: {err}"
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"stderr is not one line: {err!r}"
    assert lines[0].startswith("lrkit"), lines[0]
    assert needle in lines[0], f"{needle!r} not in: {lines[0]}"


@pytest.fixture()
def no_env_data(monkeypatch):
    # never fall back to a real copy of CIFAR-10 (nor to a download)
    monkeypatch.delenv("LRKIT_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/nonexistent-lrkit-fuzz-cache")


@pytest.mark.parametrize(("argv", "needle"), CLI_CASES)
def test_cli_refuses_bad_input(argv, needle, tmp_path, capsys, no_env_data):
    (tmp_path / "a-file").write_text("not a folder")
    argv = [a.format(tmp=tmp_path, nowhere=tmp_path / "nowhere") for a in argv]
    rc, err = _run_cli(argv, capsys)
    _assert_one_line_error(rc, err, needle)


@pytest.mark.parametrize(("argv", "override", "needle"),
                         [pytest.param(a, o, n, id=i) for i, a, o, n in DATA_CASES])
def test_cli_names_the_broken_data_file(argv, override, needle, tmp_path, capsys, no_env_data):
    folder = _data_folder(tmp_path, **override)
    argv = [a.format(tmp=tmp_path, nowhere=folder) for a in argv]
    rc, err = _run_cli(argv, capsys)
    _assert_one_line_error(rc, err, needle)


@pytest.mark.parametrize(("argv", "needle"), [
    pytest.param(["find", "--model", "fastnt", "--data-dir", "/nonexistent-lrkit"], "'fastnet'", id="model-typo"),
    pytest.param(["schedule", "OneCycle", "max_lr=nan", "total_steps=10", "-o", "/tmp/lrkit-fuzz-never.png"],
                 "max_lr", id="schedule-nan"),
])
def test_python_m_lrkit_gives_one_line(argv, needle):
    env = {k: v for k, v in os.environ.items() if k != "LRKIT_DATA_DIR"} | {"OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "lrkit", *argv], capture_output=True, text=True, timeout=120,
                       env=env, cwd=Path(__file__).resolve().parents[2])
    _assert_one_line_error(p.returncode, p.stderr, needle)


@pytest.mark.parametrize("content", [b"{corrupt", b'{"format": "something-else"}'], ids=["corrupt", "foreign"])
def test_cli_bench_folder_problems_are_one_line(content, tmp_path, capsys, no_env_data):
    folder = tmp_path / "bench" / "smith2017-table1" / "smoke"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_bytes(content)
    argv = [a.format(tmp=tmp_path, nowhere=tmp_path / "nowhere") for a in _BENCH]
    rc, err = _run_cli(argv, capsys)
    _assert_one_line_error(rc, err, "bench/smith2017-table1/smoke")
