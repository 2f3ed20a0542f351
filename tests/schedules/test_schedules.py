"""Tests for lrkit.schedules (pure math) and lrkit.plot.plot_schedule."""

from __future__ import annotations

import json
import math
import pickle
import re
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import HealthCheck, assume, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from lrkit import schedules as S  # noqa: E402

TOL = 1e-12
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def half_life(x):
    """Module-level custom CLR scale_fn (serialisable as 'module:qualname')."""
    return 1.0 / (1.0 + 0.5 * (np.asarray(x) - 1))


def _sgd(lr=0.1, momentum=0.9):
    p = torch.nn.Parameter(torch.zeros(1))
    return torch.optim.SGD([p], lr=lr, momentum=momentum)


def _run_torch(make_sched, n_steps, opt, with_momentum=False):
    """Return the LRs (and momenta) torch sets for t = 0 .. n_steps - 1."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched = make_sched(opt)
        lrs, moms = [], []
        group = opt.param_groups[0]
        for i in range(n_steps):
            lrs.append(group["lr"])
            if with_momentum:
                moms.append(group["momentum"])
            if i < n_steps - 1:
                sched.step()
    return np.array(lrs), np.array(moms)


# ----------------------------------------------------------------------------- torch parity
@SETTINGS
@given(
    base_lr=st.floats(1e-5, 0.1),
    span=st.floats(0.0, 1.0),
    up=st.integers(1, 400),
    down=st.one_of(st.none(), st.integers(1, 400)),
    mode=st.sampled_from(["triangular", "triangular2", "exp_range"]),
    gamma=st.floats(0.995, 1.0),
    n_steps=st.integers(1, 2500),
)
@example(base_lr=0.001, span=0.05, up=300, down=700, mode="triangular", gamma=1.0, n_steps=10_000)
@example(base_lr=0.001, span=0.05, up=123, down=None, mode="triangular2", gamma=1.0, n_steps=10_000)
@example(base_lr=0.001, span=0.05, up=250, down=50, mode="exp_range", gamma=0.9997, n_steps=10_000)
def test_cyclic_matches_torch(base_lr, span, up, down, mode, gamma, n_steps):
    # torch's triangular2 computes 2.0 ** (cycle - 1) in python floats: past ~1024 cycles its reference
    # raises OverflowError (found by Hypothesis: up=1, 2049 steps); lrkit's schedule has no such limit
    assume(mode != "triangular2" or n_steps / (up + (down or up)) < 1000)
    max_lr = base_lr + span
    ours = S.Cyclic(base_lr, max_lr, up, down, mode=mode, gamma=gamma, base_momentum=0.8, max_momentum=0.9)
    ref_lr, ref_m = _run_torch(
        lambda o: torch.optim.lr_scheduler.CyclicLR(
            o,
            base_lr,
            max_lr,
            step_size_up=up,
            step_size_down=down,
            mode=mode,
            gamma=gamma,
            base_momentum=0.8,
            max_momentum=0.9,
        ),
        n_steps,
        _sgd(),
        with_momentum=True,
    )
    t = np.arange(n_steps)
    np.testing.assert_allclose(ours(t), ref_lr, rtol=0, atol=TOL)
    np.testing.assert_allclose(ours.momentum_schedule()(t), ref_m, rtol=0, atol=TOL)


@SETTINGS
@given(
    T_0=st.integers(1, 300),
    T_mult=st.integers(1, 3),
    eta_max=st.floats(1e-4, 1.0),
    eta_min_frac=st.floats(0.0, 0.5),
    n_steps=st.integers(1, 3000),
)
@example(T_0=37, T_mult=2, eta_max=0.1, eta_min_frac=0.01, n_steps=12_000)
@example(T_0=100, T_mult=1, eta_max=0.5, eta_min_frac=0.0, n_steps=10_000)
def test_cosine_warm_restarts_matches_torch(T_0, T_mult, eta_max, eta_min_frac, n_steps):
    eta_min = eta_max * eta_min_frac
    ours = S.CosineWarmRestarts(T_0, T_mult, eta_max=eta_max, eta_min=eta_min)
    ref, _ = _run_torch(
        lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0, T_mult, eta_min=eta_min),
        n_steps,
        _sgd(lr=eta_max),
    )
    np.testing.assert_allclose(ours(np.arange(n_steps)), ref, rtol=0, atol=TOL)


@SETTINGS
@given(
    max_lr=st.floats(1e-3, 1.0),
    total_steps=st.integers(10, 3000),
    pct_start=st.floats(0.05, 0.45),
    div_factor=st.floats(1.0, 100.0),
    final_div_factor=st.floats(1.0, 1e5),
    anneal=st.sampled_from(["cos", "linear"]),
    three_phase=st.booleans(),
    base_m=st.floats(0.5, 0.9),
    dm=st.floats(0.0, 0.09),
)
@example(
    max_lr=0.4,
    total_steps=10_000,
    pct_start=0.3,
    div_factor=25.0,
    final_div_factor=1e4,
    anneal="cos",
    three_phase=False,
    base_m=0.85,
    dm=0.1,
)
@example(
    max_lr=0.4,
    total_steps=10_007,
    pct_start=0.25,
    div_factor=10.0,
    final_div_factor=1e3,
    anneal="linear",
    three_phase=True,
    base_m=0.85,
    dm=0.1,
)
def test_one_cycle_matches_torch(
    max_lr, total_steps, pct_start, div_factor, final_div_factor, anneal, three_phase, base_m, dm
):
    try:
        ours = S.OneCycle(
            max_lr,
            total_steps,
            pct_start,
            div_factor,
            final_div_factor,
            anneal,
            three_phase,
            base_momentum=base_m,
            max_momentum=base_m + dm,
        )
    except ValueError:
        assume(False)
    n = total_steps + 1  # torch allows stepping to t == total_steps
    ref_lr, ref_m = _run_torch(
        lambda o: torch.optim.lr_scheduler.OneCycleLR(
            o,
            max_lr,
            total_steps=total_steps,
            pct_start=pct_start,
            anneal_strategy=anneal,
            div_factor=div_factor,
            final_div_factor=final_div_factor,
            three_phase=three_phase,
            base_momentum=base_m,
            max_momentum=base_m + dm,
        ),
        n,
        _sgd(),
        with_momentum=True,
    )
    t = np.arange(n)
    np.testing.assert_allclose(ours(t), ref_lr, rtol=0, atol=TOL)
    np.testing.assert_allclose(ours.momentum_schedule()(t), ref_m, rtol=0, atol=TOL)


@settings(max_examples=15, deadline=None)
@given(
    T_0=st.integers(1, 200),
    T_mult=st.sampled_from([1.0, 1.5, 2.0, 1.3, 3.0]),
    eta_min_frac=st.floats(0.0, 0.5),
    cycle_decay=st.floats(0.5, 1.0),
    warmup=st.integers(0, 50),
    warmup_start=st.floats(0.0, 1e-3),
    prefix=st.booleans(),
    cycle_limit=st.one_of(st.none(), st.integers(1, 5)),
    n_steps=st.integers(1, 2000),
)
@example(
    T_0=10,
    T_mult=1.5,
    eta_min_frac=0.01,
    cycle_decay=0.8,
    warmup=5,
    warmup_start=1e-4,
    prefix=True,
    cycle_limit=None,
    n_steps=10_000,
)
def test_cosine_warm_restarts_matches_timm(
    T_0, T_mult, eta_min_frac, cycle_decay, warmup, warmup_start, prefix, cycle_limit, n_steps
):
    cosine_lr = pytest.importorskip("timm.scheduler.cosine_lr")
    eta_max = 0.1
    eta_min = eta_max * eta_min_frac
    assume(warmup_start <= eta_max)
    ours = S.CosineWarmRestarts(
        T_0,
        T_mult,
        eta_max=eta_max,
        eta_min=eta_min,
        cycle_decay=cycle_decay,
        warmup_steps=warmup,
        warmup_start=warmup_start,
        warmup_prefix=prefix,
        cycle_limit=cycle_limit,
    )
    opt = _sgd(lr=eta_max)
    ref = cosine_lr.CosineLRScheduler(
        opt,
        t_initial=T_0,
        lr_min=eta_min,
        cycle_mul=T_mult,
        cycle_decay=cycle_decay,
        cycle_limit=cycle_limit if cycle_limit is not None else 10**9,
        warmup_t=warmup,
        warmup_lr_init=warmup_start,
        warmup_prefix=prefix,
        t_in_epochs=False,
    )
    vals = []
    for t in range(n_steps):
        ref.step_update(num_updates=t)
        vals.append(opt.param_groups[0]["lr"])
    vals = np.array(vals)
    t = np.arange(n_steps, dtype=np.float64)
    got = ours(t)
    # timm finds the cycle with a float log; exactly at an (integer) cycle boundary that log
    # can round down.  Exclude those points (we compute the boundary exactly).
    keep = np.ones(n_steps, dtype=bool)
    if T_mult != 1.0:
        tp = np.maximum(t - warmup if prefix else t, 0)
        lg = np.log(1 - tp / T_0 * (1 - T_mult)) / math.log(T_mult)
        keep = np.abs(lg - np.round(lg)) > 1e-9
    np.testing.assert_allclose(got[keep], vals[keep], rtol=0, atol=TOL)


@SETTINGS
@given(lr=st.floats(1e-5, 1.0), step_size=st.integers(1, 300), gamma=st.floats(0.05, 1.0), n_steps=st.integers(1, 3000))
@example(lr=0.1, step_size=30, gamma=0.1, n_steps=10_000)
@example(lr=0.007, step_size=1, gamma=0.999, n_steps=10_000)
def test_step_matches_torch(lr, step_size, gamma, n_steps):
    ref, _ = _run_torch(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size, gamma), n_steps, _sgd(lr=lr))
    np.testing.assert_allclose(S.Step(lr, step_size, gamma)(np.arange(n_steps)), ref, rtol=0, atol=TOL)


@SETTINGS
@given(lr=st.floats(1e-5, 1.0), milestones=st.lists(st.integers(1, 3000), min_size=1, max_size=6, unique=True),
       gamma=st.floats(0.05, 1.0), n_steps=st.integers(1, 3500))
@example(lr=0.1, milestones=[60_000, 65_000], gamma=0.1, n_steps=70_000)  # Smith 2017's "fixed" policy
@example(lr=0.1, milestones=[1, 2, 3], gamma=0.2, n_steps=10)
def test_multistep_matches_torch(lr, milestones, gamma, n_steps):
    milestones = sorted(milestones)
    ref, _ = _run_torch(lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones, gamma), n_steps, _sgd(lr=lr))
    np.testing.assert_allclose(S.MultiStep(lr, milestones, gamma)(np.arange(n_steps)), ref, rtol=0, atol=TOL)


@SETTINGS
@given(lr=st.floats(1e-5, 1.0), gamma=st.floats(0.99, 1.0), n_steps=st.integers(1, 3000))
@example(lr=0.1, gamma=0.99994, n_steps=10_000)  # Smith 2017's exp policy
@example(lr=1.0, gamma=0.999, n_steps=10_000)
def test_exponential_decay_matches_torch(lr, gamma, n_steps):
    ref, _ = _run_torch(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma), n_steps, _sgd(lr=lr))
    np.testing.assert_allclose(S.Exponential(lr, gamma)(np.arange(n_steps)), ref, rtol=0, atol=TOL)


@SETTINGS
@given(lr=st.floats(1e-5, 1.0), total=st.integers(1, 3000), power=st.floats(0.1, 4.0))
@example(lr=0.1, total=10_000, power=1.0)
@example(lr=0.5, total=5000, power=2.0)
def test_polynomial_matches_torch(lr, total, power):
    n = total + 1  # a finite schedule: t = 0 … T, where both reach 0
    ref, _ = _run_torch(lambda o: torch.optim.lr_scheduler.PolynomialLR(o, total, power), n, _sgd(lr=lr))
    np.testing.assert_allclose(S.Polynomial(lr, total, power)(np.arange(n)), ref, rtol=0, atol=TOL)


# ----------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("T,cut_frac,ratio", [(1000, 0.1, 32), (137, 0.2, 10), (50, 0.5, 2)])
def test_slanted_triangular_formula(T, cut_frac, ratio):
    s = S.SlantedTriangular(0.01, T, cut_frac, ratio)
    cut = math.floor(T * cut_frac)
    for t in range(T + 1):
        p = t / cut if t < cut else 1 - (t - cut) / (cut * (1 / cut_frac - 1))
        assert s(t) == pytest.approx(0.01 * (1 + p * (ratio - 1)) / ratio, abs=1e-15)
    assert s(cut) == pytest.approx(0.01)
    assert s(0) == pytest.approx(0.01 / ratio)


def test_sgdr_restarts_real_t_mult():
    s = S.CosineWarmRestarts(10, 1.5, eta_max=1.0, eta_min=0.0)
    # cycle starts at 10*(1.5**i - 1)/0.5 = 0, 10, 25, 47.5, 81.25: restart at the first integer >= start
    assert s.cycle_starts(5) == [0, 10, 25, 48, 82]
    y = s(np.arange(120))
    drops = [t for t in range(1, 120) if y[t] > y[t - 1]]
    assert drops == [10, 25, 48, 82]
    assert s(10) == 1.0 and s(25) == 1.0
    assert s(48) < 1.0 and s(48) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5 / 33.75)))
    assert S.CosineWarmRestarts(10, 2, eta_max=1.0).cycle_starts(4) == [0, 10, 30, 70]


def test_sgdr_cycle_limit_and_decay_and_warmup():
    s = S.CosineWarmRestarts(10, 1.0, eta_max=1.0, eta_min=0.1, cycle_decay=0.5, cycle_limit=2)
    assert s(0) == 1.0 and s(10) == 0.5
    np.testing.assert_array_equal(s(np.arange(20, 500)), 0.1)  # stays at eta_min after cycle_limit cycles
    w = S.CosineWarmRestarts(10, 1.0, eta_max=1.0, warmup_steps=4, warmup_start=0.2, warmup_prefix=True)
    np.testing.assert_allclose(w(np.arange(4)), [0.2, 0.4, 0.6, 0.8])
    assert w(4) == 1.0 and w(14) == 1.0


def _cyclic_cases():
    return [
        S.triangular(0.01, 0.1, 7, 3),
        S.triangular(0.01, 0.1, 5),
        S.triangular2(0.02, 0.2, 4, 9),
        S.exp_range_keras(0.001, 0.01, 6, gamma=0.999, step_size_down=2),
        S.Cyclic(0.01, 0.05, 5, 5, scale_fn=half_life, scale_mode="cycle"),
    ]


@pytest.mark.parametrize("s", _cyclic_cases(), ids=lambda s: s.mode)
def test_cyclic_bounds_periodicity_monotone(s):
    up = int(s.step_size_up)
    down = int(s.step_size_down or s.step_size_up)
    L = up + down
    t = np.arange(20 * L)
    y = s(t)
    assert np.all(y >= s.base_lr - 1e-15) and np.all(y <= s.max_lr + 1e-15)
    m = s.momentum_schedule()(t)
    assert np.all(m >= s.base_momentum - 1e-15) and np.all(m <= s.max_momentum + 1e-15)
    if s.mode == "triangular" and s.scale_fn is None:
        np.testing.assert_allclose(y[L:], y[:-L], atol=1e-15)
        assert y[0] == s.base_lr and y[up] == pytest.approx(s.max_lr)
    for c in range(20):
        rise, fall = y[c * L : c * L + up + 1], y[c * L + up : (c + 1) * L + 1]
        assert np.all(np.diff(rise) >= -1e-15) and np.all(np.diff(fall) <= 1e-15)
        mr = m[c * L : c * L + up + 1]
        assert np.all(np.diff(mr) <= 1e-15)  # momentum falls while the LR rises


def test_one_cycle_and_sgdr_phases_monotone():
    o = S.OneCycle(1.0, 1000, pct_start=0.3)
    y = o(np.arange(1001))
    peak = int(np.argmax(y))
    assert peak == 299
    assert np.all(np.diff(y[: peak + 1]) > 0) and np.all(np.diff(y[peak:1000]) < 0)
    assert y.min() >= o.max_lr / 25 / 1e4 - 1e-15 and y.max() <= 1.0
    s = S.CosineWarmRestarts(20, 2, eta_max=1.0, eta_min=0.1)
    z = s(np.arange(300))
    assert np.all((z >= 0.1) & (z <= 1.0))
    for a, b in zip([0, 20, 60, 140], [20, 60, 140, 300], strict=False):
        assert np.all(np.diff(z[a:b]) < 0)


def test_simple_schedules_values():
    assert S.Constant(0.1)(5) == 0.1
    np.testing.assert_allclose(S.Step(1.0, 3, 0.5)(np.arange(7)), [1, 1, 1, 0.5, 0.5, 0.5, 0.25])
    np.testing.assert_allclose(S.MultiStep(1.0, [2, 5], 0.1)(np.arange(7)), [1, 1, 0.1, 0.1, 0.1, 0.01, 0.01])
    assert S.Exponential(2.0, 0.5)(3) == 0.25
    p = S.Polynomial(1.0, 10, power=2.0, end=0.1)
    assert p(0) == 1.0 and p(10) == pytest.approx(0.1) and p(5) == pytest.approx(0.1 + 0.9 * 0.25)
    w = S.LinearWarmup(S.Constant(1.0), 4, warmup_start=0.0)
    np.testing.assert_allclose(w(np.arange(6)), [0, 0.25, 0.5, 0.75, 1, 1])
    wp = S.LinearWarmup(S.Polynomial(1.0, 10), 5, prefix=True)
    assert wp.total_steps == 15 and wp(5) == 1.0 and wp(15) == 0.0
    seq = S.Sequence([S.Constant(0.5), S.OneCycle(1.0, 100)], [10])
    assert seq.total_steps == 110
    np.testing.assert_allclose(seq(np.arange(10, 111)), S.OneCycle(1.0, 100)(np.arange(101)))
    assert seq(3) == 0.5
    sc = S.OneCycle(1.0, 100) * 0.5
    assert isinstance(sc, S.Scaled) and sc(30) == pytest.approx(0.5 * S.OneCycle(1.0, 100)(30))
    assert isinstance(0.5 * S.Constant(1.0), S.Scaled)


def test_scalar_and_array_types_and_t_validation():
    o = S.OneCycle(0.1, 100)
    assert isinstance(o(3), float) and isinstance(o(np.int64(3)), float)
    out = o([0, 1, 2])
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == (3,)
    assert o(np.arange(12).reshape(3, 4)).shape == (3, 4)
    o(100)  # t == total_steps allowed (documented)
    with pytest.raises(ValueError, match="t"):
        o(101)
    with pytest.raises(ValueError, match="t"):
        o(-1)
    with pytest.raises(ValueError, match="t"):
        S.Constant(0.1)([0, -3])
    with pytest.raises(ValueError, match="t"):
        S.Constant(0.1)(float("nan"))


# ----------------------------------------------------------------------------- bad input
BAD = [
    (lambda: S.Step(-0.1, 10), "^lr must"),
    (lambda: S.MultiStep(0.1, [5], gamma=0), "^gamma must"),
    (lambda: S.Polynomial(-1.0, 10), "^lr must"),
    (lambda: S.Polynomial(1.0, 10, end=-0.1), "^end must"),
    (lambda: S.Cosine(0.1, 10, eta_min=-0.1), "^eta_min must"),
    (lambda: S.Cosine(0.1, 10, eta_min=0.2), "^eta_min=0.2 must be <= lr=0.1"),
    (lambda: S.SlantedTriangular(0.01, 0), "^total_steps must"),
    (lambda: S.SlantedTriangular(0.01, 100, cut_frac="x"), "^cut_frac must"),
    (lambda: S.SlantedTriangular(0.01, 100, cut_frac=1.0), r"^cut_frac must be in \(0, 1\), got 1.0"),
    (lambda: S.SlantedTriangular(0.01, 100, ratio="x"), "^ratio must"),
    (lambda: S.SlantedTriangular(0.01, 100, ratio=0.5), "^ratio must be >= 1, got 0.5"),
    (lambda: S.OneCycle(0.1, 100, max_momentum=-1), "^max_momentum must"),
    (lambda: S.WSD(0.1, 100, -1, cooldown_steps=10), "^warmup_steps must"),
    (lambda: S.WSD(0.1, 100, 10, cooldown_steps=10).branch(-1), "^decay_start must"),
    (lambda: S.CosineWarmRestarts(10, eta_max=0.1, eta_min=-1), "^eta_min must"),
    (lambda: S.Decayed(S.Constant(0.1), 0), "^gamma must"),
    (lambda: S.Decayed(S.Constant(0.1), 1.5), r"^gamma must be in \(0, 1\], got 1.5"),
    (lambda: S.Sequence([], []), "^schedules must be a non-empty list of Schedule objects$"),
    (lambda: S.Sequence([S.Constant(0.1), 0.2], [5]), "^schedules must be a non-empty list"),
    (lambda: S.Sequence([S.Constant(0.1)] * 3, [5]),
     r"^milestones must have len\(schedules\) - 1 = 2 entries, got 1$"),
    (lambda: S.Sequence([S.Constant(0.1)] * 3, [5, 5]), r"^milestones must be strictly increasing, got \[5, 5\]"),
    (lambda: S.Sequence([S.Constant(0.1)] * 3, [6, 5]), r"^milestones must be strictly increasing"),
    (lambda: S.Sequence([S.Cosine(0.1, 3), S.Constant(0.1)], [5]),
     "^milestones: schedule 0 has total_steps=3 but its segment is 5 steps$"),
    (lambda: S.Sequence([S.Constant(0.1), S.Cosine(0.1, 3), S.Constant(0.1)], [2, 7]),
     "^milestones: schedule 1 has total_steps=3 but its segment is 5 steps$"),
    (lambda: S.Cyclic(0.1, 0.01, 10), "max_lr"),
    (lambda: S.Cyclic(-0.1, 0.01, 10), "base_lr"),
    (lambda: S.Cyclic(0.01, 0.1, 0), "step_size_up"),
    (lambda: S.Cyclic(0.01, 0.1, 10, -2), "step_size_down"),
    (lambda: S.Cyclic(0.01, 0.1, 10, mode="sawtooth"), "mode"),
    (lambda: S.Cyclic(0.01, 0.1, 10, scale_mode="epochs", scale_fn=half_life), "scale_mode"),
    (lambda: S.Cyclic(0.01, 0.1, 10, mode="exp_range", gamma=0), "gamma"),
    (lambda: S.Cyclic(0.01, 0.1, 10, base_momentum=0.95, max_momentum=0.9), "max_momentum"),
    (lambda: S.Cyclic(0.01, 0.1, 10, scale_fn=3), "scale_fn"),
    (lambda: S.CosineWarmRestarts(0, eta_max=0.1), "T_0"),
    (lambda: S.CosineWarmRestarts(10, 0.5, eta_max=0.1), "T_mult"),
    (lambda: S.CosineWarmRestarts(10, eta_max=-0.1), "eta_max"),
    (lambda: S.CosineWarmRestarts(10, eta_max=0.1, eta_min=0.2), "eta_min"),
    (lambda: S.CosineWarmRestarts(10, eta_max=0.1, cycle_decay=0), "cycle_decay"),
    (lambda: S.CosineWarmRestarts(10, eta_max=0.1, warmup_steps=-1), "warmup_steps"),
    (lambda: S.CosineWarmRestarts(10, eta_max=0.1, cycle_limit=0), "cycle_limit"),
    (lambda: S.OneCycle(0.1, 100, pct_start=0.0), "pct_start"),
    (lambda: S.OneCycle(0.1, 100, pct_start=1.0), "pct_start"),
    (lambda: S.OneCycle(0.1, 100, pct_start=0.005), "pct_start"),
    (lambda: S.OneCycle(0.1, 0), "total_steps"),
    (lambda: S.OneCycle(0.1, 10.5), "total_steps"),
    (lambda: S.OneCycle(-0.1, 100), "max_lr"),
    (lambda: S.OneCycle(0.1, 100, anneal="cosine"), "anneal"),
    (lambda: S.OneCycle(0.1, 100, div_factor=0), "div_factor"),
    (lambda: S.OneCycle(0.1, 100, final_div_factor=-1), "final_div_factor"),
    (lambda: S.OneCycle(0.1, 100, base_momentum=0.99), "max_momentum"),
    (lambda: S.SlantedTriangular(0.01, 1000, cut_frac=1.5), "cut_frac"),
    (lambda: S.SlantedTriangular(0.01, 5, cut_frac=0.1), "cut_frac"),
    (lambda: S.SlantedTriangular(0.01, 1000, ratio=0.5), "ratio"),
    (lambda: S.SlantedTriangular(0.0, 1000), "max_lr"),
    (lambda: S.Constant(-1.0), "lr"),
    (lambda: S.Step(0.1, 0), "step_size"),
    (lambda: S.Step(0.1, 10, gamma=-0.1), "gamma"),
    (lambda: S.MultiStep(0.1, [5, 3]), "milestones"),
    (lambda: S.Exponential(0.1, 0.0), "gamma"),
    (lambda: S.Polynomial(0.1, 10, power=0), "power"),
    (lambda: S.Polynomial(0.1, 0), "total_steps"),
    (lambda: S.LinearWarmup(S.OneCycle(0.1, 10), 20), "warmup_steps"),
    (lambda: S.LinearWarmup(S.Constant(0.1), -1), "warmup_steps"),
    (lambda: S.Sequence([S.Constant(0.1), S.Constant(0.2)], []), "milestones"),
    (lambda: S.Sequence([S.OneCycle(0.1, 10), S.Constant(0.2)], [50]), "milestones"),
    (lambda: S.Scaled(S.Constant(0.1), -2), "factor"),
    (lambda: S.from_config({"name": "Nope"}), "name"),
    (lambda: S.MultiStep(0.1, 5), "milestones"),
    (lambda: S.Sequence([S.Constant(0.1), S.Constant(0.2)], 5), "milestones"),
    (lambda: S.Scaled(S.Constant(0.1), float("nan")), "factor"),
    (lambda: S.Constant(0.1) * float("inf"), "factor"),
    (lambda: S.Exponential(0.1, 10.0, total_steps=1000), "gamma"),
    (lambda: S.Exponential(0.1, 10.0)(1000), "t="),
    (lambda: S.from_config({"name": "no_such_module:X"}), "no_such_module:X"),
    (lambda: S.from_config({"name": "OneCycel", "max_lr": 0.1, "total_steps": 10}), "did you mean 'OneCycle'"),
    (lambda: S.from_config({"name": "Constant", "lr": 0.1, "gama": 1}), "gama"),
]


def _bad_id(i: int, arg: str) -> str:
    """A plain test id (word characters only: ids with regex punctuation cannot be named on a command line)."""
    return f"{re.sub(r'[^A-Za-z0-9_]+', '_', arg).strip('_')[:30]}-{i}"


@pytest.mark.parametrize("make,arg", BAD, ids=[_bad_id(i, a) for i, (_, a) in enumerate(BAD)])
def test_bad_input_names_argument(make, arg):
    with pytest.raises(ValueError, match=arg):
        make()


def test_edges_that_are_allowed():
    """The limits each check lets through (a check one step too strict would refuse them)."""
    assert S.Cosine(0.1, 10, eta_min=0.1)(5) == pytest.approx(0.1)  # eta_min == lr: a constant
    assert S.SlantedTriangular(0.01, 100, cut_frac=0.5, ratio=1)(0) == 0.01  # ratio 1: starts at max_lr
    assert S.Decayed(S.Constant(0.1), 1.0)(50) == 0.1  # gamma == 1: no decay
    assert S.WSD(0.1, 100, 10, cooldown_steps=10).branch(10).total_steps == 20  # decay_start == warmup_steps
    assert S.WSD(0.1, 100, 0, cooldown_steps=10).branch(0)(0) == 0.1  # decay_start 0 without warm-up
    # a finite schedule may end one step before its milestone (it is not asked for t == its segment)
    seq = S.Sequence([S.Cosine(0.1, 4), S.Constant(0.01)], [5])
    assert seq.total_steps is None and seq(4) == S.Cosine(0.1, 4)(4) and seq(5) == 0.01
    seq = S.Sequence([S.Constant(0.5), S.Cosine(0.1, 3), S.Constant(0.1), S.Cosine(0.2, 10)], [2, 6, 9])
    assert seq.total_steps == 19 and seq(19) == 0.0 and seq(6) == 0.1 and seq(1) == 0.5
    assert S.Decayed(S.Cosine(0.1, 40), 0.9).total_steps == 40 and (S.Cosine(0.1, 40) * 2).total_steps == 40


def test_clr_policies_pass_every_argument_on():
    kw = {"base_momentum": 0.7, "max_momentum": 0.85}  # not Cyclic's defaults (0.8, 0.9)
    for make, mode in [(S.triangular, "triangular"), (S.triangular2, "triangular2")]:
        c = make(0.001, 0.006, 300, 100, **kw)
        assert (c.mode, c.step_size_up, c.step_size_down, c.base_momentum) == (mode, 300, 100, 0.7)
    k = S.exp_range_keras(0.001, 0.006, 300, 0.999, 100, **kw)
    assert (k.mode, k.gamma, k.step_size_down, k.max_momentum) == ("exp_range", 0.999, 100, 0.85)
    e = S.exp_range(0.001, 0.006, 300, 0.999, step_size_down=100)
    assert (e.schedule.step_size_up, e.schedule.step_size_down, e.gamma) == (300, 100, 0.999)


@pytest.mark.parametrize("scale_mode", ["cycle", "iterations"])
def test_cyclic_custom_scale_fn_matches_torch(scale_mode):
    """A custom scale_fn, read per cycle or per iteration (torch CyclicLR(scale_fn=…, scale_mode=…))."""
    n = 3000
    ours = S.Cyclic(0.001, 0.011, 150, 250, scale_fn=half_life, scale_mode=scale_mode)
    ref, _ = _run_torch(lambda o: torch.optim.lr_scheduler.CyclicLR(o, 0.001, 0.011, 150, 250, scale_fn=half_life,
                                                                       scale_mode=scale_mode, cycle_momentum=False),
                        n, _sgd())
    np.testing.assert_allclose(ours(np.arange(n)), ref, rtol=0, atol=TOL)


# ----------------------------------------------------------------------------- speed, config, pickle
def all_schedules():
    return [
        S.Constant(0.1),
        S.Step(0.1, 30, 0.5),
        S.MultiStep(0.1, [100, 5000], 0.1),
        S.Exponential(0.1, 0.9999),
        S.Polynomial(0.1, 100_000, 2.0, 1e-4),
        S.LinearWarmup(S.CosineWarmRestarts(1000, 2, eta_max=0.1), 500, 1e-4),
        S.LinearWarmup(S.Polynomial(0.1, 99_000), 1000, prefix=True),
        S.triangular(0.001, 0.01, 2000, 1000),
        S.triangular2(0.001, 0.01, 2000),
        S.exp_range(0.001, 0.01, 2000, gamma=0.99994),
        S.exp_range_keras(0.001, 0.01, 2000, gamma=0.99994),
        S.Cyclic(0.001, 0.01, 700, scale_fn=half_life, scale_mode="iterations"),
        S.triangular(0.001, 0.01, 500).momentum_schedule(),
        S.CosineWarmRestarts(
            1000,
            1.5,
            eta_max=0.1,
            eta_min=1e-4,
            cycle_decay=0.9,
            warmup_steps=100,
            warmup_start=1e-5,
            cycle_limit=8,
        ),
        S.OneCycle(0.1, 100_000, three_phase=True, anneal="linear"),
        S.OneCycle(0.1, 100_000).momentum_schedule(),
        S.SlantedTriangular(0.01, 100_000),
        S.Sequence(
            [S.LinearWarmup(S.Constant(0.1), 1000), S.OneCycle(0.1, 50_000), S.Constant(1e-5)], [5000, 55_000]
        ),
        S.OneCycle(0.1, 100_000) * 0.5,
        S.Exponential(1e-3, 1.00001, total_steps=100_000),
        S.Cosine(0.1, 100_000, eta_min=1e-4),
        S.LinearWarmup(S.Cosine(0.1, 99_000), 1000, 1e-4, prefix=True),
        S.ExponentialWarmup(S.Cosine(0.1, 99_000), 1000, 1e-5, prefix=True),
        S.warmup(S.Polynomial(0.1, 100_000), 500, kind="exponential", start=1e-6),
        S.WSD(0.1, 100_000, 1000, cooldown_steps=20_000, cooldown="1-sqrt", warmup_start=1e-4, end=1e-5),
        S.WSD(0.1, 100_000, cooldown_frac=0.2, cooldown="cosine"),
        S.WSD(0.1, 50_000, 500, cooldown_steps=10_000).branch(90_000),
        S.WSD(0.1, 50_000, 500, cooldown_steps=10_000, warmup_start=1e-3).stable_run(),
    ]


@pytest.mark.parametrize("s", all_schedules(), ids=repr)
def test_vectorised_100k(s):
    """One call on 100k steps gives what step-by-step calls give (its speed is a benchmark, not a test)."""
    t = np.arange(100_000)
    y = s(t)
    assert y.shape == (100_000,) and y.dtype == np.float64 and np.all(np.isfinite(y))
    some = np.linspace(0, 99_999, 41).astype(int)
    np.testing.assert_allclose(y[some], [s(int(k)) for k in some], rtol=1e-15, atol=0)  # numpy: scalar vs SIMD pow


@pytest.mark.parametrize("s", all_schedules(), ids=repr)
def test_config_and_pickle_round_trip(s):
    cfg = s.to_config()
    cfg2 = json.loads(json.dumps(cfg))
    rebuilt = S.from_config(cfg2)
    assert type(rebuilt) is type(s)
    assert rebuilt.to_config() == cfg
    assert repr(rebuilt) == repr(s)
    t = np.arange(0, 100_000, 7)
    np.testing.assert_array_equal(rebuilt(t), s(t))
    unpickled = pickle.loads(pickle.dumps(s))
    np.testing.assert_array_equal(unpickled(t), s(t))


def test_lambda_scale_fn_not_serialisable_but_works():
    s = S.Cyclic(0.01, 0.1, 5, scale_fn=lambda x: 0.5**x)
    assert np.all(np.isfinite(s(np.arange(100))))
    with pytest.raises(TypeError, match="scale_fn"):
        s.to_config()


# ----------------------------------------------------------------------------- plot
def test_plot_schedule_returns_figure():
    from matplotlib.figure import Figure

    from lrkit.plot import plot_schedule

    fig = plot_schedule(
        {
            "1cycle": S.OneCycle(0.1, 1000),
            "clr": S.triangular(0.001, 0.01, 100),
            "sgdr": S.CosineWarmRestarts(100, 2, eta_max=0.1),
        },
        steps_per_epoch=50,
        momentum=True,
        log_y=True,
    )
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.lines) == 3 and ax.get_yscale() == "log" and ax.get_title()
    fig2 = plot_schedule([S.Constant(0.1), S.Step(0.1, 10)], total_steps=50, labels=["a", "b"])
    assert isinstance(fig2, Figure)
    with pytest.raises(ValueError, match="total_steps"):
        plot_schedule(S.Constant(0.1))


# ----------------------------------------------------------------------------- registry, repr, references
class _UsersPrivate(S.Schedule):
    """A user's schedule with a private name: outside lrkit.schedules it is registered all the same."""

    def __init__(self, lr: float) -> None:
        self.lr = lr

    def _value(self, t):
        return np.full_like(t, self.lr)

    def _params(self):
        return {"lr": self.lr}


