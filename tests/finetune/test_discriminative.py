"""Layer groups, discriminative LRs, freezing and gradual unfreezing (lrkit.finetune)."""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from lrkit import models as M
from lrkit.data import cifar10_loaders
from lrkit.finetune import (
    ULMFIT_FACTOR,
    GradualUnfreezing,
    LayerGroups,
    discriminative_lrs,
    layer_groups,
    split_by_depth,
)
from lrkit.schedules import SlantedTriangular
from lrkit.training import ScheduledLR, fit

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These models are tiny: one intra-op thread is as fast, and far faster when another job
    shares the 2-core machine (oversubscribed threads spin). Restored after the module."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _check_partition(model: nn.Module, g: LayerGroups) -> None:
    ids = [id(p) for ps in g.params for p in ps]
    assert len(ids) == len(set(ids)), "a parameter is in two groups"
    assert set(ids) == {id(p) for p in model.parameters()}, "a parameter is in no group"
    assert all(len(ps) > 0 for ps in g.params)
    # ordered input -> output: group k's params all come before group k+1's in registration order
    order = {id(p): i for i, p in enumerate(model.parameters())}
    spans = [(min(order[id(p)] for p in ps), max(order[id(p)] for p in ps)) for ps in g.params]
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:], strict=False))
    names = dict(model.named_parameters())
    for pn, ps in zip(g.param_names, g.params, strict=True):
        assert [id(names[n]) for n in pn] == [id(p) for p in ps]


PRESETS = {
    "caffe_cifar10_full": ["conv1", "conv2", "conv3", "fc"],
    "resnet20": ["stem", "layer1", "layer2", "layer3", "fc"],
    "resnet56": ["stem", "layer1", "layer2", "layer3", "fc"],
    "fastnet": ["stem", "block1", "block2", "block3", "head"],
    "resnet18": ["stem", "layer1", "layer2", "layer3", "layer4", "head"],
}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_partition_every_parameter(name):
    model = M.get_model(name, num_classes=4)
    g = layer_groups(model)
    assert g.names == PRESETS[name]
    _check_partition(model, g)


def test_torchvision_resnet50_preset():
    import torchvision

    model = torchvision.models.resnet50(weights=None)
    g = layer_groups(model)
    assert g.names[0] == "stem" and g.names[-1] == "head" and len(g) == 6
    _check_partition(model, g)


@pytest.mark.parametrize("name", ["resnet20", "fastnet", "caffe_cifar10_full"])
@pytest.mark.parametrize("by", ["params", "children"])
def test_split_by_depth_partitions(name, by):
    model = M.get_model(name, num_classes=4)
    n_children = sum(1 for c in model.children() if any(True for _ in c.parameters()))
    for n in range(1, n_children + 1):
        g = split_by_depth(model, n, by=by)
        assert len(g) == n
        _check_partition(model, g)
    with pytest.raises(ValueError, match="n="):
        split_by_depth(model, 10_000, by=by)


def test_split_by_depth_params_is_balanced():
    model = M.resnet56()
    sizes = split_by_depth(model, 4).sizes()
    total = sum(sizes)
    # greedy cuts at module boundaries: every group within a layer's size of total/4
    biggest_module = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules())
    assert all(abs(s - total / 4) <= biggest_module for s in sizes), sizes


def test_boundaries_and_explicit_groups():
    model = M.resnet20()
    g = layer_groups(model, ["layer2", "layer3", "fc"])
    assert g.names == ["start", "layer2", "layer3", "fc"]
    _check_partition(model, g)
    assert g.param_names[0][:3] == ["conv1.weight", "bn1.weight", "bn1.bias"]
    g2 = layer_groups(model, ["conv1", "layer2.1", "fc"])  # dotted names, no leading group
    assert g2.names == ["conv1", "layer2.1", "fc"]
    _check_partition(model, g2)
    g3 = layer_groups(model, {"body": ["conv1", "bn1", "layer1", "layer2"], "top": ["layer3", "fc"]})
    assert g3.names == ["body", "top"]
    _check_partition(model, g3)


