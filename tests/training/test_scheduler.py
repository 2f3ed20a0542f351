"""Tests for lrkit.training.ScheduledLR (torch glue)."""

from __future__ import annotations

import copy
import io
import pickle
import warnings

import numpy as np
import pytest
import torch

from lrkit import schedules as S
from lrkit.training import ScheduledLR


def _model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Linear(4, 2)


def _batch(i):
    g = torch.Generator().manual_seed(1000 + i)
    return torch.randn(8, 4, generator=g), torch.randn(8, 2, generator=g)


def _train_step(model, opt, i, scaler=None):
    x, y = _batch(i)
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    if scaler is None:
        loss.backward()
        opt.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()


def test_is_lr_scheduler_and_first_step_uses_schedule_0():
    sched_math = S.OneCycle(0.5, 50)
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=123.0, momentum=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "lr_scheduler.step() before optimizer.step()" etc.
        sched = ScheduledLR(opt, sched_math, momentum="auto")
        assert isinstance(sched, torch.optim.lr_scheduler.LRScheduler)
        assert sched.t == 0
        used, moms = [], []
        for i in range(50):
            used.append(opt.param_groups[0]["lr"])
            moms.append(opt.param_groups[0]["momentum"])
            _train_step(model, opt, i)
            sched.step()
            assert sched.get_last_lr() == [opt.param_groups[0]["lr"]]
    assert sched.t == 50
    np.testing.assert_allclose(used, sched_math(np.arange(50)), rtol=0, atol=1e-15)
    np.testing.assert_allclose(moms, sched_math.momentum_schedule()(np.arange(50)), rtol=0, atol=1e-15)


def test_scheduler_step_without_optimizer_step_does_not_advance():
    opt = torch.optim.SGD(_model().parameters(), lr=0.1)
    sched = ScheduledLR(opt, S.Step(1.0, 1, 0.5))
    for _ in range(5):
        sched.step()
    assert sched.t == 0 and opt.param_groups[0]["lr"] == 1.0


def test_amp_skipped_step_does_not_advance():
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = ScheduledLR(opt, S.Step(1.0, 1, 0.5))
    scaler = torch.amp.GradScaler("cpu")
    _train_step(model, opt, 0, scaler)
    sched.step()
    assert sched.t == 1 and opt.param_groups[0]["lr"] == 0.5
    # an inf gradient: GradScaler skips optimizer.step()
    opt.zero_grad()
    before = [p.detach().clone() for p in model.parameters()]
    loss = model(torch.full((1, 4), float("inf"))).sum()
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    sched.step()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=False))
    assert sched.t == 1 and opt.param_groups[0]["lr"] == 0.5
    _train_step(model, opt, 2, scaler)
    sched.step()
    assert sched.t == 2 and opt.param_groups[0]["lr"] == 0.25


@pytest.mark.parametrize(
    "schedule",
    [
        S.triangular2(0.01, 0.1, 7, 4),
        S.CosineWarmRestarts(10, 1.5, eta_max=0.1, warmup_steps=3),
        S.Sequence([S.LinearWarmup(S.Constant(0.1), 5), S.OneCycle(0.1, 100)], [20]),
    ],
    ids=["clr", "sgdr", "seq"],
)
@pytest.mark.parametrize("via", ["direct", "torch.save", "pickle"])
def test_state_dict_round_trip_identical_continuation(schedule, via):
    def make(sched_obj, seed=0):
        model = _model(seed)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        mom = "auto" if sched_obj.momentum_schedule() is not None else None
        return model, opt, ScheduledLR(opt, sched_obj, momentum=mom)

    model, opt, sched = make(schedule)
    for i in range(37):
        _train_step(model, opt, i)
        sched.step()
    state = {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}
    if via == "torch.save":
        buf = io.BytesIO()
        torch.save(state, buf)
        buf.seek(0)
        state = torch.load(buf, weights_only=True)  # plain data only
    elif via == "pickle":
        state = pickle.loads(pickle.dumps(state))
    else:  # the optimizer's state_dict aliases its live buffers
        state = copy.deepcopy(state)

    # a fresh run built with a *different* schedule: the state dict restores the saved one
    model2, opt2, sched2 = make(S.Constant(1.0), seed=1)
    model2.load_state_dict(state["model"])
    opt2.load_state_dict(state["opt"])
    sched2.load_state_dict(state["sched"])
    assert sched2.t == sched.t == 37
    assert sched2.get_last_lr() == sched.get_last_lr()
    for i in range(37, 80):
        assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
        assert opt2.param_groups[0]["momentum"] == opt.param_groups[0]["momentum"]
        _train_step(model, opt, i)
        sched.step()
        _train_step(model2, opt2, i)
        sched2.step()
    for a, b in zip(model.parameters(), model2.parameters(), strict=False):
        assert torch.equal(a, b)