class Outer:
    class Inner(_UsersPrivate):
        pass


def test_schedules_are_registered_by_name_inside_lrkit_and_by_reference_outside(monkeypatch):
    from lrkit.schedules import base

    assert base._REGISTRY["Step"] is S.Step and S.Step.config_name == "Step"
    assert not any(k.startswith("_") for k in base._REGISTRY)  # lrkit's private bases are not configurable
    assert _UsersPrivate.config_name == f"{__name__}:_UsersPrivate"
    assert Outer.Inner.config_name == f"{__name__}:Outer.Inner"
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))
    base._REGISTRY.pop(Outer.Inner.config_name)  # found again through its 'module:qualname' reference
    back = S.from_config(Outer.Inner(0.25).to_config())
    assert type(back) is Outer.Inner and back(3) == 0.25

    def make(module, name, **extra):
        return type(name, (S.Schedule,), {"__module__": module, "_value": lambda self, t: t, "_params": dict,
                                          **extra})

    assert make("lrkit.schedules.extra", "Mine").config_name == "Mine"  # a module of the package
    assert make("lrkit.schedules", "Mine2").config_name == "Mine2"
    assert make("lrkit.schedules_extra", "Mine3").config_name == "lrkit.schedules_extra:Mine3"  # another package
    assert "_Hidden" not in base._REGISTRY and make("lrkit.schedules.extra", "_Hidden") is not None
    assert make("a.b", "_Visible").config_name == "a.b:_Visible"
    named = make("a.b", "Named", config_name="my-name")
    assert named.config_name == "my-name" and base._REGISTRY["my-name"] is named
    assert base._REGISTRY["Mine"].__name__ == "Mine"


