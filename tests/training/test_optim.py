"""Tests of lrkit.training's optimizers that set their own LR: building them, schedule-free's train/eval
switch with BatchNorm statistics recomputed at the evaluated weights, and what ScheduledLR and the
range tests say about them."""

from __future__ import annotations

import copy
import sys
import warnings

import pytest
import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook

from lrkit import data as D
from lrkit import training as T
from lrkit.rangetest import accuracy_range_test, lr_find
from lrkit.schedules import Constant
from lrkit.training import ScheduledLR
from lrkit.training import optim as O
from lrkit.training import self_tuning as ST

pytest.importorskip("schedulefree")
pytest.importorskip("prodigyopt")
pytest.importorskip("dadaptation")
# sweeps longer than the tiny data cycle it on purpose
pytestmark = pytest.mark.filterwarnings("ignore:data has .* batches:RuntimeWarning")

NEW = {"sgd_schedulefree": ("schedulefree", "SGDScheduleFree", ST.SCHEDULE_FREE),
       "adamw_schedulefree": ("schedulefree", "AdamWScheduleFree", ST.SCHEDULE_FREE),
       "prodigy": ("prodigyopt", "Prodigy", ST.LR_FREE),
       "dadapt_sgd": ("dadaptation", "DAdaptSGD", ST.LR_FREE),
       "dadapt_adam": ("dadaptation", "DAdaptAdam", ST.LR_FREE)}


