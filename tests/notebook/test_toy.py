"""lrkit.notebook.toy: surfaces, gradients, gradient descent and the LR regimes."""

from __future__ import annotations

import numpy as np
import pytest

from lrkit.notebook import toy


@pytest.mark.parametrize("name", list(toy.SURFACES))
def test_gradient_matches_finite_differences(name):
    s = toy.get_surface(name)
    rng = np.random.default_rng(0)
    for _ in range(5):
        w = rng.uniform(-2, 2, s.dim)
        g = s.grad(w)
        eps = 1e-6
        fd = [(s.loss(w + eps * e) - s.loss(w - eps * e)) / (2 * eps) for e in np.eye(s.dim)]
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s.grad(s.minimum), 0, atol=1e-12)


def test_vectorised_loss():
    b = toy.Bowl2D()
    grid = np.zeros((4, 5, 2))
    assert b.loss(grid).shape == (4, 5)


def test_quadratic_contraction_factor():
    q = toy.Quadratic1D(a=2.0, c=1.0)
    tr = toy.gradient_descent(q, 3.0, lr=0.25, steps=5)
    np.testing.assert_allclose(tr.w[:, 0] - 1.0, 2.0 * 0.5 ** np.arange(6))
    assert not tr.diverged and tr.steps == 5
    assert toy.gradient_descent(q, 3.0, lr=0.5, steps=1).w[-1, 0] == pytest.approx(1.0)


def test_update_rule_rows():
    rows = toy.update_steps("quadratic", 4.0, 0.5, steps=3)
    for r in rows:
        assert r["new_w"] == pytest.approx(r["w"] - r["lr_times_grad"])
        assert r["lr_times_grad"] == pytest.approx(0.5 * r["grad"])
    assert [r["step"] for r in rows] == [0, 1, 2]


@pytest.mark.parametrize("lr,regime", [(0.05, "too small"), (0.5, "good"), (1.0, "good"),
                                       (1.9, "too large"), (2.05, "divergent"), (5.0, "divergent")])
def test_quadratic_regimes(lr, regime):
    assert toy.classify_lr("quadratic", lr) == regime


def test_bowl_limit_set_by_steep_direction():
    b = toy.Bowl2D(1, 20)
    assert b.lr_limit == pytest.approx(0.1) and b.condition_number == 20
    assert toy.classify_lr(b, 0.09, steps=40) == "good"
    assert toy.classify_lr(b, 0.105, steps=40) == "divergent"
    assert toy.classify_lr(b, 0.01, steps=40) == "too small"


def test_divergence_stops_early_and_is_flagged():
    tr = toy.gradient_descent("quadratic", 4.0, lr=10.0, steps=10_000)
    assert tr.diverged and tr.steps < 10_000


def test_saddle_larger_lr_escapes_faster():
    s = toy.Saddle2D()
    steps = [s.escape_steps(lr) for lr in (0.01, 0.1, 0.5, 0.9)]
    assert all(a > b for a, b in zip(steps, steps[1:], strict=False))
    assert s.escape_steps(0.5, start=(1.0, 0.0)) is None  # exactly on the ridge: never escapes
    tr = toy.gradient_descent(s, s.default_start, 0.5, 100)
    np.testing.assert_allclose(tr.w[-1], s.minimum, atol=1e-6)


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown surface"):
        toy.get_surface("nope")
    with pytest.raises(ValueError, match="lr"):
        toy.gradient_descent("quadratic", 1.0, lr=-1, steps=3)
    with pytest.raises(ValueError, match="steps"):
        toy.gradient_descent("quadratic", 1.0, lr=0.1, steps=1.5)
    with pytest.raises(ValueError, match="last axis"):
        toy.Bowl2D().loss([1.0, 2.0, 3.0])


# ------------------------------------------------------------------------------------ momentum and noise (01 §3, §7)
def test_heavy_ball_with_no_momentum_is_gradient_descent():
    b = toy.Bowl2D()
    gd, hb = toy.gradient_descent(b, b.default_start, 0.09, 30), toy.heavy_ball(b, b.default_start, 0.09, 0.0, 30)
    np.testing.assert_array_equal(gd.w, hb.w)
    assert hb.meta == {"momentum": 0.0}