def test_bad_group_specs_name_the_argument():
    model = M.resnet20()
    with pytest.raises(ValueError, match=r"boundaries: the model has no module 'layer9'"):
        layer_groups(model, ["layer2", "layer9"])
    with pytest.raises(ValueError, match=r"spec: the model has no module 'nope'"):
        layer_groups(model, {"a": ["nope"]})
    msg = r"spec: 2 parameter\(s\) are in no group: \['bn1.weight', 'bn1.bias'\]"
    with pytest.raises(ValueError, match=msg):
        layer_groups(model, {"a": ["conv1"], "b": ["layer1", "layer2", "layer3", "fc"]})
    with pytest.raises(ValueError, match=r"spec: groups overlap: parameter 'layer1.0.conv1.weight'"):
        layer_groups(model, {"a": ["conv1", "bn1", "layer1"], "b": ["layer1.0", "layer2", "layer3", "fc"]})
    with pytest.raises(ValueError, match="boundaries: 'layer2' does not come after 'layer3'"):
        layer_groups(model, ["layer3", "layer2"])
    with pytest.raises(ValueError, match="boundaries: .*no parameters"):
        layer_groups(M.caffe_cifar10_full(), ["conv1", "norm1"])
    with pytest.raises(ValueError, match="model: no preset"):
        layer_groups(nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="by must be"):
        split_by_depth(model, 2, by="flops")
    with pytest.raises(ValueError, match="n must be"):
        split_by_depth(model, 0)


# --------------------------------------------------------------------------------------------------
# per-group LRs
# --------------------------------------------------------------------------------------------------
def test_spreads():
    lrs = discriminative_lrs(5, slice(1e-4, 1e-2))
    assert lrs[0] == pytest.approx(1e-4) and lrs[-1] == pytest.approx(1e-2)
    assert np.allclose(np.diff(np.log(lrs)), math.log(10) / 2)  # geometric
    assert discriminative_lrs(3, (1e-3, 1e-1)) == pytest.approx([1e-3, 1e-2, 1e-1])
    assert discriminative_lrs(3, slice(0.1)) == pytest.approx([0.01, 0.01, 0.1])
    ulm = discriminative_lrs(4, 0.1, factor=ULMFIT_FACTOR)
    assert ulm[-1] == pytest.approx(0.1)
    for lower, upper in zip(ulm, ulm[1:], strict=False):
        assert lower == pytest.approx(upper / 2.6)
    assert discriminative_lrs(3, [1e-3, 2e-3, 5e-3]) == [1e-3, 2e-3, 5e-3]
    assert discriminative_lrs(3, 0.05) == [0.05] * 3
    assert discriminative_lrs(1, slice(1e-3, 1e-2)) == [1e-2]


def test_bad_spreads_name_the_argument():
    with pytest.raises(ValueError, match=r"lr: the spread's lo \(0.1\) must be <= hi \(0.01\)"):
        discriminative_lrs(3, slice(0.1, 0.01))
    with pytest.raises(ValueError, match="lr: 2 values for 3"):
        discriminative_lrs(3, [0.1, 0.2])
    with pytest.raises(ValueError, match="lr"):
        discriminative_lrs(3, -0.1)
    with pytest.raises(ValueError, match="factor must be >= 1"):
        discriminative_lrs(3, 0.1, factor=0.5)
    with pytest.raises(ValueError, match="factor goes with a single lr"):
        discriminative_lrs(3, slice(0.01, 0.1), factor=2.6)


def test_param_groups_for_any_optimizer_with_extra_kwargs():
    model = M.fastnet(4)
    g = layer_groups(model)
    pg = g.param_groups(slice(1e-3, 1e-1), weight_decay=5e-4, momentum=[0.8, 0.8, 0.9, 0.9, 0.9])
    assert [d["name"] for d in pg] == g.names
    assert all(d["weight_decay"] == 5e-4 for d in pg)
    opt = torch.optim.SGD(pg, lr=1.0)
    assert [grp["lr"] for grp in opt.param_groups] == pytest.approx(discriminative_lrs(5, slice(1e-3, 1e-1)))
    assert [grp["momentum"] for grp in opt.param_groups] == [0.8, 0.8, 0.9, 0.9, 0.9]
    assert [grp["name"] for grp in opt.param_groups] == g.names
    adam = torch.optim.AdamW(g.param_groups(1e-3, factor=2.6, betas=(0.9, 0.99)))
    assert adam.param_groups[0]["betas"] == (0.9, 0.99)
    with pytest.raises(ValueError, match="momentum has 2 values for 5 groups"):
        g.param_groups(0.1, momentum=[0.9, 0.9])


