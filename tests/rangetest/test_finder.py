"""Tests of lrkit.rangetest: the LR range tests, their suggestions and the exact state restore."""

from __future__ import annotations

import math
import random
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from lrkit.rangetest import (  # noqa: E402
    ROBUST_BASE,
    SUGGESTION_METHODS,
    AccuracyRangeTest,
    RangeTest,
    Suggestion,
    accuracy_range_test,
    clr_bounds,
    ema_smooth,
    lr_find,
)
from lrkit.utils import get_rng_state  # noqa: E402

# sweeps longer than the synthetic data cycle it on purpose (tested explicitly below)
pytestmark = pytest.mark.filterwarnings("ignore:data has .* batches:RuntimeWarning")


# ------------------------------------------------------------------------------------------ helpers
def make_data(n_batches=12, bs=16, dim=10, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(dim, classes, generator=g)
    out = []
    for _ in range(n_batches):
        x = torch.randn(bs, dim, generator=g)
        out.append((x, (x @ w).argmax(1)))
    return out


def bn_model(dim=10, classes=3):
    torch.manual_seed(1)
    # Dropout: the sweep consumes the torch RNG, which must be restored
    return nn.Sequential(nn.Linear(dim, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.1),
                         nn.Linear(16, classes))


def make_optimizer(model, kind):
    if kind == "sgd":
        return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    return torch.optim.Adam(model.parameters(), lr=1e-3)


def warm_up(model, opt, data, steps=3):
    """A few prior steps so momentum buffers / Adam moments exist; leaves grads set."""
    for x, y in data[:steps]:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def same_layout(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Same strides, hence the same memory format (contiguous / channels_last for 4-D tensors)."""
    if a.stride() != b.stride():
        return False
    return a.dim() != 4 or all(a.is_contiguous(memory_format=f) == b.is_contiguous(memory_format=f)
                               for f in (torch.contiguous_format, torch.channels_last))


def tensors_equal(a, b):
    if isinstance(a, torch.Tensor):
        return (isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and same_layout(a, b)
                and torch.equal(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(tensors_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return (type(a) is type(b) and len(a) == len(b)
                and all(tensors_equal(x, y) for x, y in zip(a, b, strict=True)))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b)
    return a == b


def snapshot(model, opt):
    import copy

    return {
        "params": {k: v.detach().clone() for k, v in model.named_parameters()},
        "buffers": {k: v.detach().clone() for k, v in model.named_buffers()},
        "grads": {k: (None if v.grad is None else v.grad.clone()) for k, v in model.named_parameters()},
        "param_ids": [id(p) for p in model.parameters()],
        "modes": [m.training for m in model.modules()],
        "opt": copy.deepcopy(opt.state_dict()),
        "groups": [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups],
        "rng": get_rng_state(),
    }


def assert_same(before, after):
    for key in ("params", "buffers", "grads", "param_ids", "modes", "opt", "groups"):
        assert tensors_equal(before[key], after[key]), key
    rb, ra = before["rng"], after["rng"]
    assert torch.equal(rb["torch"], ra["torch"])
    assert rb["python"] == ra["python"]
    assert all(np.array_equal(np.asarray(x), np.asarray(y))
               for x, y in zip(rb["numpy"], ra["numpy"], strict=True))


class FailingLoss:
    """Cross-entropy that raises ``exc`` on its ``at``-th call."""

    def __init__(self, at, exc):
        self.at, self.exc, self.calls = at, exc, 0

    def __call__(self, out, y):
        self.calls += 1
        if self.calls == self.at:
            raise self.exc
        return nn.functional.cross_entropy(out, y)


# ------------------------------------------------------------------------------- exact restore
@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("scenario", ["normal", "diverged", "raises", "interrupted"])
def test_state_restored_bit_for_bit(kind, scenario):
    data = make_data()
    model = bn_model()
    opt = make_optimizer(model, kind)
    warm_up(model, opt, data)
    model.eval()
    model[1].train()  # mixed modes must come back as they were
    random.seed(3)
    np.random.seed(3)
    torch.manual_seed(3)
    before = snapshot(model, opt)
    kwargs = dict(start_lr=1e-4, end_lr=10.0, num_iter=30, progress=False)
    if scenario == "normal":
        rt = lr_find(model, data, opt, diverge_th=None, **kwargs)
        assert len(rt) == 30 and not rt.stopped_early
    elif scenario == "diverged":
        rt = lr_find(model, data, opt, end_lr=1e4 if kind == "sgd" else 1e3,
                     diverge_th=1.2, **{k: v for k, v in kwargs.items() if k != "end_lr"})
        assert rt.stopped_early and (rt.reason == "diverged" or rt.reason.startswith("non-finite"))
    elif scenario == "raises":
        with pytest.raises(RuntimeError, match="boom"):
            lr_find(model, data, opt, loss_fn=FailingLoss(5, RuntimeError("boom")), **kwargs)
    else:
        with pytest.raises(KeyboardInterrupt):
            lr_find(model, data, opt, loss_fn=FailingLoss(5, KeyboardInterrupt()), **kwargs)
    assert_same(before, snapshot(model, opt))
    # the optimizer still trains normally afterwards
    warm_up(model, opt, data, steps=1)


def conv_model(classes=3):
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.1),
                         nn.Conv2d(8, 8, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, classes))


def image_data(n_batches=8, bs=8, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_batches):
        x = torch.randn(bs, 3, 8, 8, generator=g)
        out.append((x, (x.mean((2, 3)) @ torch.randn(3, classes, generator=g)).argmax(1)))
    return out


@pytest.mark.parametrize("amp", [False, True], ids=["fp32", "cpu-autocast"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["sweep-contiguous", "sweep-channels_last"])
@pytest.mark.parametrize("start", ["contiguous", "channels_last"], ids=["model-contiguous", "model-channels_last"])
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_state_restored_with_its_memory_format(kind, start, channels_last, amp):
    """``fit`` moves the model to channels_last (``channels_last=True``) and trains under CPU autocast
    (``amp=True``); afterwards every parameter, buffer, gradient and optimizer-state tensor has its values
    *and* its strides back — a conv weight the sweep left in channels_last would change later training."""
    data = image_data()
    model = conv_model()
    if start == "channels_last":
        model = model.to(memory_format=torch.channels_last)
    opt = make_optimizer(model, kind)
    warm_up(model, opt, data)
    before = snapshot(model, opt)
    conv = model[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last) == (start == "channels_last")
    for test in ("lr_find", "accuracy"):
        if test == "lr_find":
            lr_find(model, data, opt, start_lr=1e-4, end_lr=1.0, num_iter=8, diverge_th=None,
                    channels_last=channels_last, amp=amp, progress=False)
        else:
            accuracy_range_test(model, data, data[:2], opt, start_lr=0.0, end_lr=0.5, iterations=6, eval_every=3,
                                channels_last=channels_last, amp=amp, progress=False)
        assert_same(before, snapshot(model, opt))
        assert model[0].weight is conv
    # the optimizer's state tensors keep their layout too
    for p, st in opt.state.items():
        for k, v in st.items():
            if isinstance(v, torch.Tensor) and v.dim() == 4:
                assert same_layout(v, p), k


def test_attached_scheduler_warns_and_is_untouched():
    from lrkit.schedules import Constant
    from lrkit.training import ScheduledLR

    data = make_data()
    model = bn_model()
    opt = make_optimizer(model, "sgd")
    sched = ScheduledLR(opt, Constant(0.05))
    warm_up(model, opt, data)
    sched.step()
    t_before, hooks_before = sched.t, dict(opt._optimizer_step_post_hooks)
    before = snapshot(model, opt)
    with pytest.warns(UserWarning, match="scheduler attached"):
        lr_find(model, data, opt, start_lr=1e-4, end_lr=1.0, num_iter=10, progress=False)
    assert sched.t == t_before  # its step counter did not see the sweep's steps
    assert dict(opt._optimizer_step_post_hooks) == hooks_before
    assert getattr(opt.step, "_wrapped_by_lr_sched", False)
    assert_same(before, snapshot(model, opt))
    warm_up(model, opt, data, steps=1)
    assert sched.t == t_before + 1


def test_no_files_left_behind(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = bn_model()
    lr_find(model, make_data(), make_optimizer(model, "sgd"), num_iter=5, progress=False)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------ AMP
class InfGrad(torch.autograd.Function):
    """Identity forward, infinite gradient backward: a finite loss whose step a GradScaler skips."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return g * math.inf


def test_amp_skipped_step_neither_advances_lr_nor_adds_point():
    data = make_data()
    torch.manual_seed(0)
    model = nn.Linear(10, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    calls = {"n": 0}

    def loss_fn(out, y):
        calls["n"] += 1
        if calls["n"] == 4:
            out = InfGrad.apply(out)
        return nn.functional.cross_entropy(out, y)

    scaler = torch.amp.GradScaler("cpu")
    scale_before = scaler.get_scale()
    rt = lr_find(model, data, opt, loss_fn=loss_fn, start_lr=1e-3, end_lr=1.0, num_iter=10,
                 diverge_th=None, scaler=scaler, progress=False)
    assert calls["n"] == 11  # 10 recorded steps + 1 skipped
    assert rt.skipped_steps == 1 and len(rt) == 10 and not rt.stopped_early
    np.testing.assert_allclose(rt.sweep_lr, np.geomspace(1e-3, 1.0, 10), rtol=1e-12)
    assert np.isfinite(rt.loss).all()
    assert scaler.get_scale() == scale_before  # scaler state restored too


# --------------------------------------------------------------------------------- accumulation
def test_accumulation_matches_single_batch():
    big = make_data(n_batches=10, bs=16)
    micro = [(x[i:i + 4], y[i:i + 4]) for x, y in big for i in range(0, 16, 4)]

    def run(data, acc):
        torch.manual_seed(0)
        model = nn.Linear(10, 3).double()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        data = [(x.double(), y) for x, y in data]
        return lr_find(model, data, opt, start_lr=1e-3, end_lr=1.0, num_iter=10, diverge_th=None,
                       accumulation_steps=acc, progress=False)

    a, b = run(big, 1), run(micro, 4)
    np.testing.assert_array_equal(a.lr, b.lr)
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-10)
    np.testing.assert_allclose(a.smoothed, b.smoothed, rtol=1e-10)


# ------------------------------------------------------------------------- groups and suggestions
@pytest.mark.parametrize("lrs", [(0.1, 0.01), (0.002, 0.02, 0.0)])
def test_param_group_ratios_are_kept(lrs):
    torch.manual_seed(0)
    layers = [nn.Linear(10, 10) for _ in lrs[:-1]] + [nn.Linear(10, 3)]
    model = nn.Sequential(*[m for layer in layers for m in (layer, nn.ReLU())][:-1])
    groups = [{"params": m.parameters(), "lr": lr} for m, lr in zip(layers, lrs, strict=True)]
    opt = torch.optim.SGD(groups, lr=1.0)
    rt = lr_find(model, make_data(), opt, start_lr=1e-4, end_lr=1.0, num_iter=12, diverge_th=None,
                 progress=False)
    ref = int(np.argmax(lrs))
    assert rt.ref_group == ref
    assert rt.lr.shape == (12, len(lrs))
    np.testing.assert_array_equal(rt.sweep_lr, rt.lr[:, ref])
    np.testing.assert_allclose(rt.sweep_lr, np.geomspace(1e-4, 1.0, 12), rtol=1e-12)
    for g, lr in enumerate(lrs):
        np.testing.assert_allclose(rt.lr[:, g], rt.sweep_lr * lr / max(lrs), rtol=1e-12)
    assert [g["lr"] for g in opt.param_groups] == list(lrs)


@pytest.fixture(scope="module")
def real_sweep():
    data = make_data(n_batches=20, bs=32)
    model = bn_model()
    opt = make_optimizer(model, "sgd")
    return lr_find(model, data, opt, start_lr=1e-5, end_lr=10.0, num_iter=60, progress=False)


def test_suggestions_lie_within_swept_range(real_sweep):
    rt = real_sweep
    sugg = rt.suggestions()
    assert set(sugg) == set(SUGGESTION_METHODS)
    lo, hi = rt.sweep_lr.min(), rt.sweep_lr.max()
    for m, s in sugg.items():
        assert isinstance(s, Suggestion) and s.method == m
        assert lo <= s.low <= s.lr <= s.high <= hi, (m, s)
        if m != "robust":
            assert s.low == s.lr == s.high


def _grid(n=101):
    return np.logspace(-6, 1, n)  # log10 lr from -6 to 1 in steps of 0.07


def test_steepest_known_answer_uses_log_lr_gradient():
    lr = _grid()
    x = np.log10(lr)
    loss = 3 - np.tanh(2 * (x - x[40]))  # steepest descent exactly at point 40
    rt = RangeTest(sweep_lr=lr, loss=loss, smoothing=1.0)
    s = rt.suggest("steepest", skip_start=0)
    assert s.index == 40 and s.lr == lr[40]
    # a linear sweep: the index-gradient is steepest at the start, the log-LR one is not
    lin = np.linspace(1e-3, 1.0, 101)
    xl = np.log10(lin)
    rt2 = RangeTest(sweep_lr=lin, loss=3 - np.tanh(3 * (xl + 1.0)), mode="linear", smoothing=1.0)
    i = rt2.suggest("steepest", skip_start=0).index
    assert abs(np.log10(lin[i]) + 1.0) < 0.05


def test_minimum_known_answer():
    lr = _grid()
    x = np.log10(lr)
    rt = RangeTest(sweep_lr=lr, loss=(x - x[70]) ** 2 + 1, smoothing=1.0)
    s = rt.suggest("minimum", skip_start=0)
    assert s.index == 70
    assert s.lr == pytest.approx(lr[70] / 10)


def test_valley_known_answer():
    lr = _grid()
    loss = np.r_[np.linspace(5, 1, 61), np.linspace(1.2, 9, 40)]  # decreasing on 0..60, then up
    loss[10] = 7.0  # a bump: the longest valley skips it
    rt = RangeTest(sweep_lr=lr, loss=loss, smoothing=1.0)
    s = rt.suggest("valley", skip_start=0)
    assert s.index == 30 and s.lr == lr[30]


def test_robust_interval_contains_point_and_is_deterministic(real_sweep):
    a = real_sweep.suggest("robust", n_boot=60, seed=7)
    b = real_sweep.suggest("robust", n_boot=60, seed=7)
    assert a == b
    assert a.low <= a.lr <= a.high and a.low < a.high
    c = real_sweep.suggest("robust", n_boot=60, seed=8)
    assert c.low <= c.lr <= c.high
    rng_before = get_rng_state()
    real_sweep.suggest("robust", n_boot=5)
    assert torch.equal(rng_before["torch"], get_rng_state()["torch"])


def test_ema_smooth_bias_corrected():
    np.testing.assert_allclose(ema_smooth([2.0, 2.0, 2.0], 0.05), [2.0, 2.0, 2.0])
    v = ema_smooth([1.0, 3.0], 0.5)  # beta = 0.5: a1 = .5, a2 = .25 + 1.5 = 1.75; / (1 - .25)
    np.testing.assert_allclose(v, [1.0, 1.75 / 0.75])
    np.testing.assert_array_equal(ema_smooth([1.0, 5.0, 2.0], 1.0), [1.0, 5.0, 2.0])


# ------------------------------------------------------------------------- validation / data
def test_validation_mode_uses_fixed_val_batches():
    data = make_data()
    val = make_data(n_batches=6, seed=1)
    model = bn_model()
    opt = make_optimizer(model, "sgd")
    rt = lr_find(model, data, opt, start_lr=1e-4, end_lr=1.0, num_iter=8, val_data=val,
                 val_batches=2, diverge_th=None, progress=False)
    assert rt.loss_kind == "val" and len(rt) == 8
    assert not np.allclose(rt.loss, rt.train_loss)
    # the first point: val loss of the model after step 0, on exactly the first two val batches
    model2 = bn_model()
    opt2 = make_optimizer(model2, "sgd")
    for g in opt2.param_groups:
        g["lr"] = 1e-4
    opt2.zero_grad()
    nn.functional.cross_entropy(model2(data[0][0]), data[0][1]).backward()
    opt2.step()
    model2.eval()
    with torch.no_grad():
        want = sum(nn.functional.cross_entropy(model2(x), y).item() * len(y) for x, y in val[:2]) / 32
    assert rt.loss[0] == pytest.approx(want, rel=1e-5)


def test_short_data_is_cycled_with_warning():
    model = bn_model()
    opt = make_optimizer(model, "sgd")
    with pytest.warns(RuntimeWarning, match="cycled"):
        rt = lr_find(model, make_data(n_batches=3), opt, num_iter=7, diverge_th=None, progress=False)
    assert len(rt) == 7

    def gen():  # a one-shot iterator cannot be cycled
        yield from make_data(n_batches=3)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="one-shot"):
            lr_find(model, gen(), opt, num_iter=7, progress=False)
    with pytest.raises(ValueError, match="no batch"):
        lr_find(model, [], opt, num_iter=7, progress=False)


def test_torch_dataloader_works():
    data = make_data(n_batches=4)
    ds = torch.utils.data.TensorDataset(torch.cat([x for x, _ in data]), torch.cat([y for _, y in data]))
    loader = torch.utils.data.DataLoader(ds, batch_size=8, shuffle=True)
    model = bn_model()
    before = snapshot(model, make_optimizer(model, "sgd"))
    rt = lr_find(model, loader, make_optimizer(model, "sgd"), num_iter=6, progress=False)
    assert len(rt) == 6
    assert torch.equal(before["rng"]["torch"], get_rng_state()["torch"])  # shuffling's RNG use undone


# ------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("kwargs, name", [
    (dict(start_lr=1.0, end_lr=1.0), "start_lr"),
    (dict(start_lr=2.0, end_lr=1.0), "start_lr"),
    (dict(start_lr=0.0), "start_lr"),
    (dict(num_iter=1), "num_iter"),
    (dict(num_iter=2.5), "num_iter"),
    (dict(mode="cosine"), "mode"),
    (dict(smoothing=0.0), "smoothing"),
    (dict(diverge_th=1.0), "diverge_th"),
    (dict(accumulation_steps=0), "accumulation_steps"),
    (dict(val_data=make_data(2), val_batches=0), "val_batches"),
])
def test_bad_arguments_name_the_argument(kwargs, name):
    model = bn_model()
    with pytest.raises(ValueError, match=name):
        lr_find(model, make_data(), make_optimizer(model, "sgd"), progress=False, **kwargs)


