"""The bench's executors (lrkit.bench.executors): every kind gives the serial run's results, resumes, and
reports a worker's failure clearly. A tiny experiment (2 runs × 2 seeds, 6 iterations of the Caffe net on
synthetic data) keeps each test to seconds; at most 2 workers with 1 thread each train."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import torch
from resumable import dropout_trainer, steps_taken

from lrkit import cli
from lrkit.bench import BenchError, run_experiment
from lrkit.bench import experiments as E
from lrkit.bench.executors import EXECUTORS, _call, check_executor, get_executor, run_all
from lrkit.bench.runner import load_data
from lrkit.bench.spec import Experiment, RunSpec
from lrkit.bench.store import result_path
from lrkit.schedules import OneCycle, triangular2

NAME, SOURCE = "tiny-executors", "synthetic:10,5,0"  # workers rebuild exactly this data from the string
WALL_TIME = ("train_seconds", "session_seconds", "finished")  # the only fields that may differ
SCALE_OPTIONS = {"serial": {}, "local": {}, "submitit": {"cluster": "local"}, "ray": {}}


def _runs(scale: str, factor: float, bad: bool = False) -> list[RunSpec]:
    common = dict(model="caffe_cifar10_full", iterations=6, batch_size=20, eval_every=2, preprocess="pixel_mean",
                  augment=False, n_per_class=10, test_per_class=5)
    sgd = {"name": "caffe_sgd", "lr": 0.001, "momentum": 0.9, "weight_decay": 0.004, "multipliers": True}
    return [RunSpec("clr", optimizer=sgd, schedule=triangular2(0.001, 0.006, 2).to_config(), **common),
            RunSpec("onecycle", optimizer={**sgd, "name": "no_such_optimizer"} if bad else sgd,
                    schedule=OneCycle(0.006, 6).to_config(), **common)]


TINY = Experiment(NAME, "tiny", NAME, "two runs, two seeds", {}, _runs, seeds={"smoke": 2, "lite": 2, "paper": 2})


@pytest.fixture(autouse=True)
def tiny(monkeypatch):
    monkeypatch.setitem(E.EXPERIMENTS, NAME, TINY)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


def _files(out: Path) -> dict[str, Path]:
    return {p.name: p for p in sorted((out / NAME / "smoke").glob("*-seed*.json"))}


def _comparable(res: dict) -> dict:
    res = {k: v for k, v in res.items() if k not in WALL_TIME}
    res["history"] = {k: v for k, v in res["history"].items() if k != "wall"}
    return res


@pytest.fixture(scope="module")
def serial_reference(tmp_path_factory):
    """The serial run every executor must reproduce: {file name: result minus wall times}."""
    out = tmp_path_factory.mktemp("serial")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(E.EXPERIMENTS, NAME, TINY)
        # 1 torch thread, as every worker below: a thread count changes the floating-point sums (and is recorded)
        summary = run_experiment(NAME, "smoke", out=out, data_dir=SOURCE, progress=False, threads=1)
    files = _files(out)
    assert len(files) == 4 and len(summary.results) == 4
    assert [(r["run"], r["seed"]) for r in summary.results] == [("clr", 0), ("clr", 1), ("onecycle", 0),
                                                                 ("onecycle", 1)]
    return {n: _comparable(json.loads(p.read_text())) for n, p in files.items()}, summary, out


def _run(kind: str, out: Path, **kw):
    extra = {"threads": 1} if kind == "serial" else {"workers": 2, "threads": 1}
    return run_experiment(NAME, "smoke", out=out, data_dir=SOURCE, progress=False, executor=kind,
                          executor_options=SCALE_OPTIONS[kind] or None, **extra, **kw)


def _check_same_as_serial_and_resumable(kind, tmp_path, capsys, serial_reference):
    reference, ref_summary, _ = serial_reference
    summary = _run(kind, tmp_path)
    files = _files(tmp_path)
    assert sorted(files) == sorted(reference)
    for name, path in files.items():
        res = json.loads(path.read_text())
        assert _comparable(res) == reference[name], f"{kind}: {name} differs from the serial run"
        assert res["train_seconds"] > 0 and res["data_source"] == "synthetic"
    # the summary: the same results as the files, in the serial run's order
    assert [_comparable(r) for r in summary.results] == [_comparable(r) for r in ref_summary.results]
    printed = capsys.readouterr().out
    assert printed.count(f"{NAME}/smoke/") == 4 and "done already" not in printed
    assert not list((tmp_path / NAME / "smoke" / ".ckpt").glob("*.pt"))  # no checkpoint left behind
    # rerun: nothing retrained, no file touched
    stamps = {n: (p.stat().st_mtime_ns, p.read_bytes()) for n, p in files.items()}
    again = _run(kind, tmp_path)
    assert {n: (p.stat().st_mtime_ns, p.read_bytes()) for n, p in _files(tmp_path).items()} == stamps
    assert capsys.readouterr().out.count("done already") == 4
    assert [_comparable(r) for r in again.results] == [_comparable(r) for r in ref_summary.results]


@pytest.mark.parametrize("kind", ["serial", "local", "submitit"])
def test_executor_gives_the_serial_results_and_resumes(kind, tmp_path, capsys, serial_reference):
    _check_same_as_serial_and_resumable(kind, tmp_path, capsys, serial_reference)


@pytest.mark.ray
def test_ray_executor_gives_the_serial_results_and_resumes(tmp_path, capsys, serial_reference):
    pytest.importorskip("ray")
    _check_same_as_serial_and_resumable("ray", tmp_path, capsys, serial_reference)
    import ray

    assert not ray.is_initialized()  # the local instance it started is stopped


def test_a_worker_resumes_a_killed_serial_run_from_its_checkpoint(tmp_path, monkeypatch):
    """Kill a serial run mid-way (a checkpoint stays), finish it with worker processes: the results of an
    uninterrupted serial run, the checkpoint consumed (a worker looking elsewhere would leave it behind), only
    the 2 iterations after the checkpoint trained by the worker (a restart from 0 trains 6), and the dropout
    masks of the uninterrupted run (a fresh worker is at the RNG state of iteration 0 unless the checkpoint's
    RNG states are restored)."""
    monkeypatch.setitem(E.EXPERIMENTS, NAME, dataclasses.replace(TINY, trainer=dropout_trainer))
    ref_out = tmp_path / "reference"
    run_experiment(NAME, "smoke", out=ref_out, data_dir=SOURCE, progress=False, threads=1)
    reference = {n: _comparable(json.loads(p.read_text())) for n, p in _files(ref_out).items()}
    out = tmp_path / "out"
    import lrkit.training.loop as T

    real_eval, calls = T.evaluate, {"n": 0}

    def dying_eval(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:  # the third evaluation of the first unit: after the checkpoint at iteration 4
            raise KeyboardInterrupt
        return real_eval(*a, **k)

    monkeypatch.setattr(T, "evaluate", dying_eval)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(NAME, "smoke", out=out, data_dir=SOURCE, progress=False, checkpoint_every=2, threads=1)
    monkeypatch.setattr(T, "evaluate", real_eval)
    folder = out / NAME / "smoke"
    ckpts = list((folder / ".ckpt").glob("*.pt"))
    assert [p.name.split("-")[:2] for p in ckpts] == [["clr", "seed0"]] and not _files(out)
    # one unit finished already (copied from the reference): read here, not dispatched, not rewritten
    done = result_path(out, NAME, "smoke", "onecycle", 1)
    shutil.copy(result_path(ref_out, NAME, "smoke", "onecycle", 1), done)
    stamp = done.stat().st_mtime_ns
    _run("local", out, checkpoint_every=2)
    assert not list((folder / ".ckpt").glob("*.pt"))
    assert done.stat().st_mtime_ns == stamp
    here = os.getpid()
    by_workers = {(name, seed): n for name, seed, pid, n in steps_taken(folder) if pid != here}
    assert by_workers == {("clr", 0): 2, ("clr", 1): 6, ("onecycle", 0): 6}
    for name, path in _files(out).items():
        assert _comparable(json.loads(path.read_text())) == reference[name], name


def test_a_failing_unit_is_reraised_with_its_message(tmp_path, monkeypatch):
    monkeypatch.setitem(E.EXPERIMENTS, NAME, Experiment(NAME, "bad", NAME, "", {}, functools.partial(_runs, bad=True),
                                                        seeds={"smoke": 1}))
    with pytest.raises(BenchError, match="run onecycle: .*no_such_optimizer") as info:
        run_experiment(NAME, "smoke", out=tmp_path, data_dir=SOURCE, progress=False, executor="local", workers=2,
                       threads=1, seeds=1)
    if sys.version_info >= (3, 11):  # exceptions carry notes
        assert info.value.__notes__ == ["(raised by a local worker on item 1: tiny-executors/smoke/onecycle seed 0)"]


@pytest.mark.parametrize("kind", ["serial", "local"])
def test_workers_get_their_threads_and_results_come_in_item_order(kind):
    get_threads = functools.partial(_call, None, torch.get_num_threads, ())  # item: kwargs ({})
    with get_executor(kind, threads=2, **({"workers": 1} if kind == "local" else {})) as ex:
        assert run_all(ex, get_threads, [{}]) == [2]
        assert list(ex.map(abs, [-3, 1, -2])) == [3, 1, 2]
        assert run_all(ex, abs, [-3, 1, -2]) == [3, 1, 2]
        with pytest.raises(ZeroDivisionError) as info:
            run_all(ex, functools.partial(divmod, 1), [1, 0, 2])
    if kind == "local" and hasattr(info.value, "__notes__"):
        assert "item 1: 0" in info.value.__notes__[-1]


def _cli(argv: list[str]) -> int:
    try:
        return cli.main(argv)
    except SystemExit as e:  # argparse's own errors
        return e.code


def test_bad_executor_arguments_are_clear_errors(tmp_path, capsys, monkeypatch):
    with pytest.raises(ValueError, match=r"unknown executor 'rey'.*did you mean 'ray'"):
        get_executor("rey")
    with pytest.raises(ValueError, match="workers must be a positive int"):
        check_executor("local", workers=0)
    with pytest.raises(ValueError, match="serial executor takes no workers"):
        check_executor("serial", workers=2)
    with pytest.raises(ValueError, match="local executor takes no options"):
        check_executor("local", partition="gpu")
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    with pytest.raises(ImportError, match=r"pip install 'lrkit\[scale\]'"):
        check_executor("ray")
    monkeypatch.undo()
    monkeypatch.setitem(E.EXPERIMENTS, NAME, TINY)
    with pytest.raises(ValueError, match="data= .in memory. is for executor='serial' only"):
        run_experiment(NAME, "smoke", out=tmp_path, data=load_data(SOURCE), executor="local")
    assert not (tmp_path / NAME).exists()  # refused before anything was written
    with pytest.raises(ValueError, match="expected 'synthetic:N_TRAIN,N_TEST,SEED'"):
        load_data("synthetic:10")
    # the CLI: checked before any work, one line, exit 2
    for argv, msg in ((["--executor", "rey"], "did you mean 'ray'"),
                      (["--workers", "2"], "--workers and --threads-per-worker need a parallel --executor"),
                      (["--executor", "local", "--executor-option", "x=1"], "local executor takes no options"),
                      (["--executor", "submitit", "--executor-option", "x"], "key=value")):
        assert _cli(["bench", "run", NAME, "--out", str(tmp_path), *argv]) == 2
        assert msg in capsys.readouterr().err
    assert not (tmp_path / NAME).exists()
    assert set(EXECUTORS) == {"serial", "local", "submitit", "ray"}


@pytest.mark.slow  # ~40 s here: a serial run of two arms, then the same arms in workers
def test_workers_use_the_artifacts_of_an_experiments_prepare(tmp_path, monkeypatch):
    """discriminative: the backbone and range tests are made once (by ``prepare``, in this process); the
    arms then train in workers from those files, as they would serially."""
    monkeypatch.delenv("LRKIT_RESNET18_WEIGHTS", raising=False)
    kw = dict(data_dir="synthetic:40,10,0", seeds=1, only=["frozen", "gradual"], progress=False)
    serial = run_experiment("discriminative", "smoke", out=tmp_path / "serial", threads=1, **kw)
    shared = tmp_path / "serial" / "discriminative" / "smoke"
    folder = tmp_path / "local" / "discriminative" / "smoke"
    folder.mkdir(parents=True)
    artifacts = [p for p in shared.iterdir() if p.name.startswith(("backbone-", "range-test-"))]
    assert len(artifacts) == 4  # backbone .pt/.json, range tests of frozen and discriminative
    for p in artifacts:
        shutil.copy2(p, folder / p.name)
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    local = run_experiment("discriminative", "smoke", out=tmp_path / "local", executor="local", workers=2,
                           threads=1, **kw)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.name in stamps} == stamps  # reused
    assert [_comparable(r) for r in local.results] == [_comparable(r) for r in serial.results]