def test_repr_shows_the_constructor_arguments():
    assert repr(S.Step(0.1, 30)) == "Step(lr=0.1, step_size=30, gamma=0.1)"
    assert repr(S.Constant(0.5)) == "Constant(lr=0.5)"

    class Broken(_UsersPrivate):
        def _params(self):
            raise RuntimeError("no params")

    assert repr(Broken(1.0)) == "Broken()"  # repr never fails


def test_scale_fn_references_are_checked_with_clear_errors():
    from lrkit.schedules.base import ref_to_fn

    assert ref_to_fn(f"{__name__}:half_life") is half_life
    with pytest.raises(ValueError) as e:
        ref_to_fn("half_life")
    assert str(e.value) == "scale_fn reference must look like 'module:qualname', got 'half_life'"
    with pytest.raises(ValueError) as e:
        ref_to_fn("math:pi")
    assert str(e.value) == "scale_fn reference 'math:pi' is not callable"


def test_clr_momentum_is_the_lr_wave_inverted():
    """Cyclic.momentum_schedule(): m(t) = max_m - (max_m - base_m)·(lr(t) - base_lr)/(max_lr - base_lr), with the
    same wave (custom scale_fn and scale_mode included)."""
    t = np.arange(2000)
    for kw in ({"mode": "exp_range", "gamma": 0.999}, {"scale_fn": half_life, "scale_mode": "iterations"},
               {"scale_fn": half_life, "scale_mode": "cycle"}):
        c = S.Cyclic(0.01, 0.11, 150, 100, base_momentum=0.8, max_momentum=0.95, **kw)
        m = c.momentum_schedule()
        np.testing.assert_allclose(m(t), 0.95 - 0.15 * (c(t) - 0.01) / 0.1, rtol=0, atol=1e-12)
        assert m.to_config()["scale_mode"] == c.scale_mode and m.scale_fn is c.scale_fn


