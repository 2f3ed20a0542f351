"""The notebooks: committed clean, well-formed, and executed top to bottom by papermill (smoke mode)
with assertions on the key numbers each notebook records (``<name>.results.json``)."""

from __future__ import annotations

import html
import importlib.util
import math
import os
import re
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
    """The last visible cell: '## Exercises' with numbered questions and 2–3 'Try it' experiments. A notebook
    rewritten for #27 (its cell has '## Further reading') has 12–20 questions, answers in collapsed
    ``<details>`` blocks, and further reading with arXiv links; the others keep 5–8 questions."""
    import re

    nb = nbformat.read(str(path), as_version=4)
    ex = nb.cells[-2]
    assert ex.cell_type == "markdown" and ex.source.startswith("## Exercises"), \
        f"{path.name}: the cell before the record cell must be '## Exercises'"
    body, _, reading = ex.source.partition("## Further reading")
    questions, _, tries = body.partition("**Try it**")
    n_q = len(re.findall(r"^\d+\. ", questions, flags=re.M))
    n_try = len(re.findall(r"^\* ", tries, flags=re.M))
    if reading:
        assert 12 <= n_q <= 20, f"{path.name}: {n_q} questions (want 12-20)"
        assert questions.count("<details>") >= n_q // 2, f"{path.name}: answers in <details> for most questions"
        assert "https://arxiv.org/abs/" in reading, f"{path.name}: further reading without an arXiv link"
    else:
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
    assert rn.parse_parameter("THREADS=1") == ("THREADS", 1)
    assert rn.parse_parameter("ONLY=[\"fixed\"]") == ("ONLY", ["fixed"])
    assert rn.parse_parameter("DATA_DIR=/x/y") == ("DATA_DIR", "/x/y")
    for bad in ("THREADS", "1X=2", "=3"):
        with pytest.raises(ValueError, match="NAME=VALUE"):
            rn.parse_parameter(bad)
    with pytest.raises(SystemExit):
        rn.main(["--out", str(tmp_path), "-p", "oops"])


# ------------------------------------------------------------------------------------ the learner's path
TRAINING = [p for p in NOTEBOOKS
            if nbformat.read(str(p), as_version=4).metadata.get("lrkit", {}).get("needs_cifar10")]
#: the calls that must name the device (the model, the batches and the evaluation go there through lrkit)
DEVICE_CALLS = {"fit", "lr_find", "run_schedules", "run_wsd_branches", "cifar10_loaders", "evaluate",
                "run_experiment"}
SLIDER_MOVES = re.compile(r"\.widgets\b|\.value\s*=(?!=)")


