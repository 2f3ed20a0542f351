"""lrkit.notebook.tools: the "Did it reproduce?" box (on fake results in a tmp folder) and ``lead``."""

from __future__ import annotations

import json

import pytest

from lrkit.bench.store import RESULT_FORMAT
from lrkit.notebook import lead, reproduction_box


def _result(root, experiment, scale, run, seed, curve, iterations):
    """A minimal stored result: ``curve`` = [(iteration, acc), ...]; the last point is the final one."""
    evals = [{"iteration": it, "acc": acc, "loss": 1.0} for it, acc in curve]
    doc = {"format": RESULT_FORMAT, "experiment": experiment, "scale": scale, "run": run, "seed": seed,
           "config": {"iterations": iterations}, "history": {"evals": evals, "steps_per_epoch": 10},
           "final": evals[-1], "train_seconds": 60.0}
    folder = root / experiment / scale
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{run}-seed{seed}.json").write_text(json.dumps(doc))


def test_box_without_results_says_not_run_yet(tmp_path):
    md = reproduction_box("sgdr", tmp_path)
    assert md.startswith("### Did it reproduce?")
    assert "Not run yet" in md and "lrkit bench run sgdr" in md
    assert "Loshchilov" in md and "2–4× faster" in md                 # the paper's claim, attributed
    assert "07_reproduce_papers.ipynb" in md and "BENCHMARKS.md" in md


def test_box_uses_lite_when_paper_is_missing_and_says_so(tmp_path):
    # triangular2 reaches fixed's final 0.60 at iteration 20 of fixed's 70 → 3.5× fewer → "yes"
    _result(tmp_path, "smith2017-table1", "lite", "fixed", 0, [(10, 0.3), (40, 0.5), (70, 0.60)], 70)
    _result(tmp_path, "smith2017-table1", "lite", "triangular2", 0, [(10, 0.4), (20, 0.61), (25, 0.62)], 25)
    (tmp_path / "smith2017-table1" / "paper").mkdir()                   # a folder without results
    md = reproduction_box("smith2017-table1", tmp_path)
    assert "scale `lite`" in md and "× 0.1" in md
    assert "paper scale is not run yet" in md and "paper: not run yet" in md
    assert "| fixed | 70 | 1 | 60.00 | 81.4 @ 70,000 it |" in md
    assert "| triangular2 | 25 | 1 | 62.00 | 81.4 @ 25,000 it |" in md
    assert "seed 0: iteration 20" in md and "1/2.8 of its iterations" in md  # the report's own note, quoted
    assert "**yes** at this scale" in md


def test_box_prefers_paper_scale(tmp_path):
    _result(tmp_path, "onecycle", "lite", "one_cycle", 0, [(10, 0.2), (20, 0.3)], 20)
    _result(tmp_path, "onecycle", "lite", "piecewise_constant", 0, [(40, 0.25), (80, 0.5)], 80)
    _result(tmp_path, "onecycle", "paper", "one_cycle", 0, [(100, 0.5), (200, 0.9)], 200)
    _result(tmp_path, "onecycle", "paper", "piecewise_constant", 0, [(400, 0.7), (800, 0.85)], 800)
    md = reproduction_box("onecycle", tmp_path)
    assert "scale `paper`" in md and "the paper's protocol" in md and "paper: not run yet" not in md
    assert "| one_cycle | 200 | 1 | 90.00 |" in md and "| one_cycle | 20 |" not in md
    assert "one_cycle reaches piecewise_constant's final accuracy (85.00 %) at iteration 200: 4.00× sooner" in md
    assert "paper: 2 runs" in md and "lite: 2 runs" in md


