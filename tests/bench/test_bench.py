from __future__ import annotations

import json
import re

import numpy as np
import pytest
from resumable import dropout_trainer, steps_taken

from lrkit import cli
from lrkit.bench import EXPERIMENTS, BenchError, get_experiment, report, run_experiment
from lrkit.bench.runner import result_path, run_one
from lrkit.bench.spec import RunSpec
from lrkit.schedules import triangular2


def test_experiments_are_data():
    for exp in EXPERIMENTS.values():
        for scale in ("smoke", "lite", "paper"):
            if scale in exp.unavailable:
                with pytest.raises(ValueError, match=f"{exp.name} has no {scale} scale"):
                    exp.runs(scale)
                continue
            runs = exp.runs(scale)
            assert runs and len({r.name for r in runs}) == len(runs)
            for r in runs:
                assert r.iterations >= 1 and r.eval_every >= 1
                r.build_schedule()  # every schedule config rebuilds
                json.dumps(r.to_dict())  # plain data
    # the lite scale of Table 1 scales every count by one factor (0.1)
    lite = {r.name: r for r in get_experiment("smith2017-table1").runs("lite")}
    assert lite["fixed"].iterations == 7000 and lite["triangular2"].iterations == 2500
    assert lite["triangular2_flat"].schedule["step_size_up"] == 200
    assert [p["step_size_up"] for p in lite["triangular2"].schedule["schedules"]] == [200, 100, 50]
    assert lite["triangular2"].schedule["milestones"] == [1600, 2200]
    assert lite["fixed"].schedule["milestones"] == [6000, 6500]


def _appendix_a_triangular2(iter_: int, stages) -> float:
    """Smith 2017 Appendix A's Caffe code for ``triangular2`` (``SGDSolver::GetLearningRate``), with the
    stage whose ``start_lr_policy`` is the last one ≤ ``iter_`` (Table 2's solver files)."""
    base_lr, max_lr, stepsize, start = [s for s in stages if s[3] <= iter_][-1]
    itr = iter_ - start
    cycle = itr // (2 * stepsize)
    x = (itr - (2 * cycle + 1) * stepsize) / stepsize
    return base_lr + (max_lr - base_lr) * min(1.0, max(0.0, (1 - abs(x)) / 2.0 ** cycle))


def test_table1_triangular2_is_smiths_table2_at_every_iteration():
    """Table 2 (base_lr, max_lr, stepsize, start_lr_policy), read through Appendix A's formula."""
    table2 = [(0.001, 0.005, 2000, 0), (0.0001, 0.0005, 1000, 16_000), (0.00001, 0.00005, 500, 22_000)]
    spec = {r.name: r for r in get_experiment("smith2017-table1").runs("paper")}["triangular2"]
    assert spec.iterations == 25_000
    lr = spec.build_schedule()(np.arange(25_001))
    want = np.array([_appendix_a_triangular2(i, table2) for i in range(25_001)])
    np.testing.assert_allclose(lr, want, rtol=0, atol=1e-12)
    assert lr[16_000] == pytest.approx(1e-4) and lr[24_999] < 1.1e-5  # each stage ends at its base LR


def test_table1_exp_range_decays_both_bounds_as_section_3_1_says():
    """§3.1: "each boundary value declines by an exponential factor of gamma^iteration"."""
    spec = {r.name: r for r in get_experiment("smith2017-table1").runs("paper")}["exp_range"]
    assert spec.iterations == 70_000  # run to 70k as Fig. 4; the paper stops reading at 42k
    t = np.arange(70_001)
    lr = spec.build_schedule()(t)
    cycle = np.floor(1 + t / 4000)
    x = np.abs(t / 2000 - 2 * cycle + 1)
    lower, upper = 0.001 * 0.99994 ** t, 0.006 * 0.99994 ** t
    want = lower + (upper - lower) * np.maximum(0, 1 - x)
    np.testing.assert_allclose(lr, want, rtol=1e-12, atol=1e-15)
    assert lr[40_000] == pytest.approx(0.001 * 0.99994 ** 40_000)  # troughs follow the exp policy
    keras = {r.name: r for r in get_experiment("smith2017-table1").runs("paper")}["exp_range_keras"]
    assert keras.build_schedule()(40_000) == pytest.approx(0.001)  # the Keras form keeps its floor