def test_nan_loss_at_first_step_is_a_clear_error():
    model = bn_model()
    opt = make_optimizer(model, "sgd")
    warm_up(model, opt, make_data())
    before = snapshot(model, opt)
    data = [(torch.full((16, 10), float("nan")), torch.zeros(16, dtype=torch.long))] * 4
    with pytest.raises(FloatingPointError, match="first step"):
        lr_find(model, data, opt, num_iter=4, progress=False)
    assert_same(before, snapshot(model, opt))


def test_non_finite_loss_later_stops_sweep():
    model = nn.Linear(10, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    calls = {"n": 0}

    def loss_fn(out, y):
        calls["n"] += 1
        loss = nn.functional.cross_entropy(out, y)
        return loss * float("nan") if calls["n"] == 5 else loss

    rt = lr_find(model, make_data(), opt, loss_fn=loss_fn, num_iter=10, progress=False)
    assert len(rt) == 4 and rt.stopped_early and rt.reason.startswith("non-finite")


# ------------------------------------------------------------------------------ json and plots
def test_json_round_trip_nan_safe(real_sweep):
    rt = real_sweep
    back = RangeTest.from_json(rt.to_json())
    for f in ("sweep_lr", "loss", "smoothed", "lr", "train_loss"):
        np.testing.assert_array_equal(getattr(rt, f), getattr(back, f))
    assert back.reason == rt.reason and back.stopped_early == rt.stopped_early
    assert back.config == rt.config and back.suggestions() == rt.suggestions()
    weird = RangeTest(sweep_lr=[1e-3, 1e-2, 1e-1], loss=[1.0, float("nan"), 2.0],
                      config={"diverge_th": math.inf})
    text = weird.to_json()
    assert "NaN" not in text and "Infinity" not in text
    w2 = RangeTest.from_json(text)
    np.testing.assert_array_equal(w2.loss, weird.loss)
    assert w2.config["diverge_th"] == math.inf
    with pytest.raises(ValueError):
        RangeTest.from_json('{"format": "something-else"}')


def test_plot_returns_figure(real_sweep):
    from matplotlib.figure import Figure

    fig = real_sweep.plot()
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    uses = real_sweep.for_uses()
    for use, s in uses.items():  # the LR for each use is marked, with its value
        assert any(lbl.startswith(f"{use}: {s.lr:.2g}") for lbl in labels), (use, labels)
    assert any(lbl.startswith("zero-phase") for lbl in labels) and any(lbl.startswith("EMA") for lbl in labels)
    classic = [t.get_text() for t in real_sweep.plot(suggestions=SUGGESTION_METHODS).axes[0].get_legend().get_texts()]
    assert all(any(lbl.startswith(m) for lbl in classic) for m in SUGGESTION_METHODS)
    assert isinstance(real_sweep.plot(suggestions=False, skip_end=5), Figure)
    import matplotlib.pyplot as plt

    plt.close("all")


def test_the_plot_marks_the_lr_used_and_says_when_the_curve_does_not_pin_it_down():
    import matplotlib.pyplot as plt

    lrs = np.geomspace(1e-6, 10, 100)
    flat = RangeTest(sweep_lr=lrs, loss=2.3 + 0.002 * np.sin(np.arange(100)) + np.where(lrs > 1, 10 * lrs, 0))
    used = flat.suggest(for_="one_cycle")
    assert used.status == "weak" and not used.pinned
    ax = flat.plot(used=used).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(lbl.startswith(f"used (one_cycle): {used.lr:.3g}") for lbl in labels)
    assert any("does not pin the LR down" in t.get_text() for t in ax.texts)
    clear = RangeTest(sweep_lr=lrs, loss=2.3 - np.exp(-((np.log10(lrs) + 2) ** 2)) + np.where(lrs > 1, lrs, 0))
    assert clear.suggest().pinned
    assert not any("does not pin" in t.get_text() for t in clear.plot(used="constant").axes[0].texts)
    plt.close("all")


# ---------------------------------------------------------------------- accuracy range test
def test_clr_bounds_known_answer():
    lr = np.linspace(0, 0.02, 41)
    acc = 0.1 + 0.6 / (1 + np.exp(-(lr - 0.006) / 0.001))  # rises around 0.006
    acc[lr > 0.014] -= 0.3  # then collapses
    base, top, note, _ = clr_bounds(lr, acc, smooth_window=1)
    rise = acc.max() - acc[0]
    i_base = int(np.argmax(acc >= acc[0] + 0.1 * rise))
    assert base == lr[i_base] and 0.002 < base < 0.006
    i_top = int(np.argmax(acc >= acc[0] + 0.9 * (acc[lr <= 0.014].max() - acc[0])))
    assert top == lr[i_top] and 0.006 < top < 0.01
    assert "stopped" in note
    assert clr_bounds(lr, np.full(41, 0.1))[:2] == (None, None)


def test_accuracy_range_test_restores_and_suggests():
    data = make_data(n_batches=8, bs=32)
    model = bn_model()
    opt = make_optimizer(model, "sgd")
    warm_up(model, opt, data)
    before = snapshot(model, opt)
    res = accuracy_range_test(model, data, data[:2], opt, start_lr=0.0, end_lr=2.0, iterations=40,
                              eval_every=4, progress=False)
    assert_same(before, snapshot(model, opt))
    assert not hasattr(opt.step, "_wrapped_by_lr_sched") and len(opt._optimizer_step_post_hooks) == 0
    assert len(res.lr) == 11 and res.lr[0] == 0.0 and res.iteration[-1] == 40
    np.testing.assert_allclose(res.step_lr, np.linspace(0, 2.0, 40), atol=1e-12)
    assert res.base_lr is not None and 0 <= res.base_lr <= res.max_lr <= 2.0
    back = AccuracyRangeTest.from_json(res.to_json())
    np.testing.assert_array_equal(back.acc, res.acc)
    assert (back.base_lr, back.max_lr) == (res.base_lr, res.max_lr) == res.suggest()
    from matplotlib.figure import Figure

    assert isinstance(res.plot(), Figure)
    with pytest.raises(KeyboardInterrupt):
        accuracy_range_test(model, data, data[:2], opt, iterations=10, progress=False,
                            loss_fn=FailingLoss(4, KeyboardInterrupt()))
    assert_same(before, snapshot(model, opt))
    with pytest.raises(ValueError, match="start_lr"):
        accuracy_range_test(model, data, data[:2], opt, start_lr=0.1, end_lr=0.01, iterations=10)


def test_cpu_autocast_amp_runs():
    model = bn_model()
    rt = lr_find(model, make_data(), make_optimizer(model, "sgd"), num_iter=6, amp=True, progress=False)
    assert len(rt) == 6 and np.isfinite(rt.loss).all() and rt.config["amp"] is True


def test_robust_bootstraps_each_base_rule(real_sweep):
    for base in ("valley", "steepest", "minimum"):
        s = real_sweep.suggest("robust", base=base, n_boot=40, seed=1)
        assert s.method == "robust" and s.low <= s.lr <= s.high
    default = real_sweep.suggest("robust", n_boot=40, seed=1)
    assert default == real_sweep.suggest("robust", base=ROBUST_BASE, n_boot=40, seed=1)
    with pytest.raises(ValueError, match="base must be one of"):
        real_sweep.suggest("robust", base="robust")
    with pytest.raises(ValueError, match="base only applies"):
        real_sweep.suggest("valley", base="minimum")


def test_robust_minimum_known_answer_and_interval_grows_with_noise():
    lr = _grid(201)
    x = np.log10(lr)
    clean = 2 + (x - x[140]) ** 2  # minimum at point 140 (log10 lr = -1.1)
    target = x[int(np.argmin(ema_smooth(clean)))] - 1  # the EMA's lag moves it right; then / 10
    rng = np.random.default_rng(0)
    widths = []
    for sigma in (0.02, 0.5):
        rt = RangeTest(sweep_lr=lr, loss=clean + sigma * rng.standard_normal(len(lr)))
        s = rt.suggest("robust", base="minimum", n_boot=100, seed=0)
        assert s.low <= s.lr <= s.high
        assert abs(np.log10(s.lr) - target) < 0.3, (sigma, s, target)
        widths.append(np.log10(s.high) - np.log10(s.low))
    assert widths[0] < 0.2 < widths[1], widths


# ---------------------------------------------------------------- rules stop at the minimum (issue 12)
@pytest.mark.parametrize("seed", range(12))
def test_no_point_rule_reads_past_the_smoothed_minimum(seed):
    """Noisy curves that fall, bottom out, then rise and fall again (a net that blows up and then
    flattens, as on an MLP): no point rule may suggest an LR past the smoothed minimum."""
    rng = np.random.default_rng(seed)
    lrs = np.geomspace(1e-5, 10, 100)
    x = np.log10(lrs)
    dip = rng.uniform(-3, -1)
    loss = 2.3 - 1.5 * np.exp(-((x - dip) ** 2) / 0.8) + np.where(x > dip + 1, 3 * (x - dip - 1), 0)
    loss = np.where(x > dip + 2, loss[np.searchsorted(x, dip + 2)] - 2.5 * (x - dip - 2), loss)  # falls again
    rt = RangeTest(sweep_lr=lrs, loss=loss + rng.normal(0, 0.05, 100))
    lo = rt.default_skip_start()
    at_min = rt.sweep_lr[lo + int(np.argmin(rt.smoothed[lo:]))]
    for m in ("steepest", "valley", "minimum", "min/3", "valley/3", "steepest/10"):
        assert rt.suggest(m).lr <= at_min * (1 + 1e-12), m
    for use in ("constant",):
        assert rt.suggest(for_=use, n_boot=20).high <= at_min * (1 + 1e-12)


def test_per_use_suggestions_and_the_default():
    lrs = np.geomspace(1e-5, 10, 80)
    loss = (np.log10(lrs) + 2) ** 2 + 1 + np.where(lrs > 0.1, 10 * (lrs - 0.1), 0)
    rt = RangeTest(sweep_lr=lrs, loss=loss)
    uses = rt.for_uses(n_boot=20)
    assert set(uses) == {"constant", "one_cycle", "clr"}
    assert rt.suggest(n_boot=20) == rt.suggest(for_="constant", n_boot=20)  # one default
    clr = uses["clr"]
    assert clr.base_lr == pytest.approx(clr.lr / 6) and clr.low <= clr.lr <= clr.high
    with pytest.raises(ValueError, match="for_"):
        rt.suggest(for_="warmup")
    with pytest.raises(ValueError, match="not both"):
        rt.suggest("valley", for_="clr")
    with pytest.raises(ValueError, match="method"):
        rt.suggest("min/0")


def test_divergence_stop_fires_on_a_plateau_above_the_starting_loss():
    """The loss falls, then levels off above where it started but below 5 × its best: the old
    stop (× best) never fires; the stop on the starting loss must."""
    torch.manual_seed(0)
    model = nn.Linear(10, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    script = [2.3 - 0.06 * k for k in range(20)] + [2.6] * 60   # best 1.16; plateau 2.6 = 2.2 × best
    calls = {"n": 0}

    def loss_fn(out, y):
        v = script[min(calls["n"], len(script) - 1)]
        calls["n"] += 1
        return nn.functional.cross_entropy(out, y) * 0 + v

    rt = lr_find(model, make_data(), opt, loss_fn=loss_fn, start_lr=1e-4, end_lr=1.0, num_iter=80,
                 progress=False)
    assert rt.stopped_early and "starting loss" in rt.reason, rt.reason
    assert len(rt) <= 45  # soon after the plateau (point 20, plus the EMA's lag), not at the end (80)
    no_stop = lr_find(model, make_data(), opt, loss_fn=loss_fn, start_lr=1e-4, end_lr=1.0, num_iter=80,
                      return_th=None, progress=False)
    assert not no_stop.stopped_early  # the old rule alone runs to the end


def test_a_ramp_stored_under_its_old_module_path_still_loads():
    """Schedules defined outside lrkit.schedules are stored as "module:qualname"; a module that moved
    (lrkit.finder → lrkit.rangetest.sweep) is followed (lrkit.schedules.base.MOVED_MODULES)."""
    from lrkit.rangetest import Ramp
    from lrkit.schedules import from_config

    old = {"name": "lrkit.finder:Ramp", "start_lr": 1e-4, "end_lr": 1.0, "n": 10, "mode": "exp"}
    s = from_config(old)
    assert isinstance(s, Ramp) and s(0) == 1e-4 and s(9) == 1.0
    assert s.to_config() == {**old, "name": "lrkit.rangetest.sweep:Ramp"}
    assert from_config(s.to_config())(5) == s(5)


# ------------------------------------------------------------------- the bootstrap of 'robust', by hand
def _noisy_curve(n=60, seed=0):
    lrs = np.logspace(-5, 1, n)
    x = np.log10(lrs)
    rng = np.random.default_rng(seed)
    return lrs, 2.3 - np.exp(-((x + 2) ** 2)) + 0.05 * rng.standard_normal(n) * (1 + (x > -1))


def _bootstrap_by_hand(lrs, loss, smoothing, window, spec, n_boot, ci, seed):
    """bootstrap_rule's docstring, step by step: the curve up to its first non-finite loss; trend = centred
    running mean over 2·h+1 points, h = round(0.25 / smoothing), windows shrinking at the ends; one random
    sign per block of round(n^(1/3)) points (default_rng(seed).choice([-1, 1]) per replicate); EMA; the
    rule on the window; the median and the central ci interval of log10 LR."""
    from lrkit.rangetest.rules import apply_rule

    n = len(loss)
    for i, v in enumerate(loss):
        if not np.isfinite(v):
            n = i
            break
    raw = np.asarray(loss[:n], dtype=float)
    h = max(1, round(0.25 / smoothing))
    trend = np.array([raw[max(0, i - h):min(n, i + h + 1)].mean() for i in range(n)])
    block = max(1, round(n ** (1 / 3)))
    n_blocks = math.ceil(n / block)
    rng = np.random.default_rng(seed)
    lo, hi = window[0], min(window[1], n)
    logs = []
    for _ in range(n_boot):
        signs = np.repeat(rng.choice([-1.0, 1.0], size=n_blocks), block)[:n]
        ys = ema_smooth(trend + signs * (raw - trend), smoothing)[lo:hi]
        logs.append(math.log10(apply_rule(spec, lrs[lo:hi], ys)[1]))
    q = (1 - ci) / 2
    return tuple(10 ** v for v in np.quantile(logs, [0.5, q, 1 - q]))


@pytest.mark.parametrize("n_boot,ci,seed,smoothing,spec", [(1, 0.9, 0, 0.05, "min/10"), (7, 0.5, 3, 0.1, "valley"),
                                                           (40, 0.8, 11, 0.05, "steepest"), (9, 0.9, 1, 0.5, "min/3")])
def test_bootstrap_rule_follows_its_documented_recipe(n_boot, ci, seed, smoothing, spec):
    from lrkit.rangetest.rules import bootstrap_rule

    lrs, loss = _noisy_curve()
    got = bootstrap_rule(lrs, loss, smoothing, (5, 60), spec, n_boot=n_boot, ci=ci, seed=seed)
    np.testing.assert_allclose(got, _bootstrap_by_hand(lrs, loss, smoothing, (5, 60), spec, n_boot, ci, seed),
                               rtol=1e-12)
    # the curve ends at its first non-finite loss: what follows it is never read
    cut = loss.copy()
    cut[45], cut[50:] = np.nan, 1e9
    got = bootstrap_rule(lrs, cut, smoothing, (5, 60), spec, n_boot=n_boot, ci=ci, seed=seed)
    np.testing.assert_allclose(got, _bootstrap_by_hand(lrs, cut, smoothing, (5, 60), spec, n_boot, ci, seed),
                               rtol=1e-12)
    assert got[0] <= lrs[44]


def test_bootstrap_rule_defaults_and_argument_checks():
    from lrkit.rangetest.rules import bootstrap_rule

    lrs, loss = _noisy_curve()
    args = (lrs, loss, 0.05, (5, 60), "min/10")
    assert bootstrap_rule(*args) == bootstrap_rule(*args, n_boot=200, ci=0.9, seed=0)  # the documented defaults
    import inspect

    params = inspect.signature(bootstrap_rule).parameters
    assert (params["n_boot"].default, params["ci"].default, params["seed"].default) == (200, 0.9, 0)
    assert bootstrap_rule(*args, n_boot=1, ci=1e-9)[0] > 0  # the smallest allowed n_boot; ci open at 0
    lr, low, high = bootstrap_rule(*args, n_boot=50, ci=0.999999)
    assert low <= lr <= high
    for kw, name in [({"n_boot": 0}, "n_boot"), ({"ci": 0.0}, "ci"), ({"ci": 1.0}, "ci"), ({"ci": 1.5}, "ci"),
                     ({"seed": -1}, "seed")]:
        with pytest.raises(ValueError, match=rf"^{name}\b"):
            bootstrap_rule(*args, **kw)
    with pytest.raises(ValueError, match="min/0"):
        bootstrap_rule(lrs, loss, 0.05, (5, 60), "min/0")


def test_rule_edges_and_factors_by_hand():
    """The valley is the longest *strictly* decreasing subsequence (ties: the one that ends first); steepest
    on a single point is that point."""
    from lrkit.rangetest import rules

    vb = rules._valley_bounds
    assert vb(np.array([2.0, 1.0])) == (0, 1)
    assert vb(np.array([1.0, 2.0, 3.0])) == (0, 0)  # rising: no valley longer than one point
    assert vb(np.array([5.0, 4.0, 9.0, 9.0, 9.0, 9.0, 8.0])) == (0, 1)  # flat 9s do not count; 5→4 ends first
    assert vb(np.array([4.0, 3.0, 9.0, 2.0, 1.0])) == (0, 4)
    assert vb(np.array([1.0, 5.0, 4.0])) == (1, 2)  # the first point (not above 5) is no part of it
    lrs = np.logspace(-4, 0, 5)
    assert rules.valley(lrs, np.array([1.0, 5.0, 4.0, 3.0, 2.0])) == 2  # half way along 1 … 4
    assert rules.steepest(np.array([0.01]), np.array([1.0])) == 0
    # rules with a factor: '/' divides, '*' multiplies; the LR is clamped to the window
    y = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    assert rules.apply_rule("min/10", lrs, y) == (4, 0.1)
    assert rules.apply_rule("min*3", lrs, y) == (4, 1.0)  # 3.0 clamped to the last LR
    assert rules.apply_rule("minimum", lrs, np.array([1.0, 2.0, 3.0, 4.0, 5.0])) == (0, 1e-4)
    assert rules.apply_rule("min/100", lrs, np.array([1.0, 2.0, 3.0, 4.0, 5.0]))[1] == 1e-4  # clamped up
    assert rules.parse_rule("valley*3") == ("valley", 3.0) and rules.parse_rule("min/4") == ("min", 0.25)
    for bad in ("min/-10", "min*0", "min*-2", "min/x", "nope/3"):
        with pytest.raises(ValueError, match=r"^method must be one of"):
            rules.parse_rule(bad)
    np.testing.assert_array_equal(rules.centered_mean(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), 1),
                                  [1.5, 2.0, 3.0, 4.0, 4.5])
    np.testing.assert_array_equal(rules.centered_mean(np.array([1.0, 2.0, 6.0]), 5), [3.0, 3.0, 3.0])
    assert rules.steepest(np.array([0.01, 0.1]), np.array([2.0, 1.0])) == 0
