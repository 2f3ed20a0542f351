"""benchmarks/bench_suggestion_quality.py: the regret function, resume, and the smoke scale end to end
(~20 s on one busy CPU thread, so not marked slow)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_suggestion_quality.py"


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


def test_cached_resumes_and_refuses_another_config(bench, tmp_path):
    p = tmp_path / "x.json"
    calls = []
    r1 = bench.cached(p, {"a": 1}, lambda: calls.append(1) or {"v": 2})
    r2 = bench.cached(p, {"a": 1}, lambda: calls.append(1) or {"v": 3})
    assert calls == [1] and r1["result"] == r2["result"] == {"v": 2}
    before = p.read_text()
    with pytest.raises(bench.BenchError, match="another configuration"):
        bench.cached(p, {"a": 2}, lambda: {"v": 4})
    assert p.read_text() == before


def test_smoke_scale_end_to_end(bench, tmp_path):
    from lrkit.data import DataNotFoundError, load_cifar10

    try:
        data = load_cifar10(download=False)
    except DataNotFoundError as e:
        pytest.skip(f"real CIFAR-10 not available: {e}")
    summary = bench.run("smoke", out=tmp_path, data=data, log=lambda *a, **k: None)
    for t in bench.TASKS:
        files = {p.name for p in (tmp_path / t).glob("*.json")}
        assert len([f for f in files if f.startswith("train_lr")]) == 2
        assert "sweep_lrkit.json" in files
        assert (tmp_path / f"{t}.png").stat().st_size > 0
        ts = summary["tasks"][t]
        for m in ("lrkit:robust", "lrkit:valley", "lrkit:steepest", "lrkit:minimum"):
            assert ts["methods"][m]["regret_pp"] >= 0
        rob = ts["methods"]["lrkit:robust"]
        assert rob["low"] <= rob["lr"] <= rob["high"]
        for m in ts["methods"].values():
            assert m["regret_pp"] >= -1e-9
    table = (tmp_path / "table.md").read_text()
    assert "mean regret" in table and "lrkit:robust" in table
    assert json.loads((tmp_path / "summary.json").read_text())["scale"] == "smoke"
    # a second run re-uses every result file (nothing recomputed, nothing rewritten)
    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*/*.json")}
    bench.run("smoke", out=tmp_path, data=data, log=lambda *a, **k: None)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*/*.json")} == mtimes