# ------------------------------------------------------------------------------------------ helpers
def batches(n=6, bs=16, dim=4, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(dim, classes, generator=g)
    out = []
    for _ in range(n):
        x = torch.randn(bs, dim, generator=g) * 2 + 1
        out.append((x, (x @ w).argmax(1)))
    return out


def mlp(bn=True, dropout=False, dim=4, classes=3):
    torch.manual_seed(0)
    layers = [nn.Linear(dim, 8)] + ([nn.BatchNorm1d(8)] if bn else []) + [nn.ReLU()]
    layers += [nn.Dropout(0.2)] if dropout else []
    return nn.Sequential(*layers, nn.Linear(8, classes))


def trained_schedulefree(model, data, steps=5, name="sgd_schedulefree", **kw):
    opt = O.make_optimizer({"name": name, "lr": 0.5 if name == "sgd_schedulefree" else 0.05, **kw}, model)
    opt.train()
    for i in range(steps):
        T.train_step(model, opt, nn.functional.cross_entropy, [data[i % len(data)]])
    return opt


def params(model):
    return [p.detach().clone() for p in model.parameters()]


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def manual_x(model, opt):
    """A copy of ``model`` at the weights ``opt`` is evaluated at (its own ``eval()``), and that copy's optimizer."""
    m2, o2 = copy.deepcopy((model, opt))
    o2.eval()
    return m2, o2


def state_equal(a, b):
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(state_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(state_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


# ------------------------------------------------------------------------------------------ building
@pytest.mark.parametrize("name", sorted(NEW))
def test_new_optimizers_build_and_take_a_step(name):
    package, cls, why = NEW[name]
    model = mlp(bn=False)
    opt = O.make_optimizer({"name": name, "lr": 1.0 if "dadapt" in name or name == "prodigy" else 0.1}, model)
    assert type(opt).__name__ == cls and type(opt).__module__.split(".")[0] == package
    assert ST.sets_own_lr(opt) == why
    assert ST.has_eval_mode(opt) == (why == ST.SCHEDULE_FREE)
    ST.train_mode(opt)  # schedule-free optimizers start in eval mode and refuse to step there
    before = params(model)
    x, y = batches(1)[0]
    T.train_step(model, opt, nn.functional.cross_entropy, [(x, y)])
    assert not same(before, params(model))


def test_ordinary_optimizers_do_not_set_their_own_lr():
    model = mlp(bn=False)
    for name in ("sgd", "adam", "adamw", "caffe_sgd"):
        opt = O.make_optimizer({"name": name, "lr": 0.1}, model)
        assert ST.sets_own_lr(opt) is None and not ST.has_eval_mode(opt)


def test_unknown_name_suggests_the_closest_and_unknown_keyword_names_the_optimizer():
    with pytest.raises(ValueError, match=r"did you mean 'prodigy'"):
        O.make_optimizer({"name": "prodigi"}, mlp())
    with pytest.raises(ValueError, match=r"did you mean 'adamw_schedulefree'"):
        O.make_optimizer({"name": "adamw_schedulfree"}, mlp())
    with pytest.raises(ValueError, match=r"optimizer 'dadapt_adam'.*nonsense"):
        O.make_optimizer({"name": "dadapt_adam", "nonsense": 1}, mlp())


@pytest.mark.parametrize("name", sorted(NEW))
def test_missing_package_is_a_clear_error(monkeypatch, name):
    package = NEW[name][0]
    monkeypatch.setitem(sys.modules, package, None)  # `import package` now fails
    with pytest.raises(ValueError, match=rf"optimizer '{name}' needs the '{package}' package.*"
                                         r"pip install 'lrkit\[modern\]'"):
        O.make_optimizer({"name": name}, mlp())


# ------------------------------------------------------------------------------------------ eval weights
def test_eval_weights_swaps_to_the_average_and_back_exactly():
    model, data = mlp(bn=False), batches()
    opt = trained_schedulefree(model, data)
    y = params(model)
    m2, _ = manual_x(model, opt)
    x = params(m2)
    assert not same(x, y)  # otherwise this test could not tell them apart
    at_y = T.evaluate(model, data)
    with ST.eval_weights(opt, model, data):
        assert same(params(model), x)
        assert not opt.param_groups[0]["train_mode"]
        inside = T.evaluate(model, data)
    assert inside == T.evaluate(m2, data) and inside != at_y
    assert opt.param_groups[0]["train_mode"] and same(params(model), y)  # bit for bit, not y up to rounding


def test_eval_weights_keeps_an_optimizer_in_eval_mode_as_it_was():
    model, data = mlp(bn=False), batches()
    opt = trained_schedulefree(model, data)
    opt.eval()
    x = params(model)
    with ST.eval_weights(opt, model, data):
        assert same(params(model), x)
    assert not opt.param_groups[0]["train_mode"] and same(params(model), x)


def test_eval_weights_recomputes_batchnorm_statistics_at_the_average():
    model, data = mlp(bn=True), batches(6)
    opt = trained_schedulefree(model, data)
    bn = model[1]
    saved = [bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone()]
    # by hand: the BN input at x for the first 4 training batches, their mean and unbiased variance
    m2, _ = manual_x(model, opt)
    with torch.no_grad():
        h = [m2[0](xb) for xb, _ in data[:4]]
    want_mean = torch.stack([t.mean(0) for t in h]).mean(0)
    want_var = torch.stack([t.var(0, unbiased=True) for t in h]).mean(0)
    with ST.eval_weights(opt, model, data, bn_batches=4):
        assert not torch.allclose(bn.running_mean, saved[0])
        torch.testing.assert_close(bn.running_mean, want_mean, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(bn.running_var, want_var, rtol=1e-5, atol=1e-6)
        assert int(bn.num_batches_tracked) == 4
        assert bn.momentum == 0.1  # put back right after the passes
    # the training-time statistics, BN momentum and the train mode are back
    assert torch.equal(bn.running_mean, saved[0]) and torch.equal(bn.running_var, saved[1])
    assert torch.equal(bn.num_batches_tracked, saved[2]) and bn.momentum == 0.1
    assert opt.param_groups[0]["train_mode"]


def test_recompute_bn_restores_modes_momentum_and_rng():
    model, data = mlp(bn=True, dropout=True), batches(3)
    model.eval()
    model[1].momentum = 0.3
    rng = torch.get_rng_state()
    assert ST.recompute_bn(model, data) == 3
    assert not any(m.training for m in model.modules()) and model[1].momentum == 0.3
    assert torch.equal(torch.get_rng_state(), rng)  # dropout in those passes drew, and the draws are undone
    assert ST.recompute_bn(mlp(bn=False), data) == 0


def test_eval_weights_does_nothing_for_ordinary_optimizers():
    model, data = mlp(bn=True), batches()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for b in data[:3]:
        T.train_step(model, opt, nn.functional.cross_entropy, [b])
    p, rm = params(model), model[1].running_mean.clone()
    with ST.eval_weights(opt, model, data):
        assert same(params(model), p) and torch.equal(model[1].running_mean, rm)


def test_bn_batches_which_batches():
    loader = D.BatchLoader(torch.randint(0, 255, (40, 3, 4, 4), dtype=torch.uint8), torch.arange(40) % 3, 8,
                           seed=1)
    got = list(ST.bn_batches(loader, 3))
    assert len(got) == 3 and all(torch.equal(g[0], loader.get_batch(i)[0]) for i, g in enumerate(got))
    assert loader._epoch == 0  # the loader's own epoch counter is not touched
    assert len(list(ST.bn_batches(loader, 50))) == len(loader)  # at most one pass
    assert len(list(ST.bn_batches(batches(4), 2))) == 2
    with pytest.raises(ValueError, match="one-shot iterator"):
        ST.bn_batches(iter(batches(4)), 2)


# ------------------------------------------------------------------------------------------ fit
def conv_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, stride=4), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))


@pytest.fixture(scope="module")
def tiny_cifar():
    c = D.synthetic_cifar10(4, 2, seed=0)
    return (D.BatchLoader(c.train_x, c.train_y, 8, seed=0),
            D.BatchLoader(c.test_x, c.test_y, 10, shuffle=False))


def test_fit_with_schedulefree_evaluates_at_the_average_with_recomputed_bn(tiny_cifar):
    train, test = tiny_cifar
    model = conv_net()
    opt = O.make_optimizer({"name": "sgd_schedulefree", "lr": 0.5}, model)  # in eval mode, as made
    h = T.fit(model, opt, train, iterations=6, eval_data=test, eval_every=3, progress=False)
    assert [e["iteration"] for e in h.evals] == [3, 6] and opt.param_groups[0]["train_mode"]
    # by hand: x, BN statistics as a plain average over the first batches of the training data, eval mode
    m2, _ = manual_x(model, opt)
    at_y = T.evaluate(copy.deepcopy(model), test)
    for m in m2.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    m2.train()
    with torch.no_grad():
        for i in range(min(ST.BN_BATCHES, len(train))):
            m2(train.get_batch(i)[0])
    manual = T.evaluate(m2, test)
    assert h.evals[-1]["acc"] == manual["acc"]
    assert h.evals[-1]["loss"] == pytest.approx(manual["loss"], rel=1e-6)
    assert at_y["loss"] != pytest.approx(manual["loss"], rel=1e-6)


def test_fit_with_schedulefree_trains_the_same_whether_or_not_it_evaluates(tiny_cifar):
    train, test = tiny_cifar
    runs = []
    for eval_data in (None, test):
        model = conv_net()
        opt = O.make_optimizer({"name": "adamw_schedulefree", "lr": 0.01}, model)
        torch.manual_seed(3)  # dropout
        T.fit(model, opt, train, iterations=5, eval_data=eval_data, eval_every=1, progress=False)
        runs.append((params(model), [b.clone() for b in model.buffers()]))
    assert same(runs[0][0], runs[1][0]) and same(runs[0][1], runs[1][1])


# ------------------------------------------------------------------------------------------ warnings
def test_scheduledlr_warns_once_what_it_writes():
    model = mlp(bn=False)
    with pytest.warns(UserWarning, match=r"ScheduledLR: Prodigy sets its own LR \(LR-free.*multiplier of the "
                                         r"step size it estimates") as rec:
        s = ScheduledLR(O.make_optimizer({"name": "prodigy"}, model), Constant(1.0))
    assert len([r for r in rec if "ScheduledLR" in str(r.message)]) == 1
    s.close()
    with pytest.warns(UserWarning, match=r"SGDScheduleFree sets its own LR \(schedule-free.*base LR of its warmup"):
        ScheduledLR(O.make_optimizer({"name": "sgd_schedulefree"}, model), Constant(1.0)).close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ScheduledLR(torch.optim.SGD(model.parameters(), lr=0.1), Constant(0.1)).close()


def own_lr_warnings(rec):
    return [str(r.message) for r in rec if "sets its own LR" in str(r.message)]


def test_lr_find_restores_a_schedulefree_optimizer_exactly_and_warns_once():
    model, data = mlp(bn=True, dropout=True), batches(6)
    opt = trained_schedulefree(model, data, warmup_steps=50)
    y, state = params(model), copy.deepcopy(opt.state_dict())
    buffers = [b.clone() for b in model.buffers()]
    with pytest.warns(UserWarning) as rec:
        rt = lr_find(model, data, opt, start_lr=1e-3, end_lr=1.0, num_iter=8, progress=False)
    msgs = own_lr_warnings(rec)
    assert len(msgs) == 1 and msgs[0].startswith("lr_find: SGDScheduleFree")
    assert "the sweep varies its base LR" in msgs[0] and "suggestion is a base LR" in msgs[0]
    assert len(rt.loss) == 8
    assert same(params(model), y) and same(list(model.buffers()), buffers)
    assert state_equal(opt.state_dict(), state)
    assert opt.param_groups[0]["train_mode"] and opt.param_groups[0]["warmup_steps"] == 50


def test_lr_find_runs_an_optimizer_in_eval_mode_in_train_mode_and_puts_it_back():
    model, data = mlp(bn=False), batches(6)
    opt = trained_schedulefree(model, data, warmup_steps=10)
    opt.eval()
    x, state = params(model), copy.deepcopy(opt.state_dict())
    seen = []
    # a global hook (lr_find suspends the optimizer's own): the mode at every step of the sweep
    def record(o, args, kwargs):
        if o is opt:
            seen.append((o.param_groups[0]["train_mode"], o.param_groups[0]["warmup_steps"]))

    handle = register_optimizer_step_pre_hook(record)
    try:
        with pytest.warns(UserWarning, match="sets its own LR"):
            lr_find(model, data, opt, start_lr=1e-3, end_lr=1.0, num_iter=5, progress=False)
    finally:
        handle.remove()
    assert len(seen) == 5 and all(s == (True, 0) for s in seen)  # every step in train mode, warmup off
    assert not opt.param_groups[0]["train_mode"] and same(params(model), x)
    assert state_equal(opt.state_dict(), state)


def test_lr_find_with_an_lr_free_optimizer_says_it_sweeps_the_multiplier():
    model, data = mlp(bn=False), batches(6)
    opt = O.make_optimizer({"name": "dadapt_adam"}, model)
    with pytest.warns(UserWarning) as rec:
        lr_find(model, data, opt, start_lr=0.1, end_lr=10.0, num_iter=4, progress=False)
    msgs = own_lr_warnings(rec)
    assert len(msgs) == 1 and "the sweep varies that multiplier" in msgs[0]
    assert "the suggestion is a value of the multiplier" in msgs[0]


def test_accuracy_range_test_with_schedulefree_warns_evaluates_at_the_average_and_restores(tiny_cifar):
    train, test = tiny_cifar
    model = conv_net()
    opt = O.make_optimizer({"name": "sgd_schedulefree", "lr": 0.5}, model)
    opt.train()
    for i in range(3):
        T.train_step(model, opt, nn.functional.cross_entropy, [train.get_batch(i)])
    p, state = params(model), copy.deepcopy(opt.state_dict())
    with ST.eval_weights(opt, model, train):
        want_first = T.evaluate(model, test)["loss"]
    assert want_first != pytest.approx(T.evaluate(model, test)["loss"], rel=1e-6)  # not at y
    with pytest.warns(UserWarning) as rec:
        res = accuracy_range_test(model, train, test, opt, start_lr=0.0, end_lr=1.0, iterations=4, eval_every=2,
                                  progress=False)
    msgs = own_lr_warnings(rec)
    assert len(msgs) == 1 and msgs[0].startswith("accuracy_range_test: SGDScheduleFree")
    assert res.loss[0] == pytest.approx(want_first, rel=1e-6) and len(res.loss) == 3  # before, at 2 and 4
    assert same(params(model), p) and state_equal(opt.state_dict(), state)