def test_scheduler_adapter_keeps_group_ratios():
    model = M.fastnet(4)
    g = layer_groups(model)
    lrs = discriminative_lrs(len(g), 0.1, factor=2.6)
    opt = torch.optim.SGD(g.param_groups(0.1, factor=2.6), lr=0.1, momentum=0.9)
    sched = SlantedTriangular(0.1, 50, cut_frac=0.2)
    s = ScheduledLR(opt, sched, multipliers="initial")
    ratios = [lr / 0.1 for lr in lrs]
    x = torch.randn(4, 3, 16, 16)
    for t in range(6):
        got = [grp["lr"] for grp in opt.param_groups]
        assert got == pytest.approx([float(sched(t)) * r for r in ratios], rel=1e-12)
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()
        s.step()


def test_range_test_sweeps_groups_keeping_ratios(synthetic):
    from lrkit.rangetest import lr_find

    model = M.caffe_cifar10_full(10)
    g = layer_groups(model)
    opt = torch.optim.SGD(g.param_groups(slice(1e-3, 1e-1)), lr=0.1, momentum=0.9)
    loaders = cifar10_loaders(synthetic, batch_size=32, augment=False)
    rt = lr_find(model, loaders.train, opt, start_lr=1e-4, end_lr=1.0, num_iter=6, progress=False)
    lr = np.asarray(rt.lr)
    assert rt.ref_group == len(g) - 1
    want = np.asarray(discriminative_lrs(len(g), slice(1e-3, 1e-1))) / 0.1
    assert np.allclose(lr / lr[:, -1:], want[None, :])
    restored = [grp["lr"] for grp in opt.param_groups]
    assert restored == pytest.approx(discriminative_lrs(len(g), slice(1e-3, 1e-1)))


