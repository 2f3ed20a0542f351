"""The notebooks: committed clean, well-formed, and executed top to bottom by papermill (smoke mode)
with assertions on the key numbers each notebook records (``<name>.results.json``)."""

from __future__ import annotations

import importlib.util
import math
import os
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]


def _runner():
    spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "ci" / "run_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("run_notebooks", mod)
    spec.loader.exec_module(mod)
    return mod


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb"


# ------------------------------------------------------------------------------------ static checks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_without_outputs(path):
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"
            assert cell.outputs == [], f"{path.name} cell {i} has outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_structure(path):
    nb = nbformat.read(str(path), as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "first cell: markdown title"
    assert "run time" in first.source.lower() or "smoke mode" in first.source.lower()
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    for name in ("SMOKE = False", "SEED = ", "DATA_DIR = None", "RESULTS_PATH = None"):
        assert name in params[0].source, f"parameters cell lacks {name!r}"
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert "needs_cifar10" in nb.metadata.get("lrkit", {})
    assert "%matplotlib inline" in "".join(c.source for c in nb.cells if c.cell_type == "code")


RECORD_TAGS = {"lrkit-record", "remove-input"}


def _record_cells(nb):
    return [c for c in nb.cells if "lrkit-record" in c.metadata.get("tags", [])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_test_code_in_the_tutorial(path):
    """What the test checks is recorded in ONE final, collapsed cell (tags lrkit-record + remove-input,
    source hidden) that shows nothing; no other cell records (``rec(``) or builds a Recorder."""
    import ast

    nb = nbformat.read(str(path), as_version=4)
    records = _record_cells(nb)
    assert len(records) == 1, f"{path.name}: exactly one cell tagged 'lrkit-record'"
    cell = records[0]
    assert cell is nb.cells[-1] and cell.cell_type == "code", "the record cell is the notebook's last cell"
    assert RECORD_TAGS <= set(cell.metadata["tags"]), f"record cell tags must include {sorted(RECORD_TAGS)}"
    assert cell.metadata.get("jupyter", {}).get("source_hidden") is True, "record cell must be collapsed"
    assert "Recorder(RESULTS_PATH" in cell.source and "rec(" in cell.source
    tree = ast.parse(cell.source)
    assert not isinstance(tree.body[-1], ast.Expr) or cell.source.rstrip().endswith(";"), \
        "the record cell must not end with an expression (it would echo a value)"
    for i, c in enumerate(nb.cells[:-1]):
        for needle in ("rec(", "Recorder("):
            assert needle not in c.source, f"{path.name} cell {i} contains {needle!r} (test code in the tutorial)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_ends_with_exercises(path):
    """The last visible cell: '## Exercises' with 5–8 numbered questions and 2–3 'Try it' experiments."""
    import re

    nb = nbformat.read(str(path), as_version=4)
    ex = nb.cells[-2]
    assert ex.cell_type == "markdown" and ex.source.startswith("## Exercises"), \
        f"{path.name}: the cell before the record cell must be '## Exercises'"
    questions, _, tries = ex.source.partition("**Try it**")
    n_q = len(re.findall(r"^\d+\. ", questions, flags=re.M))
    n_try = len(re.findall(r"^\* ", tries, flags=re.M))
    assert 5 <= n_q <= 8, f"{path.name}: {n_q} questions (want 5-8)"
    assert 2 <= n_try <= 3, f"{path.name}: {n_try} 'Try it' experiments (want 2-3)"
    for item in re.split(r"^\* ", tries, flags=re.M)[1:]:
        assert "`" in item, f"{path.name}: a 'Try it' item must name the parameter/variable to change: {item[:60]!r}"


BOXES = {"03": "smith2017-table1", "04": "sgdr", "05": "onecycle", "06": "discriminative"}


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.stem[:2] in BOXES],
                         ids=[p.stem for p in NOTEBOOKS if p.stem[:2] in BOXES])
def test_did_it_reproduce_box(path):
    """03–06 close with the 'Did it reproduce?' box of their bench experiment, after the takeaways."""
    nb = nbformat.read(str(path), as_version=4)
    call = f'reproduction_box("{BOXES[path.stem[:2]]}")'
    k = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and call in c.source]
    assert len(k) == 1, f"{path.name}: one cell showing {call}"
    takeaways = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and "## Takeaways" in c.source]
    assert takeaways and takeaways[-1] < k[0] < len(nb.cells) - 2