def _code(nb) -> list[tuple[int, str]]:
    return [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code"]


def _python(source: str) -> str:
    """A cell's source without IPython's magics (``%matplotlib inline``), for ``ast``."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_slider_moves_and_no_test_scaffolding(path):
    """No cell moves a widget (the browser test moves every control); parameters are checked by one
    ``setup(globals(), ...)`` call in the cell after the parameters cell, not ``check_parameters``/``if SMOKE:``."""
    nb = nbformat.read(str(path), as_version=4)
    for i, src in _code(nb):
        assert not SLIDER_MOVES.search(src), f"{path.name} cell {i} moves a widget: {SLIDER_MOVES.search(src)[0]!r}"
        assert "check_parameters(" not in src and not re.search(r"^\s*if SMOKE\b", src, flags=re.M), \
            f"{path.name} cell {i}: test scaffolding in the learner's path"
    k = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    calls = [i for i, src in _code(nb) if "setup(globals()" in src]
    assert calls == [k + 1], f"{path.name}: one setup(globals(), ...) call, in the cell after the parameters ({calls})"


@pytest.mark.parametrize("path", TRAINING, ids=[p.stem for p in TRAINING])
def test_training_notebooks_put_everything_on_DEVICE(path):
    """A ``DEVICE = "auto"`` parameter, and every training, range-test, evaluation and data call names
    ``device=DEVICE``; every model built outside such a call is moved with ``.to(DEVICE)``."""
    import ast

    nb = nbformat.read(str(path), as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert re.search(r'^DEVICE = "auto"', params.source, flags=re.M), f"{path.name}: no DEVICE = \"auto\" parameter"
    n = 0
    for i, src in _code(nb):
        if "lrkit-record" in nb.cells[i].metadata.get("tags", []):
            continue
        tree = ast.parse(_python(src))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            name = node.func.id
            if name in DEVICE_CALLS:
                n += 1
                kw = {k.arg: k.value for k in node.keywords}
                assert isinstance(kw.get("device"), ast.Name) and kw["device"].id == "DEVICE", \
                    f"{path.name} cell {i}: {name}(...) without device=DEVICE"
            elif name == "get_model":
                up = parents.get(node)
                moved = (isinstance(up, ast.Attribute) and up.attr == "to" and isinstance(parents.get(up), ast.Call)
                         and [a.id for a in parents[up].args if isinstance(a, ast.Name)] == ["DEVICE"])
                in_lambda = any(isinstance(a, ast.Lambda) for a in _ancestors(node, parents))
                assert moved or in_lambda, f"{path.name} cell {i}: get_model(...) not .to(DEVICE) nor made by a runner"
    assert n, f"{path.name}: no training or data call found"


def _ancestors(node, parents):
    while node in parents:
        node = parents[node]
        yield node


# ------------------------------------------------------------------------------------ assertions
def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _lead(a: float, b: float) -> str:
    """What ``lrkit.notebook.lead`` should say, written again here: the test's own reading of two accuracies."""
    d = round(100 * (a - b), 2)
    return "level" if d == 0 else f"{'ahead' if d > 0 else 'behind'} by {abs(d):.2f} pp"


def chance_margin(classes: int, n_test: int, z: float = 3.0) -> float:
    """The accuracy a run must beat to have learned something: chance (1/classes) plus ``z`` binomial
    standard deviations of a chance-level classifier on ``n_test`` test images (one-sided p ≈ 0.001)."""
    p = 1 / classes
    return p + z * math.sqrt(p * (1 - p) / n_test)


def above_chance(acc: float, classes: int, n_test: int, what: str) -> None:
    bar = chance_margin(classes, n_test)
    assert _finite(acc) and acc > bar, (f"{what}: accuracy {acc:.3f} does not beat chance ({1 / classes:.2f}) with "
                                        f"margin ({bar:.3f} for {n_test} test images, {classes} classes)")


class Sentences:
    """The "in this run" sentences a notebook recorded (``lrkit.notebook.say``): each is checked by
    recomputing its inputs from the recorded numbers and rendering its template again."""

    def __init__(self, r: dict):
        self.all = r.get("sentences", {})
        self.checked: set[str] = set()

    def check(self, key: str, **expected) -> dict:
        assert key in self.all, f"no sentence {key!r} recorded (have {sorted(self.all)})"
        s = self.all[key]
        for name, want in expected.items():
            got = s["inputs"].get(name)
            if isinstance(want, float):
                assert got == pytest.approx(want, rel=1e-9, abs=1e-12), f"{key!r}: {name} = {got}, recomputed {want}"
            else:
                assert got == want, f"sentence {key!r}: {name} = {got!r}, recomputed {want!r}"
        text = s["template"].format(**{**s["inputs"], **expected})
        assert text == s["text"], f"sentence {key!r}: recorded {s['text']!r}, recomputed {text!r}"
        self.checked.add(key)
        return s

    def all_checked(self) -> None:
        for key, s in self.all.items():  # every sentence is its template rendered with its inputs
            assert s["template"].format(**s["inputs"]) == s["text"], key
        left = set(self.all) - self.checked
        assert not left, f"sentences no check recomputes: {sorted(left)} (add them to the notebook's check)"


def _curve(evals) -> dict[int, float]:
    return {int(i): float(a) for i, a in evals}


def _ahead(a, b, every=None) -> tuple[int, int]:
    ca, cb = _curve(a), _curve(b)
    common = [i for i in sorted(set(ca) & set(cb)) if i > 0 and (not every or i % every == 0)]
    return sum(1 for i in common if ca[i] > cb[i]), len(common)


#: what each explorer shows after "Run All": the values its cell set (the text around it describes them;
#: tests/system/test_browser.py expects the same in JupyterLab)
EXPLORERS_SHOW = {
    "01": {"surface": "quadratic", "lr": 0.1},
    "02": {"smoothing": 0.05},
    "03": {"mode": "triangular2", "base_lr": 0.001, "max_lr": 0.006, "step_size": 2000},
    "04": {"T_0": 10, "T_mult": 2.0, "eta_max": 0.05},
    "05": {"pct_start": 0.3, "total_steps": 1000},
    "06": {"rule": "spread", "hi": 0.05, "lo": 0.05 / 100},
    "08": {"branches": 2, "after": "wsd", "cooldown": "1-sqrt"},
}


def check_01(r, say):
    assert r["quadratic_verdicts"] == {k: k for k in ("too small", "good", "too large", "divergent")}
    assert r["bowl_verdicts"] == {k: k for k in ("too small", "good", "too large", "divergent")}
    esc = {float(k): v for k, v in r["saddle_escape_steps"].items()}
    lrs = sorted(esc)
    assert all(esc[a] > esc[b] for a, b in zip(lrs, lrs[1:], strict=False)), "larger LR must escape faster"
    assert 0.5 <= r["best_lr"]["quadratic"] <= 2.0
    assert r["best_lr"]["ill_conditioned"] < r["bowl_lr_limit"]
    assert r["update_table"][0]["new_w"] == pytest.approx(2.0)
    assert r["explorer_lr_1.9"] == "too large"
    _check_01_momentum(r, say)
    _check_01_noise(r, say)
    _check_01_sharpness(r, say)


def _heavy_ball_steps(lr: float, mu: float, steps: int, a=(1.0, 20.0), start=(-4.0, 1.5), factor=1e-6):
    """Heavy ball on the bowl ``(a₀x² + a₁y²)/2``, written again here: (steps to cut the gap by ``factor`` or
    None, diverged, last gap)."""
    import numpy as np

    a, w, v = np.array(a), np.array(start, dtype=float), np.zeros(2)
    gap0, hit, diverged = 0.5 * float(a @ w**2), None, False
    for k in range(1, steps + 1):
        v = mu * v + a * w
        w = w - lr * v
        gap = 0.5 * float(a @ w**2)
        if not np.isfinite(gap) or np.linalg.norm(w) > 1e6 * np.linalg.norm(start):
            return hit, True, gap
        if hit is None and gap <= factor * gap0:
            hit = k
    return hit, diverged, gap


def _check_01_momentum(r, say):
    m = r["momentum"]
    kappa = 20.0
    mu, lr = ((kappa**0.5 - 1) / (kappa**0.5 + 1)) ** 2, 4 / (1 + kappa**0.5) ** 2
    assert m["mu_tuned"] == pytest.approx(mu) and m["lr_tuned"] == pytest.approx(lr)
    need = [_heavy_ball_steps(a, m, 150)[0] for a, m in ((0.09, 0.0), (lr, mu), (0.01, 0.9))]
    assert m["steps_to"] == need
    assert need[1] < need[0], "Polyak's tuned heavy ball must beat plain GD on the bowl"
    _, diverged, gap = _heavy_ball_steps(0.15, 0.9, 300)
    assert m["beyond"]["diverged"] is diverged is False, "lr·b = 3 < 2(1 + 0.9): heavy ball is stable there"
    assert _heavy_ball_steps(0.15, 0.0, 300)[1] is True, "…where plain GD diverges"
    say.check("momentum", plain=need[0], mu=mu, lr=lr, tuned=need[1], ringing=need[2],
              verdict=f"still converged (loss gap {gap:.1e} after 300 steps)")


def _check_01_noise(r, say):
    import numpy as np

    n = r["noise"]
    big, small, decayed = n["lrs"]
    assert n["lrs"][big] == [0.05, 0.05] and n["lrs"][small] == [0.005, 0.005]
    assert n["lrs"][decayed] == pytest.approx([0.05, 0.0005])
    a = np.array(n["curvatures"])

    def predicted(lr):  # the stationary loss gap of noisy GD on Σ aᵢwᵢ²/2, written again here
        return float(np.sum(lr * n["noise"] ** 2 / (2 * (2 - lr * a))))

    gap = {k: float(np.mean(v[-n["tail"]:])) for k, v in n["gap"].items()}
    assert all(len(v) == n["steps"] + 1 for v in n["gap"].values())
    assert n["tail"] == n["steps"] // 5 and n["early"] == n["steps"] // 30
    say.check("noise_ball", tail=n["tail"], g_big=gap[big], p_big=predicted(0.05), g_small=gap[small],
              p_small=predicted(0.005), ratio=gap[big] / gap[small])
    say.check("decay", g_dec=gap[decayed], below=gap[big] / gap[decayed], vs_small=gap[small] / gap[decayed],
              early=n["early"], dec_early=n["gap"][decayed][n["early"]], small_early=n["gap"][small][n["early"]])
    # 500 chains: the settled gaps agree with the prediction (the mean of 500 chains × the last fifth)
    assert gap[big] == pytest.approx(predicted(0.05), rel=0.15)
    assert gap[small] == pytest.approx(predicted(0.005), rel=0.15)


def _check_01_sharpness(r, say):
    import numpy as np

    assert r["bowl_sharpness"] == pytest.approx(20.0, rel=1e-9), "power iteration on the bowl gives b"
    assert r["eos_images"] >= 100
    for label, e in r["eos"].items():
        assert e["limit"] == pytest.approx(2 / e["lr"]) and label == f"η = {e['lr']:g}"
        assert all(_finite(s) and s > 0 for s in e["sharpness"]), e["sharpness"]
        assert e["step"][0] == 0 and len(e["step"]) == len(e["sharpness"]) == len(e["loss"])
        loss = np.asarray(e["loss_every_step"])
        assert len(loss) == e["step"][-1] and np.all(np.isfinite(loss))
        assert e["loss"][-1] < e["loss"][0], f"{label}: full-batch GD must lower the training loss"
        late = e["sharpness"][len(e["sharpness"]) // 2:]
        say.check(f"eos {label}", label=label, first=e["sharpness"][0], last=e["sharpness"][-1], steps=e["step"][-1],
                  limit=e["limit"], ratio=float(np.median(late)) / e["limit"], rises=int(np.sum(np.diff(loss) > 0)),
                  n=len(loss) - 1)


def _noise(loss) -> float:
    import numpy as np

    d = np.diff(np.asarray(loss, dtype=float))
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2))


