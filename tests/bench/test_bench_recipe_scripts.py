"""benchmarks/tune_recipe.py, benchmarks/profile_recipe.py and benchmarks/gpu_vs_airbench.py: bad input,
and a tiny run of each on synthetic data (a few seconds; airbench itself needs CUDA and is not run here)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from lrkit.data import synthetic_cifar10

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
TINY = {"widths": (8, 16, 16), "batch_size": 64, "whiten_images": 200, "eval_batch_size": 100,
        "bn_recompute_batches": 2,
        "find": {"start_lr": 1e-2, "end_lr": 30.0, "num_iter": 12, "smoothing": 0.2, "val_batches": 1}}


def _load(name):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.modules.pop(spec.name, None)
    return mod


@pytest.mark.parametrize("argv, message", [
    (["--target", "90", "--set", "epochs"], "expected KEY=VALUE"),
    (["--target", "90", "--set", "epochs=ten"], "not a Python literal"),
    (["--target", "90", "--set", "epoch=10"], "unknown recipe keys ['epoch']"),
    (["--target", "91"], "--target"),
    (["--target", "90", "--seeds", "0"], "--seeds"),
    (["--target", "90", "--val-per-class", "0"], "--val-per-class"),
    (["--target", "90", "--device", "tpu9"], "--device"),
])
def test_tune_recipe_refuses_bad_input_before_any_work(argv, message, tmp_path, capsys):
    tune = _load("tune_recipe")
    with pytest.raises(SystemExit) as e:
        tune.main([*argv, "--out", str(tmp_path)])
    assert e.value.code == 2 and message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_tune_recipe_stores_each_seed_and_reuses_it(tmp_path, capsys):
    tune = _load("tune_recipe")
    data = synthetic_cifar10(40, 10, seed=0)
    argv = ["--target", "85", "--seeds", "2", "--val-per-class", "5", "--out", str(tmp_path),
            "--set", "epochs=2", *[a for k, v in TINY.items() for a in ("--set", f"{k}={v!r}")]]
    assert tune.main(argv, data=data) == 0
    runs = sorted(tmp_path.glob("target85-*/seed*/summary.json"))
    assert [p.parent.name for p in runs] == ["seed0", "seed1"]
    assert all(c.isalnum() or c in "._-" for c in runs[0].parent.parent.name)  # a clean folder name
    vals = [100 * json.loads(p.read_text())["final_val"]["acc"] for p in runs]
    out = capsys.readouterr().out
    assert f"validation {vals[0]:.2f} %" in out and "median validation accuracy" in out
    stamp = [p.stat().st_mtime_ns for p in runs]
    assert tune.main(argv, data=None) == 0  # stored: no data needed, nothing retrained
    assert [p.stat().st_mtime_ns for p in runs] == stamp
    # a stored run of another configuration (here: another validation split) is refused, not reused
    assert tune.main([*argv, "--val-per-class", "4"], data=None) == 2
    assert "another recipe configuration" in capsys.readouterr().err
    # … and so is one whose recipe changed since (here: its stored epochs edited)
    summary = json.loads(runs[1].read_text())
    summary["config"]["epochs"] = 3
    runs[1].write_text(json.dumps(summary))
    assert tune.main(argv, data=None) == 2 and "seed1 holds a run of another" in capsys.readouterr().err


def test_profile_recipe_writes_operator_shares(tmp_path, capsys):
    prof = _load("profile_recipe")
    assert prof.group_of("aten::convolution_backward") == "convolution (forward + backward)"
    assert prof.group_of("aten::native_batch_norm") == "BatchNorm (forward + backward)"
    assert prof.group_of("aten::something_new") == "other"
    assert prof.group_of("autograd::engine::evaluate_function: ConvolutionBackward0").startswith("autograd engine")
    data = synthetic_cifar10(40, 10, seed=0)
    assert prof.main(["--epochs", "1", "--threads", "1", "--out", str(tmp_path)], data=data, overrides=TINY,
                     val_per_class=5) == 0
    rec = json.loads((tmp_path / "profile85.json").read_text())
    assert rec["iterations"] > 0 and rec["self_cpu_seconds"] > 0
    assert sum(g["share"] for g in rec["groups"].values()) == pytest.approx(1.0)
    assert sum(o["share"] for o in rec["ops"]) == pytest.approx(1.0)
    assert rec["groups"]["convolution (forward + backward)"]["share"] > 0
    assert "| group |" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        prof.main(["--epochs", "0", "--out", str(tmp_path)])


@pytest.mark.parametrize("argv, message", [
    (["--runs", "1"], "one of the arguments --data-dir --synthetic is required"),
    (["--synthetic", "--runs", "0"], "--runs"),
    (["--synthetic", "--target", "91"], "--target"),
    (["--synthetic", "--set", "epoch=1"], "unknown recipe keys ['epoch']"),
    (["--synthetic", "--out", "/nonexistent-folder/x.json"], "--out"),
])
def test_gpu_vs_airbench_refuses_bad_input_before_any_work(argv, message, tmp_path, capsys):
    mod = _load("gpu_vs_airbench")
    argv = argv if "--out" in argv else argv + ["--out", str(tmp_path / "r.json")]
    with pytest.raises(SystemExit) as e:
        mod.main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_gpu_vs_airbench_needs_cuda_and_says_so(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    mod = _load("gpu_vs_airbench")
    assert mod.main(["--synthetic", "--device", "cpu", "--out", str(tmp_path / "r.json")]) == 2
    assert "needs a CUDA device" in capsys.readouterr().err and not (tmp_path / "r.json").exists()


def test_gpu_vs_airbench_data_and_lrkit_side(tmp_path):
    """airbench's files hold the same images (HWC uint8) and labels; the lrkit side times a warm-up and
    then each seed, and its time to a model is setup + range test + training."""
    import torch

    mod = _load("gpu_vs_airbench")
    data = synthetic_cifar10(60, 5, seed=0)
    mod.write_airbench_data(data, tmp_path / "cifar10")
    train = torch.load(tmp_path / "cifar10" / "train.pt")
    test = torch.load(tmp_path / "cifar10" / "test.pt")
    assert train["images"].shape == (600, 32, 32, 3) and train["images"].dtype == torch.uint8
    assert torch.equal(train["images"].permute(0, 3, 1, 2), data.train_x) and torch.equal(test["labels"], data.test_y)
    assert train["classes"] == list(data.classes)
    recs = mod.run_lrkit(data, 1, 85, {**TINY, "epochs": 2, "curve_every": 1.0}, "cpu",
                         val_per_class=10)
    (r,) = recs
    assert r["run"] == 0 and r["epochs"] == 2 and r["steps"] > 1 and r["range_test_steps"] > 0
    s = r["seconds"]
    assert r["to_model_seconds"] == pytest.approx(s["setup"] + s["range_test"] + s["training"])
    assert 0 < r["to_model_seconds"] <= r["wall_seconds"]