def test_runner_cli_filters_and_rejects_unknown(tmp_path):
    rn = _runner()
    assert rn.notebook_paths(["01"]) == [p for p in NOTEBOOKS if "01" in p.stem]
    assert rn.main(["--out", str(tmp_path), "no-such-notebook"]) == 2
    assert rn._parse_parameter("THREADS=1") == ("THREADS", 1)
    assert rn._parse_parameter("ONLY=[\"fixed\"]") == ("ONLY", ["fixed"])
    assert rn._parse_parameter("DATA_DIR=/x/y") == ("DATA_DIR", "/x/y")
    for bad in ("THREADS", "1X=2", "=3"):
        with pytest.raises(ValueError, match="NAME=VALUE"):
            rn._parse_parameter(bad)
    with pytest.raises(SystemExit):
        rn.main(["--out", str(tmp_path), "-p", "oops"])


# ------------------------------------------------------------------------------------ assertions
def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def check_01(r):
    assert r["quadratic_verdicts"] == {k: k for k in ("too small", "good", "too large", "divergent")}
    assert r["bowl_verdicts"] == {k: k for k in ("too small", "good", "too large", "divergent")}
    esc = {float(k): v for k, v in r["saddle_escape_steps"].items()}
    lrs = sorted(esc)
    assert all(esc[a] > esc[b] for a, b in zip(lrs, lrs[1:], strict=False)), "larger LR must escape faster"
    assert 0.5 <= r["best_lr"]["quadratic"] <= 2.0
    assert r["best_lr"]["ill_conditioned"] < r["bowl_lr_limit"]
    assert r["update_table"][0]["new_w"] == pytest.approx(2.0)
    assert r["explorer_lr_1.9"] == "too large"


def check_02(r):
    sugg = r["suggestions"]
    for m in ("steepest", "valley", "minimum", "robust"):
        assert m in sugg and 1e-5 < sugg[m] < 5.0, (m, sugg.get(m))
    assert r["n_points"] >= 10
    assert r["min_loss"] < r["start_loss"], "the loss must fall somewhere in the sweep"
    # the explorer recomputes when smoothing changes
    assert r["explorer_changed"] is True
    acc = r["accuracy_test"]
    assert max(acc["acc"]) > 0.15, "accuracy must rise above chance during the accuracy test"
    if acc["base_lr"] is not None:
        assert 0 <= acc["base_lr"] <= acc["max_lr"] <= acc["end_lr"]
    # the suggestion for each use (rt.for_uses()), through the documented rules
    from lrkit.rangetest import CLR_RATIO, USE_RULES

    uses = r["per_use"]
    assert set(uses) == set(USE_RULES), uses
    for use, s in uses.items():
        assert _finite(s["lr"]) and 1e-5 <= s["low"] <= s["lr"] <= s["high"] <= 10.0, (use, s)
        assert s["rule"] == USE_RULES[use], (use, s["rule"])
    assert uses["constant"]["lr"] <= uses["one_cycle"]["lr"], uses
    assert uses["clr"]["base_lr"] == pytest.approx(uses["clr"]["lr"] / CLR_RATIO)
    # noisy (small batch) and flat (too narrow a range) sweeps ran
    noisy, flat = r["noisy"], r["flat"]
    assert noisy["batch_size"] < 64 and noisy["n_points"] >= 10 and _finite(noisy["suggestion"])
    assert _finite(noisy["interval_width"]) and noisy["interval_width"] >= 1
    assert flat["n_points"] >= 10 and flat["max_lr_swept"] <= flat["end_lr"] * (1 + 1e-9)
    assert 1e-5 <= flat["suggestion"] <= flat["end_lr"]
    # the validation-loss sweep ran, with its training loss kept beside it
    val = r["val_mode"]
    assert val["loss_kind"] == "val", val
    assert val["n_points"] >= 10 and val["train_loss_kept"] is True
    assert _finite(val["suggestion"]) and 1e-5 <= val["suggestion"] <= 10.0
    assert _finite(val["train_suggestion"]) and 1e-5 <= val["train_suggestion"] <= 10.0


def check_03(r):
    finals = r["final_acc"]
    assert set(finals) >= {"fixed", "triangular2"}
    for name, a in finals.items():
        assert _finite(a) and a > 0.15, f"{name}: final accuracy {a} does not beat chance"
    assert r["paper"]["triangular2"] == 81.4 and r["paper"]["exp_range"] == 82.2
    assert r["explorer_changed"] is True


def check_04(r):
    finals = r["final_acc"]
    assert set(finals) >= {"sgdr", "step"}
    assert all(_finite(a) for a in finals.values())
    assert max(finals.values()) > 0.15, f"no run beats chance (10 %): {finals}"
    assert r["restarts"] and all(b > a for a, b in zip(r["restarts"], r["restarts"][1:], strict=False))
    assert r["explorer_changed"] is True