def _fall(c) -> float:
    return (c["smoothed"][0] - min(c["smoothed"])) / max(_noise(c["loss"]), 1e-12)


def check_02(r, say):
    sugg = r["suggestions"]
    assert set(sugg) >= {"steepest", "valley", "minimum", "robust"} and all(_finite(v) and v > 0 for v in sugg.values())
    assert r["n_points"] >= 10
    assert r["min_loss"] < r["start_loss"], "the loss must fall somewhere in the sweep"
    say.check("spread", spread=max(sugg.values()) / min(sugg.values()))
    acc = r["accuracy_test"]
    above_chance(max(acc["acc"]), acc["classes"], acc["test_images"], "the accuracy test's best evaluation")
    if acc["base_lr"] is not None:
        assert 0 <= acc["base_lr"] <= acc["max_lr"] <= acc["end_lr"]
    for bound, smith in (("base_lr", 0.001), ("max_lr", 0.006)):
        ours = acc[bound]
        say.check(bound, bound=bound, smith=smith, **({} if ours is None else {"ours": ours, "ratio": ours / smith}))
    # the suggestion for each use (rt.for_uses())
    from lrkit.rangetest import CLR_RATIO, USE_RULES

    uses = r["per_use"]
    assert set(uses) == set(USE_RULES), uses
    for use, s in uses.items():
        assert _finite(s["lr"]) and 0 < s["low"] <= s["lr"] <= s["high"], (use, s)
    assert uses["constant"]["lr"] <= uses["one_cycle"]["lr"], uses
    assert uses["clr"]["base_lr"] == pytest.approx(uses["clr"]["lr"] / CLR_RATIO)
    say.check("peak_over_constant", ratio=uses["one_cycle"]["lr"] / uses["constant"]["lr"])
    # noisy (small batch), flat (too narrow a range) and validation-loss sweeps: recomputed from their curves
    c = r["curves"]
    noisy, flat, val = r["noisy"], r["flat"], r["val_mode"]
    assert noisy["batch_size"] < 64 and noisy["n_points"] >= 10
    width = noisy["suggestion"]["high"] / noisy["suggestion"]["low"]
    width_ref = noisy["reference"]["high"] / noisy["reference"]["low"]
    say.check("noisy", batch=noisy["batch_size"], noise_ratio=_noise(c["noisy"]["loss"]) / _noise(c["batch64"]["loss"]),
              fall=_fall(c["noisy"]), fall_ref=_fall(c["batch64"]), width=width, width_ref=width_ref,
              wider="wider" if width > width_ref else "not wider")
    assert flat["n_points"] >= 10 and flat["max_lr_swept"] <= flat["end_lr"] * (1 + 1e-9)
    say.check("flat", ratio=flat["suggestion"] / noisy["reference"]["lr"], flat=flat["suggestion"],
              full=noisy["reference"]["lr"])
    assert val["loss_kind"] == "val" and val["n_points"] >= 10 and val["train_loss_kept"] is True, val
    say.check("val_vs_train", ratio=val["suggestion"] / val["train_suggestion"], val=val["suggestion"],
              train=val["train_suggestion"])
    # §7, the hand-written range test: an exponential sweep over lr_find's range, read by lrkit like lr_find's
    import numpy as np

    from lrkit.rangetest import RangeTest

    d = r["diy"]
    lrs = np.array(d["lr"], dtype=float)
    assert 5 <= len(lrs) <= d["num_iter"] and len(d["loss"]) == len(lrs)
    assert lrs[0] == pytest.approx(1e-5) and np.allclose(np.diff(np.log(lrs)), np.log(1e6) / (d["num_iter"] - 1))
    nan = lambda v: [math.nan if x is None else x for x in v]  # noqa: E731
    mine = RangeTest(sweep_lr=lrs, loss=nan(d["loss"])).suggest().lr
    ref = RangeTest(sweep_lr=c["batch64"]["lr"], loss=nan(c["batch64"]["loss"])).suggest().lr
    ref_loss = nan(c["batch64"]["loss"])
    common = min(len(lrs), len(ref_loss))
    same = sum(1 for a, b in zip(nan(d["loss"])[:common], ref_loss[:common], strict=True) if a == b)
    ema_gap = float(np.max(np.abs(np.array(d["smoothed"][:common]) - np.array(c["batch64"]["smoothed"][:common]))
                           / np.abs(np.array(c["batch64"]["smoothed"][:common]))))
    assert ema_gap < 1e-12
    say.check("diy", n=len(lrs), last=float(lrs[-1]), n_rt=len(ref_loss), same=same, common=common, ema_gap=ema_gap,
              diy_lr=mine, rt_lr=ref, ratio=mine / ref)


