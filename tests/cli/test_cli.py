from __future__ import annotations

import json

import pytest

from lrkit import cli


@pytest.mark.slow
def test_quickstart_writes_figures_and_summary(real_cifar, tmp_path, capsys):
    rc = cli.main(["quickstart", "--out", str(tmp_path), "--n-per-class", "30", "--test-per-class", "20",
                   "--epochs", "1", "--find-iters", "30", "--batch-size", "50", "--no-progress"])
    assert rc == 0
    (run,) = tmp_path.iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["train_images"] == 300 and summary["test_images"] == 200
    assert 1e-5 <= summary["max_lr"] <= 10
    assert 0 <= summary["final_test"]["acc"] <= 1
    for f in ("range_test.png", "training.png", "history.json", "range_test.json"):
        assert (run / f).stat().st_size > 0
    out = capsys.readouterr().out
    assert str(run / "summary.json") in out


def test_find_on_real_cifar(real_cifar, tmp_path, capsys):
    rc = cli.main(["find", "--out", str(tmp_path), "--n-per-class", "20", "--num-iter", "15",
                   "--batch-size", "40", "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "valley" in out and "robust" in out
    (run,) = tmp_path.iterdir()
    assert (run / "range_test.png").exists()


def test_schedule_command(tmp_path, capsys):
    out = tmp_path / "s.png"
    assert cli.main(["schedule", "OneCycle", "max_lr=0.1", "total_steps=200", "--momentum", "-o", str(out)]) == 0
    assert out.stat().st_size > 0
    capsys.readouterr()
    # errors: one line on stderr naming the culprit, exit status 2 (was: SystemExit with status 1)
    assert cli.main(["schedule", "OneCycle", "max_lr=-1", "total_steps=200", "-o", str(out)]) == 2
    assert "max_lr" in capsys.readouterr().err
    assert cli.main(["schedule", "Cyclic", "oops"]) == 2
    assert "oops" in capsys.readouterr().err


def test_missing_data_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("LRKIT_DATA_DIR", raising=False)
    rc = cli.main(["find", "--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path)])
    assert rc == 2
    assert "--data-dir" in capsys.readouterr().err


def test_bad_numbers_are_rejected():
    with pytest.raises(SystemExit):
        cli.main(["quickstart", "--epochs", "0"])


def test_bad_numbers_exit_with_2_and_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["quickstart", "--epochs", "0"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--epochs" in err


@pytest.mark.parametrize("argv", [[], ["quickstart"], ["find"], ["schedule"], ["bench"], ["bench", "run"],
                                  ["bench", "report"], ["bench", "list"]])
def test_help_shows_defaults_and_choices(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([*argv, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    if argv in (["quickstart"], ["find"]):
        assert "(default: 128)" in out  # --batch-size
        assert "fastnet" in out and "caffe_cifar10_full" in out  # --model's choices
        assert "{sgd,adamw,caffe-sgd}" in out
    if argv == ["find"]:
        assert "{exp,linear}" in out and "(default: 1e-05)" in out  # the one start LR everywhere
    if argv == ["bench", "run"]:
        assert "{smoke,lite,full,paper}" in out and "(default: smoke)" in out
    if argv == ["schedule"]:
        assert "(default: runs/schedule.png)" in out


def test_keyboard_interrupt_exits_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_schedule", interrupted)
    assert cli.main(["schedule", "Constant", "lr=0.1"]) == 130
    assert capsys.readouterr().err.strip() == "lrkit schedule: interrupted"


def test_unexpected_errors_keep_their_traceback(monkeypatch):
    def bug(args):
        raise RuntimeError("a bug in lrkit")

    monkeypatch.setattr(cli, "cmd_schedule", bug)
    with pytest.raises(RuntimeError, match="a bug in lrkit"):
        cli.main(["schedule", "Constant", "lr=0.1"])


def test_parse_params():
    assert cli.parse_params(["max_lr=0.1", "mode=triangular2", "milestones=[1, 2]", "three_phase=true"]) == {
        "max_lr": 0.1, "mode": "triangular2", "milestones": [1, 2], "three_phase": True}


def test_schedule_without_end_plots_with_steps(tmp_path, capsys):
    out = tmp_path / "c.png"
    assert cli.main(["schedule", "Exponential", "lr=0.1", "gamma=0.99", "--steps", "50", "-o", str(out)]) == 0
    assert out.stat().st_size > 0
