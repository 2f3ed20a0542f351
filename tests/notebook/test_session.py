"""lrkit.notebook.session: ``setup`` (parameters, smoke sizes, DEVICE, seed), ``say`` and the record; and
the device path: what a notebook's DEVICE reaches — the model and the batches, through lrkit's loop."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from lrkit.data import cifar10_loaders
from lrkit.notebook import Recorder, current, say, session, setup
from lrkit.training import evaluate, fit, run_schedules, run_wsd_branches
from lrkit.utils import seed_everything


@pytest.fixture(autouse=True)
def fresh_session(monkeypatch):
    monkeypatch.setattr(session, "_CURRENT", None)
    yield


# ------------------------------------------------------------------------------------ setup
def test_setup_applies_smoke_sizes_and_says_so(capsys):
    ns = {"SMOKE": True, "SEED": 3, "ITERATIONS": 3000, "BATCH_SIZE": 128, "DATA_DIR": None, "USE_RULES": {"a": 1}}
    s = setup(ns, smoke={"ITERATIONS": 30, "BATCH_SIZE": 128})
    assert ns["ITERATIONS"] == 30 and s.overrides == {"ITERATIONS": (3000, 30)}   # 128 → 128 is no change
    assert capsys.readouterr().out.strip() == "smoke mode (ITERATIONS 3000 → 30) · seed 3"
    assert current() is s and s.smoke and s.seed == 3


def test_setup_in_full_mode_keeps_the_sizes(capsys):
    ns = {"SMOKE": False, "SEED": 0, "ITERATIONS": 3000}
    setup(ns, smoke={"ITERATIONS": 30})
    assert ns["ITERATIONS"] == 3000 and capsys.readouterr().out.startswith("full mode")


def test_setup_seeds_python_numpy_and_torch():
    setup({"SMOKE": False, "SEED": 5, "DEVICE": "cpu"}, quiet=True)
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    seed_everything(5)
    assert a == (random.random(), np.random.rand(), torch.rand(1).item())


@pytest.mark.parametrize("ns, smoke, match", [
    ({"SMOKE": "yes"}, None, "SMOKE"),
    ({"SMOKE": False, "SEED": -1}, None, "SEED"),
    ({"SMOKE": False, "ITERATIONS": 0}, None, "ITERATIONS"),
    ({"SMOKE": True, "ITERATIONS": 10}, {"ITERATONS": 5}, "ITERATONS"),       # a typo in the smoke sizes
    ({"SMOKE": True, "ITERATIONS": 10}, {"ITERATIONS": -5}, "ITERATIONS"),    # a bad smoke size
    ({"SMOKE": False, "DEVICE": "tpu9"}, None, "DEVICE"),
])
def test_setup_refuses_bad_parameters(ns, smoke, match):
    with pytest.raises(ValueError, match=match):
        setup(ns, smoke=smoke, quiet=True)


def test_setup_keeps_threads(monkeypatch):
    before = torch.get_num_threads()
    try:
        s = setup({"SMOKE": False, "DEVICE": "cpu", "THREADS": 1}, quiet=True)
        assert torch.get_num_threads() == 1 and s.threads == 1 and s.machine["torch_threads"] == 1
    finally:
        torch.set_num_threads(before)


# ------------------------------------------------------------------------------------ DEVICE
def test_device_auto_is_the_cpu_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    ns = {"SMOKE": False, "DEVICE": "auto"}
    assert setup(ns, quiet=True).device == "cpu" and ns["DEVICE"] == "cpu"


def test_device_auto_is_cuda_when_cuda_is_available(monkeypatch):
    """The CUDA path with a mocked CUDA check (CI has no GPU): "auto" names CUDA, and the line says which GPU."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "Fake GPU 80GB")
    ns = {"SMOKE": False, "DEVICE": "auto"}
    s = setup(ns, quiet=True)
    assert ns["DEVICE"] == "cuda" and s.machine["gpu"] == "Fake GPU 80GB" and "(Fake GPU 80GB)" in s.line()
    assert session.resolve_device("cuda:0") == "cuda:0"
    with pytest.raises(ValueError, match="only 1 CUDA device"):
        session.resolve_device("cuda:3")


def test_device_cuda_without_cuda_says_what_to_do(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available.*'auto' or 'cpu'"):
        setup({"SMOKE": False, "DEVICE": "cuda"}, quiet=True)


class _Seen(Exception):
    """Raised by the probe after the first forward pass: the devices are known, nothing more to run."""


def _probe(model, seen, stop=False):
    def hook(module, args):
        seen.append((args[0].device.type, next(module.parameters()).device.type))
        if stop:
            raise _Seen

    return model.register_forward_pre_hook(hook)


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                               torch.nn.Linear(4, 10))