# --------------------------------------------------------------------------------------------------
# freezing
# --------------------------------------------------------------------------------------------------
def _train_steps(model, opt, n=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(n):
        x = torch.randn(8, 3, 16, 16, generator=gen)  # the models are size-agnostic; 16² is cheaper
        y = torch.randint(0, 4, (8,), generator=gen)
        model.train()
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def _bn_modules(groups: LayerGroups, k: int) -> list[nn.BatchNorm2d]:
    return [m for top in groups.modules[k] for m in top.modules() if isinstance(m, nn.BatchNorm2d)]


@pytest.mark.parametrize("opt_name", ["sgd", "adamw", "caffe"])
def test_frozen_groups_bit_identical_train_bn_false(opt_name):
    torch.manual_seed(0)
    model = M.resnet20(4)
    g = layer_groups(model)
    pg = g.param_groups(slice(1e-2, 1e-1), weight_decay=5e-3)
    if opt_name == "sgd":
        opt = torch.optim.SGD(pg, lr=0.1, momentum=0.9)
    elif opt_name == "adamw":
        opt = torch.optim.AdamW(pg, lr=0.1)
    else:
        from lrkit.training import CaffeSGD

        opt = CaffeSGD(pg, lr=0.1, momentum=0.9, weight_decay=5e-3)
    _train_steps(model, opt, 2)  # momentum buffers / Adam moments exist for every group now
    g.freeze_to(3, train_bn=False)
    before = copy.deepcopy(model.state_dict())
    _train_steps(model, opt, 4, seed=1)
    model.train()  # still eval for frozen BN, after any number of train() calls
    _train_steps(model, opt, 1, seed=2)
    after = model.state_dict()
    frozen_prefixes = ("conv1.", "bn1.", "layer1.", "layer2.")
    for k, v in before.items():
        if k.startswith(frozen_prefixes):
            assert torch.equal(v, after[k]), k  # weights, biases, running stats, num_batches_tracked
        elif k.endswith("weight") and "bn" not in k:
            assert not torch.equal(v, after[k]), k
    for p in (p for ps in g.params[:3] for p in ps):
        assert not p.requires_grad and p.grad is None
    # the frozen BN ran in eval mode: a forward in train mode leaves the flag False
    assert all(not m.training for m in _bn_modules(g, 1))
    assert all(m.training for m in _bn_modules(g, 3))
    # unfreezing restores normal behaviour
    g.unfreeze()
    model.train()
    assert all(m.training for k in range(len(g)) for m in _bn_modules(g, k))
    assert all(p.requires_grad for p in model.parameters())
    _train_steps(model, opt, 1, seed=3)
    key = "layer1.0.bn1.running_mean"
    assert not torch.equal(before[key], model.state_dict()[key])


def test_frozen_groups_default_train_bn_updates_bn():
    torch.manual_seed(0)
    model = M.fastnet(4)
    g = layer_groups(model)
    opt = torch.optim.SGD(g.param_groups(0.05, factor=2.6, weight_decay=5e-4), lr=0.05, momentum=0.9)
    g.freeze()  # = freeze_to(-1): only the head trains; BN stays trainable and updating
    assert g.trainable() == [True, True, True, True, True]  # BN params still train in each group
    assert g.frozen_to == 4
    before = copy.deepcopy(model.state_dict())
    _train_steps(model, opt, 3)
    after = model.state_dict()
    conv_keys = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    for n in conv_keys:
        assert torch.equal(before[n + ".weight"], after[n + ".weight"]), n
    bn_keys = [n for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]
    for n in bn_keys:
        assert not torch.equal(before[n + ".running_mean"], after[n + ".running_mean"]), n
        assert not torch.equal(before[n + ".weight"], after[n + ".weight"]), n
    assert not torch.equal(before["head.weight"], after["head.weight"])
    # train_bn=True but statistics frozen: BN params learn, running stats stay
    g.freeze_to(-1, train_bn=True, update_bn_stats=False)
    before = copy.deepcopy(model.state_dict())
    _train_steps(model, opt, 2)
    after = model.state_dict()
    n = bn_keys[0]
    assert torch.equal(before[n + ".running_mean"], after[n + ".running_mean"])
    assert not torch.equal(before[n + ".weight"], after[n + ".weight"])


def test_frozen_bn_survives_deepcopy_and_bad_k():
    model = M.resnet20(4)
    g = layer_groups(model)
    g.freeze_to(2, train_bn=False)
    clone = copy.deepcopy(model)
    clone.train()
    clone(torch.randn(2, 3, 32, 32))
    assert not clone.bn1.training and clone.layer2[0].bn1.training
    with pytest.raises(ValueError, match="k=6 is beyond the 5 layer groups"):
        g.freeze_to(6)
    with pytest.raises(ValueError, match="k=-6 is beyond"):
        g.freeze_to(-6)
    g.freeze_to(-5)  # = unfreeze
    assert all(p.requires_grad for p in model.parameters())


# --------------------------------------------------------------------------------------------------
# gradual unfreezing
# --------------------------------------------------------------------------------------------------
def test_gradual_unfreezing_with_fit_and_stlr(synthetic):
    torch.manual_seed(0)
    model = M.fastnet(10)
    g = layer_groups(model)
    opt = torch.optim.SGD(g.param_groups(0.05, factor=2.6), lr=0.05, momentum=0.9, weight_decay=5e-4)
    loaders = cifar10_loaders(synthetic, batch_size=16, augment=False)
    total = 12
    sched = ScheduledLR(opt, SlantedTriangular(0.05, total, cut_frac=0.25), multipliers="initial")
    unfreeze = GradualUnfreezing(g, every=3, train_bn=False)
    assert g.trainable() == [False, False, False, False, True]
    snaps = {}

    def spy(it, hist):
        snaps[it + 1] = (g.trainable(), copy.deepcopy(model.stem.state_dict()))

    start = copy.deepcopy(model.stem.state_dict())
    hist = fit(model, opt, loaders.train, iterations=total, scheduler=sched, callbacks=[unfreeze, spy],
               progress=False)
    assert unfreeze.events == [(0, 1), (3, 2), (6, 3), (9, 4), (12, 5)]
    assert snaps[2][0] == [False, False, False, False, True]
    assert snaps[3][0] == [False, False, False, True, True]
    assert snaps[11][0] == [False, True, True, True, True]
    assert snaps[12][0] == [True] * 5
    # the stem (group 0) stayed bit-identical (weights and BN statistics) while it was frozen
    for k, v in start.items():
        assert torch.equal(v, snaps[11][1][k]), k
    # every group's LR is the STLR value times its ratio
    ratios = np.asarray(discriminative_lrs(5, 0.05, factor=2.6)) / 0.05
    lrs = np.asarray(hist.lr)
    want = np.asarray(SlantedTriangular(0.05, total, cut_frac=0.25)(np.arange(total)))[:, None] * ratios
    assert np.allclose(lrs, want, rtol=1e-12)


def test_gradual_unfreezing_bad_input():
    g = layer_groups(M.resnet20())
    with pytest.raises(ValueError, match="every must be a positive int"):
        GradualUnfreezing(g, every=0)
    with pytest.raises(ValueError, match="exactly one of every"):
        GradualUnfreezing(g)
    with pytest.raises(ValueError, match="at must be increasing"):
        GradualUnfreezing(g, at=[5, 3])
    with pytest.raises(ValueError, match="at has 5 milestones"):
        GradualUnfreezing(g, at=[1, 2, 3, 4, 5])
    gu = GradualUnfreezing(g, at=[10, 20])
    assert [gu.open_groups(i) for i in (0, 9, 10, 19, 20, 100)] == [1, 1, 2, 2, 3, 3]


# --------------------------------------------------------------------------------------------------
# the experiment (lrkit.bench.experiments.discriminative) through its script
# --------------------------------------------------------------------------------------------------
def test_experiment_smoke_end_to_end(tmp_path):
    out = tmp_path / "out"
    folder = out / "discriminative" / "smoke"
    env = {**os.environ, "MPLBACKEND": "Agg"}
    env.pop("LRKIT_RESNET18_WEIGHTS", None)
    cmd = [sys.executable, str(ROOT / "benchmarks" / "discriminative_experiment.py"), "--synthetic",
           "--scale", "smoke", "--seeds", "2", "--out", str(out), "--threads", "1"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)  # a hang guard, not a bound
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    arms = ["scratch", "frozen", "full", "discriminative", "gradual"]
    files = sorted(p.name for p in folder.glob("*-seed*.json"))
    assert files == sorted(f"{a}-seed{s}.json" for a in arms for s in (0, 1)), files
    results = {p.name: json.loads(p.read_text()) for p in folder.glob("*-seed*.json")}
    for name, r in results.items():
        assert r["format"] == "lrkit-bench-result-1" and r["experiment"] == "discriminative", name
        assert 0 <= r["final"]["acc"] <= 1 and r["data_source"] == "synthetic"
        assert len(r["history"]["evals"]) >= 4  # evaluated along the way, not only at the end
        assert r["chosen_lr"]["low"] <= r["chosen_lr"]["lr"] <= r["chosen_lr"]["high"]
    r = results["discriminative-seed0.json"]
    assert r["groups"] == ["stem", "block1", "block2", "block3", "head"] and len(r["group_lrs"]) == 5
    assert np.allclose(np.array(r["group_lrs"][1:]) / np.array(r["group_lrs"][:-1]), ULMFIT_FACTOR)
    g = results["gradual-seed1.json"]
    assert [n for _, n in g["unfreeze_events"]] == [1, 2, 3, 4, 5]
    assert g["chosen_lr"]["lr"] == r["chosen_lr"]["lr"]  # gradual uses discriminative's range test
    assert "| run |" in res.stdout and "ULMFiT's claim" in res.stdout and "skipping" in res.stdout.lower()
    assert (out / "figures" / "discriminative-smoke.png").exists()
    # rerun: everything is done, nothing is recomputed (no range test, no pre-training, files untouched)
    def stamps():  # the manifest is rewritten (same content) by every run
        return {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.name != "manifest.json"}

    before = stamps()
    res2 = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True, timeout=120)
    assert res2.returncode == 0, res2.stderr[-3000:]
    assert res2.stdout.count("done already") == 10
    assert "lr=" not in res2.stdout  # the range tests' and the pre-training's log lines
    assert stamps() == before
