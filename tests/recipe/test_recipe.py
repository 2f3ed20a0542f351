"""The fast recipe (lrkit.recipe, lrkit.models.AirNet): whitening, net, alternating flips, weight
averaging, TTA, the recipe tables, an end-to-end run on synthetic data and the CLI's --target."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from lrkit import cli
from lrkit.data import synthetic_cifar10
from lrkit.models import MODELS, AirNet, whitening_init
from lrkit.recipe import RECIPES, RecipeLoader, WeightAverage, evaluate_tta, train_recipe
from lrkit.recipe.output import fmt_time
from lrkit.training import Runtime, evaluate
from lrkit.training.self_tuning import bn_batches, recompute_bn

TINY = {"epochs": 3, "widths": (8, 16, 16), "batch_size": 64, "whiten_images": 200, "eval_batch_size": 100,
        "bn_recompute_batches": 2,
        "find": {"start_lr": 1e-2, "end_lr": 30.0, "num_iter": 12, "smoothing": 0.2, "val_batches": 1}}


# -------------------- whitening and the net --------------------------------------------------------
def _correlated_images(n=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(n, 1, 8, 8, generator=g)
    noise = torch.randn(n, 3, 8, 8, generator=g)
    x = base * torch.tensor([1.0, 0.8, 0.5]).view(1, 3, 1, 1) + 0.3 * noise + 2.0  # strongly correlated, mean 2
    return torch.nn.functional.avg_pool2d(x, 3, 1, 1)  # neighbouring pixels correlated too


@pytest.mark.parametrize("k", [2, 3])
def test_whitening_init_gives_identity_patch_covariance(k):
    x = _correlated_images()
    conv = nn.Conv2d(3, 2 * 3 * k * k, k)
    evals = whitening_init(conv, x, eps=0.0, chunk=64)
    assert evals.shape == (3 * k * k,) and (evals[1:] >= evals[:-1]).all()
    with torch.no_grad():
        out = conv(x.double().float())
    d = 3 * k * k
    z = out[:, :d].permute(0, 2, 3, 1).reshape(-1, d).double()
    torch.testing.assert_close(z.mean(0), torch.zeros(d, dtype=torch.float64), atol=2e-3, rtol=0)
    torch.testing.assert_close(torch.cov(z.T), torch.eye(d, dtype=torch.float64), atol=2e-3, rtol=0)
    torch.testing.assert_close(out[:, d:], -out[:, :d])  # the negated copy
    # eps damps the weakest directions: variance λ/(λ+eps) < 1
    whitening_init(conv, x, eps=evals[0].item())
    with torch.no_grad():
        z = conv(x)[:, :d].permute(0, 2, 3, 1).reshape(-1, d).double()
    assert torch.cov(z.T).diagonal().min() < 0.6


def test_whitening_init_checks_its_arguments():
    with pytest.raises(ValueError, match="conv must be"):
        whitening_init(nn.Conv2d(3, 12, 2), torch.randn(4, 3, 8, 8))
    with pytest.raises(ValueError, match="conv must be"):
        whitening_init(nn.Conv2d(3, 24, 2, padding=1), torch.randn(4, 3, 8, 8))
    with pytest.raises(ValueError, match="images must be float"):
        whitening_init(nn.Conv2d(3, 24, 2), torch.zeros(4, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="eps"):
        whitening_init(nn.Conv2d(3, 24, 2), torch.randn(4, 3, 8, 8), eps=-1)


def test_airnet_shapes_frozen_parts_and_registry():
    m = AirNet((8, 16, 16), num_classes=7)
    x = torch.randn(2, 3, 32, 32)
    assert m(x).shape == (2, 7)
    assert m.whiten.out_channels == 24 and not m.whiten.weight.requires_grad and m.whiten.bias.requires_grad
    bns = [b for b in m.modules() if isinstance(b, nn.BatchNorm2d)]
    assert len(bns) == 6 and all(not b.weight.requires_grad and b.bias.requires_grad for b in bns)
    assert all(b.momentum == 0.4 and b.eps == 1e-12 for b in bns)
    assert m.head.bias is None
    m.eval()
    torch.testing.assert_close(m.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last)),
                               m(x), atol=1e-5, rtol=1e-5)
    assert AirNet((8, 16, 16), whiten_kernel=3).whiten.out_channels == 54
    assert AirNet((8, 16, 16), bn_weight=True, whiten_trainable=True).whiten.weight.requires_grad
    # dirac: the first block conv passes its first input channels through at the centre tap
    w = AirNet((32, 16, 16)).block1[0].weight
    assert torch.all(w[torch.arange(24), torch.arange(24), 1, 1] == 1)
    with pytest.raises(ValueError, match="widths"):
        AirNet((8, 16))
    with pytest.raises(ValueError, match="whiten_kernel"):
        AirNet(whiten_kernel=4)
    assert {"airnet", "airnet_half"} <= set(MODELS)
    assert MODELS["airnet_half"]().block3[0].out_channels == 128


# -------------------- alternating flips ------------------------------------------------------------
def _loader(seed=3, **kw):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (40, 3, 8, 8), dtype=torch.uint8, generator=g)
    y = torch.arange(40) % 10
    return x, y, RecipeLoader(x, y, 8, seed=seed, **kw)


def test_alternating_flips_alternate_and_batches_are_pure():
    x, y, L = _loader(translate=0)
    assert L.steps_per_epoch == 5
    seen = {}
    for epoch in range(4):
        perm = L._epoch_perm(epoch).clone()
        for j in range(5):
            xb, yb = L.get_batch(epoch * 5 + j)
            idx = perm[j * 8:(j + 1) * 8]
            f = L.flipped(idx, epoch)
            expect = torch.where(f.view(-1, 1, 1, 1), x[idx].flip(3), x[idx]).float() / 255
            torch.testing.assert_close(xb, expect)
            assert torch.equal(yb, y[idx])
            for k, fk in zip(idx.tolist(), f.tolist(), strict=True):
                seen.setdefault(k, {})[epoch] = fk
    for k, by_epoch in seen.items():  # image k flipped in exactly alternate epochs
        assert all(by_epoch[e] != by_epoch[e + 1] for e in range(3)), k
    coins = L.flipped(torch.arange(40), 0)
    assert 0 < int(coins.sum()) < 40  # random in the first epoch
    # batch i is a pure function of (seed, i): another loader, any order, same batch
    _, _, L2 = _loader(translate=2)
    _, _, L3 = _loader(translate=2)
    b7 = L2.get_batch(7)[0]
    for i in (13, 2, 7):
        L3.get_batch(i)
    torch.testing.assert_close(L3.get_batch(7)[0], b7)
    assert not torch.equal(_loader(seed=4, translate=2)[2].get_batch(7)[0], b7)


def test_recipe_loader_other_flip_modes_and_errors():
    x, _, L = _loader(flip="none", translate=0)
    xb, _ = L.get_batch(0)
    torch.testing.assert_close(xb, x[L._epoch_perm(0)[:8]].float() / 255)
    _, _, Lr = _loader(flip="random", translate=1)
    assert Lr.get_batch(3)[0].shape == (8, 3, 8, 8)
    with pytest.raises(ValueError, match="flip"):
        _loader(flip="sometimes")
    with pytest.raises(ValueError, match="translate"):
        _loader(translate=-1)
    with pytest.raises(ValueError, match="batch index"):
        L.get_batch(-1)


# -------------------- weight averaging, BN, TTA ----------------------------------------------------
@pytest.mark.parametrize("mode", ["ema", "lookahead"])
def test_weight_average_math(mode):
    model = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    avg = WeightAverage(model, total_steps=10, mode=mode, every=2, decay=0.5, power=1.0)
    expected = 0.0
    for it in range(10):
        with torch.no_grad():
            model.weight.add_(1.0)  # a "training step"
        current = float(model.weight.detach()[0, 0])
        avg(it)
        done = it + 1
        if done % 2 == 0:
            b = 0.5 ** 2 * done / 10
            assert avg.beta(done) == pytest.approx(b)
            expected = b * expected + (1 - b) * current
            if mode == "lookahead":
                assert float(model.weight.detach()[0, 0]) == pytest.approx(expected)
            else:
                assert float(model.weight.detach()[0, 0]) == pytest.approx(current)
        assert float(avg.model.weight.detach()[0, 0]) == pytest.approx(expected)
    assert avg.updates == 5
    with pytest.raises(ValueError, match="mode"):
        WeightAverage(model, 10, mode="swa")


def test_tta_is_the_mean_of_the_two_logits_and_level_0_is_evaluate():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    x, y = torch.randn(10, 3, 8, 8), torch.randint(0, 3, (10,))
    data = [(x[:6], y[:6]), (x[6:], y[6:])]
    with torch.no_grad():
        logits = (model(x) + model(x.flip(3))) / 2
    res = evaluate_tta(model, data, level=1)
    assert res["n"] == 10
    assert res["acc"] == pytest.approx(float((logits.argmax(1) == y).float().mean()))
    assert res["loss"] == pytest.approx(float(nn.functional.cross_entropy(logits, y)), rel=1e-5)
    plain = evaluate(model, data)
    r0 = evaluate_tta(model, data, level=0, runtime=Runtime(torch.device("cpu")))
    assert r0["acc"] == pytest.approx(plain["acc"]) and r0["loss"] == pytest.approx(plain["loss"], rel=1e-5)
    assert evaluate_tta(model, data, level=2)["n"] == 10
    with pytest.raises(ValueError, match="level"):
        evaluate_tta(model, data, level=4)


def test_recompute_bn_on_the_recipe_loader_uses_its_first_batches():
    m = nn.Sequential(nn.Conv2d(3, 2, 1), nn.BatchNorm2d(2, momentum=0.4))
    x, y, L = _loader(translate=0)
    recompute_bn(m, bn_batches(L, 2))
    with torch.no_grad():
        h = torch.cat([m[0](L.get_batch(i)[0]) for i in range(2)])
    torch.testing.assert_close(m[1].running_mean, h.mean((0, 2, 3)), atol=1e-5, rtol=1e-5)
    assert m[1].momentum == 0.4 and m.training


# -------------------- the recipes and the run ------------------------------------------------------
def test_recipe_tables_hold_every_setting():
    assert set(RECIPES) == {85, 90, 94}
    keys = set(RECIPES[85])
    for target, r in RECIPES.items():
        assert set(r) == keys, target
        assert len(r["widths"]) == 3 and r["epochs"] > 0 and r["batch_size"] >= 64
        assert r["tta"] in (0, 1, 2, 3) and r["curve_tta"] in (0, 1, 2, 3)
        assert 0 < r["pct_start"] < 1 and 0 <= r["momentum"] < 1 and 0 <= r["label_smoothing"] < 1
        assert r["average"]["mode"] in ("lookahead", "ema") and r["flip"] in ("alternate", "random", "none")
        lo, hi = r["peak_bounds"]
        assert 0 < lo <= r["peak_fallback"] <= hi
        assert r["find"]["num_iter"] >= 10 and r["find"]["start_lr"] < r["find"]["end_lr"]
    # more accuracy costs more compute: width × epochs grows with the target
    cost = {t: r["widths"][1] ** 2 * r["epochs"] for t, r in RECIPES.items()}
    assert cost[85] < cost[90] < cost[94]
    with pytest.raises(ValueError, match="target"):
        train_recipe(80, synthetic_cifar10(5, 2))
    with pytest.raises(ValueError, match="unknown recipe keys"):
        train_recipe(85, synthetic_cifar10(5, 2), overrides={"epoch": 1})


def test_train_recipe_end_to_end_on_synthetic_data():
    data = synthetic_cifar10(40, 10, seed=0)
    res = train_recipe(85, data, seed=0, threads=1, val_per_class=5, overrides=TINY)
    assert res.info["train_images"] == 350 and res.info["val_images"] == 50 and res.final_test["n"] == 100
    assert res.range_test.loss_kind == "val"  # the choice reads validation, never test
    assert res.config["peak_bounds"][0] <= res.peak_lr <= res.config["peak_bounds"][1]
    assert len(res.history) == res.info["iterations"] == 3 * 5
    assert [p["epoch"] for p in res.curve] == [1.0, 2.0, 3.0]
    assert 0 <= res.final_test["acc"] <= 1 and res.final_val["n"] == 50
    assert set(res.seconds) == {"setup", "range_test", "training", "curve_eval", "final_eval", "total"}
    assert res.flops["train_per_image"] > 2 * res.flops["eval_per_image"] > 0
    assert res.flops["total"] == pytest.approx(res.flops["range_test"] + res.flops["training"]
                                               + res.flops["evaluation"])
    assert res.info["whiten_bias_steps"] == min(3, TINY["epochs"]) * 5
    # the optimizer's LR followed the one-cycle shape: peak near 23 %, ≈ 0 at the end
    lrs = [lr[0] for lr in res.history.lr]
    assert max(lrs) == pytest.approx(res.peak_lr, rel=0.2) and lrs[-1] < 0.1 * res.peak_lr
    assert res.time_to_target is None  # 3 epochs on 40 images per class never reach the target


def test_cli_target_runs_the_recipe_and_writes_files(monkeypatch, tmp_path, capsys):
    import lrkit.data

    monkeypatch.setattr(lrkit.data, "load_cifar10", lambda *a, **k: synthetic_cifar10(505, 2, seed=1))
    monkeypatch.setitem(RECIPES, 85, {**RECIPES[85], **TINY, "epochs": 5, "batch_size": 25, "eval_batch_size": 500})
    rc = cli.main(["quickstart", "--target", "85", "--out", str(tmp_path), "--no-progress", "--device", "cpu"])
    assert rc == 0
    (run,) = tmp_path.iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["target"] == 85 and summary["val_images"] == 5000 and summary["test_images"] == 20
    for f in ("range_test.png", "training.png", "history.json", "range_test.json"):
        assert (run / f).stat().st_size > 0
    out = capsys.readouterr().out
    assert "time to 85 %" in out and "final test accuracy" in out


@pytest.mark.parametrize("value", ["80", "ninety", "100"])
def test_cli_target_rejects_bad_values(value, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["quickstart", "--target", value])
    assert e.value.code == 2
    assert "--target" in capsys.readouterr().err


def test_fmt_time():
    assert fmt_time(None) == "not reached" and fmt_time(90.0) == "90 s (1.5 min)"


@pytest.mark.parametrize("args, says", [(["--set", "airbench=1"], "needs --target"),
                                        (["--target", "94", "--set", "nope=1"], "unknown recipe keys"),
                                        (["--target", "94", "--set", "tta=7"], "'tta' must be one of"),
                                        (["--target", "94", "--set", "tta"], "KEY=VALUE"),
                                        (["--target", "94", "--set", "tta=1", "tta=2"], "given twice")])
def test_cli_set_rejects_bad_entries_before_loading_data(monkeypatch, args, says, capsys):
    import lrkit.data

    def never(*a, **k):
        raise AssertionError("CIFAR-10 was loaded before --set was checked")

    monkeypatch.setattr(lrkit.data, "load_cifar10", never)
    assert cli.main(["quickstart", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--set" in err and says in err, err


def test_cli_set_reaches_the_recipe(monkeypatch, tmp_path):
    import lrkit.data
    import lrkit.recipe

    seen = {}

    def fake_train_recipe(target, data, **kw):
        seen.update(target=target, overrides=kw["overrides"])
        raise KeyboardInterrupt  # stop here: only the arguments are under test

    monkeypatch.setattr(lrkit.data, "load_cifar10", lambda *a, **k: None)
    monkeypatch.setattr(lrkit.recipe, "train_recipe", fake_train_recipe)
    assert cli.main(["quickstart", "--target", "94", "--set", "airbench=1", "pad_mode=reflect", "--out",
                     str(tmp_path)]) == 130
    assert seen == {"target": 94, "overrides": {"airbench": 1, "pad_mode": "reflect"}}