def test_box_prefers_full_to_lite(tmp_path):
    # full (all the data) is larger than lite: with no paper results, the box shows full and says so
    _result(tmp_path, "onecycle", "lite", "one_cycle", 0, [(10, 0.2), (20, 0.3)], 20)
    _result(tmp_path, "onecycle", "lite", "piecewise_constant", 0, [(40, 0.25), (80, 0.5)], 80)
    _result(tmp_path, "onecycle", "full", "one_cycle", 0, [(50, 0.6), (100, 0.8)], 100)
    _result(tmp_path, "onecycle", "full", "piecewise_constant", 0, [(400, 0.7), (800, 0.82)], 800)
    md = reproduction_box("onecycle", tmp_path)
    assert "scale `full` (every iteration count × 0.1)" in md and "paper scale is not run yet" in md
    assert "| one_cycle | 100 | 1 | 80.00 |" in md and "| one_cycle | 20 |" not in md
    assert "full: 2 runs" in md and "lite: 2 runs" in md and "paper: not run yet" in md


def test_box_discriminative_has_no_paper_scale(tmp_path):
    for seed, (full, grad) in enumerate([(0.60, 0.65), (0.62, 0.66)]):
        _result(tmp_path, "discriminative", "lite", "full", seed, [(50, full)], 50)
        _result(tmp_path, "discriminative", "lite", "gradual", seed, [(50, grad)], 50)
    md = reproduction_box("discriminative", tmp_path)
    assert "paper scale does not exist" in md and "paper: not available" in md
    assert "| gradual | 50 | 2 | 65.50 ± 0.71 |" in md
    assert "gradual vs full: +4.50 pp" in md and "**yes**" in md


def test_box_rejects_unknown_experiment(tmp_path):
    with pytest.raises(ValueError, match="sgdr"):
        reproduction_box("sgdrr", tmp_path)


def test_box_on_committed_results():
    """The boxes the notebooks show: every experiment they name renders from the repository's results."""
    for name in ("smith2017-table1", "sgdr", "onecycle", "discriminative"):
        md = reproduction_box(name)
        assert "Did it reproduce?" in md and ("Measured at scale" in md or "Not run yet" in md)


def test_lead():
    assert lead(0.8595, 0.848) == "ahead by 1.15 pp"
    assert lead(0.839, 0.883) == "behind by 4.40 pp"
    assert lead(0.5, 0.5) == "level"
    assert lead(3.0, 1.0, scale=1, unit="×", digits=1) == "ahead by 2.0 ×"
    with pytest.raises(ValueError, match="a must be a finite"):
        lead(float("nan"), 0.1)


def test_wsd_branches_are_exactly_wsd_of_that_length():
    """A branch continued from the trunk ends with the same weights as WSD.branch(s) trained from scratch."""
    import torch

    from lrkit.data import BatchLoader
    from lrkit.schedules import WSD
    from lrkit.training import fit, run_wsd_branches
    from lrkit.utils import seed_everything

    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (96, 3, 4, 4), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 3, (96,), generator=g)
    train = BatchLoader(x, y, 16, shuffle=True, augment=True, seed=1)

    def make_model():
        return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                   torch.nn.Flatten(), torch.nn.Linear(16, 3))

    def make_opt(m, lr):
        return torch.optim.SGD(m.parameters(), lr=lr, momentum=0.9, weight_decay=1e-3)

    wsd = WSD(0.1, 30, warmup_steps=4, cooldown_steps=6, cooldown="1-sqrt")
    out = run_wsd_branches(make_model, make_opt, train, wsd, [10, 5], seed=3, progress=False)
    assert sorted(out["branches"]) == [5, 10] and len(out["trunk"]) == 10
    for s, h in out["branches"].items():
        ref_lrs = wsd.branch(s)(torch.arange(s, s + 6).double().numpy())
        assert [lr[0] for lr in h.lr] == pytest.approx(list(ref_lrs), rel=1e-12)
        seed_everything(3)
        m = make_model()
        opt = make_opt(m, 0.1)
        ref = fit(m, opt, train, iterations=s + 6, schedule=wsd.branch(s), progress=False)
        assert ref.train_loss[s:] == h.train_loss  # the same batches and weights, step for step
    with pytest.raises(ValueError, match="warm-up"):
        run_wsd_branches(make_model, make_opt, train, wsd, [2])
    with pytest.raises(ValueError, match="get_batch"):
        run_wsd_branches(make_model, make_opt, [(x, y)], wsd, [5])