def check_03(r, say):
    finals = r["final_acc"]
    assert set(finals) >= {"fixed", "triangular2", "exp_range"}
    for name, a in finals.items():
        above_chance(a, r["classes"], r["test_images"], name)
    assert r["mean_lr"]["triangular2"] < r["mean_lr"]["triangular"], "triangular2 halves the amplitude every cycle"
    # the build-it-yourself exercise: the answer matched lrkit.schedules to 1e-12
    assert set(r["built_max_gap"]) == {"my_triangular", "my_triangular2"}
    assert all(0 <= g <= 1e-12 for g in r["built_max_gap"].values()), r["built_max_gap"]
    ev = r["evals"]
    for name in ("triangular2", "exp_range"):
        ahead, n = _ahead([e[:2] for e in ev[name]], [e[:2] for e in ev["fixed"]])
        ahead_at_ends, n_ends = _ahead([e[:2] for e in ev[name]], [e[:2] for e in ev["fixed"]], every=r["cycle"])
        say.check(f"{name}_vs_fixed", name=name, lead=_lead(finals[name], finals["fixed"]), acc=100 * finals[name],
                  fixed=100 * finals["fixed"], iterations=r["iterations"], ahead=ahead, n=n,
                  ahead_at_ends=ahead_at_ends, n_ends=n_ends)
    # §5: training loss (mean over the window before each cycle end) beside the test loss there
    view = {k: _cycle_end_view(r["train_loss"][k], ev[k], r["ends"], r["window"]) for k in ("triangular2", "fixed")}
    assert r["ends"] == list(range(r["cycle"], r["iterations"] + 1, r["cycle"])) and view["fixed"]
    t2, fx = view["triangular2"], view["fixed"]
    say.check("cycle_ends", n=len(t2), train_below=sum(a[0] < b[0] for a, b in zip(t2, fx, strict=True)),
              test_below=sum(a[1] < b[1] for a, b in zip(t2, fx, strict=True)), gap_t2=t2[-1][1] - t2[-1][0],
              gap_fixed=fx[-1][1] - fx[-1][0])


def _cycle_end_view(train_loss, evals, ends, window) -> list[tuple[float, float, float]]:
    """(mean training loss of the ``window`` steps before each cycle end, test loss, test accuracy there), for the
    cycle ends with an evaluation — written again here from the recorded losses and evaluations."""
    at = {int(e[0]): e for e in evals}
    out = []
    for end in ends:
        if end in at and 1 <= end <= len(train_loss):
            part = train_loss[max(0, end - window):end]
            out.append((sum(part) / len(part), at[end][2], at[end][1]))
    return out


def check_04(r, say):
    finals = r["final_acc"]
    assert set(finals) >= {"sgdr", "step"}
    for name, a in finals.items():
        above_chance(a, r["classes"], r["test_images"], name)
    # the restarts where T_0 · T_mult^i says they are
    t0, tm, it = r["schedule"]["T_0"], r["schedule"]["T_mult"], r["iterations"]
    want, start, length = [], 0, t0
    while start + length < it:
        start += length
        want.append(start)
        length *= tm
    assert r["restarts"] == want, (r["restarts"], want)
    t1 = r["explorer_restarts"]["T_mult 1"]
    assert len(set(b - a for a, b in zip(t1, t1[1:], strict=False))) == 1, "T_mult 1: equal cycles"
    # the build-it-yourself exercise: the answer matched CosineWarmRestarts to 1e-12 (T_mult 2, 1 and 3)
    gaps = r["built_max_gap"]
    assert len(gaps) == 3 and all(0 <= g <= 1e-12 for g in gaps.values()), gaps
    ev = {k: [e[:2] for e in v] for k, v in r["evals"].items()}
    mean = {k: sum(a for _, a in v) / len(v) for k, v in ev.items()}
    assert mean == pytest.approx(r["anytime_mean_acc"])
    say.check("sgdr_vs_step", lead_final=_lead(finals["sgdr"], finals["step"]), sgdr=100 * finals["sgdr"],
              step=100 * finals["step"], lead_mean=_lead(mean["sgdr"], mean["step"]), sgdr_mean=100 * mean["sgdr"],
              step_mean=100 * mean["step"])
    acc, ref = _curve(ev["sgdr"]), _curve(ev["step"])
    n = fell = ahead = 0
    for restart in r["restarts"]:
        before = max((i for i in acc if i <= restart), default=None)
        after = min((i for i in acc if i > restart), default=None)
        if before and after is not None:  # an evaluation on each side, the one before after iteration 0
            n += 1
            fell += acc[after] < acc[before]
            ahead += before in ref and acc[before] > ref[before]
    say.check("restarts", n=n, fell=fell, ahead=ahead)
    # the anytime score read where SGDR is meant to be read: its cycle ends (restarts and the budget's end)
    ends, start, length = [], 0, t0      # every cycle end within the budget
    while start + length <= it:
        start += length
        ends.append(start)
        length *= tm
    assert r["ends"] == ends, (r["ends"], ends)
    read = [e for e in ends if e in acc and e in ref]
    sg_ends, st_ends = sum(acc[e] for e in read) / len(read), sum(ref[e] for e in read) / len(read)
    say.check("anytime_at_ends", n_all=len(ev["sgdr"]), lead_all=_lead(mean["sgdr"], mean["step"]), n_ends=len(read),
              where=", ".join(map(str, read)), sgdr_ends=100 * sg_ends, step_ends=100 * st_ends,
              lead_ends=_lead(sg_ends, st_ends))
    # §5: training loss beside the test loss at the cycle ends
    view = {k: _cycle_end_view(r["train_loss"][k], r["evals"][k], ends, r["window"]) for k in ("sgdr", "step")}
    sg, st = view["sgdr"], view["step"]
    say.check("cycle_ends", n=len(sg), train_below=sum(a[0] < b[0] for a, b in zip(sg, st, strict=True)),
              test_below=sum(a[1] < b[1] for a, b in zip(sg, st, strict=True)), gap_sgdr=sg[-1][1] - sg[-1][0],
              gap_step=st[-1][1] - st[-1][0])
    # §6: one snapshot per cycle end; the ensemble of the last one is that snapshot
    snaps = r["snapshots"]
    single = {int(k): v for k, v in snaps["single"].items()}
    ensemble = {int(k): v for k, v in snaps["ensemble"].items()}
    assert sorted(single) == ends and sorted(ensemble) == list(range(1, len(ends) + 1))
    assert ensemble[1] == single[ends[-1]]
    if ends[-1] == it:  # the last snapshot is the final model: its accuracy is the final evaluation's
        assert single[it] == pytest.approx(finals["sgdr"], abs=1e-6)
    best_k = max(ensemble, key=lambda k: (ensemble[k], -k))
    say.check("snapshots", last=ends[-1], last_acc=100 * single[ends[-1]], best_k=best_k,
              best_acc=100 * ensemble[best_k], lead_vs_last=_lead(ensemble[best_k], single[ends[-1]]))