def test_model_and_batches_reach_the_cpu(synthetic):
    """The CI path: DEVICE = "cpu" — the loaders, fit, evaluate and run_schedules put everything there."""
    L = cifar10_loaders(synthetic, batch_size=16, test_per_class=2, device="cpu")
    assert L.train.get_batch(0)[0].device.type == "cpu" and L.test.x.device.type == "cpu"
    model, seen = _net(), []
    _probe(model, seen)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    fit(model, opt, L.train, iterations=2, eval_data=L.test, device="cpu", progress=False)
    evaluate(model, L.test, device="cpu")
    assert seen and set(seen) == {("cpu", "cpu")}


@pytest.mark.parametrize("runner", ["fit", "evaluate", "run_schedules", "run_wsd_branches", "loaders"])
def test_model_and_batches_reach_a_fake_device(synthetic, runner, monkeypatch):
    """The other-device path on the "meta" device (shapes only, no data): a model built on the CPU and
    CPU batches reach the requested device inside lrkit's loop; the probe stops at the first forward.
    (torch has no autocast for "meta", not even a disabled one: the runtime's context is a no-op here.)"""
    import contextlib

    from lrkit.schedules import WSD, Constant
    from lrkit.training.runtime import Runtime

    monkeypatch.setattr(Runtime, "autocast", lambda self: contextlib.nullcontext())
    L = cifar10_loaders(synthetic, batch_size=16, test_per_class=2)        # on the CPU
    seen = []
    make = lambda: (lambda m: (_probe(m, seen, stop=True), m)[1])(_net())  # noqa: E731
    sgd = lambda m, lr: torch.optim.SGD(m.parameters(), lr=lr)             # noqa: E731
    with pytest.raises(_Seen):
        if runner == "fit":
            m = make()
            fit(m, sgd(m, 0.1), L.train, iterations=1, device="meta", progress=False)
        elif runner == "evaluate":
            evaluate(make(), L.test, device="meta")
        elif runner == "run_schedules":
            run_schedules(make, sgd, L.train, {"c": Constant(0.1)}, iterations=1, device="meta")
        elif runner == "run_wsd_branches":
            run_wsd_branches(make, sgd, L.train, WSD(0.1, 10, warmup_steps=1, cooldown_frac=0.2), [5], device="meta")
        else:  # the loaders keep their images on the device: the batches are born there
            M = cifar10_loaders(synthetic, batch_size=16, test_per_class=2, device="meta")
            assert M.train.get_batch(0)[0].device.type == "meta"
            m = make().to("meta")
            fit(m, sgd(m, 0.1), M.train, iterations=1, progress=False)
    assert seen == [("meta", "meta")]


# ------------------------------------------------------------------------------------ say and the record
def test_say_prints_and_keeps_template_inputs_and_text(capsys):
    setup({"SMOKE": False}, quiet=True)
    say("lead", "In this run {name} ended {d:.2f} pp ahead ({k} of {n}).", name="SGDR", d=np.float64(1.234), k=2, n=3)
    assert capsys.readouterr().out == "In this run SGDR ended 1.23 pp ahead (2 of 3).\n"
    s = current().sentences["lead"]
    assert s == {"template": "In this run {name} ended {d:.2f} pp ahead ({k} of {n}).",
                 "inputs": {"name": "SGDR", "d": 1.234, "k": 2, "n": 3},
                 "text": "In this run SGDR ended 1.23 pp ahead (2 of 3)."}
    assert s["template"].format(**s["inputs"]) == s["text"]     # what the notebook test re-renders


def test_say_refuses_a_template_naming_a_missing_input():
    with pytest.raises(ValueError, match="names 'lead'"):
        say("x", "ended {lead}", led="ahead")


def test_the_record_holds_the_run_and_every_sentence(tmp_path):
    setup({"SMOKE": True, "SEED": 0, "DEVICE": "cpu", "N": 10}, smoke={"N": 2}, quiet=True)
    say("a", "{x} and {y}", x=1, y="two")
    rec = Recorder(tmp_path / "r.json", notebook="nb", smoke=True)
    rec("k", 1.5)
    got = json.loads((tmp_path / "r.json").read_text())
    assert got["sentences"] == {"a": {"template": "{x} and {y}", "inputs": {"x": 1, "y": "two"}, "text": "1 and two"}}
    run = got["meta"]["run"]
    assert run["device"] == "cpu" and run["smoke"] is True and run["overrides"] == {"N": [10, 2]}
    assert {"cpu", "cores", "torch", "torch_threads", "python"} <= set(run["machine"])
    assert got["k"] == 1.5 and got["meta"]["notebook"] == "nb"
