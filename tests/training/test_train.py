from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lrkit import data as D
from lrkit import models as M
from lrkit import schedules as S
from lrkit import training as T
from lrkit import utils as U
from lrkit.training import optim as O


# ---------------------------------------------------------------- Caffe's SGD
def test_caffe_sgd_matches_hand_computed_two_steps():
    w = nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    opt = O.CaffeSGD([{"params": [w], "lr_mult": 2.0, "decay_mult": 3.0}], lr=0.1, momentum=0.9,
                     weight_decay=0.01)
    g1, g2 = torch.tensor([0.5, 0.25], dtype=torch.float64), torch.tensor([-1.0, 2.0], dtype=torch.float64)
    # step 1 at lr 0.1, step 2 at lr 0.05 (the LR changes: Caffe's and PyTorch's forms differ)
    w.grad = g1.clone()
    opt.step()
    v1 = 0.1 * 2.0 * (g1 + 0.01 * 3.0 * torch.tensor([1.0, -2.0], dtype=torch.float64))
    w1 = torch.tensor([1.0, -2.0], dtype=torch.float64) - v1
    assert torch.allclose(w.detach(), w1, atol=1e-15)
    opt.param_groups[0]["lr"] = 0.05
    w.grad = g2.clone()
    opt.step()
    v2 = 0.9 * v1 + 0.05 * 2.0 * (g2 + 0.03 * w1)
    assert torch.allclose(w.detach(), w1 - v2, atol=1e-15)
    # the PyTorch form (LR outside the buffer) lands elsewhere once the LR changed
    b2 = 0.9 * (g1 + 0.03 * torch.tensor([1.0, -2.0], dtype=torch.float64)) + (g2 + 0.03 * w1)
    assert not torch.allclose(w1 - 0.05 * 2.0 * b2, w1 - v2)


def test_caffe_sgd_bad_input():
    p = [nn.Parameter(torch.zeros(1))]
    with pytest.raises(ValueError, match="momentum"):
        O.CaffeSGD(p, lr=0.1, momentum=1.5)
    with pytest.raises(ValueError, match="lr"):
        O.CaffeSGD(p, lr=-1)


# ---------------------------------------------------------------- train_step
def test_train_step_accumulation_equals_big_batch():
    torch.manual_seed(0)
    x, y = torch.randn(12, 5), torch.randint(0, 3, (12,))
    a = nn.Linear(5, 3)
    b = nn.Linear(5, 3)
    b.load_state_dict(a.state_dict())
    oa = torch.optim.SGD(a.parameters(), lr=0.1)
    ob = torch.optim.SGD(b.parameters(), lr=0.1)
    ra = T.train_step(a, oa, nn.functional.cross_entropy, [(x, y)])
    rb = T.train_step(b, ob, nn.functional.cross_entropy, [(x[:4], y[:4]), (x[4:8], y[4:8]), (x[8:], y[8:])])
    assert torch.allclose(ra.loss, rb.loss, atol=1e-6)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.allclose(pa, pb, atol=1e-6)
    with pytest.raises(ValueError, match="batches"):
        T.train_step(a, oa, nn.functional.cross_entropy, [])


# ---------------------------------------------------------------- fit
def _setup(synthetic, seed=0, model="caffe_cifar10_full"):
    torch.manual_seed(seed)
    L = D.cifar10_loaders(synthetic, batch_size=32, eval_batch_size=100, augment=True, seed=seed)
    m = M.get_model(model)
    opt = O.CaffeSGD(M.multiplier_param_groups(m), lr=0.001, momentum=0.9, weight_decay=0.004)
    return L, m, opt


def test_loss_falls_on_a_subset(real_or_synthetic):
    torch.manual_seed(0)
    L = D.cifar10_loaders(real_or_synthetic, batch_size=32, augment=False, seed=0, n_per_class=40,
                          test_per_class=10)
    m = M.fastnet()
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    h = T.fit(m, opt, L.train, iterations=60, eval_data=L.test, eval_every=30, progress=False)
    first, last = sum(h.train_loss[:5]) / 5, sum(h.train_loss[-10:]) / 10
    assert last < 0.85 * first
    assert len(h) == 60 and [e["iteration"] for e in h.evals] == [30, 60]
    assert h.evals[-1]["acc"] > 0.18  # chance is 0.1
    assert all(math.isfinite(v) for v in h.train_loss)


def test_fit_records_schedule_per_group(synthetic):
    L, m, opt = _setup(synthetic)
    sched = S.triangular(0.001, 0.006, 5)
    h = T.fit(m, opt, L.train, iterations=12, schedule=sched, progress=False)
    want = sched(list(range(12)))
    for it, lrs in zip(h.iteration, h.lr, strict=True):
        assert len(lrs) == len(opt.param_groups)
        assert all(abs(lr - want[it]) < 1e-15 for lr in lrs)


def test_callbacks_see_the_losses_unless_none_needs_them(synthetic):
    """A callback sees the complete loss list; when every callback says ``needs_loss = False`` the losses
    stay pending (no host sync per step) and the History ends the same. A plain function needs them."""
    seen = {}

    def make(name, needs):
        def cb(it, h):
            seen.setdefault(name, []).append(len(h.train_loss))
        if needs is None:
            return cb

        class Counting(T.Callback):
            needs_loss = needs

            def __call__(self, it, h):
                cb(it, h)

        return Counting()

    runs = {}
    for name, cbs in {"plain": [make("plain", None)], "lazy": [make("lazy", False)],
                      "mixed": [make("mixed", False), make("mixed_other", True)]}.items():
        L, m, opt = _setup(synthetic)
        runs[name] = T.fit(m, opt, L.train, iterations=6, callbacks=cbs, progress=False)
    assert seen["plain"] == seen["mixed"] == [1, 2, 3, 4, 5, 6]
    assert seen["lazy"] == [0] * 6
    assert runs["plain"].train_loss == runs["lazy"].train_loss == runs["mixed"].train_loss
    assert len(runs["lazy"].train_loss) == 6


