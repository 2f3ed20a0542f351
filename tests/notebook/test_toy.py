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
