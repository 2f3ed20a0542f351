"""The range-test benchmark (benchmarks/bench_rangetest.py): its task design, its grid, its regret and a smoke run."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_rangetest as B  # noqa: E402
from rangetest import grid as G  # noqa: E402
from rangetest import score as S  # noqa: E402
from rangetest import tasks as R  # noqa: E402


def test_the_task_design_splits_by_family_and_balances_the_uses():
    tasks = list(R.TASKS.values())
    assert len(tasks) == 48
    roles = Counter(t.role for t in tasks)
    assert roles == {"tuning": 16, "eval": 32}
    side = {}
    for t in tasks:  # a family (net, optimizer) is on one side only
        assert side.setdefault(t.family, t.role) == t.role
    for role in ("tuning", "eval"):
        mine = [t for t in tasks if t.role == role]
        assert Counter(t.schedule for t in mine) == {s: len(mine) // 4 for s in R.SCHEDULES}
        assert {t.net for t in mine} == set(R.NETS) and {t.optimizer for t in mine} == set(R.OPTIMIZERS)
        assert all(t.steps >= 500 for t in mine)
    assert {t.batch_size for t in tasks} >= {32, 1024}
    assert R.build_tasks() == R.TASKS  # the design is fixed by its seed


def test_the_grid_extends_past_an_edge_then_refines_around_the_best():
    coarse = [0.001, 0.01, 0.1]
    assert G.next_points(coarse, {}, 1, 0.1) == coarse
    best_at_top = {0.001: [0.2], 0.01: [0.5], 0.1: [0.8]}
    assert G.next_points(coarse, best_at_top, 1, 0.1) == [0.3162]
    interior = {0.001: [0.2], 0.01: [0.8], 0.1: [0.1]}  # the top collapsed to chance
    assert G.next_points(coarse, interior, 1, 0.1) == [0.005623, 0.01778]
    done = {**interior, 0.005623: [0.7], 0.01778: [0.75]}
    assert G.next_points(coarse, done, 1, 0.1) == []
    assert G.next_points(coarse, {0.001: [0.2, 0.3], 0.01: [0.8], 0.1: [0.1]}, 2, 0.1) == []  # wait for seeds


def test_regret_reads_the_response_curve_in_log_lr_and_collapses_above_a_dead_top():
    lrs, acc = np.array([0.001, 0.01, 0.1]), np.array([0.4, 0.8, 0.1])
    assert G.regret(lrs, acc, 0.01, 0.1) == pytest.approx((0.0, 0.0))
    pp, norm = G.regret(lrs, acc, 10 ** -2.5, 0.1)  # half way in log10 between 0.4 and 0.8
    assert pp == pytest.approx(20.0) and norm == pytest.approx(0.2 / 0.7)
    assert G.regret(lrs, acc, 1.0, 0.1)[0] == pytest.approx(70.0)  # above a collapsed top: chance
    assert G.regret(lrs, acc, 1e-5, 0.1)[0] == pytest.approx(40.0)  # below the grid: its lowest point


def test_paired_comparison_and_its_bootstrap():
    rec = {"task": R.Task("t", "eval", "mlp", "sgd", "constant", 32, "cifar10_16", 0.0, 500),
           "lrs": np.array([0.001, 0.01, 0.1]), "acc": np.array([0.4, 0.8, 0.1]), "chance": 0.1, "best_acc": 0.8}
    good, bad = (lambda *a, **k: 0.01), (lambda *a, **k: 0.001)
    c = S.compare([rec, rec], good, bad)
    assert c["pp"] == pytest.approx(-40.0) and c["pp_ci"] == pytest.approx((-40.0, -40.0)) and c["wins"] == 2
    assert S.task_regret(rec, lambda *a, **k: None)[0] == pytest.approx(70.0)  # no LR: the worse of the grid and chance


@pytest.mark.slow
def test_a_smoke_run_trains_the_grid_and_every_sweep_and_scores_them(tmp_path, monkeypatch, real_cifar):
    t = R.Task("smoke", "tuning", "mlp", "adamw", "one_cycle", 64, "cifar10_16", 0.05, 20)
    monkeypatch.setattr(R, "TASKS", {t.name: t})
    monkeypatch.setattr(R, "GRID", {"sgd": (-3.0, -2.0), "adam": (-3.0, -2.0)})
    monkeypatch.setattr(B.units, "VARIANTS", {"default": {"num_iter": 12}, "long": {"num_iter": 18},
                                              "start5": {"num_iter": 12, "start_lr": 1e-5}})
    B.run("tuning", tmp_path, seeds=1, data_dir=str(real_cifar.folder), stability=True, log=lambda *a: None)
    files = sorted(p.name for p in (tmp_path / "tasks" / "smoke" / "seed0").glob("*.json"))
    assert {f"sweep_{f}_{v}.json" for f in B.units.FINDERS for v in ("default", "long", "start5")} <= set(files)
    assert sum(f.startswith("train_lr") for f in files) >= 5
    recs = S.load_role("tuning", tmp_path, seeds=1)
    assert len(recs) == 1 and 0 <= S.task_regret(recs[0], S.lrkit_reading(), seeds=1)[1] <= 1
    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.json")}
    B.run("tuning", tmp_path, seeds=1, data_dir=str(real_cifar.folder), stability=True, log=lambda *a: None)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.json")} == mtimes  # resumed: nothing retrained


def test_a_task_enters_the_report_only_when_every_unit_has_run(tmp_path):
    import json

    task = next(t for t in R.TASKS.values() if t.role == "eval")
    coarse = G.grid_points_of(task)
    best = coarse[len(coarse) // 2]

    def write(seed: int, name: str, rec: dict) -> None:
        folder = tmp_path / "tasks" / task.name / f"seed{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(json.dumps(rec))

    def train(lr: float) -> None:  # an interior peak, chance at the top: no edge to extend past
        acc = 0.9 if lr == best else (R.chance(task) if lr == coarse[-1] else 0.5)
        for s in range(2):
            write(s, f"train_lr{lr:.4g}.json", {"config": {"lr": lr}, "val_acc": acc})

    for lr in coarse:
        train(lr)
    assert S.load_task(task, tmp_path, 2) is None  # the refinement around the best is still to run
    for lr in G.next_points(coarse, B.stored_points(task, tmp_path, 2), 2, R.chance(task)):
        train(lr)
    assert S.load_task(task, tmp_path, 2) is None  # no sweep yet
    assert S.load_task(task, tmp_path, 2, complete_only=False) is not None
    for s in range(2):
        for f in ("lrkit", "fastai", "torch-lr-finder", "lightning"):
            write(s, f"sweep_{f}_default.json", {"config": {"finder": f, "variant": "default"}})
    rec = S.load_task(task, tmp_path, 2)
    assert rec is not None and rec["best_lr"] == pytest.approx(best)