def test_unknown_experiment_and_scale():
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        get_experiment("nope")
    with pytest.raises(ValueError, match="unknown scale 'huge'"):
        get_experiment("sgdr").runs("huge")
    assert cli.main(["bench", "run", "nope"]) == 2


def _tiny_spec(**kw) -> RunSpec:
    base = dict(name="tiny", model="caffe_cifar10_full",
                optimizer={"name": "caffe_sgd", "lr": 0.001, "momentum": 0.9, "weight_decay": 0.004,
                           "multipliers": True},
                schedule=triangular2(0.001, 0.006, 3).to_config(), iterations=12, batch_size=20, eval_every=4,
                preprocess="pixel_mean", augment=False, n_per_class=10, test_per_class=5)
    base.update(kw)
    return RunSpec(**base)


def test_run_one_resumes_after_a_kill_with_nothing_lost(tmp_path, synthetic, monkeypatch):
    """Killed at its third evaluation (iteration 12, after the checkpoint at 8), the run resumes: the result of
    an uninterrupted run, with 4 steps trained after the resume (a restart from 0 trains 12) and the dropout
    masks of the uninterrupted run (only if the checkpoint's RNG states are restored: ``start_run`` seeds the
    RNG as at iteration 0)."""
    spec = _tiny_spec()
    kw = dict(experiment="t", scale="smoke", data=synthetic, checkpoint_every=4, progress=False,
              trainer=dropout_trainer)
    clean = run_one(spec, 0, out=tmp_path / "a", **kw)
    # kill the run at its third evaluation (after the checkpoint at iteration 8)
    import lrkit.training.loop as T

    real_eval = T.evaluate
    calls = {"n": 0}

    def dying_eval(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_eval(*a, **k)

    monkeypatch.setattr(T, "evaluate", dying_eval)
    with pytest.raises(KeyboardInterrupt):
        run_one(spec, 0, out=tmp_path / "b", **kw)
    folder = tmp_path / "b" / "t" / "smoke"
    assert not result_path(tmp_path / "b", "t", "smoke", "tiny", 0).exists()  # nothing half-written
    ckpts = list((folder / ".ckpt").glob("*.pt"))
    assert len(ckpts) == 1
    monkeypatch.setattr(T, "evaluate", real_eval)
    resumed = run_one(spec, 0, out=tmp_path / "b", **kw)
    assert [n for *_, n in steps_taken(folder)] == [12, 4]  # killed after 12 steps; resumed: 8 … 11
    assert (resumed["experiment"], resumed["scale"], resumed["run"], resumed["seed"]) == ("t", "smoke", "tiny", 0)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", resumed["finished"])
    for key in ("iteration", "lr", "train_loss", "evals"):
        assert resumed["history"][key] == clean["history"][key]
    assert not list((folder / ".ckpt").glob("*.pt"))  # cleaned up when done


def test_results_of_another_config_are_never_overwritten(tmp_path, synthetic):
    run_one(_tiny_spec(iterations=4), 0, experiment="t", scale="smoke", out=tmp_path, data=synthetic,
            progress=False)
    path = result_path(tmp_path, "t", "smoke", "tiny", 0)
    before = path.read_text()
    with pytest.raises(BenchError, match="another configuration"):
        run_one(_tiny_spec(iterations=5), 0, experiment="t", scale="smoke", out=tmp_path, data=synthetic,
                progress=False)
    assert path.read_text() == before
    path.write_text("{ not json")
    with pytest.raises(BenchError, match="corrupt"):
        run_one(_tiny_spec(iterations=4), 0, experiment="t", scale="smoke", out=tmp_path, data=synthetic,
                progress=False)


def test_corrupt_checkpoint_is_a_clear_error(tmp_path, synthetic):
    spec = _tiny_spec(iterations=4)
    ck = tmp_path / "t" / "smoke" / ".ckpt" / f"tiny-seed0-{spec.config_hash()}.pt"
    ck.parent.mkdir(parents=True)
    ck.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="corrupt"):
        run_one(spec, 0, experiment="t", scale="smoke", out=tmp_path, data=synthetic, progress=False)


