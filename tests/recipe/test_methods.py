"""LR methods (lrkit.recipe.methods) and the fast recipe run with each (lrkit.recipe.train_recipe(method=...))."""

from __future__ import annotations

import numpy as np
import pytest

from lrkit import schedules as S
from lrkit.data import synthetic_cifar10
from lrkit.recipe import methods as M
from lrkit.recipe import train_recipe

TINY = {"epochs": 2, "widths": (8, 16, 16), "batch_size": 64, "whiten_images": 200, "eval_batch_size": 100,
        "bn_recompute_batches": 2, "average": None, "curve_every": 0.5,
        "find": {"start_lr": 1e-2, "end_lr": 30.0, "num_iter": 10, "smoothing": 0.2, "val_batches": 1}}


def _lrs(sched, total):
    return sched(np.arange(total))  # the LRs of steps 0 … total - 1


@pytest.mark.parametrize("name", sorted(M.METHODS))
def test_every_schedule_starts_sensibly_and_ends_where_its_shape_says(name):
    m = M.METHODS[name]
    total, peak = 700, 0.4
    sched = M.build_schedule(m, peak, total, base=peak / 6, one_cycle={"pct_start": 0.23, "div_factor": 5.0,
                                                                       "final_div_factor": 1e4})
    if m.schedule == "none":
        assert sched is None
        return
    v = _lrs(sched, total)
    assert np.all(np.isfinite(v)) and v.max() <= peak * (1 + 1e-12) and v.min() >= 0
    if m.schedule in ("one_cycle", "warmup_cosine", "wsd", "sgdr", "cosine"):
        assert v[-1] < 1e-2 * peak  # annealed to ~0 by the last step
    if m.schedule == "clr":
        assert v[-1] == pytest.approx(peak / 6, rel=0.05)  # triangular2 ends a whole cycle near base_lr
    if m.schedule == "constant":
        assert np.all(v == peak)