def check_05(r, say):
    import numpy as np

    finals = r["final_acc"]
    assert set(finals) == {"one_cycle", "one_cycle_at_blowup", "constant", "step"}
    for name in ("one_cycle", "constant", "step"):   # the run at the blow-up may diverge: that is its question
        above_chance(finals[name], r["classes"], r["test_images"], name)
    mom = r["momentum_range"]
    assert mom[0] < mom[1], "one-cycle must cycle the momentum"
    # the peak and the constant LR come from a range test on the same setup, read again here from its points
    rt = r["range_test"]
    assert rt["loss_kind"] == "train" and rt["n_points"] >= 10, rt
    reading, peak = _reread(rt, "one_cycle")
    _, const = _reread(rt, "constant")
    assert r["max_lr_source"] == "range test" and r["base_lr_source"] == "range test"
    assert r["max_lr_from_range_test"] == pytest.approx(peak.lr, rel=1e-9) and r["max_lr_status"] == peak.status
    assert r["constant_lr_from_range_test"] == pytest.approx(const.lr, rel=1e-9)
    assert 0 < const.lr < peak.lr, (const.lr, peak.lr)
    lo, hi = r["max_lr_interval"]
    assert lo <= peak.lr <= hi
    assert r["max_lr"] == peak.lr and r["base_lr"] == const.lr
    assert r["one_cycle_peak_used"] == pytest.approx(peak.lr, rel=1e-9), "one-cycle must peak at the suggestion"
    assert r["constant_lr_used"] == pytest.approx([const.lr, const.lr], rel=1e-9), \
        "the constant run uses the suggestion"
    high = reading.lr_blowup if reading.lr_blowup is not None else rt["sweep_lr"][-1]
    assert r["high_lr"] == pytest.approx(high, rel=1e-12) and r["high_peak_used"] == pytest.approx(high, rel=1e-9)
    say.check("peak_over_constant", ratio=peak.lr / const.lr)
    say.check("one_cycle_vs_baselines", lead_constant=_lead(finals["one_cycle"], finals["constant"]),
              lead_step=_lead(finals["one_cycle"], finals["step"]), iterations=r["iterations"])
    oc, co = _curve(r["evals"]["one_cycle"]), _curve(r["evals"]["constant"])
    common = sorted(set(oc) & set(co))
    led = next((i for k, i in enumerate(common) if all(oc[j] > co[j] for j in common[k:])), None)
    if led is None:
        say.check("led_from")
        assert "not ahead" in say.all["led_from"]["text"]
    else:
        say.check("led_from", led=led, peak_at=int(0.3 * r["iterations"]))
    losses = {k: np.array([math.nan if x is None else x for x in v], dtype=float) for k, v in r["train_loss"].items()}
    say.check("at_blowup", high=high, times=high / peak.lr,
              lead=_lead(finals["one_cycle_at_blowup"], finals["one_cycle"]),
              finite="finite" if np.isfinite(losses["one_cycle_at_blowup"]).all() else "not finite")
    # §4: held-out minus training loss (the mean over the steps since the previous evaluation), written again here
    gap = {}
    for k in ("one_cycle", "constant", "step"):
        its, prev, out = [], 0, []
        for it, heldout in r["eval_losses"][k]:
            if it <= 0:
                continue
            out.append(heldout - float(losses[k][prev:it].mean()))
            its.append(it)
            prev = it
        gap[k] = (its, out)
    its, oc_gap = gap["one_cycle"]
    at = min(range(len(its)), key=lambda i: abs(its[i] - int(0.3 * r["iterations"])))
    say.check("gap", oc=oc_gap[-1], const=gap["constant"][1][-1], step=gap["step"][1][-1], at=its[at],
              oc_peak=oc_gap[at])


def _reread(curve: dict, use: str = "one_cycle"):
    """A recorded range test read again from its raw points: (reading, suggestion for ``use``)."""
    from lrkit.rangetest import RangeTest

    rt = RangeTest(sweep_lr=curve["sweep_lr"], loss=curve["loss"])
    return rt.reading(), rt.suggest(for_=use)


def _stlr(max_lr: float, total: int, cut_frac: float, ratio: float) -> list[float]:
    """ULMFiT's eq. (3), written again here."""
    cut = math.floor(total * cut_frac)
    out = []
    for t in range(total):
        p = t / cut if t < cut else 1 - (t - cut) / (cut * (1 / cut_frac - 1))
        out.append(max_lr * (1 + p * (ratio - 1)) / ratio)
    return out


