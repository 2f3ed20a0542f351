"""benchmarks/bench_suggestion_quality.py: the regret function, resume, and the smoke scale end to end
(~20 s on one busy CPU thread, so not marked slow)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_suggestion_quality.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_suggestion_quality", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    try:
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.modules.pop(spec.name, None)


def test_regret_interpolates_in_log_lr_and_clamps(bench):
    lrs, accs = [1e-3, 1e-2, 1e-1], [0.5, 0.8, 0.2]
    assert bench.regret(lrs, accs, 1e-2) == pytest.approx(0.0)
    assert bench.interp_acc(lrs, accs, 1e-3) == pytest.approx(0.5)
    # half way in log10 between 1e-3 and 1e-2 (not half way in LR)
    assert bench.interp_acc(lrs, accs, 10 ** -2.5) == pytest.approx(0.65)
    assert bench.regret(lrs, accs, 10 ** -2.5) == pytest.approx(0.15)
    assert bench.interp_acc(lrs, accs, 10 ** -1.25) == pytest.approx(0.8 - 0.75 * 0.6)
    # clamped outside the grid
    assert bench.interp_acc(lrs, accs, 1e-6) == pytest.approx(0.5)
    assert bench.regret(lrs, accs, 10.0) == pytest.approx(0.6)
    # unsorted grid gives the same answer
    assert bench.interp_acc(lrs[::-1], accs[::-1], 10 ** -2.5) == pytest.approx(0.65)
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError):
            bench.regret(lrs, accs, bad)
    with pytest.raises(ValueError):
        bench.regret([1e-3], [0.1, 0.2], 1e-3)


def test_the_store_resumes_and_refuses_another_config(tmp_path):
    from lrkit.bench.store import BenchError, cached

    p = tmp_path / "x.json"
    calls = []
    r1 = cached(p, {"a": 1}, lambda: calls.append(1) or {"v": 2})
    r2 = cached(p, {"a": 1}, lambda: calls.append(1) or {"v": 3})
    assert calls == [1] and r1["v"] == r2["v"] == 2 and r1["config"] == {"a": 1}
    before = p.read_text()
    with pytest.raises(BenchError, match="another configuration"):
        cached(p, {"a": 2}, lambda: {"v": 4})
    assert p.read_text() == before


def test_mean_ci_is_a_t_interval(bench):
    m, h = bench.mean_ci([1.0, 2.0, 3.0])
    assert m == pytest.approx(2.0) and h == pytest.approx(4.303 * 1.0 / math.sqrt(3))
    assert math.isnan(bench.mean_ci([5.0])[1])


def test_tasks_cover_nets_optimizers_uses_and_batches(bench):
    ev = [t for t in bench.TASKS.values() if t.role == "eval"]
    assert len(ev) >= 8
    assert {t.model for t in ev} >= {"caffe_cifar10_full", "resnet20", "fastnet", "mlp"}
    assert {t.optimizer for t in ev} >= {"sgd", "nesterov", "adam", "adamw"}
    assert {t.schedule for t in ev} >= {"constant", "one_cycle", "clr"}
    assert min(t.batch_size for t in ev) <= 64 and max(t.batch_size for t in ev) >= 512
    assert not {t.name for t in ev} & {t.name for t in bench.TASKS.values() if t.role == "tuning"}
    for t in bench.TASKS.values():  # >= 9 LRs over >= 3 decades
        assert t.grid[1] - t.grid[0] >= 3 and bench.SCALES["full"]["grid_points"] >= 9
    assert bench.SCALES["full"]["seeds"] >= 3


def test_smoke_scale_end_to_end(bench, tmp_path):
    from lrkit.data import DataNotFoundError, load_cifar10

    try:
        load_cifar10(download=False)
    except DataNotFoundError as e:
        pytest.skip(f"real CIFAR-10 not available: {e}")
    sc = bench.SCALES["smoke"]
    summary = bench.run("smoke", out=tmp_path, finders=["lrkit"], log=lambda *a, **k: None)
    for t in sc["tasks"]:
        for s in range(sc["seeds"]):
            files = {p.name for p in (tmp_path / t / f"seed{s}").glob("*.json")}
            assert len([f for f in files if f.startswith("train_lr")]) == sc["grid_points"]
            assert "sweep_lrkit.json" in files
            per = summary["per_task"][f"{t}/seed{s}"]
            assert all(r >= -1e-9 for r in per["regret"].values())
            assert "lrkit" in per["suggestions"] and any(m.startswith("cand:") for m in per["suggestions"])
    for use in ("constant", "clr"):
        assert "lrkit" in summary["eval"].get(use, summary["tuning"].get(use))["methods"]
    table = (tmp_path / "table.md").read_text()
    assert "Evaluation tasks" in table and "Tuning tasks" in table
    assert json.loads((tmp_path / "summary.json").read_text())["scale"] == "smoke"
    # a second run re-uses every result file (nothing recomputed, nothing rewritten)
    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("seed*/*.json")}
    bench.run("smoke", out=tmp_path, finders=["lrkit"], log=lambda *a, **k: None)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("seed*/*.json")} == mtimes
