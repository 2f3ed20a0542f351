"""lrkit.notebook.curvature (01 §8: sharpness by power iteration on Hessian-vector products) and
lrkit.notebook.cycles (03/04: training vs test at cycle ends, snapshots and their ensemble)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lrkit.notebook.curvature import hessian_vector_product, sharpness_run, top_hessian_eigenvalue
from lrkit.notebook.cycles import Snapshots, cycle_end_view, snapshot_ensemble
from lrkit.training import History, fit


def test_hessian_vector_product_and_top_eigenvalue_on_a_known_quadratic():
    a = torch.tensor([1.0, 20.0, -3.0, 5.0], dtype=torch.float64)
    w = torch.ones(4, dtype=torch.float64, requires_grad=True)
    loss = lambda: 0.5 * (a * w**2).sum()                       # noqa: E731 - the Hessian is diag(a)
    g = torch.autograd.grad(loss(), [w], create_graph=True)
    v = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    assert torch.allclose(hessian_vector_product(g, [w], [v])[0], a * v)
    lam, vec = top_hessian_eigenvalue(loss, [w], iters=60, generator=torch.Generator().manual_seed(0))
    assert lam == pytest.approx(20.0, rel=1e-9)                 # the largest magnitude: 20 (not -3)
    assert abs(float(vec[0][1])) == pytest.approx(1.0, abs=1e-6)
    lam2, _ = top_hessian_eigenvalue(loss, [w], iters=2, v0=vec)  # a warm start needs few steps
    assert lam2 == pytest.approx(20.0, rel=1e-9)


def test_top_eigenvalue_of_a_small_net_matches_the_full_hessian():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    x, y = torch.randn(16, 3, dtype=torch.float64), torch.randn(16, 2, dtype=torch.float64)
    params = list(net.parameters())
    flat = torch.cat([p.detach().reshape(-1) for p in params])

    def loss_of(theta):
        out, i = x, 0
        ws = []
        for p in params:
            ws.append(theta[i:i + p.numel()].reshape(p.shape))
            i += p.numel()
        out = torch.tanh(out @ ws[0].T + ws[1]) @ ws[2].T + ws[3]
        return 0.5 * ((out - y) ** 2).sum(1).mean()

    eig = torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss_of, flat))
    want = float(eig[eig.abs().argmax()])
    got, _ = top_hessian_eigenvalue(lambda: 0.5 * ((net(x) - y) ** 2).sum(1).mean(), params, iters=300,
                                    generator=torch.Generator().manual_seed(1))
    assert got == pytest.approx(want, rel=1e-6)


def test_top_eigenvalue_rejects_bad_arguments():
    w = torch.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="iters"):
        top_hessian_eigenvalue(lambda: (w**2).sum(), [w], iters=0)
    with pytest.raises(ValueError, match="requires a gradient"):
        top_hessian_eigenvalue(lambda: (w**2).sum(), [torch.ones(2)])
    with pytest.raises(ValueError, match="v0"):
        top_hessian_eigenvalue(lambda: (w**2).sum(), [w], v0=[torch.ones(3)])


def test_sharpness_run_is_full_batch_gradient_descent():
    torch.manual_seed(0)
    x, y = torch.randn(32, 5), torch.randint(0, 3, (32,))
    net = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    twin = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    twin.load_state_dict(net.state_dict())
    r = sharpness_run(net, x, y, lr=0.1, steps=7, every=3, power_iters=5, warm_iters=2)
    assert r["step"] == [0, 3, 6, 7] and r["limit"] == pytest.approx(20.0) and len(r["loss_every_step"]) == 7
    assert all(s > 0 for s in r["sharpness"]) and r["loss"][0] == pytest.approx(r["loss_every_step"][0], rel=1e-6)
    target = nn.functional.one_hot(y, 3).float()
    opt = torch.optim.SGD(twin.parameters(), lr=0.1)
    for _ in range(7):
        opt.zero_grad()
        (0.5 * ((twin(x) - target) ** 2).sum(1).mean()).backward()
        opt.step()
    for p, q in zip(net.parameters(), twin.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6)
    with pytest.raises(ValueError, match="every"):
        sharpness_run(net, x, y, lr=0.1, steps=3, every=0)


def test_cycle_end_view_reads_the_window_before_each_end():
    h = History(train_loss=[float(i) for i in range(10)],
                evals=[{"iteration": 4, "loss": 0.5, "acc": 0.6}, {"iteration": 8, "loss": 0.4, "acc": 0.7}])
    rows = cycle_end_view(h, [4, 6, 8, 12], window=2)
    assert rows == [{"iteration": 4, "train_loss": 2.5, "test_loss": 0.5, "test_acc": 0.6},
                    {"iteration": 8, "train_loss": 6.5, "test_loss": 0.4, "test_acc": 0.7}]
    with pytest.raises(ValueError, match="window"):
        cycle_end_view(h, [4], window=0)


class _Batches:
    def __init__(self, x, y, bs):
        self.x, self.y, self.bs = x, y, bs
        self.steps_per_epoch = len(x) // bs

    def get_batch(self, i):
        j = i % self.steps_per_epoch
        return self.x[j * self.bs:(j + 1) * self.bs], self.y[j * self.bs:(j + 1) * self.bs]

    def __len__(self):
        return self.steps_per_epoch

    def __iter__(self):
        return (self.get_batch(i) for i in range(self.steps_per_epoch))


def test_snapshots_keep_the_weights_at_the_cycle_ends_and_ensemble_them():
    torch.manual_seed(0)
    x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    data = _Batches(x, y, 16)
    snap = Snapshots(at=[2, 5])
    make = snap.watch(lambda: nn.Sequential(nn.Linear(4, 3)))
    model = make()
    fit(model, torch.optim.SGD(model.parameters(), lr=0.1), data, iterations=5, callbacks=[snap])
    assert sorted(snap.states) == [2, 5] and snap.needs_loss is False
    assert all(torch.equal(snap.states[5][k], v) for k, v in model.state_dict().items())
    assert not torch.equal(snap.states[2]["0.weight"], snap.states[5]["0.weight"])
    res = snapshot_ensemble(lambda: nn.Sequential(nn.Linear(4, 3)), snap.states, data)
    assert set(res["single"]) == {2, 5} and set(res["ensemble"]) == {1, 2}
    assert res["ensemble"][1] == res["single"][5]
    with torch.no_grad():
        probs = [torch.softmax(_load(s)(x), 1) for s in (snap.states[2], snap.states[5])]
    assert res["ensemble"][2] == pytest.approx(float(((probs[0] + probs[1]).argmax(1) == y).float().mean()))
    with pytest.raises(ValueError, match="at"):
        Snapshots(at=[0])
    with pytest.raises(ValueError, match="no snapshot"):
        snapshot_ensemble(lambda: nn.Linear(4, 3), {}, data)


def _load(state):
    m = nn.Sequential(nn.Linear(4, 3))
    m.load_state_dict(state)
    return m.eval()


def test_plots_draw():
    import matplotlib

    matplotlib.use("Agg")
    from lrkit.notebook.curvature import plot_sharpness
    from lrkit.notebook.cycles import plot_train_vs_test

    h = History(train_loss=list(np.linspace(2, 1, 20)), evals=[{"iteration": 10, "loss": 1.5, "acc": 0.4},
                                                               {"iteration": 20, "loss": 1.2, "acc": 0.5}])
    assert len(plot_train_vs_test({"a": h}, [10, 20], 5, title="t").axes) == 2
    r = {"step": [0, 5], "sharpness": [1.0, 2.0], "limit": 2.0, "loss_every_step": [1.0, 0.5, 0.4, 0.3, 0.2]}
    assert len(plot_sharpness({"η = 1": r}).axes) == 2