def check_06(r, say):
    import numpy as np

    lrs = r["group_lrs"]
    assert len(lrs) >= 2 and all(a < b for a, b in zip(lrs, lrs[1:], strict=False)), "LRs must grow towards the head"
    ulm = r["group_lrs_ulmfit"]
    assert all(b / a == pytest.approx(2.6) for a, b in zip(ulm, ulm[1:], strict=False)), "ULMFiT: ÷2.6 per group"
    assert r["frozen_unchanged"] is True
    above_chance(r["source_acc"], r["source_classes"], r["source_test_images"], "the source task")
    finals = r["final_acc"]
    assert set(finals) == {"full", "frozen", "discriminative", "gradual"}, "the bench's arms"
    for name, a in finals.items():
        above_chance(a, r["classes"], r["test_images"], name)
    # §4: both range tests read again from their raw points; the head's LR is the frozen one's one-cycle peak
    rt = r["range_tests"]
    (before, s_before), (after, s_after) = _reread(rt["frozen"]), _reread(rt["unfrozen"])
    for k, s in (("frozen", s_before), ("unfrozen", s_after)):
        assert rt[k]["lr"] == pytest.approx(s.lr, rel=1e-9)
        assert rt[k]["status"] == s.status and rt[k]["regime"] == s.regime
        assert rt[k]["low"] <= rt[k]["lr"] <= rt[k]["high"]
    if r["lr_parameter"] is None:
        assert r["top_lr"] == pytest.approx(s_before.lr, rel=1e-9)
    say.check("before_after", before=before.regime, after=after.regime, fall_before=100 * before.depth,
              fall_after=100 * after.depth)
    if after.lr_blowup is not None:
        say.check("after_rise", blowup=after.lr_blowup, lr=s_after.lr, ratio=after.lr_blowup / s_after.lr)
    else:
        say.check("after_rise", end=float(rt["unfrozen"]["sweep_lr"][-1]), lr=s_after.lr)
    # §5–§6: STLR as the paper writes it drove the gradual arm's head; ÷2.6 per group; one group opened per epoch
    it, top = r["iterations"], r["top_lr"]
    st = r["stlr"]
    want = _stlr(top, it, st["cut_frac"], st["ratio"])
    assert st["lr"] == pytest.approx(want, rel=1e-9) and min(want) > 0
    trace = {k: np.asarray(v) for k, v in r["group_lr_trace"].items()}
    assert trace["gradual"][:, -1] == pytest.approx(want, rel=1e-9)
    for arm in ("discriminative", "gradual"):
        ratios = trace[arm][:, 1:] / trace[arm][:, :-1]
        assert ratios == pytest.approx(np.full_like(ratios, 2.6)), arm
    assert trace["full"].max() == pytest.approx(top, rel=1e-6) and np.ptp(trace["full"], axis=1).max() == 0
    spe = r["steps_per_epoch"]
    assert [tuple(e) for e in r["unfreeze_events"]] == [(k * spe, k + 1) for k in range(5) if k * spe < it]
    ev = r["evals"]
    led, n = _ahead(ev["full"], ev["gradual"])
    say.check("arms", full=100 * finals["full"], frozen=_lead(finals["frozen"], finals["full"]),
              discriminative=_lead(finals["discriminative"], finals["full"]),
              gradual=_lead(finals["gradual"], finals["full"]), led=led, n=n, chance=100 / r["classes"])
    _check_discriminative_bench(r, say)


def _check_discriminative_bench(r, say):
    """§7's bench sentence, recomputed from the committed results of ``lrkit bench run discriminative``."""
    from lrkit.bench import load_results

    root = Path(r["bench"]["root"])
    arms = ("full", "frozen", "discriminative", "gradual")
    for scale in ("paper", "full", "lite", "smoke"):
        acc: dict[str, dict[int, float]] = {}
        for res in load_results(root, "discriminative", scale):
            if res.get("final"):
                acc.setdefault(res["run"], {})[res["seed"]] = 100 * res["final"]["acc"]
        if all(acc.get(a) for a in arms):
            break
    else:
        assert r["bench"]["scale"] is None
        say.check("bench")
        return
    assert r["bench"]["scale"] == scale

    def diff(arm):
        shared = sorted(set(acc[arm]) & set(acc["full"]))
        d = round(sum(acc[arm][s] - acc["full"][s] for s in shared) / len(shared), 2)
        return "level" if d == 0 else f"{'ahead' if d > 0 else 'behind'} by {abs(d):.2f} pp"

    say.check("bench", scale=scale, seeds=len(acc["full"]), full=sum(acc["full"].values()) / len(acc["full"]),
              discriminative=diff("discriminative"), gradual=diff("gradual"), frozen=diff("frozen"))


