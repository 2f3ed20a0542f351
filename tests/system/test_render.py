"""The rendered notebooks (``make render`` → ``ci/render_notebooks.py`` → ``docs/notebooks/``): the pipeline end to
end on one notebook in smoke mode, its static widgets and PNG compression, and the committed pages — one per
notebook, each a full-mode run with its header, linked from the README, ``docs/`` under 10 MB."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "docs" / "notebooks"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
DOCS_LIMIT = 10_000_000          # bytes: docs/ in all
TREE_LIMIT = 64 * 2**20          # bytes: the tracked tree, what a lent GPU machine takes per call


def _module(name: str):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "ci" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _png(size=(400, 300)) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(size[0] / 100, size[1] / 100), dpi=100)
    x = np.linspace(0, 10, 200)
    for k in range(4):
        ax.plot(x, np.sin(x + k), label=str(k))
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def test_compress_png_is_smaller_and_still_a_png():
    from PIL import Image

    rd = _module("render_notebooks")
    raw = _png()
    small = rd.compress_png(raw)
    assert len(small) < 0.7 * len(raw)
    assert Image.open(io.BytesIO(small)).size == Image.open(io.BytesIO(raw)).size
    assert rd.compress_png(b"not a png") == b"not a png"


def test_static_widget_html_draws_the_saved_state():
    """An explorer's saved widget state → static HTML: the figure as <img>, each control with its value."""
    rd = _module("render_notebooks")
    png = base64.b64encode(_png()).decode()
    states = {
        "root": {"model_name": "VBoxModel", "state": {"_dom_classes": ["lrkit-explorer"],
                                                      "children": ["IPY_MODEL_row", "IPY_MODEL_mode", "IPY_MODEL_img",
                                                                   "IPY_MODEL_html"]}},
        "row": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_slider", "IPY_MODEL_text"]}},
        "slider": {"model_name": "FloatLogSliderModel", "state": {"description": "lr", "value": 0.01, "min": -4,
                                                                  "max": 0, "base": 10}},
        "text": {"model_name": "FloatTextModel", "state": {"value": 0.0123}},
        "mode": {"model_name": "DropdownModel", "state": {"description": "mode", "_options_labels": ["a", "b"],
                                                          "index": 1}},
        "img": {"model_name": "ImageModel", "state": {"width": "400"},
                "buffers": [{"path": ["value"], "data": png, "encoding": "base64"}]},
        "html": {"model_name": "HTMLModel", "state": {"value": "<code>mean_lr=0.01</code>"}},
    }
    out = rd.static_widget_html("root", states)
    assert out.count("<img") == 1 and 'alt="the explorer\'s figure"' in out
    assert 'value="-2.0"' in out and 'value="0.0123"' in out          # the slider at log10(0.01); the exact value
    assert "<option selected>b</option>" in out and "mean_lr=0.01" in out and "disabled" in out
    assert rd.static_widget_html("missing", states) is None


def test_header_says_date_machine_and_wall_time():
    rd = _module("render_notebooks")
    res = {"name": "03_cyclical_lr", "seconds": 1277.4, "output": "x.ipynb",
           "results": {"meta": {"smoke": False, "run": {
               "started": "2026-12-06T10:00:00+0000", "device": "cuda",
               "machine": {"cpu": "AMD EPYC 7B13", "cores": 2, "gpu": "NVIDIA H100", "torch_threads": 2,
                           "torch": "2.14.1", "python": "3.11.7"}}}}}
    facts = rd.run_facts(res, commit="abc1234")
    text = rd.header_markdown(facts)
    for part in ("2026-12-06", "AMD EPYC 7B13 (2 cores)", "GPU NVIDIA H100", "device `cuda`", "2 torch threads",
                 "Wall time: 21 min 17 s", "**full mode**", "`abc1234`"):
        assert part in text, (part, text)
    assert "meanwhile" not in text  # nothing stated about the machine's load: no claim made
    loaded = rd.header_markdown(rd.run_facts(res, commit="abc1234", load="one other one-thread torch job"))
    assert "(the machine meanwhile: one other one-thread torch job)" in loaded