def check_05(r):
    finals = r["final_acc"]
    assert set(finals) >= {"one_cycle", "constant"}
    assert all(_finite(a) for a in finals.values())
    assert max(finals.values()) > 0.15, f"no run beats chance (10 %): {finals}"
    mom = r["momentum_range"]
    assert mom[0] < mom[1], "one-cycle must cycle the momentum"
    assert r["explorer_changed"] is True
    # the peak and the constant LR come from a range test on the same setup, through the documented rules
    from lrkit.rangetest import USE_RULES

    rt = r["range_test"]
    assert rt["loss_kind"] == "train" and rt["n_points"] >= 10, rt
    assert r["max_lr_source"] == "range test" and r["base_lr_source"] == "range test"
    assert r["max_lr_rule"] == r["max_lr_rule_documented"] == USE_RULES["one_cycle"]
    assert r["constant_lr_rule"] == USE_RULES["constant"]
    peak, const = r["max_lr_from_range_test"], r["constant_lr_from_range_test"]
    assert _finite(peak) and _finite(const) and 0 < const < peak, (const, peak)
    lo, hi = r["max_lr_interval"]
    assert lo <= peak <= hi
    assert r["max_lr"] == peak and r["base_lr"] == const
    assert r["one_cycle_peak_used"] == pytest.approx(peak, rel=1e-9), "one-cycle must peak at the suggestion"
    assert r["constant_lr_used"] == pytest.approx([const, const], rel=1e-9), "the constant run must use the suggestion"
    assert r["one_cycle_peak_used"] > r["constant_lr_used"][1]
    assert r["peak_over_constant"] == pytest.approx(peak / const)


def check_06(r):
    lrs = r["group_lrs"]
    assert len(lrs) >= 2 and all(a <= b for a, b in zip(lrs, lrs[1:], strict=False)), "LRs must grow upwards"
    assert r["frozen_unchanged"] is True
    for name, a in r["final_acc"].items():
        assert _finite(a) and a > 0.15, f"{name}: final accuracy {a} does not beat chance"
    assert r["explorer_changed"] is True


def check_08(r):
    w = r["warmup_runs"]
    assert w["lr_first_step"]["10 % linear warm-up"] == 0.0 and w["lr_first_step"]["no warm-up"] == w["high_lr"]
    assert 0 < r["warmup_start"]["exponential"] < r["warmup_start"]["linear"]
    rt = r["range_tests"]
    for opt in ("sgd", "adamw"):
        assert all(_finite(v) and v > 0 for v in rt[opt].values()), rt
    assert rt["sgd_over_adamw_constant"] == pytest.approx(rt["sgd"]["constant"] / rt["adamw"]["constant"])
    assert len(r["batch_lrs"]) == 3 and _finite(r["batch_exponent"])
    assert all(_finite(v) and v > 0 for v in r["weight_norm_growth"].values())
    assert r["explorer_changed"] is True
    wsd = r["wsd"]
    assert wsd["branch_lrs_match"] is True and wsd["starts"] == sorted(wsd["starts"])
    assert len(wsd["branch_acc"]) == len(wsd["starts"]) and all(_finite(a) for a in wsd["branch_acc"].values())
    sf = r["schedule_free"]
    assert sf["at_x"] == pytest.approx(sf["fit_final"]), "fit must report schedule-free at x with BN recomputed"
    p = r["prodigy"]
    assert p["steps"] >= 10 and 0 < p["d_first"] <= p["d_final"], p
    assert r["bench"]["runs"] >= 0


CHECKS = {"01": check_01, "02": check_02, "03": check_03, "04": check_04, "05": check_05, "06": check_06,
          "08": check_08}


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_in_smoke_mode(path, tmp_path):
    rn = _runner()
    if rn.needs_cifar10(path):
        from lrkit.notebook import data_available

        if not data_available():
            pytest.skip(f"{path.name} trains on CIFAR-10, which was not found locally "
                        f"(set LRKIT_DATA_DIR; LRKIT_DATA_DIR={os.environ.get('LRKIT_DATA_DIR')!r})")
    out = Path(os.environ.get("LRKIT_NOTEBOOK_OUT", tmp_path))
    res = rn.run_notebook(path, out, smoke=True)
    r = res["results"]
    assert r, f"{path.name} recorded no results"
    assert r["meta"]["smoke"] is True
    # kernel "python3" ran in the runner's own environment (the venv papermill was started from)
    assert os.path.realpath(r["meta"]["python_prefix"]) == os.path.realpath(sys.prefix)
    check = CHECKS.get(path.stem[:2])
    if check is not None:
        check(r)


def check_07(r):
    finals = r["final_acc"]
    assert set(finals) >= {"fixed", "triangular2"}
    assert all(_finite(a) and 0 <= a <= 100 for a in finals.values())
    assert r["published"]["fixed"] == 81.4 and r["published"]["triangular2"] == 81.4
    assert any("ordering measured" in n for n in r["notes"])
    assert r["overview"]["smith2017-table1"] == {k: round(v, 2) for k, v in finals.items()}


CHECKS["07"] = check_07