def test_adagrad_without_momentum():
    model = _model()
    opt = torch.optim.Adagrad(model.parameters(), lr=0.1)
    sched = ScheduledLR(opt, S.triangular(0.01, 0.1, 5))  # momentum=None: fine
    for i in range(12):
        _train_step(model, opt, i)
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(S.triangular(0.01, 0.1, 5)(12))
    # 'auto' (or an explicit schedule) on an optimizer without momentum: documented warning, ignored
    opt2 = torch.optim.Adagrad(_model().parameters(), lr=0.1)
    with pytest.warns(UserWarning, match="momentum"):
        sched2 = ScheduledLR(opt2, S.triangular(0.01, 0.1, 5), momentum="auto")
    _train_step(_model(), opt2, 0)
    sched2.step()
    assert "momentum" not in opt2.param_groups[0] and "betas" not in opt2.param_groups[0]
    # 'auto' with a schedule that has no momentum schedule -> ValueError naming momentum
    with pytest.raises(ValueError, match="momentum"):
        ScheduledLR(torch.optim.SGD(_model().parameters(), lr=0.1), S.Constant(0.1), momentum="auto")


@pytest.mark.parametrize("opt_cls", [torch.optim.Adam, torch.optim.AdamW])
def test_adam_beta1_cycling(opt_cls):
    model = _model()
    opt = opt_cls(model.parameters(), lr=0.1, betas=(0.9, 0.987))
    s = S.OneCycle(0.01, 40, base_momentum=0.8, max_momentum=0.95)
    sched = ScheduledLR(opt, s, momentum="auto")
    ms = s.momentum_schedule()
    for i in range(40):
        b1, b2 = opt.param_groups[0]["betas"]
        assert b1 == pytest.approx(ms(i), abs=1e-15) and b2 == 0.987
        assert sched.get_last_momentum() == [b1]
        _train_step(model, opt, i)
        sched.step()


@pytest.mark.parametrize(
    "opt_cls,kw",
    [
        (torch.optim.SGD, {"momentum": 0.9}),
        (torch.optim.SGD, {}),
        (torch.optim.Adam, {}),
        (torch.optim.AdamW, {}),
        (torch.optim.RMSprop, {"momentum": 0.5}),
        (torch.optim.Adagrad, {}),
        (torch.optim.NAdam, {}),
        (torch.optim.Adadelta, {}),
    ],
)
def test_works_with_many_optimizers(opt_cls, kw):
    model = _model()
    opt = opt_cls(model.parameters(), lr=0.05, **kw)
    s = S.triangular(0.001, 0.01, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched = ScheduledLR(opt, s, momentum=S.Constant(0.85))
    for i in range(7):
        _train_step(model, opt, i)
        sched.step()
    assert sched.get_last_lr()[0] == pytest.approx(s(7))
    g = opt.param_groups[0]
    if "betas" in g:
        assert g["betas"][0] == 0.85
    elif "momentum" in g:
        assert g["momentum"] == 0.85


def test_per_group_multipliers_and_schedules():
    model = _model()
    groups = [{"params": [model.weight], "lr": 0.1}, {"params": [model.bias], "lr": 0.025}]
    opt = torch.optim.SGD(groups, lr=0.1)
    s = S.OneCycle(1.0, 20)
    sched = ScheduledLR(opt, s, multipliers="initial")
    assert sched.multipliers == [1.0, 0.25]
    for i in range(10):
        lrs = [g["lr"] for g in opt.param_groups]
        assert lrs == pytest.approx([s(i), 0.25 * s(i)])
        _train_step(model, opt, i)
        sched.step()

    opt = torch.optim.SGD([{"params": [model.weight]}, {"params": [model.bias]}], lr=0.1, momentum=0.9)
    a, b = S.triangular(0.01, 0.1, 4), S.CosineWarmRestarts(5, 2, eta_max=0.2)
    sched = ScheduledLR(opt, [a, b], momentum=[a.momentum_schedule(), None], multipliers=[1.0, 0.5])
    for i in range(15):
        assert opt.param_groups[0]["lr"] == pytest.approx(a(i))
        assert opt.param_groups[1]["lr"] == pytest.approx(0.5 * b(i))
        assert opt.param_groups[0]["momentum"] == pytest.approx(a.momentum_schedule()(i))
        assert opt.param_groups[1]["momentum"] == 0.9
        _train_step(model, opt, i)
        sched.step()
    with pytest.raises(ValueError, match="multipliers"):
        ScheduledLR(opt, a, multipliers=[1.0])
    with pytest.raises(ValueError, match="schedule"):
        ScheduledLR(opt, [a])
    with pytest.raises(ValueError, match="momentum"):
        ScheduledLR(opt, a, momentum="inverse")


def test_finite_schedule_overrun_raises():
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = ScheduledLR(opt, S.OneCycle(0.1, 5))
    for i in range(5):
        _train_step(model, opt, i)
        sched.step()  # t == 5 == total_steps is allowed
    _train_step(model, opt, 5)
    with pytest.raises(ValueError, match="t"):
        sched.step()


def test_state_dict_is_plain_data():
    opt = torch.optim.SGD(_model().parameters(), lr=0.1, momentum=0.9)
    sched = ScheduledLR(opt, S.triangular(0.01, 0.1, 5) * 0.5, momentum="auto")
    sd = sched.state_dict()

    def plain(x):
        if isinstance(x, dict):
            return all(isinstance(k, str) and plain(v) for k, v in x.items())
        if isinstance(x, list):
            return all(plain(v) for v in x)
        return x is None or isinstance(x, (bool, int, float, str))

    assert plain(sd)