def test_manifest_of_another_version_is_rejected(tmp_path, synthetic):
    folder = tmp_path / "sgdr" / "smoke"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"format": "lrkit-bench-manifest-1", "lrkit": "0.0.1"}))
    with pytest.raises(BenchError, match="another lrkit version"):
        run_experiment("sgdr", "smoke", out=tmp_path, data=synthetic, progress=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_bench_smoke_runs_and_reports(name, real_cifar, tmp_path, capsys, monkeypatch):
    """`lrkit bench run <each> --scale smoke` end to end on real CIFAR-10, then `report`."""
    monkeypatch.delenv("LRKIT_RESNET18_WEIGHTS", raising=False)  # runs that need it are skipped
    assert cli.main(["bench", "run", name, "--scale", "smoke", "--out", str(tmp_path), "--no-progress"]) == 0
    runs = [r for r in get_experiment(name).runs("smoke") if "requires" not in r.extra]
    for r in runs:
        res = json.loads(result_path(tmp_path, name, "smoke", r.name, 0).read_text())
        assert res["config"] == r.to_dict() and res["data_source"] == real_cifar.source
        assert len(res["history"]["iteration"]) == r.iterations
        assert 0.0 <= res["final"]["acc"] <= 1.0
        assert res["versions"]["lrkit"]
    # a second run resumes: nothing is retrained, results unchanged
    stamp = result_path(tmp_path, name, "smoke", runs[0].name, 0).stat().st_mtime_ns
    assert cli.main(["bench", "run", name, "--scale", "smoke", "--out", str(tmp_path), "--no-progress"]) == 0
    assert result_path(tmp_path, name, "smoke", runs[0].name, 0).stat().st_mtime_ns == stamp
    unsaved = report(tmp_path, experiments=[name], figures=tmp_path / "nb-figures", save=False)
    assert not (tmp_path / "report.md").exists() and (tmp_path / "nb-figures" / f"{name}-smoke.png").exists()
    text = report(tmp_path, experiments=[name])
    assert text == unsaved.replace("nb-figures", "figures") and (tmp_path / "report.md").read_text() == text
    assert "scale `smoke`" in text and (tmp_path / "figures" / f"{name}-smoke.png").exists()
    if name == "smith2017-table1":
        assert "81.4 @ 70,000 it" in text and "ordering measured" in text
    if name == "discriminative":
        seeds = get_experiment(name).seeds["smoke"]
        assert len(list((tmp_path / name / "smoke").glob("*-seed*.json"))) == 5 * seeds
        assert "skipping the ImageNet ResNet-18 arms" in capsys.readouterr().out
        assert "gradual vs full" in text and "ULMFiT's claim" in text


# --------------------------------------------------------------------------------------------------
# discriminative (lrkit.bench.experiments.discriminative): its own trainer, same layout and checks
# --------------------------------------------------------------------------------------------------
def test_discriminative_has_no_paper_scale(capsys):
    with pytest.raises(ValueError, match="discriminative has no paper scale: ULMFiT's numbers are on text; use lite"):
        get_experiment("discriminative").runs("paper")
    assert cli.main(["bench", "run", "discriminative", "--scale", "paper"]) == 2
    assert "no paper scale" in capsys.readouterr().err
    assert cli.main(["bench", "list"]) == 0
    assert "paper: not available — ULMFiT's numbers are on text" in capsys.readouterr().out


def test_discriminative_arms_are_listed_like_runs():
    runs = {r.name: r for r in get_experiment("discriminative").runs("lite")}
    assert list(runs)[:5] == ["scratch", "frozen", "full", "discriminative", "gradual"]
    assert all(r.kind == "transfer" for r in runs.values())
    assert runs["full"].iterations == 150 and runs["full"].batch_size == 32 and runs["full"].n_per_class == 100
    assert runs["full"].eval_every == 30  # 5 evaluations per run
    assert runs["gradual"].extra["lr"]["range_test"] == "discriminative"
    assert runs["in1k-full"].model == "resnet18" and runs["in1k-full"].extra["requires"] == "LRKIT_RESNET18_WEIGHTS"


def test_discriminative_only_names_arms(tmp_path, synthetic, capsys):
    with pytest.raises(BenchError, match=r"--only names runs \['nope'\] that discriminative does not have"):
        run_experiment("discriminative", "smoke", out=tmp_path, data=synthetic, only=["full", "nope"],
                       progress=False)
    assert cli.main(["bench", "run", "discriminative", "--only", "nope", "--out", str(tmp_path)]) == 2
    assert "nope" in capsys.readouterr().err


def test_discriminative_refuses_results_and_artifacts_of_another_config(tmp_path, synthetic, monkeypatch):
    monkeypatch.delenv("LRKIT_RESNET18_WEIGHTS", raising=False)
    folder = tmp_path / "discriminative" / "smoke"
    folder.mkdir(parents=True)
    # a result of another configuration: refused before anything trains, file untouched
    spec = {r.name: r for r in get_experiment("discriminative").runs("smoke")}["scratch"]
    other = {"format": "lrkit-bench-result-1", "run": "scratch", "seed": 0,
             "config": {**spec.to_dict(), "iterations": spec.iterations + 1}}
    path = result_path(tmp_path, "discriminative", "smoke", "scratch", 0)
    path.write_text(json.dumps(other))
    with pytest.raises(BenchError, match="scratch-seed0.json was produced by another configuration"):
        run_experiment("discriminative", "smoke", out=tmp_path, data=synthetic, seeds=1, progress=False)
    assert json.loads(path.read_text()) == other
    assert not list(folder.glob("range-test*.json")) and not (folder / "backbone-fastnet-animals.pt").exists()
    # a pre-trained backbone of another configuration: refused, never overwritten
    meta = folder / "backbone-fastnet-animals.json"
    meta.write_text(json.dumps({"config": {"model": "fastnet", "iterations": 1}}))
    with pytest.raises(BenchError, match="backbone-fastnet-animals.json was pre-trained with another configuration"):
        run_experiment("discriminative", "smoke", out=tmp_path, data=synthetic, seeds=1, only=["full"],
                       progress=False)
    assert json.loads(meta.read_text()) == {"config": {"model": "fastnet", "iterations": 1}}
    # ImageNet weights that do not exist: a clear error naming the variable
    monkeypatch.setenv("LRKIT_RESNET18_WEIGHTS", str(tmp_path / "missing.pt"))
    with pytest.raises(BenchError, match="LRKIT_RESNET18_WEIGHTS=.*missing.pt: no such file"):
        run_experiment("discriminative", "smoke", out=tmp_path, data=synthetic, seeds=1, only=["scratch"],
                       progress=False)


# --------------------------------------------------------------------------------------------------
# full scale: SGDR ends at restart points, one-cycle's peak from the range test, evaluations at given points
# --------------------------------------------------------------------------------------------------
def test_restart_points_and_sgdr_full_budget():
    from lrkit.bench.experiments.sgdr import restart_points

    assert restart_points(39, 2, 7800) == [39, 117, 273, 585, 1209, 2457, 4953]
    assert restart_points(390, 2, 7800) == [390, 1170, 2730, 5850]
    runs = {r.name: r for r in get_experiment("sgdr").runs("full")}
    assert runs["step_lr0.1"].iterations == 20 * 390 and runs["step_lr0.1"].n_per_class is None
    for name, t0 in (("sgdr_T0=1_Tm=2", 39), ("sgdr_T0=10_Tm=2", 390)):
        r = runs[name]
        assert r.iterations == r.extra["restarts"][-1] == restart_points(t0, 2, 7800)[-1]
        assert set(r.extra["restarts"]) <= set(runs["step_lr0.1"].extra["eval_at"])
    assert get_experiment("sgdr").seeds["full"] >= 3


def test_peak_from_the_range_test_and_extra_evaluations(tmp_path, synthetic, monkeypatch):
    """A run whose peak comes from lrkit's range test (measured once, in prepare) and which is also
    evaluated at given iterations."""
    from lrkit import schedules as S
    from lrkit.bench import experiments as E
    from lrkit.bench.experiments.onecycle import prepare_range_tests, train_onecycle
    from lrkit.bench.spec import Experiment

    spec = _tiny_spec(name="rt", model="fastnet", optimizer={"name": "sgd", "lr": 0.1, "momentum": 0.9},
                      schedule=S.Cyclic(0.1, 1.0, 3, mode="triangular").to_config(), iterations=6, eval_every=6,
                      preprocess="channel",
                      extra={"lr_from_range_test": {"use": "one_cycle", "start_lr": 1e-4, "end_lr": 1.0,
                                                    "num_iter": 12},
                             "eval_at": [2, 3]})
    exp = Experiment("rt-test", "t", "onecycle", "t", {"smoke": 1.0}, lambda scale, f: [spec],
                     prepare=prepare_range_tests, trainer=train_onecycle)
    monkeypatch.setitem(E.EXPERIMENTS, "rt-test", exp)
    res = run_experiment("rt-test", "smoke", out=tmp_path, data=synthetic, progress=False).results[0]
    rt = json.loads((tmp_path / "rt-test" / "smoke" / "range-test-rt.json").read_text())
    assert res["chosen_lr"]["lr"] == rt["lr"] and rt["use"] == "one_cycle" and rt["points"] >= 2
    peak = max(lr[0] for lr in res["history"]["lr"])
    assert peak == pytest.approx(rt["lr"], rel=1e-9)  # the shape's peak (1.0) times the range test's LR
    assert [e["iteration"] for e in res["history"]["evals"]] == [2, 3, 6]
    stamp = (tmp_path / "rt-test" / "smoke" / "range-test-rt.json").stat().st_mtime_ns
    run_experiment("rt-test", "smoke", out=tmp_path, data=synthetic, progress=False)
    assert (tmp_path / "rt-test" / "smoke" / "range-test-rt.json").stat().st_mtime_ns == stamp


def _fake(run, seed, curve, iterations, extra=None):
    """A stored-result-shaped dict: ``curve`` = [(iteration, acc), ...]; the last point is the final one."""
    evals = [{"iteration": it, "acc": acc} for it, acc in curve]
    return {"run": run, "seed": seed, "config": {"iterations": iterations, "extra": extra or {}},
            "history": {"evals": evals, "steps_per_epoch": 10}, "final": evals[-1], "train_seconds": 1.0}


def test_super_convergence_notes_compare_at_the_claim_and_at_equal_iterations():
    from lrkit.bench.analysis import reading

    res = []
    for seed, (pc1, pc8, oc) in enumerate([(0.40, 0.86, 0.64), (0.42, 0.87, 0.60), (0.44, 0.85, 0.62)]):
        res += [_fake("piecewise_lr0.35", seed, [(1, pc1), (8, pc8)], 8), _fake("clr_0.1-3.0", seed, [(1, oc)], 1)]
    notes = reading(get_experiment("onecycle"), "full", res).notes()
    # at the claim: 62.00 vs 86.00, per-seed differences -22, -27, -23 → mean -24.00, not equal or better
    assert "clr_0.1-3.0 at 1 iterations vs piecewise_lr0.35 at 8: 62.00 % vs 86.00 %, -24.00 pp ± " in notes[0]
    assert "3 seeds, paired" in notes[0] and notes[0].endswith("**no**")
    # at equal iterations: piecewise's evaluation at iteration 1 (42.00 % on average): +20.00 pp
    assert notes[1].startswith("at equal iterations (1): clr_0.1-3.0 62.00 % vs piecewise_lr0.35 42.00 %, +20.00 pp ± ")


def test_table1_notes_measure_the_iteration_ratio_seed_by_seed():
    """The claim (triangular2 at 25k vs fixed at 70k, paired) and its ratio read the other way round: the first
    evaluation at which the same seed's fixed run reaches the shorter run's final accuracy, over its length."""
    from lrkit.bench.analysis import reading

    res = []
    fixed_curves = [[(25, 0.75), (55, 0.80), (60, 0.81), (70, 0.82)],
                    [(25, 0.75), (55, 0.80), (60, 0.81), (70, 0.82)],
                    [(25, 0.75), (55, 0.78), (60, 0.80), (70, 0.82)]]   # seed 2 never reaches 0.83
    for seed, (t2, cs) in enumerate([(0.81, 0.79), (0.80, 0.80), (0.83, 0.79)]):
        res += [_fake("fixed", seed, fixed_curves[seed], 70), _fake("triangular2", seed, [(16, 0.70), (25, t2)], 25),
                _fake("constant_stages", seed, [(16, 0.60), (25, cs)], 25)]
    notes = reading(get_experiment("smith2017-table1"), "paper", res).notes()
    text = "\n".join(notes)
    # triangular2 finals 0.81, 0.80, 0.83 are first reached by fixed at 60, 55, never → 2.40×, 2.20×
    assert ("iterations fixed needs to reach triangular2's final accuracy (same seed), over triangular2's 25: "
            "seed 0: 60 (2.40×), seed 1: 55 (2.20×), seed 2: never → 2.20–2.40×, never in 1 of 3 seeds "
            "(the paper's ratio: 2.8×)") in text
    # constant stages 0.79, 0.80, 0.79 → 55, 55, 60 (seed 2's fixed is at 0.78 at 55, 0.80 at 60)
    assert "constant_stages's 25: seed 0: 55 (2.20×), seed 1: 55 (2.20×), seed 2: 60 (2.40×) → 2.20–2.40×" in text
    one = reading(get_experiment("smith2017-table1"), "paper", res[:3]).notes()   # one seed: one ratio, no range
    assert any(n.endswith("seed 0: 60 (2.40×) → 2.40× (the paper's ratio: 2.8×)") for n in one)
    # the claim itself: 0.81-0.82, 0.80-0.82, 0.83-0.82 → -1, -2, +1 pp: mean -0.67 with a wide interval → yes
    assert "triangular2 at 25 iterations minus fixed at 70 (1/2.8 of its iterations): -0.67 pp ± " in text


def test_sgdr_notes_read_every_restart_point_against_the_step_schedule():
    from lrkit.bench.analysis import reading

    res = []
    for seed in range(3):
        d = 0.01 * seed
        res += [_fake("step_lr0.1", seed, [(10, 0.50 + d), (30, 0.70 + d), (40, 0.80 + d)], 40,
                      {"eval_at": [10, 30]}),
                _fake("sgdr_T0=1_Tm=2", seed, [(10, 0.60 + d), (20, 0.65 + d), (30, 0.82 + d)], 30,
                      {"eval_at": [10, 30], "restarts": [10, 30]})]
    notes = reading(get_experiment("sgdr"), "full", res).notes()
    text = "\n".join(notes)
    # restart points (epochs 1 and 3): SGDR's error 39.00 / 17.00 % vs step's 49.00 / 29.00 %
    assert "ep 1.0: 39.00 % vs 49.00 % (-10.00 ± 0.00)" in text and "ep 3.0: 17.00 % vs 29.00 % (-12.00 ± 0.00)" in text
    # step's final error 19.00 % (seed mean) is first reached at iteration 30 in every seed: 4/3 × sooner → no
    assert "reaches step_lr0.1's final error (19.00 %) at epoch 3.0 (latest seed) = 1.33× sooner" in text
    assert "2–4× sooner: **no**" in text
    assert "(mean over 3 seeds; difference ± 95 % paired t-interval)" in text
    assert "final accuracy" not in text  # the restart-point reading only, not also lite's first-reaching lines