def check_07(r, say):
    """Smoke mode reads the committed results: what the notebook recorded and said is what the files say."""
    import numpy as np

    from lrkit.bench import EXPERIMENTS, load_results, reference
    from lrkit.bench.analysis import summarise
    from lrkit.notebook import default_results_dir

    root = default_results_dir()
    assert Path(r["results_dir"]).resolve() == root.resolve(), "07 must read the repository's committed results"
    order = ("paper", "full", "lite", "smoke")
    largest = {name: next((s for s in order if load_results(root, name, s)), None) for name in EXPERIMENTS}
    assert r["experiment"] == "smith2017-table1" and r["scale"] == largest["smith2017-table1"] == "paper"
    t1 = summarise(load_results(root, "smith2017-table1", "paper"))
    assert r["final_acc"] == pytest.approx({k: v["acc_mean"] for k, v in t1.items()})
    overview = {name: summarise(load_results(root, name, s)) for name, s in largest.items() if s is not None}
    assert r["overview"] == {name: {k: round(v["acc_mean"], 2) for k, v in o.items()} for name, o in overview.items()}
    assert r["notes"], "the report's notes for Table 1"
    # §6: the published column in the measured unit, never missing where the paper has the row
    for name, cols in r["published"].items():
        ref = reference(name) if name in ("smith2017-table1", "sgdr", "onecycle") else None
        for run, pub in cols.items():
            if ref is None or run not in ref.values:
                continue
            want = 100 - ref.values[run] if ref.metric.startswith("test error") else ref.values[run]
            assert pub == pytest.approx(want), (name, run, pub, want)
    assert r["published"]["sgdr"]["step_lr0.1"] == pytest.approx(100 - 4.24), "SGDR's errors shown as accuracies"
    # §2 (a): Table 2 against the one-stage reading
    if {"triangular2", "triangular2_flat"} <= set(t1):
        say.check("table2", t2=t1["triangular2"]["acc_mean"], n2=t1["triangular2"]["seeds"],
                  flat=t1["triangular2_flat"]["acc_mean"], nf=t1["triangular2_flat"]["seeds"])
    else:
        say.check("table2")
    # §3: final against best on the paper's 1,000-iteration test grid
    gain = {}
    for run, s in t1.items():
        finals, bests = [], []
        for res in s["results"]:
            ev = res["history"]["evals"]
            finals.append(100 * res["final"]["acc"])
            bests.append(100 * max(e["acc"] for e in ev if e["iteration"] % 1000 == 0))
        assert r["readings"][run]["final"] == pytest.approx(np.mean(finals))
        assert r["readings"][run]["best"] == pytest.approx(np.mean(bests))
        assert r["readings"][run]["best"] >= r["readings"][run]["final"] - 1e-9, run
        gain[run] = np.mean(bests) - np.mean(finals)
    top = max(gain, key=gain.get)
    say.check("readings", lo=min(gain.values()), hi=gain[top], top=top)
    # §4: SGDR T_0 = 10 against step, by seed (t-quantiles for 2–5 seeds written again here)
    acc = {"sgdr_T0=10_Tm=2": {}, "step_lr0.1": {}}
    for res in load_results(root, "sgdr", "full"):
        if res["run"] in acc:
            acc[res["run"]][res["seed"]] = 100 * res["final"]["acc"]
    seeds = sorted(set(acc["sgdr_T0=10_Tm=2"]) & set(acc["step_lr0.1"]))
    a = np.array([acc["sgdr_T0=10_Tm=2"][k] for k in seeds])
    b = np.array([acc["step_lr0.1"][k] for k in seeds])
    assert r["seeds"]["a"] == {str(k): v for k, v in zip(seeds, a, strict=True)}
    n, t = len(seeds), {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776}[len(seeds)]
    d = a - b
    paired = t * d.std(ddof=1) / np.sqrt(n)
    unpaired = t * np.sqrt(a.var(ddof=1) / n + b.var(ddof=1) / n)
    say.check("seeds", mean=float(d.mean()), paired=float(paired), n=n, t=t, unpaired=float(unpaired),
              verdict="narrower" if paired < unpaired else "no narrower")


def check_08(r, say):
    import numpy as np

    w = r["warmup_runs"]
    assert w["lr_first_step"]["10 % linear warm-up"] == 0.0 and w["lr_first_step"]["no warm-up"] == w["high_lr"]
    assert 0 < r["warmup_start"]["exponential"] < r["warmup_start"]["linear"]
    say.check("warmup", lead=_lead(w["final_acc"]["10 % linear warm-up"], w["final_acc"]["no warm-up"]))
    rt = r["range_tests"]
    for opt in ("sgd", "adamw"):
        assert all(_finite(v) and v > 0 for v in rt[opt].values()), rt
    ratio = rt["sgd"]["constant"] / rt["adamw"]["constant"]
    assert rt["sgd_over_adamw_constant"] == pytest.approx(ratio)
    s = say.check("adamw_vs_sgd", **({"inverse": 1 / ratio} if ratio <= 1 / 3 else {"ratio": ratio}))
    assert ("below" in s["template"]) == (ratio >= 3) and ("above" in s["template"]) == (ratio <= 1 / 3), s["text"]
    assert set(r["rt_status"].values()) <= {"ok", "wide", "censored", "weak", "no_signal"}
    _check_08_mechanisms(r, say)
    b = {int(k): v for k, v in r["batch_lrs"].items()}
    lo, hi = min(b), max(b)
    assert len(b) == 3
    say.check("batch_exponent", exponent=float(np.log(b[hi] / b[lo]) / np.log(hi / lo)), lo=lo, hi=hi)
    for name, n in r["weight_norms"].items():
        grow = n["last"] / n["first"]
        assert r["weight_norm_growth"][name] == pytest.approx(grow) and n["steps"] == r["iterations"]
        say.check(f"norm: {name}", name=name, grow=grow, inverse=1 / grow, acc=100 * r["wd_final_acc"][name])
    wsd = r["wsd"]
    assert wsd["branch_lrs_match"] is True and wsd["starts"] == sorted(wsd["starts"])
    lengths = {int(k): v for k, v in wsd["branch_acc"].items()}
    assert sorted(lengths) == [s + r["wsd_steps"]["cooldown"] for s in wsd["starts"]]
    say.check("wsd_vs_cosine", lead=_lead(lengths[r["iterations"]], wsd["cosine_acc"]), cosine=100 * wsd["cosine_acc"])
    k, cooldown = len(wsd["starts"]), r["wsd_steps"]["cooldown"]
    say.check("wsd_cost", k=k, steps=wsd["starts"][-1] + k * cooldown, separate=sum(lengths))
    sf = r["schedule_free"]
    assert sf["at_x"] == pytest.approx(sf["fit_final"]), "fit must report schedule-free at x with BN recomputed"
    say.check("schedule_free", lead=_lead(sf["at_x"], sf["at_y"]), moved=100 * (sf["at_x"] - sf["at_x_stale_bn"]))
    p = r["prodigy"]
    assert p["steps"] == r["iterations"] and 0 < p["d_first"] <= p["d_final"], p
    say.check("prodigy", steps=r["iterations"], d=p["d_final"], ratio=p["d_final"] / rt["adamw"]["constant"],
              adamw=rt["adamw"]["constant"], acc=100 * p["final_acc"])
    _check_methods_bench(r, say)
    # 24-step smoke runs are too short for each of 08's runs to learn; at least one must
    finals = [*w["final_acc"].values(), *r["wd_final_acc"].values(), *wsd["branch_acc"].values(), wsd["cosine_acc"],
              sf["at_x"], p["final_acc"]]
    above_chance(max(finals), r["classes"], r["test_images"], "the best of 08's runs")