def _input_dropout(model, p=0.2):
    """Dropout on the input as a forward pre-hook (parameter names unchanged): every training step draws
    from the global torch RNG, so a resume that does not restore the RNG gives other masks."""
    model.register_forward_pre_hook(lambda m, args: (nn.functional.dropout(args[0], p, m.training), *args[1:]))
    return model


class StepCounter:
    """Counts ``optimizer.step()`` calls in this process (a step post-hook)."""

    def __init__(self, opt):
        self.n = 0
        opt.register_step_post_hook(lambda *a: setattr(self, "n", self.n + 1))


def test_resume_gives_the_same_history(synthetic, tmp_path):
    """Killed after iteration 13, resumed from the checkpoint at 10: the History of an uninterrupted run,
    with exactly 10 steps taken after the resume (a restart from 0 takes 20) and the dropout masks of the
    uninterrupted run (only if the checkpoint's RNG states are restored)."""
    sched = S.triangular2(0.001, 0.006, 4)
    L, m, opt = _setup(synthetic)
    _input_dropout(m)
    full = T.fit(m, opt, L.train, iterations=20, schedule=sched, eval_data=L.test, eval_every=5,
                 progress=False)

    class Boom(Exception):
        pass

    def kill_at_13(it, history):
        if it == 13:
            raise Boom

    L, m, opt = _setup(synthetic)
    _input_dropout(m)
    ck = tmp_path / "run.ckpt"
    with pytest.raises(Boom):
        T.fit(m, opt, L.train, iterations=20, schedule=sched, eval_data=L.test, eval_every=5,
              checkpoint=ck, checkpoint_every=5, callbacks=[kill_at_13], progress=False)
    assert ck.exists()
    # a fresh process would build everything anew, with other RNG states
    L, m, opt = _setup(synthetic, seed=0)
    _input_dropout(m)
    torch.manual_seed(123)  # the dropout masks drawn from here on differ unless the checkpoint's RNG is restored
    steps = StepCounter(opt)
    resumed = T.fit(m, opt, L.train, iterations=20, schedule=sched, eval_data=L.test, eval_every=5,
                    checkpoint=ck, checkpoint_every=5, resume=True, progress=False)
    assert steps.n == 10  # iterations 10 … 19: the checkpoint's 10 are not trained again
    assert resumed.iteration == full.iteration
    assert resumed.lr == full.lr
    assert resumed.train_loss == full.train_loss
    assert resumed.evals == full.evals
    assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]  # no temp files left


def test_corrupt_checkpoint_is_named(synthetic, tmp_path):
    L, m, opt = _setup(synthetic)
    ck = tmp_path / "bad.ckpt"
    ck.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.ckpt"):
        T.fit(m, opt, L.train, iterations=2, checkpoint=ck, resume=True, progress=False)


def test_history_json_round_trip(synthetic, tmp_path):
    L, m, opt = _setup(synthetic)
    h = T.fit(m, opt, L.train, iterations=3, eval_data=L.test, progress=False)
    h.save(tmp_path / "h.json")
    back = T.History.load(tmp_path / "h.json")
    assert back.to_dict() == h.to_dict()
    (tmp_path / "junk.json").write_text("{")
    with pytest.raises(ValueError, match="junk.json"):
        T.History.load(tmp_path / "junk.json")
    fig = h.plot()
    assert fig.axes


def test_fit_bad_input(synthetic):
    L, m, opt = _setup(synthetic)
    with pytest.raises(ValueError, match="iterations"):
        T.fit(m, opt, L.train, iterations=0, progress=False)
    with pytest.raises(ValueError, match="accumulation_steps"):
        T.fit(m, opt, L.train, iterations=2, accumulation_steps=0, progress=False)
    with pytest.raises(ValueError, match="checkpoint"):
        T.fit(m, opt, L.train, iterations=2, checkpoint_every=1, progress=False)


def test_epochs_and_channels_last(synthetic):
    L, m, opt = _setup(synthetic)
    h = T.fit(m, opt, L.train, epochs=0.5, channels_last=True, progress=False)
    assert len(h) == round(0.5 * len(L.train))


def test_rng_state_round_trip():
    import random

    import numpy as np

    U.seed_everything(3)
    s = U.get_rng_state()
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    U.set_rng_state(s)
    assert a == (random.random(), np.random.rand(), torch.rand(1).item())
    with pytest.raises(ValueError, match="seed"):
        U.seed_everything(-1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (ci/gpu_check.py runs it on a GPU)")
def test_rng_state_round_trip_through_a_checkpoint_loaded_onto_the_gpu(tmp_path):
    """fit's checkpoint is loaded with map_location=the model's device: the RNG states arrive on the GPU,
    and torch only takes CPU byte tensors (the resume on CUDA failed with "RNG state must be a
    torch.ByteTensor" until set_rng_state moved them back)."""
    torch.cuda.init()
    U.seed_everything(5)
    torch.save({"rng": U.get_rng_state()}, tmp_path / "s.pt")
    a = (torch.rand(1).item(), torch.rand(1, device="cuda").item())
    U.set_rng_state(torch.load(tmp_path / "s.pt", map_location="cuda", weights_only=False)["rng"])
    assert a == (torch.rand(1).item(), torch.rand(1, device="cuda").item())
