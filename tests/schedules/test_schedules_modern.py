"""Tests for the newer parts of lrkit.schedules: input checks, the non-finite guard,
Cosine, ExponentialWarmup / warmup(), WSD (warmup-stable-decay) and its anytime branches.

Config round trips and pickling of the new classes are in ``test_schedules.all_schedules``.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import re
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lrkit import schedules as S

TOL = 1e-12
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _sgd(lr):
    p = torch.nn.Parameter(torch.zeros(1))
    return torch.optim.SGD([p], lr=lr)


def _run_torch(opt, sched, n_steps):
    """The LRs torch sets for t = 0 .. n_steps - 1 (``sched`` already built on ``opt``)."""
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(n_steps):
            lrs.append(opt.param_groups[0]["lr"])
            if i < n_steps - 1:
                sched.step()
    return np.array(lrs)


# ----------------------------------------------------------------------------- bad input
BAD = [
    (lambda: S.MultiStep(0.1, 5), "milestones"),
    (lambda: S.MultiStep(0.1, None), "milestones"),
    (lambda: S.MultiStep(0.1, np.array(5)), "milestones"),
    (lambda: S.Sequence([S.Constant(0.1), S.Constant(0.2)], 5), "milestones"),
    (lambda: S.Sequence(S.Constant(0.1), []), "schedules"),
    (lambda: S.Sequence(3, []), "schedules"),
    (lambda: S.Exponential(0.1, 10.0, total_steps=1000), "gamma"),
    (lambda: S.Exponential(0.1, 0.5, total_steps=0), "total_steps"),
    (lambda: S.Scaled(S.Constant(0.1), float("nan")), "factor"),
    (lambda: S.Scaled(S.Constant(0.1), float("inf")), "factor"),
    (lambda: S.Constant(0.1) * float("inf"), "factor"),
    (lambda: float("nan") * S.Constant(0.1), "factor"),
    (lambda: S.Scaled(S.Scaled(S.Constant(0.1), 1e200), 1e200), "factor"),
    (lambda: S.Cosine(0.1, 0), "total_steps"),
    (lambda: S.Cosine(0.1, 100, eta_min=0.2), "eta_min"),
    (lambda: S.ExponentialWarmup(S.Constant(0.1), 10, 0.0), "warmup_start"),
    (lambda: S.ExponentialWarmup(S.Constant(0.1), -1, 1e-3), "warmup_steps"),
    (lambda: S.ExponentialWarmup(S.Constant(0.0), 10, 1e-3), "schedule"),
    (lambda: S.ExponentialWarmup(S.Cosine(0.1, 10), 10, 1e-3), "schedule"),  # target S(10) = 0
    (lambda: S.LinearWarmup(S.Exponential(0.1, 10.0), 400), "schedule"),  # target overflows
    (lambda: S.warmup(S.Constant(0.1), 10, kind="cosine"), "kind"),
    (lambda: S.warmup(S.Constant(0.1), 10, kind="exponential"), "start"),
    (lambda: S.warmup(S.Constant(0.1), 10, kind="exponential", start=0.0), "start"),
    (lambda: S.warmup(S.Constant(0.1), 10, start=-1.0), "start"),
    (lambda: S.WSD(0.1, 100), "cooldown_steps"),
    (lambda: S.WSD(0.1, 100, cooldown_steps=10, cooldown_frac=0.1), "cooldown_frac"),
    (lambda: S.WSD(0.1, 100, cooldown_frac=0.0), "cooldown_frac"),
    (lambda: S.WSD(0.1, 100, cooldown_frac=1.5), "cooldown_frac"),
    (lambda: S.WSD(0.1, 100, cooldown_frac=0.001), "cooldown_frac"),
    (lambda: S.WSD(0.1, 100, cooldown_steps=0), "cooldown_steps"),
    (lambda: S.WSD(0.1, 100, warmup_steps=50, cooldown_steps=60), "warmup_steps"),
    (lambda: S.WSD(0.1, 100, warmup_steps=50, cooldown_frac=0.6), "cooldown_frac"),
    (lambda: S.WSD(0.1, 100, cooldown_steps=10, cooldown="sqrt"), "cooldown"),
    (lambda: S.WSD(0.1, 100, cooldown_steps=10, end=0.2), "end"),
    (lambda: S.WSD(0.0, 100, cooldown_steps=10), "lr"),
    (lambda: S.WSD(0.1, 0, cooldown_steps=10), "total_steps"),
    (lambda: S.WSD(0.1, 100, cooldown_steps=10, warmup_start=-1), "warmup_start"),
    (lambda: S.WSD(0.1, 100, warmup_steps=20, cooldown_steps=10).branch(10), "decay_start"),
    (lambda: S.WSD(0.1, 100, cooldown_steps=10).branch(-1), "decay_start"),
]


@pytest.mark.parametrize("make,arg", BAD, ids=[f"{a}-{i}" for i, (_, a) in enumerate(BAD)])
def test_bad_input_names_argument(make, arg):
    with pytest.raises(ValueError, match=arg):
        make()


@pytest.mark.parametrize(
    "config,pattern",
    [
        ({"name": "no_such_module:X"}, r"'no_such_module:X'.*cannot import"),
        ({"name": "lrkit.schedules:NoSuchClass"}, r"'lrkit.schedules:NoSuchClass'.*no attribute"),
        ({"name": "math:pi"}, r"'math:pi'.*Schedule"),
        ({"name": "OneCycel", "max_lr": 0.1, "total_steps": 100}, r"'OneCycel'.*did you mean 'OneCycle'\?"),
        ({"name": "onecycle", "max_lr": 0.1, "total_steps": 100}, r"'onecycle'.*did you mean 'OneCycle'\?"),
        ({"name": "Zzzqqq"}, r"'Zzzqqq' is not a known schedule$"),
        ({"name": 3}, r"name"),
        ({"name": "Constant", "lr": 0.1, "gama": 0.5}, r"'Constant'.*unknown key.*'gama'"),
        ({"name": "OneCycle", "max_lr": 0.1, "total_steps": 100, "a": 1, "b": 2}, r"'OneCycle'.*'a', 'b'"),
        ({"name": "OneCycle", "max_lr": 0.1}, r"'OneCycle'.*missing.*'total_steps'"),
        ({"name": "CosineWarmRestarts", "T_0": 10}, r"'CosineWarmRestarts'.*missing.*'eta_max'"),
        ({"name": "Sequence", "schedules": [{"name": "Constant", "lr": 0.1}]}, r"'Sequence'.*milestones"),
        ({"name": "WSD", "lr": 0.1, "total_steps": 100, "cooldown": "1-sqrt", "decay": 3}, r"'WSD'.*'decay'"),
        (
            {"name": "LinearWarmup", "schedule": {"name": "Constnt", "lr": 0.1}, "warmup_steps": 3},
            r"'Constnt'.*did you mean 'Constant'\?",
        ),
    ],
)
def test_from_config_errors_are_value_errors_naming_the_config(config, pattern):
    with pytest.raises(ValueError, match=pattern):
        S.from_config(config)


# ----------------------------------------------------------------------------- non-finite guard
def test_exponential_overflow_raises_naming_schedule_and_t():
    s = S.Exponential(0.1, 10.0)  # infinite schedule, gamma > 1 allowed (range tests use it)
    assert s(308) == pytest.approx(1e307)
    with pytest.raises(ValueError, match=r"Exponential.*t=309\.0"):
        s(309)
    with pytest.raises(ValueError, match=r"Exponential.*t=309\.0"):
        s(np.arange(400))
    with pytest.raises(ValueError, match=r"Scaled.*t=309\.0"):
        (s * 2.0)(np.arange(400))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy overflow warning leaks out either
        with pytest.raises(ValueError, match="t="):
            s(10_000)
    # a growing but finite schedule is fine, and lr == 0 is 0 everywhere (not 0 * inf = NaN)
    ramp = S.Exponential(1e-7, (10.0 / 1e-7) ** (1 / 99))
    assert ramp(99) == pytest.approx(10.0)
    assert S.Exponential(0.0, 10.0)(10_000) == 0.0
    finite = S.Exponential(0.1, 1.01, total_steps=1000)
    assert finite(1000) == pytest.approx(0.1 * 1.01**1000)
    assert finite.to_config() == {"name": "Exponential", "lr": 0.1, "gamma": 1.01, "total_steps": 1000}
    assert S.Exponential(0.1, 0.9).to_config() == {"name": "Exponential", "lr": 0.1, "gamma": 0.9}
    with pytest.raises(ValueError, match="t"):
        finite(1001)


class _NaNAfter(S.Schedule):
    """A user schedule that goes NaN at t >= 5 (to check the guard of the base class)."""

    def _value(self, t):
        return np.where(t < 5, 0.1, np.nan)

    def _params(self):
        return {}


def test_non_finite_guard_is_general():
    with pytest.raises(ValueError, match=r"_NaNAfter.*t=5\.0"):
        _NaNAfter()(np.arange(10))
    np.testing.assert_array_equal(_NaNAfter()(np.arange(5)), 0.1)
    with pytest.raises(ValueError, match=r"Step.*t=31\.0"):
        S.Step(1.0, 1, gamma=1e10)(np.arange(50))
    with pytest.raises(ValueError, match=r"Sequence.*t="):
        S.Sequence([S.Constant(0.1), _NaNAfter()], [3])(np.arange(20))


# ----------------------------------------------------------------------------- Cosine
@SETTINGS
@given(
    lr=st.floats(1e-4, 1.0),
    eta_min_frac=st.floats(0.0, 1.0),
    T=st.integers(1, 3000),
)
@example(lr=0.7, eta_min_frac=0.01, T=10_000)
@example(lr=1.0, eta_min_frac=0.0, T=12_345)
def test_cosine_matches_torch(lr, eta_min_frac, T):
    eta_min = lr * eta_min_frac
    opt = _sgd(lr)
    ref = _run_torch(opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=T, eta_min=eta_min), T + 1)
    ours = S.Cosine(lr, T, eta_min)
    assert ours.total_steps == T
    np.testing.assert_allclose(ours(np.arange(T + 1)), ref, rtol=0, atol=TOL)


def test_cosine_closed_form():
    c = S.Cosine(1.0, 100, eta_min=0.1)
    assert c(0) == 1.0 and c(100) == pytest.approx(0.1, abs=1e-15) and c(50) == pytest.approx(0.55)
    y = c(np.arange(101))
    assert np.all(np.diff(y) < 0)
    assert c.momentum_schedule() is None


# ----------------------------------------------------------------------------- warm-up parity
@SETTINGS
@given(
    lr=st.floats(1e-3, 1.0),
    start_factor=st.floats(1e-3, 1.0),
    W=st.integers(1, 500),
    T=st.integers(1, 2500),
    eta_min_frac=st.floats(0.0, 0.5),
)
@example(lr=0.4, start_factor=0.01, W=500, T=10_000, eta_min_frac=0.0)
@example(lr=0.1, start_factor=0.25, W=2000, T=9000, eta_min_frac=0.1)
def test_linear_warmup_cosine_matches_torch_sequential(lr, start_factor, W, T, eta_min_frac):
    """Goyal et al. 2017 warm-up + cosine == torch SequentialLR([LinearLR, CosineAnnealingLR])."""
    eta_min = lr * eta_min_frac
    opt = _sgd(lr)
    lin = torch.optim.lr_scheduler.LinearLR(opt, start_factor=start_factor, total_iters=W)
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=T, eta_min=eta_min)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seq = torch.optim.lr_scheduler.SequentialLR(opt, [lin, cos], milestones=[W])
    n = W + T + 1
    ref = _run_torch(opt, seq, n)
    ours = S.LinearWarmup(S.Cosine(lr, T, eta_min), W, start_factor * lr, prefix=True)
    assert ours.total_steps == W + T
    np.testing.assert_allclose(ours(np.arange(n)), ref, rtol=0, atol=TOL)
    same = S.warmup(S.Cosine(lr, T, eta_min), W, "linear", start=start_factor * lr, prefix=True)
    assert type(same) is S.LinearWarmup
    np.testing.assert_array_equal(same(np.arange(n)), ours(np.arange(n)))


@SETTINGS
@given(
    lr=st.floats(1e-3, 1.0),
    start_exp=st.floats(-6.0, -0.5),
    W=st.integers(1, 2000),
    T=st.integers(1, 2500),
    eta_min_frac=st.floats(0.0, 0.5),
)
@example(lr=0.5, start_exp=-5.0, W=1000, T=10_000, eta_min_frac=0.0)
@example(lr=1.0, start_exp=-3.0, W=5000, T=6000, eta_min_frac=0.05)
def test_exponential_warmup_matches_torch(lr, start_exp, W, T, eta_min_frac):
    """The warm-up part is torch's ExponentialLR started at warmup_start with
    gamma = (target / warmup_start)**(1/W); joined to cosine it is SequentialLR."""
    start = lr * 10.0**start_exp
    gamma = (lr / start) ** (1.0 / W)
    eta_min = lr * eta_min_frac
    ours = S.ExponentialWarmup(S.Cosine(lr, T, eta_min), W, start, prefix=True)
    assert ours.total_steps == W + T
    # warm-up alone: ExponentialLR on an optimizer whose LR is warmup_start
    opt = _sgd(start)
    ref = _run_torch(opt, torch.optim.lr_scheduler.ExponentialLR(opt, gamma), W + 1)
    np.testing.assert_allclose(ours(np.arange(W + 1)), ref, rtol=0, atol=TOL)
    # joined to cosine: torch's schedulers share one base LR (the cosine's peak lr); the
    # ExponentialLR ramp continues from the *current* LR, so it is set to warmup_start first.
    opt = _sgd(lr)
    exp = torch.optim.lr_scheduler.ExponentialLR(opt, gamma)
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=T, eta_min=eta_min)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seq = torch.optim.lr_scheduler.SequentialLR(opt, [exp, cos], milestones=[W])
    opt.param_groups[0]["lr"] = start
    n = W + T + 1
    ref = _run_torch(opt, seq, n)
    np.testing.assert_allclose(ours(np.arange(n)), ref, rtol=0, atol=TOL)
    same = S.warmup(S.Cosine(lr, T, eta_min), W, kind="exponential", start=start, prefix=True)
    assert type(same) is S.ExponentialWarmup
    np.testing.assert_array_equal(same(np.arange(n)), ours(np.arange(n)))


def test_exponential_warmup_closed_form_and_targets():
    inner = S.Polynomial(1.0, 100)
    w = S.ExponentialWarmup(inner, 10, 1e-3)  # prefix=False: ramp to inner(10) = 0.9
    y = w(np.arange(11))
    ratios = y[1:] / y[:-1]
    np.testing.assert_allclose(ratios, (0.9 / 1e-3) ** 0.1, rtol=1e-12)
    assert y[0] == 1e-3 and y[10] == pytest.approx(0.9)
    np.testing.assert_array_equal(w(np.arange(10, 101)), inner(np.arange(10, 101)))
    assert w.total_steps == 100
    wp = S.ExponentialWarmup(inner, 10, 1e-3, prefix=True)  # ramp to inner(0) = 1.0
    assert wp.total_steps == 110 and wp(10) == 1.0 and wp(5) == pytest.approx(math.sqrt(1e-3))
    np.testing.assert_array_equal(wp(np.arange(10, 111)), inner(np.arange(101)))
    assert S.ExponentialWarmup(inner, 0, 1e-3)(0) == 1.0  # no warm-up at all
    # the linear one is unchanged and keeps its config name
    lw = S.warmup(S.Constant(1.0), 4)
    assert type(lw) is S.LinearWarmup and lw.to_config()["name"] == "LinearWarmup"
    np.testing.assert_allclose(lw(np.arange(6)), [0, 0.25, 0.5, 0.75, 1, 1])
    assert "ExponentialWarmup" in S.__all__ and "warmup" in S.__all__
    assert w.momentum_schedule() is None


# ----------------------------------------------------------------------------- WSD
def _wsd_reference(t, lr, T, W, C, shape, start, end):
    """Plain-Python piecewise formula (Hägele et al. 2024 §3; MiniCPM §4)."""
    if t < W:
        return start + (lr - start) * t / W
    D = T - C
    if t < D:
        return lr
    s = (t - D) / C
    f = {"linear": 1 - s, "cosine": 0.5 * (1 + math.cos(math.pi * s)), "1-sqrt": 1 - math.sqrt(s)}[shape]
    return end + (lr - end) * f


@SETTINGS
@given(
    lr=st.floats(1e-3, 1.0),
    T=st.integers(1, 3000),
    w_frac=st.floats(0.0, 0.5),
    c_frac=st.floats(0.0, 0.5),
    shape=st.sampled_from(["linear", "cosine", "1-sqrt"]),
    start_frac=st.floats(0.0, 1.0),
    end_frac=st.floats(0.0, 1.0),
)
def test_wsd_piecewise_formula(lr, T, w_frac, c_frac, shape, start_frac, end_frac):
    W = int(w_frac * T)
    C = max(1, int(c_frac * T))
    if W + C > T:
        W = T - C
    s = S.WSD(lr, T, W, cooldown_steps=C, cooldown=shape, warmup_start=start_frac * lr, end=end_frac * lr)
    t = np.arange(T + 1)
    ref = [_wsd_reference(k, lr, T, W, C, shape, start_frac * lr, end_frac * lr) for k in t]
    y = s(t)
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-15)
    D = T - C
    assert s.decay_start == D and s(D) == lr and s(T) == pytest.approx(end_frac * lr, abs=1e-15)
    assert np.all(y[W:D + 1] == lr)
    assert np.all(np.diff(y[D:]) <= 1e-15)  # the cooldown never rises


def test_wsd_known_values_and_fraction():
    base = dict(lr=1.0, total_steps=100, warmup_steps=10, cooldown_steps=20, warmup_start=0.0, end=0.2)
    lin = S.WSD(**base, cooldown="linear")
    cos = S.WSD(**base, cooldown="cosine")
    sq = S.WSD(**base, cooldown="1-sqrt")
    assert lin(5) == 0.5 and lin(10) == 1.0 and lin(79) == 1.0 and lin(80) == 1.0
    assert lin(90) == pytest.approx(0.6) and cos(90) == pytest.approx(0.6)  # halfway, both symmetric
    assert sq(85) == pytest.approx(0.2 + 0.8 * 0.5)  # s = 1/4 -> 1 - sqrt(s) = 1/2
    assert cos(85) > lin(85) > sq(85)  # 1-sqrt drops fastest at the start of the cooldown
    for s in (lin, cos, sq):
        assert s(100) == pytest.approx(0.2) and s.momentum_schedule() is None
    f = S.WSD(0.1, 1000, 50, cooldown_frac=0.2, cooldown="1-sqrt")
    assert f.cooldown_steps == 200 and f.decay_start == 800
    g = S.WSD(0.1, 1000, 50, cooldown_steps=200, cooldown="1-sqrt")
    np.testing.assert_array_equal(f(np.arange(1001)), g(np.arange(1001)))
    assert f.to_config()["cooldown_frac"] == 0.2 and "cooldown_steps" not in f.to_config()
    assert g.to_config()["cooldown_steps"] == 200 and "cooldown_frac" not in g.to_config()
    assert S.WSD(0.1, 7, cooldown_frac=0.5).cooldown_steps == 4  # floor(3.5 + 0.5)
    assert S.WSD(0.1, 10, cooldown_steps=10)(0) == 0.1  # no stable phase: cooldown from t = 0


@pytest.mark.parametrize("shape", ["linear", "cosine", "1-sqrt"])
@pytest.mark.parametrize("cfg", [dict(cooldown_steps=150), dict(cooldown_frac=0.15)])
def test_wsd_branches_are_anytime(shape, cfg):
    parent = S.WSD(0.3, 1000, 40, cooldown=shape, warmup_start=1e-3, end=1e-4, **cfg)
    C, D = parent.cooldown_steps, parent.decay_start
    trunk = parent.stable_run()
    assert trunk.total_steps is None
    np.testing.assert_array_equal(trunk(np.arange(D + 1)), parent(np.arange(D + 1)))
    assert trunk(10**7) == 0.3
    starts = [40, 123, 500, D, 999, 2500]
    branches = [parent.branch(d) for d in starts]
    for d, b in zip(starts, branches, strict=True):
        assert isinstance(b, S.WSD) and b.total_steps == d + C and b.decay_start == d
        before = np.arange(d + 1)
        # before its decay start a branch is the constant run (the checkpoint it starts from) ...
        np.testing.assert_array_equal(b(before), trunk(before))
        if d <= D:  # ... and the parent itself, where the parent has not started cooling down
            np.testing.assert_array_equal(b(before), parent(before))
        # ... and afterwards it is the same cooldown, shifted to start at d
        k = np.arange(C + 1)
        np.testing.assert_allclose(b(d + k), parent(D + k), rtol=0, atol=1e-15)
    # branches agree with each other up to the earlier one's decay start
    for i, (d1, b1) in enumerate(zip(starts, branches, strict=True)):
        for b2 in branches[i + 1 :]:
            np.testing.assert_array_equal(b1(np.arange(d1 + 1)), b2(np.arange(d1 + 1)))
    # the branch at the parent's own decay start is the parent
    np.testing.assert_array_equal(parent.branch(D)(np.arange(1001)), parent(np.arange(1001)))
    if "cooldown_steps" in cfg:
        assert parent.branch(D).to_config() == parent.to_config()


def test_wsd_branch_config_is_plain_steps():
    parent = S.WSD(0.3, 1000, 40, cooldown_frac=0.15, cooldown="cosine")
    b = parent.branch(600)
    cfg = b.to_config()
    assert cfg["cooldown_steps"] == 150 and "cooldown_frac" not in cfg and cfg["total_steps"] == 750
    assert S.from_config(cfg).to_config() == cfg


@pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="transformers not installed")
@SETTINGS
@given(
    T=st.integers(2, 3000),
    w_frac=st.floats(0.0, 0.4),
    c_frac=st.floats(0.01, 0.5),
    decay_type=st.sampled_from(["linear", "cosine", "1-sqrt"]),
    min_lr_ratio=st.floats(0.0, 0.5),
)
@example(T=10_000, w_frac=0.05, c_frac=0.2, decay_type="1-sqrt", min_lr_ratio=0.0)
def test_wsd_matches_transformers(T, w_frac, c_frac, decay_type, min_lr_ratio):
    optimization = pytest.importorskip("transformers.optimization")
    get_wsd = optimization.get_wsd_schedule
    params = inspect.signature(get_wsd).parameters
    lr = 0.3
    W = int(w_frac * T)
    C = max(1, int(c_frac * T))
    if W + C > T:
        W = T - C
    kwargs = dict(num_warmup_steps=W, num_stable_steps=T - W - C, num_decay_steps=C, min_lr_ratio=min_lr_ratio)
    if "decay_type" in params:  # newer transformers: warm-up starts at min_lr_ratio * lr
        kwargs["decay_type"] = decay_type
        start = min_lr_ratio * lr
    else:  # older transformers: cosine decay only, warm-up from 0
        if decay_type != "cosine":
            pytest.skip("this transformers version has only the cosine decay")
        start = 0.0
    opt = _sgd(lr)
    ref = _run_torch(opt, get_wsd(opt, **kwargs), T + 1)
    ours = S.WSD(lr, T, W, cooldown_steps=C, cooldown=decay_type, warmup_start=start, end=min_lr_ratio * lr)
    np.testing.assert_allclose(ours(np.arange(T + 1)), ref, rtol=0, atol=TOL)


def test_new_names_exported_and_numpy_only():
    for name in ("Cosine", "ExponentialWarmup", "warmup", "WSD"):
        assert name in S.__all__ and hasattr(S, name)
    src = inspect.getsource(S)
    assert not re.search(r"^\s*(import|from)\s+torch", src, flags=re.M)