def _check_08_mechanisms(r, say):
    """§3, §5–§7: Adam's bias correction, the scale-invariant toy against its equilibrium (written again here),
    weight decay inside Adam against decoupled, and the range tests at several weight decays read again."""
    from lrkit.rangetest import RangeTest

    bc = r["bias_correction"]
    assert bc["first"] == pytest.approx(0.1 / math.sqrt(0.001)), "(1 − β₁)/√(1 − β₂) at step 1"
    assert bc["peak"] > bc["first"] and 1 < bc["peak_step"] < 100
    for key, t in r["toy_equilibrium"].items():
        lr, wd = map(float, key.split("/"))
        assert t["norm_eq"] == pytest.approx((lr * 99 / (2 * wd)) ** 0.25) and t["angle_eq"] == pytest.approx(
            math.sqrt(2 * lr * wd))
        assert t["norm"] == pytest.approx(t["norm_eq"], rel=0.03)
        assert t["angle"] == pytest.approx(t["angle_eq"], rel=0.03)
    d = r["decay_under_adam"]
    big, small = "10", "0.01"
    assert d["adamw"][big] == pytest.approx(d["adamw"][small], rel=0.2), "AdamW decays every weight alike"
    assert d["adam_l2"][big] > 3 * d["adamw"][big] and d["adam_l2"][small] < d["adamw"][small] / 3, \
        "Adam + L2 spares large-gradient weights and crushes small-gradient ones"
    reads = {float(k): RangeTest(sweep_lr=v["sweep_lr"], loss=v["loss"]).reading() for k, v in r["wd_tests"].items()}
    lo, hi = min(reads), max(reads)

    def blow(x):
        return "no LR tried" if x.lr_blowup is None else f"LR {x.lr_blowup:.3g}"

    say.check("wd_tests", lo_wd=lo, hi_wd=hi, lo_loss=float(reads[lo].smooth.min()),
              hi_loss=float(reads[hi].smooth.min()),
              lo_blow=blow(reads[lo]), hi_blow=blow(reads[hi]))


def _check_methods_bench(r, say):
    """§8's sentences, recomputed from the committed results of ``lrkit bench run methods``."""
    from lrkit.bench import load_results
    from lrkit.bench.experiments.methods import analyse

    root = Path(r["bench"]["root"])
    scale = next((s for s in ("full", "lite") if load_results(root, "methods", s)), None)
    assert r["bench"]["scale"] == scale
    if scale is None:
        return
    a = analyse(load_results(root, "methods", scale))
    for ep, b in a["budgets"].items():
        rows, ref = b["rows"], b["reference"]
        named = {m: v["acc"] for m, v in rows.items() if not m.startswith("grid_")}
        if not named or not ref or "one_cycle_rt" not in rows:
            say.check(f"methods {ep}", ep=ep)
            assert say.all[f"methods {ep}"]["text"].endswith("incomplete")
            continue
        best = sorted(named, key=lambda m: -named[m])[0]
        say.check(f"methods {ep}", ep=ep, best=best, best_acc=named[best], grid=ref, grid_acc=rows[ref]["acc"],
                  one_cycle_rt_acc=rows["one_cycle_rt"]["acc"])


CHECKS = {"01": check_01, "02": check_02, "03": check_03, "04": check_04, "05": check_05, "06": check_06,
          "07": check_07, "08": check_08}


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_in_smoke_mode(path, tmp_path):
    """Each notebook runs in smoke mode, records what its check reads (every sentence recomputed), its
    explorer shows what its cell set, and ci/render_notebooks.py renders its page with the run's header."""
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
    assert r["meta"]["smoke"] is True and r["meta"]["run"]["smoke"] is True
    # kernel "python3" ran in the runner's own environment (the venv papermill was started from)
    assert os.path.realpath(r["meta"]["python_prefix"]) == os.path.realpath(sys.prefix)
    if path in TRAINING:
        assert r["meta"]["run"]["device"] == "cpu", "the smoke tests run on the CPU"
    shown = EXPLORERS_SHOW.get(path.stem[:2])
    if shown:  # after Run All the explorer shows what its cell set: no cell moved it
        for k, want in shown.items():
            got = r["explorer_shows"][k]
            assert got == (pytest.approx(want) if isinstance(want, float) else want), (k, got, want)
    say = Sentences(r)
    CHECKS[path.stem[:2]](r, say)
    say.all_checked()
    _check_rendered_page(res, out / "pages")


def _check_rendered_page(res, pages):
    """The page ``make render`` would write for this run (smoke mode here): one HTML file with the header
    (date, machine, wall time), static widgets, no record cell, no widget manager to load."""
    rd = _render_module()
    facts = rd.run_facts(res, commit="test")
    page = rd.render_page(res["output"], facts, pages)
    assert page.name == f"{res['name']}.html"
    text = page.read_text(encoding="utf-8")
    assert "A rendered run." in text and facts["date"] in text and "Wall time:" in text, "no run header"
    assert "smoke mode" in text and (facts["cpu"] or "unknown CPU") in text
    assert "Recorder(RESULTS_PATH" not in text and "injected-parameters" not in text
    assert "application/vnd.jupyter.widget-view+json" not in text and "widget-state+json" not in text
    if res["results"].get("explorer_shows"):
        assert text.count('class="lrkit-static lrkit-explorer') == 1, "the explorer as a static picture"
        assert 'alt="the explorer\'s figure"' in text
    for s in res["results"].get("sentences", {}).values():  # every "in this run" sentence is on the page
        assert html.escape(s["text"], quote=False) in text, s["text"]


def _render_module():
    _runner()  # ci/run_notebooks.py under its own name first
    spec = importlib.util.spec_from_file_location("render_notebooks", ROOT / "ci" / "render_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("render_notebooks", mod)
    spec.loader.exec_module(mod)
    return mod
