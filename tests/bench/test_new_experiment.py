"""Adding a bench experiment is one new module and its line in the registry.

The module below is a complete experiment — runs at the smoke scale, its own trainer, its notes and its
figure — written to a temporary file; registering it is one line (here ``monkeypatch.setitem``; in lrkit,
its entry in :data:`lrkit.bench.experiments.EXPERIMENTS`). Nothing else in lrkit changes: the runner trains
it with its trainer, ``lrkit bench list`` lists it, and the report prints its notes and draws its figure.
"""

from __future__ import annotations

import importlib.util
import json
import sys

from lrkit import cli
from lrkit.bench import experiments as E
from lrkit.bench import report, run_experiment

MODULE = '''"""A dummy experiment: two tiny runs, one trainer, notes and a figure."""

from lrkit.bench.analysis import Reading
from lrkit.bench.figures import curves_figure
from lrkit.bench.plain import finish_run, fit_run, start_run
from lrkit.bench.spec import Experiment, RunSpec, scaled
from lrkit.schedules import Constant, OneCycle


def runs(scale, factor):
    common = dict(model="caffe_cifar10_full", optimizer={"name": "sgd", "lr": 0.01, "momentum": 0.9},
                  iterations=scaled(600 * factor), batch_size=20, eval_every=2, preprocess="pixel_mean",
                  augment=False, n_per_class=10, test_per_class=5)
    return [RunSpec("constant", schedule=Constant(0.01).to_config(), **common),
            RunSpec("one_cycle", schedule=OneCycle(0.05, scaled(600 * factor)).to_config(), **common)]


def train(spec, seed, ctx, started):
    run = start_run(spec, seed, ctx)
    hist = fit_run(run, ctx)
    return finish_run(run, ctx, hist, started, peak_lr=max(lr[0] for lr in hist.lr))


def notes(r: Reading):
    best = max(r.summary, key=lambda run: r.summary[run]["acc_mean"])
    return [f"dummy: {best} is best at {r.summary[best]['acc_mean']:.2f} %"]


def figure(r: Reading):
    return curves_figure(r)


EXPERIMENT = Experiment("dummy", "A dummy experiment", "smith2017-table1", "two tiny runs", {"smoke": 0.01}, runs,
                        trainer=train, notes=notes, figure=figure)
'''


def test_a_new_experiment_is_one_module_and_one_registry_line(tmp_path, monkeypatch, synthetic, capsys):
    path = tmp_path / "dummy_experiment.py"
    path.write_text(MODULE)
    spec = importlib.util.spec_from_file_location("dummy_experiment", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "dummy_experiment", module)  # the trainer must be importable (pickling)
    spec.loader.exec_module(module)

    monkeypatch.setitem(E.EXPERIMENTS, "dummy", module.EXPERIMENT)  # the one registry line

    summary = run_experiment("dummy", "smoke", out=tmp_path / "out", data=synthetic, progress=False)
    assert [r["run"] for r in summary.results] == ["constant", "one_cycle"]
    assert all(r["history"]["iteration"] == list(range(6)) for r in summary.results)
    assert summary.results[1]["peak_lr"] == max(lr[0] for lr in summary.results[1]["history"]["lr"])
    stored = json.loads((tmp_path / "out" / "dummy" / "smoke" / "one_cycle-seed0.json").read_text())
    assert stored["peak_lr"] == summary.results[1]["peak_lr"]  # what its own trainer added

    text = report(tmp_path / "out", experiments=["dummy"])
    assert "## A dummy experiment — scale `smoke` (factor 0.01)" in text
    assert "- dummy: " in text and " is best at " in text  # its notes
    assert (tmp_path / "out" / "figures" / "dummy-smoke.png").exists()  # its figure

    assert cli.main(["bench", "list"]) == 0
    assert "dummy: A dummy experiment" in capsys.readouterr().out
    # the size of the change: the module, and one line to register it
    assert len(MODULE.splitlines()) <= 40