def test_shapes_follow_the_stated_constants():
    total, peak = 700, 1.0
    warm = round(M.WARMUP_FRAC * total)
    wc = _lrs(M.build_schedule(M.METHODS["warmup_cosine_rt"], peak, total), total)
    assert wc[0] == 0 and wc[warm] == pytest.approx(peak) and np.argmax(wc) == warm
    wsd = _lrs(M.build_schedule(M.METHODS["wsd_rt"], peak, total), total)
    cool = total - round(M.WSD_COOLDOWN_FRAC * total)
    assert np.all(wsd[warm:cool + 1] == peak) and wsd[cool + 1] < peak and wsd[-1] < 0.01
    sgdr = _lrs(M.build_schedule(M.METHODS["sgdr_rt"], peak, total), total)
    t0 = total / 7
    restarts = [int(np.ceil(t0)), int(np.ceil(3 * t0))]  # the LR jumps back up at 1 and 1 + 2 units
    for r in restarts:
        assert sgdr[r] > 0.9 * peak and sgdr[r - 1] < 0.1 * peak
    clr = _lrs(M.build_schedule(M.METHODS["clr_rt"], 0.6, total, base=0.1), total)
    assert clr[total // 4] == pytest.approx(0.6) and clr[3 * total // 4] == pytest.approx(0.35)  # halved
    assert isinstance(M.build_schedule(M.METHODS["one_cycle_rt"], 1.0, total), S.OneCycle)


def test_method_checks_and_lookup():
    with pytest.raises(ValueError, match="exactly one of rule"):
        M.Method("x", "x", "f", "constant")
    with pytest.raises(ValueError, match="exactly one of rule"):
        M.Method("x", "x", "f", "constant", rule="constant", lr=0.1)
    with pytest.raises(ValueError, match="optimizer must be"):
        M.Method("x", "x", "f", "constant", "lion", lr=0.1)
    with pytest.raises(ValueError, match="schedule must be"):
        M.Method("x", "x", "f", "linear", lr=0.1)
    with pytest.raises(ValueError, match="rule='clr'"):
        M.Method("x", "x", "f", "clr", lr=0.1)
    with pytest.raises(ValueError, match="lr must be > 0"):
        M.Method("x", "x", "f", "constant", lr=0.0)
    with pytest.raises(ValueError, match="did you mean"):
        M.get_method("one_cycle_tr")
    with pytest.raises(ValueError, match="needs base"):
        M.build_schedule(M.METHODS["clr_rt"], 1.0, 100)
    g = M.get_method("grid_one_cycle_0.5")
    assert g.lr == 0.5 and g.schedule == "one_cycle" and not g.range_test
    assert M.Method.from_dict(g.to_dict()) == g and M.get_method(g) is g
    with pytest.raises(ValueError, match="unknown method"):
        M.get_method("grid_one_cycle_abc")


def test_lr_scale_is_checked_and_left_out_of_the_dict_at_its_default():
    m = M.METHODS["sf_sgd_rt10"]
    assert m.lr_scale == 10.0 and m.to_dict()["lr_scale"] == 10.0 and M.Method.from_dict(m.to_dict()) == m
    # at the default the dict is what it was before the field existed (stored results are hashed on it)
    d = M.METHODS["sf_sgd_rt"].to_dict()
    assert "lr_scale" not in d and M.Method.from_dict(d) == M.METHODS["sf_sgd_rt"]
    for bad in (0.0, -1.0, float("inf"), float("nan"), "10"):
        with pytest.raises(ValueError, match="lr_scale"):
            M.Method("x", "x", "range test", "constant", rule="constant", lr_scale=bad)
    with pytest.raises(ValueError, match="lr_scale"):
        M.Method("x", "x", "grid", "constant", lr=0.1, lr_scale=2.0)


def test_lr_scale_multiplies_the_range_tests_suggestion():
    pytest.importorskip("schedulefree")
    data = synthetic_cifar10(30, 10, seed=0)
    plain = M.Method("c1", "c1", "range test", "constant", rule="constant")
    scaled = M.Method("c3", "c3", "range test", "constant", rule="constant", lr_scale=3.0)
    over = {**TINY, "epochs": 1, "peak_bounds": (1e-9, 1e9)}  # no clamp
    r1 = train_recipe(85, data, seed=0, threads=1, val_per_class=5, overrides=over, method=plain)
    r3 = train_recipe(85, data, seed=0, threads=1, val_per_class=5, overrides=over, method=scaled)
    assert r1.peak_source == "range test (constant)" and r3.peak_source == "range test (constant) × 3"
    assert r3.range_test.suggest().lr == r1.range_test.suggest().lr  # the same test, seed for seed
    assert r3.peak_lr == pytest.approx(3.0 * r1.peak_lr, rel=1e-12)


@pytest.mark.parametrize("name", ["constant_rt", "clr_rt", "sgdr_rt", "sf_sgd_rt", "sf_sgd_rt10", "sf_adamw",
                                  "prodigy", "dadapt_sgd", "grid_one_cycle_0.5"])
def test_the_recipe_runs_with_each_method(name):
    pytest.importorskip("schedulefree")
    pytest.importorskip("prodigyopt")
    pytest.importorskip("dadaptation")
    data = synthetic_cifar10(30, 10, seed=0)
    m = M.get_method(name)
    res = train_recipe(85, data, seed=0, threads=1, val_per_class=5, overrides=TINY, method=name)
    spe = res.info["steps_per_epoch"]
    assert res.info["method"]["name"] == name and res.info["averaging_updates"] == 0
    assert (res.range_test is not None) == m.range_test
    if not m.range_test:
        # no range test ran: the set LR, no sweep, no range-test FLOPs (no wall-clock bound: timings are benchmarks)
        assert res.peak_lr == m.lr and res.range_test is None and res.flops["range_test"] == 0
    # the test curve every half epoch, and at the end
    every, total = max(1, round(spe / 2)), res.info["iterations"]
    assert [p["iteration"] for p in res.curve] == sorted(set(range(every, total + 1, every)) | {total})
    assert all(0 <= p["acc"] <= 1 for p in res.curve) and res.final_val["n"] == 50
    lrs = np.array([lr[0] for lr in res.history.lr])
    if m.schedule not in ("none",):  # the scheduled LR of the weights' group is the method's schedule
        sched = M.build_schedule(m, res.peak_lr, res.info["iterations"], base=res.info["base_lr"],
                                 one_cycle={k: res.config[k] for k in ("pct_start", "div_factor", "final_div_factor")})
        np.testing.assert_allclose(lrs, sched(np.arange(len(lrs))), rtol=1e-12)
    else:  # schedule-free: the optimizer keeps its LR (its warm-up is internal)
        assert np.all(lrs == res.peak_lr)


# -------------------- the methods experiment: profiles and analysis (no training) -----------------
def test_performance_profile_math():
    from lrkit.bench.experiments.methods import performance_profile

    inf = float("inf")
    times = {"a": [10, 20, inf, inf], "b": [20, 10, 40, inf], "c": [40, 40, 80, inf]}
    prof = performance_profile(times, [1.0, 2.0, 4.0])
    # task 4 is solved by nobody: it counts for no one, but stays in the denominator
    np.testing.assert_allclose(prof["a"], [1 / 4, 2 / 4, 2 / 4])
    np.testing.assert_allclose(prof["b"], [2 / 4, 3 / 4, 3 / 4])
    np.testing.assert_allclose(prof["c"], [0, 1 / 4, 3 / 4])
    assert performance_profile({}, [1.0]) == {}
    with pytest.raises(ValueError, match="positive"):
        performance_profile({"a": [0.0]}, [1.0])


def _fake(run, seed, acc, val, curve_accs, rt_steps=30, peak=0.5):
    curve = [{"iteration": 10 * (k + 1), "epoch": (k + 1) / 2, "acc": a, "loss": 1.0} for k, a in enumerate(curve_accs)]
    return {"run": run, "seed": seed, "final": {"acc": acc}, "final_val": {"acc": val}, "curve": curve,
            "range_test_steps": rt_steps, "peak_lr": peak, "train_seconds": 1.0}


def test_analyse_picks_the_reference_on_validation_and_counts_range_test_steps():
    from lrkit.bench.experiments.methods import analyse, methods_notes, steps_to

    res = []
    for s in range(3):
        # grid 1 has the better test accuracy, grid 0.25 the better validation accuracy: validation decides
        res.append(_fake("grid_one_cycle_1@2ep", s, 0.90, 0.80, [0.5, 0.9], rt_steps=0, peak=1.0))
        res.append(_fake("grid_one_cycle_0.25@2ep", s, 0.88, 0.85, [0.6, 0.88], rt_steps=0, peak=0.25))
        res.append(_fake("one_cycle_rt@2ep", s, 0.87, 0.84, [0.7, 0.87]))
        res.append(_fake("prodigy@2ep", s, 0.5, 0.5, [0.4, 0.5], rt_steps=0, peak=1.0))
    a = analyse(res)
    b = a["budgets"][2]
    assert b["reference"] == "grid_one_cycle_0.25"
    assert b["targets"] == pytest.approx([88 - 0.5, 88 - 1.5, 88 - 3.0])
    # one-cycle from the range test: 87 % at step 20 (short of 87.5), plus its 30 range-test steps
    assert b["rows"]["one_cycle_rt"]["steps"] == [float("inf"), 50.0, 50.0]
    assert b["rows"]["grid_one_cycle_0.25"]["steps"] == [20.0, 20.0, 20.0]
    assert steps_to(res[3], 60.0) == float("inf")
    assert a["times"]["best grid"] == [20.0, 20.0, 20.0] and a["times"]["prodigy"] == [float("inf")] * 3
    assert "constant_rt" not in a["times"] and a["left_out"] == []  # a method without any results: not scored
    text = "\n".join(methods_notes(res))
    assert "one-cycle, peak 0.25 (grid)" in text and "Performance profile over 3 tasks" in text
    assert "Not in the profile" not in text
    # a second budget where prodigy has no runs yet: it leaves the profile (not "failed"), and is named
    for s in range(3):
        res.append(_fake("grid_one_cycle_1@4ep", s, 0.92, 0.9, [0.8, 0.92], rt_steps=0, peak=1.0))
        res.append(_fake("one_cycle_rt@4ep", s, 0.91, 0.9, [0.85, 0.91]))
    a = analyse(res)
    assert len(a["tasks"]) == 6 and a["left_out"] == ["prodigy"]
    assert set(a["times"]) == {"one_cycle_rt", "best grid"} and len(a["times"]["one_cycle_rt"]) == 6
    text = "\n".join(methods_notes(res))
    assert "Not in the profile (no runs at every budget yet): Prodigy" in text


def test_methods_experiment_runs_are_data():
    from lrkit.bench.experiments import get_experiment
    from lrkit.rangetest import USE_RULES

    runs = get_experiment("methods").runs("lite")
    names = {r.name for r in runs}
    assert len(names) == len(runs) == 2 * (len(M.METHODS) + 3)
    for r in runs:
        m = M.Method.from_dict(r.extra["method"])
        assert r.extra["rule_spec"] == (USE_RULES[m.rule] if m.rule else None)  # a new rule: a new config
        assert r.extra["overrides"]["average"] is None and r.extra["overrides"]["curve_every"] == 0.5
        assert S.from_config(r.schedule).total_steps in (None, r.iterations)
    assert {r.iterations for r in runs} == {2 * 87, 4 * 87}
    with pytest.raises(ValueError, match="no paper scale"):
        get_experiment("methods").runs("paper")