@pytest.mark.notebook
@pytest.mark.slow
def test_render_command_end_to_end(tmp_path):
    """``ci/render_notebooks.py --smoke``, as ``make render`` runs it (there: ``--full`` into docs/notebooks), on
    notebook 01: an executed copy, one page with the run's header and static explorer, and index.json."""
    out, work = tmp_path / "pages", tmp_path / "work"
    r = subprocess.run([sys.executable, "ci/render_notebooks.py", "--smoke", "--out", str(out), "--work", str(work),
                        "01"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["01_lr_intuition.html", "index.json"]
    index = json.loads((out / "index.json").read_text())
    entry = index["01_lr_intuition"]
    assert entry["mode"] == "smoke" and entry["seconds"] > 0 and entry["cpu"]
    assert entry["page"] == "01_lr_intuition.html"
    page = (out / "01_lr_intuition.html").read_text()
    assert "A rendered run." in page and entry["date"] in page and "Wall time:" in page
    assert 'class="lrkit-static lrkit-explorer' in page and "Recorder(" not in page
    assert (work / "smoke" / "01_lr_intuition.ipynb").exists()


def test_readme_links_every_rendered_page_and_no_missing_one():
    """The README's notebook table links each committed page, and says "not rendered yet" for the others."""
    readme = (ROOT / "README.md").read_text()
    rows = {nb.stem: next((line for line in readme.splitlines() if line.startswith(f"| `{nb.stem}` |")), None)
            for nb in NOTEBOOKS}
    for stem, row in rows.items():
        assert row is not None, f"README's notebook table has no row for {stem}"
        if (PAGES / f"{stem}.html").exists():
            assert f"(docs/notebooks/{stem}.html)" in row, f"README does not link docs/notebooks/{stem}.html"
        else:
            assert "docs/notebooks/" not in row and "not rendered yet" in row, f"{stem}: a link to a missing page"
    assert "make render" in readme and "make lab" in readme


def test_committed_pages_are_full_runs_of_current_notebooks():
    """Every committed page is a full-mode run with its header, of a notebook that exists (no stale page)."""
    pages = sorted(PAGES.glob("*.html")) if PAGES.exists() else []
    if not pages:
        return  # not rendered yet (the pages come from full runs, ~1.5 h for all)
    assert {p.stem for p in pages} <= {nb.stem for nb in NOTEBOOKS}, "a page with no notebook"
    index = json.loads((PAGES / "index.json").read_text())
    for p in pages:
        text = p.read_text(encoding="utf-8")
        assert "A rendered run." in text and "<strong>full mode</strong>" in text and "Wall time:" in text, p.name
        assert index[p.stem]["mode"] == "full", p.name


def _tracked_bytes(folder: str = ".") -> int:
    files = subprocess.run(["git", "ls-files", "-z", folder], cwd=ROOT, capture_output=True, check=True).stdout
    return sum((ROOT / f).stat().st_size for f in files.decode().split("\0") if f and (ROOT / f).exists())


def test_docs_and_the_tree_stay_small():
    docs = sum(p.stat().st_size for p in (ROOT / "docs").rglob("*") if p.is_file())
    assert docs < DOCS_LIMIT, f"docs/ holds {docs / 1e6:.1f} MB (limit {DOCS_LIMIT / 1e6:.0f} MB)"
    tree = _tracked_bytes()
    assert tree < TREE_LIMIT, f"the tracked tree is {tree / 2**20:.1f} MiB (a GPU machine takes {TREE_LIMIT >> 20})"


def test_a_collapsed_cell_stays_collapsed_on_the_page():
    import nbformat

    rd = _module("render_notebooks")
    answer = nbformat.v4.new_code_cell("x = 1 < 2", metadata={"jupyter": {"source_hidden": True}})
    fold, cell = rd._collapsed(answer)
    assert fold.cell_type == "markdown" and "<details>" in fold.source and "x = 1 &lt; 2" in fold.source
    assert cell.metadata["transient"]["remove_source"] is True
    plain = nbformat.v4.new_code_cell("y = 2")
    assert rd._collapsed(plain) == [plain]
