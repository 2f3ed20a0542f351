"""No host sync per step in ``fit`` (issue #28): counted on the CPU with :class:`lrkit.training.syncs.HostSyncs`.

Every ``.item()``, ``.tolist()``, ``float/int/bool(tensor)``, ``.cpu()``, copy without ``non_blocking=True``,
data-dependent shape and ``torch.cuda.synchronize`` made from Python is counted and filed under the step it
happened in (:class:`~lrkit.training.syncs.StepSyncs`, the last callback). A run whose callbacks need no
per-step loss must make none between two evaluation points: on a GPU each one would drain the queue and
leave the device idle while Python launches the next step.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lrkit import data as D
from lrkit.recipe import RecipeLoader, WeightAverage, train_recipe
from lrkit.recipe.parts import FreezeAfter
from lrkit.schedules import OneCycle
from lrkit.training import Callback, fit
from lrkit.training.syncs import HostSyncs, StepSyncs

ITERS, EVAL_EVERY = 12, 6
pytestmark = pytest.mark.filterwarnings("ignore:data has .* batches:RuntimeWarning")


class Silent(Callback):
    """A callback that reads only the step number and the LRs (needs no loss)."""

    needs_loss = False

    def __init__(self):
        self.seen = []

    def __call__(self, it, h):
        self.seen.append(h.lr[-1][0])


class Peek(Callback):
    """A callback that reads the model on the host every step: the injected sync."""

    needs_loss = False

    def __init__(self, model):
        self.model = model

    def __call__(self, it, h):
        self.model[0].weight.sum().item()


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, stride=4), nn.BatchNorm2d(4), nn.GELU(), nn.Flatten(),
                         nn.Linear(4 * 8 * 8, 10))


def _data(kind):
    d = D.synthetic_cifar10(4, 2, seed=0)  # 40 training images: 5 batches of 8 per epoch, 12 steps = 3 epochs
    pre = D.make_preprocess("channel", d.train_x)
    if kind == "list":
        return [(pre(d.train_x[i:i + 8]), d.train_y[i:i + 8]) for i in range(0, 40, 8)]
    if kind == "batch-loader":
        return D.BatchLoader(d.train_x, d.train_y, 8, augment=True, preprocess=pre, seed=1)
    return RecipeLoader(d.train_x, d.train_y, 8, translate=2, flip="alternate", preprocess=pre, seed=1,
                        pad_mode="reflect" if kind == "recipe-loader-reflect" else "zeros")


def _evaluation_point(it):
    return (it + 1) % EVAL_EVERY == 0 or it + 1 == ITERS


def _fit_counted(data, model=None, *, extra=(), **kw):
    model = model if model is not None else _net()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.85, nesterov=True, weight_decay=5e-4)
    eval_data = [(torch.randn(8, 3, 32, 32), torch.arange(8))]
    callbacks = [FreezeAfter(model[1].bias, 4), WeightAverage(model, ITERS, every=2), Silent(), *extra]
    with HostSyncs() as syncs:
        steps = StepSyncs(syncs)
        hist = fit(model, opt, data, iterations=ITERS, schedule=OneCycle(0.05, ITERS), eval_data=eval_data,
                   eval_every=EVAL_EVERY, callbacks=[*callbacks, steps], progress=False, **kw)
    return hist, steps, syncs


def _report(bad):
    return "; ".join(f"step {it}: " + ", ".join(f"{s.what} at {s.where}" for s in ss) for it, ss in bad.items())


@pytest.mark.parametrize("kind", ["list", "batch-loader", "recipe-loader", "recipe-loader-reflect"])
def test_fit_makes_no_host_sync_between_evaluations(kind):
    hist, steps, syncs = _fit_counted(_data(kind))
    bad = steps.outside(_evaluation_point)
    assert not bad, f"host syncs between evaluation points: {_report(bad)}"
    # the evaluations themselves read results on the host (that is what they are for), and the losses of
    # the steps before them are read there in one go
    assert set(steps.per_step) <= {EVAL_EVERY - 1, ITERS - 1}
    assert len(hist.train_loss) == ITERS and all(torch.isfinite(torch.tensor(hist.train_loss)))
    assert [e["iteration"] for e in hist.evals] == [EVAL_EVERY, ITERS]


def test_an_injected_sync_is_found_at_every_step():
    """The check itself: a callback that reads a value on the host every step fails it, and the report
    names the line."""
    model = _net()
    _, steps, _ = _fit_counted(_data("list"), model, extra=[Peek(model)])
    bad = steps.outside(_evaluation_point)
    assert sorted(bad) == [it for it in range(ITERS) if not _evaluation_point(it)]
    assert all(s.what == "Tensor.item" and "test_host_syncs.py" in s.where and "in __call__" in s.where
               for ss in bad.values() for s in ss)


def test_a_callback_that_needs_the_loss_costs_one_sync_per_step():
    """The protocol (lrkit.training.callbacks): a plain function callback may read history.train_loss, so
    fit reads each step's loss for it — one ``.tolist()`` per step, from the loop."""
    seen = []
    _, steps, _ = _fit_counted(_data("list"), extra=[lambda it, h: seen.append(h.train_loss[-1])])
    assert sorted(steps.per_step) == list(range(ITERS)) and len(seen) == ITERS
    for it, ss in steps.per_step.items():
        mine = [s for s in ss if not _evaluation_point(it)]
        assert all(s.what == "Tensor.tolist" and "lrkit/training/loop.py" in s.where for s in mine), mine


class InfGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return g * float("inf")


def test_grad_scaler_steps_read_no_scale_and_skipped_steps_are_recorded(monkeypatch):
    """float16 AMP's GradScaler: fit never calls ``get_scale()`` (each is an ``.item()``) and finds a skipped
    step through a device flag read at the next evaluation. ``GradScaler.step`` itself still checks its
    found-inf flag on the host, once per step: that one is torch's (its origin is grad_scaler.py)."""
    from torch.amp import GradScaler

    calls = {"get_scale": 0, "loss": 0}
    real = GradScaler.get_scale

    def counted(self):
        calls["get_scale"] += 1
        return real(self)

    monkeypatch.setattr(GradScaler, "get_scale", counted)
    model = _net()

    def loss_fn(out, y):
        calls["loss"] += 1
        if calls["loss"] == 4:  # step 3's gradients overflow: the scaler skips it
            out = InfGrad.apply(out)
        return nn.functional.cross_entropy(out, y)

    hist, steps, _ = _fit_counted(_data("list"), model, amp=True, scaler=GradScaler("cpu"), loss_fn=loss_fn)
    assert calls["get_scale"] == 0
    assert hist.meta["skipped"] == [3]
    bad = steps.outside(_evaluation_point)
    lrkit_syncs = {it: [s for s in ss if "grad_scaler.py" not in s.origin] for it, ss in bad.items()}
    assert not any(lrkit_syncs.values()), _report(lrkit_syncs)
    assert all(len(ss) == 1 and ss[0].what == "Tensor.item" for ss in bad.values()), _report(bad)


def test_the_recipe_trains_with_syncs_only_at_its_test_curve(monkeypatch):
    """``train_recipe``'s training run (RecipeLoader, whitening-bias freeze, Lookahead, the test curve): host
    syncs happen only at the steps where the test curve evaluates (every epoch here), never in between."""
    from lrkit.recipe import run

    real_fit, seen = run.fit, {}

    def counted_fit(*args, callbacks=(), **kwargs):
        with HostSyncs() as syncs:
            seen["steps"] = StepSyncs(syncs)
            return real_fit(*args, callbacks=[*callbacks, seen["steps"]], **kwargs)

    monkeypatch.setattr(run, "fit", counted_fit)
    tiny = {"epochs": 3, "widths": (8, 16, 16), "batch_size": 64, "whiten_images": 200, "eval_batch_size": 100,
            "bn_recompute_batches": 2, "pad_mode": "reflect",
            "find": {"start_lr": 1e-2, "end_lr": 30.0, "num_iter": 8, "smoothing": 0.2, "val_batches": 1}}
    res = train_recipe(85, D.synthetic_cifar10(40, 10, seed=0), seed=0, threads=1, val_per_class=5, overrides=tiny)
    spe = res.info["steps_per_epoch"]
    bad = seen["steps"].outside(lambda it: (it + 1) % spe == 0)
    assert not bad, f"host syncs between the test curve's evaluations: {_report(bad)}"
    assert len(res.history.train_loss) == res.info["iterations"] == 3 * spe
