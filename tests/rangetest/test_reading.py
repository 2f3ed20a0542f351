"""The reading of a range test: regimes on synthetic curves of each kind, the "no clear signal" answer,
invariance to ``num_iter`` and ``start_lr``, and known answers of the per-use offsets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lrkit.rangetest import RangeTest
from lrkit.rangetest import reading as R


def suggest(lrs, loss, use):
    return RangeTest(sweep_lr=lrs, loss=loss).suggest(for_=use)


def sweep(start=1e-6, end=10.0, n=100, *, depth=0.8, end_of_descent=1e-2, blowup=1.0, noise=0.0, L0=2.3,
          seed=0, flat=False):
    """A synthetic sweep: flat at ``L0``, a logistic descent by ``depth`` ending near ``end_of_descent``,
    then a blow-up past ``blowup`` (None: no blow-up); Gaussian noise of SD ``noise``. As in a real sweep,
    the descent comes log10 k decades earlier when the sweep takes k× more steps per decade than the
    reference density (``R.DENSITY_REF``); the blow-up does not move."""
    lr = np.geomspace(start, end, n)
    x = np.log10(lr)
    per_decade = (n - 1) / math.log10(end / start)
    centre = math.log10(end_of_descent) - 0.8 - math.log10(per_decade / R.DENSITY_REF)
    loss = np.full(n, L0) if flat else L0 - depth * L0 / (1 + np.exp(-(x - centre) / 0.25))
    if blowup is not None:
        loss = loss + np.where(x > math.log10(blowup), 10 ** (3 * (x - math.log10(blowup))) - 1, 0.0)
    loss = loss + np.random.default_rng(seed).normal(0, noise, n)
    return lr, loss


def test_a_clear_descent_then_a_blow_up_is_read_as_such():
    r = R.read_sweep(*sweep(n=int(7 * R.DENSITY_REF) + 1))  # the reference density: x_end is the anchor
    assert r.regime == "descent" and r.anchor == pytest.approx(r.x_end, abs=1e-9)
    # the blow-up: where the loss is back above its start (the synthetic rise passes L0 ≈ 0.1 decade past 1.0)
    assert math.log10(r.lr_blowup) == pytest.approx(0.1, abs=0.15)
    # the end of the descent: where the logistic's slope falls to a quarter of its steepest, f(1 - f) = 1/16,
    # i.e. f / (1 - f) = (2 + √3)², at centre + width · 2 ln(2 + √3) = centre + 0.66 decades
    centre = math.log10(1e-2) - 0.8
    assert math.log10(r.lr_end) == pytest.approx(centre + 0.25 * 2 * math.log(2 + math.sqrt(3)), abs=0.1)


def test_a_descent_that_never_blows_up_is_censored():
    r = R.read_sweep(*sweep(blowup=None, end=0.05))
    assert r.regime == "censored" and r.i_blowup is None and r.lr_end is not None


def test_flat_then_blow_up_is_weak_and_anchored_on_the_blow_up():
    lrs, loss = sweep(flat=True, noise=0.002)
    r = R.read_sweep(lrs, loss)
    assert r.regime == "flat" and r.x_end is None
    assert r.anchor == pytest.approx(math.log10(r.lr_blowup))
    s = suggest(lrs, loss, "constant")
    assert s.status == "weak" and "blew up" in s.reason
    assert s.lr == pytest.approx(r.lr_blowup * 10 ** (R.USE_OFFSET["constant"] + R.FLAT_OFFSET))


def test_a_flat_curve_that_never_blows_up_has_no_clear_signal():
    lrs, loss = sweep(flat=True, blowup=None, noise=0.01)
    s = suggest(lrs, loss, "one_cycle")
    assert s.status == "no_signal" and "does not tell" in s.reason
    assert s.lr < lrs[-1]  # a cautious LR below the largest one tried


def test_a_late_second_dip_does_not_beat_the_first_real_minimum():
    lrs, loss = sweep(blowup=None, end=1.0)
    x = np.log10(lrs)
    loss = loss + np.where(x > -1.2, 0.4, 0.0) - np.where(x > -0.5, 0.6, 0.0)  # rise, then a lower late dip
    r = R.read_sweep(lrs, loss)
    assert 10 ** r.x[r.i_min] < 0.1


@pytest.mark.parametrize("n", [60, 100, 300])
@pytest.mark.parametrize("start", [1e-7, 1e-6, 1e-5])
def test_the_suggestion_does_not_move_with_num_iter_or_start_lr(n, start):
    """Every window is in decades, so a denser or shorter sweep reads the same curve."""
    ref = suggest(*sweep(noise=0.02, seed=1), "constant").lr
    got = suggest(*sweep(start=start, n=n, noise=0.02, seed=1), "constant").lr
    assert abs(math.log10(got / ref)) <= 0.15


def test_known_answers_of_the_uses():
    """constant / one_cycle / clr differ only by their offsets, in decades, from one anchor (the end of the
    descent, moved by the sweep's density against the reference); CLR's lower bound is its upper bound ÷
    CLR_RATIO."""
    lrs, loss = sweep()
    r = R.read_sweep(lrs, loss)
    density = 99 / 7  # 100 points over the 7 decades 1e-6 … 10
    assert r.anchor == pytest.approx(r.x_end + math.log10(density / R.DENSITY_REF), abs=1e-9)
    for use in R.USES:
        s = suggest(lrs, loss, use)
        assert math.log10(s.lr) == pytest.approx(r.anchor + R.USE_OFFSET[use], abs=1e-12)
    clr = suggest(lrs, loss, "clr")
    assert clr.base_lr == pytest.approx(clr.lr / R.CLR_RATIO)


def test_bad_sweeps_fail_with_one_clear_message():
    with pytest.raises(ValueError, match="at least 5 finite points"):
        R.read_sweep([1e-3, 1e-2], [2.3, 2.2])
    with pytest.raises(ValueError, match="differ in length"):
        R.read_sweep([1e-3, 1e-2, 1e-1], [2.3, 2.2])
    with pytest.raises(ValueError, match="must increase"):
        R.read_sweep(np.geomspace(1, 1e-3, 10), np.linspace(2, 1, 10))


def test_the_shipped_offsets_give_these_lrs_on_a_hand_made_curve():
    """Known answers, derived by hand: a noiseless sweep at the reference density whose descent ends at 1e-2
    (the logistic's quarter-slope point) and blows up past 1.0. The end of the descent is read at
    10^(-2.8 + 0.66) ≈ 10^-2.14; the shipped offsets (fitted on the benchmark's tuning half, BENCHMARKS.md §3)
    put a constant LR 0.55 decades below it, the one-cycle peak 0.30 below and CLR's max 0.05 below; a flat
    curve that blows up at 1.0 gets the blow-up × 10^(offset − 1.14). Changing a constant fails this test."""
    n = int(7 * R.DENSITY_REF) + 1
    lrs, loss = sweep(n=n)
    x_end = R.read_sweep(lrs, loss).x_end
    assert x_end == pytest.approx(-2.14, abs=0.08)
    want = {"constant": -0.55, "one_cycle": -0.30, "clr": -0.05}
    for use, offset in want.items():
        assert math.log10(suggest(lrs, loss, use).lr) == pytest.approx(x_end + offset, abs=1e-9), use
    flat_lrs, flat_loss = sweep(n=n, flat=True)
    blow = R.read_sweep(flat_lrs, flat_loss).lr_blowup
    for use, offset in want.items():
        assert math.log10(suggest(flat_lrs, flat_loss, use).lr) == pytest.approx(math.log10(blow) + offset - 1.14,
                                                                                 abs=1e-9), use
