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
    with pytest.raises(SystemExit, match="max_lr"):
        cli.main(["schedule", "OneCycle", "max_lr=-1", "total_steps=200", "-o", str(out)])
    with pytest.raises(SystemExit):
        cli.main(["schedule", "Cyclic", "oops"])


def test_missing_data_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("LRKIT_DATA_DIR", raising=False)
    rc = cli.main(["find", "--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path)])
    assert rc == 2
    assert "--data-dir" in capsys.readouterr().err


def test_bad_numbers_are_rejected():
    with pytest.raises(SystemExit):
        cli.main(["quickstart", "--epochs", "0"])