def test_heavy_ball_effective_step_and_stability_band():
    # a constant gradient (a linear loss is the limit of a flat direction): the step tends to lr / (1 - mu)
    q = toy.Quadratic1D(a=1e-9)
    tr = toy.heavy_ball(q, 1.0, 0.01, 0.9, 200)
    step = tr.w[-2, 0] - tr.w[-1, 0]
    assert step == pytest.approx(0.01 / (1 - 0.9) * q.grad(tr.w[-2])[0], rel=1e-3)
    # curvature 20: plain GD diverges above lr 0.1; heavy ball with mu 0.9 is stable up to 2 (1 + 0.9) / 20 = 0.19
    b = toy.Bowl2D()
    assert toy.gradient_descent(b, b.default_start, 0.15, 300).diverged
    assert not toy.heavy_ball(b, b.default_start, 0.15, 0.9, 300).diverged
    assert toy.heavy_ball(b, b.default_start, 0.2, 0.9, 300).diverged


def test_tuned_heavy_ball_beats_plain_gd_on_the_bowl():
    b = toy.Bowl2D()
    k = b.condition_number
    mu, lr = ((k**0.5 - 1) / (k**0.5 + 1)) ** 2, 4 / (1 + k**0.5) ** 2
    plain = toy.steps_to(toy.heavy_ball(b, b.default_start, 0.09, 0.0, 150), b)
    tuned = toy.steps_to(toy.heavy_ball(b, b.default_start, lr, mu, 150), b)
    assert tuned < plain / 2
    assert toy.steps_to(toy.heavy_ball(b, b.default_start, 0.001, 0.0, 10), b) is None


@pytest.mark.parametrize("bad", [dict(momentum=1.0), dict(momentum=-0.1), dict(lr=-1.0), dict(steps=2.5)])
def test_heavy_ball_rejects_bad_arguments(bad):
    args = dict(surface="ill_conditioned", start=(1.0, 1.0), lr=0.1, momentum=0.5, steps=3) | bad
    with pytest.raises(ValueError, match=next(iter(bad))):
        toy.heavy_ball(**args)


def test_noisy_gd_settles_in_the_predicted_ball():
    b = toy.Bowl2D()
    for lr in (0.05, 0.005):
        run = toy.noisy_gd(b, np.full(3000, lr), noise=1.0, chains=1000, seed=1)
        assert run.gap[-600:].mean() == pytest.approx(toy.noise_ball_gap([b.a, b.b], lr), rel=0.1)
        assert run.final_w.shape == (1000, 2) and len(run.gap) == 3001
    # the formula: lr σ² / (2 (2 - lr a)) per coordinate; ~ lr σ² d / 4 for small lr; infinite past 2 / max(a)
    assert toy.noise_ball_gap([1.0, 20.0], 0.05, 2.0) == pytest.approx(0.05 * 4 / (2 * 1.95) + 0.05 * 4 / (2 * 1.0))
    assert toy.noise_ball_gap([1.0, 1.0], 1e-6) == pytest.approx(1e-6 * 2 / 4, rel=1e-5)
    assert toy.noise_ball_gap([1.0, 20.0], 0.1) == float("inf")
    # no noise: plain gradient descent, chain by chain
    quiet = toy.noisy_gd(b, np.full(20, 0.09), noise=0.0, chains=3)
    np.testing.assert_allclose(quiet.gap, toy.gradient_descent(b, b.default_start, 0.09, 20).loss, rtol=1e-12)


@pytest.mark.parametrize("bad", [dict(lrs=[]), dict(lrs=[0.1, -0.1]), dict(noise=-1.0), dict(chains=0)])
def test_noisy_gd_rejects_bad_arguments(bad):
    args = dict(surface="ill_conditioned", lrs=[0.01] * 3) | bad
    with pytest.raises(ValueError):
        toy.noisy_gd(**args)


def test_noise_figures_draw():
    import matplotlib

    matplotlib.use("Agg")
    b = toy.Bowl2D()
    fig = toy.plot_paths(b, {"gd": toy.heavy_ball(b, b.default_start, 0.09, 0.0, 20)})
    assert len(fig.axes) == 2
    fig = toy.plot_noise_ball(b, {"c": toy.noisy_gd(b, np.full(50, 0.05), chains=10)})
    assert len(fig.axes) == 2 and fig.axes[1].get_yscale() == "log"
    with pytest.raises(ValueError, match="2-D"):
        toy.plot_paths("quadratic", {})
