"""lrkit.notebook.analysis: what the notebooks read off their runs, on hand-made histories and curves."""

from __future__ import annotations

import numpy as np
import pytest

from lrkit.notebook import analysis as A
from lrkit.rangetest import RangeTest


def _evals(pairs):
    return [{"iteration": i, "acc": a} for i, a in pairs]


def test_times_ahead_counts_common_evaluations_after_zero():
    a = _evals([(0, 0.5), (10, 0.2), (20, 0.4), (30, 0.6)])
    b = _evals([(0, 0.1), (10, 0.3), (20, 0.3), (30, 0.5), (40, 0.9)])
    assert A.times_ahead(a, b) == (2, 3)               # 20 and 30 of 10, 20, 30 (0 and 40 do not count)
    assert A.times_ahead(a, b, every=20) == (1, 1)     # only iteration 20
    assert A.times_ahead(b, a) == (1, 3)


def test_led_from_is_the_start_of_the_final_lead():
    a = _evals([(0, 0.1), (10, 0.5), (20, 0.2), (30, 0.6), (40, 0.7)])
    b = _evals([(0, 0.1), (10, 0.3), (20, 0.3), (30, 0.4), (40, 0.5)])
    assert A.led_from(a, b) == 30
    assert A.led_from(b, a) is None


def test_restart_effects():
    sgdr = _evals([(0, 0.1), (10, 0.5), (20, 0.3), (30, 0.6), (40, 0.4)])
    step = _evals([(0, 0.1), (10, 0.4), (20, 0.4), (30, 0.7), (40, 0.5)])
    # restarts at 10 (before: 10, after: 20 → fell; ahead 0.5 > 0.4) and 30 (fell; behind 0.6 < 0.7); 5 has 0 before
    assert A.restart_effects(sgdr, step, [5, 10, 30]) == {"n": 2, "fell": 2, "ahead": 1}


def test_curve_noise_fall_and_flat_signs():
    rng = np.random.default_rng(0)
    lrs = np.logspace(-5, 1, 100)
    loss = 2.3 - 1.0 * (lrs > 1e-3) + rng.normal(0, 0.01, 100)
    assert A.curve_noise(loss) == pytest.approx(0.01, rel=0.3)
    rt = RangeTest(sweep_lr=lrs, loss=loss)
    assert A.fall_in_noise(rt) > 30
    signs = A.flat_signs(rt)
    assert signs["fell less than 3x its noise"] is False
    with pytest.raises(ValueError, match="two points"):
        A.curve_noise([1.0])
    with pytest.raises(ValueError, match="validation-loss sweep"):
        A.training_loss_sweep(rt)


def test_recorders_append_after_every_step():
    import torch

    from lrkit.training import fit

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.Flatten(), torch.nn.LazyLinear(2))
    data = [(torch.randn(4, 3, 5, 5), torch.randint(0, 2, (4,))) for _ in range(3)]
    model(data[0][0])
    opt = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=0.5)
    norms, lrs = [], []
    fit(model, opt, data, iterations=3, progress=False,
        callbacks=[A.conv_weight_norm_recorder(model, norms), A.group_value_recorder(opt, "lr", lrs)])
    assert len(norms) == 3 and lrs == [0.1, 0.1, 0.1]
    with pytest.raises(ValueError, match="no 'd'"):
        A.group_value_recorder(opt, "d", [])
    with pytest.raises(ValueError, match="no Conv2d"):
        A.conv_weight_norm_recorder(torch.nn.Linear(2, 2), [])


def test_methods_bench_without_results(tmp_path):
    got = A.methods_bench(tmp_path)
    assert got["scale"] is None and got["runs"] == [] and got["budgets"] == {}