def test_cyclic_momentum_checks_and_defaults():
    d = S.CyclicMomentum(0.8, 0.9)
    assert (d.step_size_up, d.step_size_down, d.mode, d.gamma, d.scale_fn, d.scale_mode) == (
        2000, None, "triangular", 1.0, None, "cycle")
    assert S.CyclicMomentum(0.9, 0.9)(np.arange(5)).tolist() == [0.9] * 5  # equal bounds: a constant
    for args, msg in [((-0.1, 0.9), "base_momentum must be >= 0, got -0.1"),
                      ((0.8, -1), "max_momentum must be >= 0, got -1"),
                      ((0.9, 0.8), "max_momentum=0.8 must be >= base_momentum=0.9")]:
        with pytest.raises(ValueError) as e:
            S.CyclicMomentum(*args)
        assert str(e.value) == msg


@pytest.mark.parametrize("prefix,want", [(True, [5, 15, 35, 75]), (False, [0, 10, 30, 70])])
def test_cycle_starts_count_a_warmup_prefix(prefix, want):
    s = S.CosineWarmRestarts(10, 2, eta_max=1.0, warmup_steps=5, warmup_prefix=prefix)
    assert s.cycle_starts(4) == want


def test_scale_fns_that_numpy_cannot_vectorise_and_constant_ones():
    """A scale_fn written for one float at a time (math.log) is applied point by point; one that returns a
    single number for the whole array is broadcast."""
    t = np.arange(1200)
    x = np.abs(t / 100 - 2 * np.floor(1 + t / 200) + 1)
    tri = np.maximum(0, 1 - x)
    cyc = np.floor(1 + t / 200)
    scalar = S.Cyclic(0.001, 0.011, 100, scale_fn=lambda c: 1 / (1 + math.log(c)))
    np.testing.assert_allclose(scalar(t), 0.001 + 0.01 * tri / (1 + np.log(cyc)), rtol=0, atol=1e-15)
    const = S.Cyclic(0.001, 0.011, 100, scale_fn=lambda c: 0.5)
    np.testing.assert_allclose(const(t), 0.001 + 0.005 * tri, rtol=0, atol=1e-15)


def test_small_corners_of_the_base_and_classic_schedules():
    class Flat(S.Schedule):  # a _value that returns one number: broadcast to the shape of t
        def _value(self, t):
            return 0.3

        def _params(self):
            return {}

    assert Flat()(np.arange(4)).tolist() == [0.3] * 4 and Flat()(2) == 0.3
    assert S.Exponential(0.0, 2.0)(np.arange(3)).tolist() == [0.0, 0.0, 0.0]  # lr 0: 0, not 0 * inf
    assert S.SlantedTriangular(0.01, 100).ratio == 32 and S.SlantedTriangular(0.01, 100).cut_frac == 0.1  # ULMFiT
