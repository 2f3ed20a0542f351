#!/usr/bin/env python
"""Execute lrkit's notebooks and render each to one self-contained HTML page with its outputs.

    python ci/render_notebooks.py                       # every notebook, full mode, into docs/notebooks/ (make render)
    python ci/render_notebooks.py --smoke --out /tmp/r  # the same pipeline at smoke sizes (what the tests run)
    python ci/render_notebooks.py 03 05 -p THREADS=1    # some notebooks, a parameter injected

Each page is the executed notebook (papermill, :func:`run_notebooks.run_notebook`) turned into HTML by
nbconvert's ``lab`` template, after four changes made here:

* a header cell under the title says when the run was made, on which machine (CPU model and cores, GPU,
  torch threads, device), how long it took, in which mode and at which commit (:func:`header_markdown`);
* every widget view becomes static HTML drawn from the widget state papermill saved at the end of the
  run (:func:`static_widget_html`): the explorer's figure and the values of its controls, as the
  notebook left them — no JavaScript, no CDN, readable offline;
* every PNG is quantised to an adaptive palette and re-compressed (:func:`compress_png`) when that makes
  it smaller, so that ``docs/`` stays small;
* the hidden record cell and papermill's injected-parameters cell are left out (the header names the
  mode; the record is test machinery); any other collapsed code cell (an exercise's answer) stays
  collapsed: its code in a closed ``<details>``.

``--out`` also gets ``index.json``: one entry per page (date, machine, seconds, mode, size). The
committed notebooks keep no outputs; only these pages carry them.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import html
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_notebooks  # noqa: E402 - the sibling script

ROOT = run_notebooks.ROOT
DEFAULT_OUT = ROOT / "docs" / "notebooks"
WORK = ROOT / "build" / "render"
#: seconds per cell in full mode: one cell trains a notebook's whole comparison (03's three 3,000-iteration
#: Caffe-net runs: about 13 min at one thread beside another job), so the smoke limit (15 min) is too short
FULL_CELL_TIMEOUT = 4 * 3600
HEADER_TAG = "lrkit-run-header"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
DROP_TAGS = ("lrkit-record", "injected-parameters")


# --------------------------------------------------------------------------------------------------
# The header
# --------------------------------------------------------------------------------------------------
def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{seconds:.0f} s"


def git_commit(root: Path = ROOT) -> str:
    """The short commit of ``root`` (``+`` when the work tree differs from it), or ``"unknown"``."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev + ("+" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_facts(result: dict[str, Any], *, commit: str | None = None, load: str | None = None) -> dict[str, Any]:
    """What a page's header states, from one :func:`run_notebooks.run_notebook` result: ``date``,
    ``seconds``, ``mode``, ``cpu``, ``cores``, ``gpu``, ``device``, ``threads``, ``torch``, ``commit``, and
    ``load``: what else the machine ran meanwhile (``None``: nothing stated, so no timing claim of idleness)."""
    meta = result.get("results", {}).get("meta", {})
    run = meta.get("run", {})
    machine = run.get("machine", {})
    started = run.get("started")
    date = started[:10] if started else dt.date.today().isoformat()
    return {"notebook": result["name"], "date": date, "seconds": float(result["seconds"]),
            "mode": "smoke" if meta.get("smoke", run.get("smoke")) else "full",
            "cpu": machine.get("cpu"), "cores": machine.get("cores"), "gpu": machine.get("gpu"),
            "device": run.get("device"), "threads": machine.get("torch_threads"), "torch": machine.get("torch"),
            "python": machine.get("python"), "commit": commit or git_commit(), "load": load}


def header_markdown(facts: dict[str, Any]) -> str:
    """The header cell of a rendered page: date, machine, wall time, mode, commit."""
    mode = ("**full mode** (`SMOKE = False`, the sizes in the parameters cell)" if facts["mode"] == "full" else
            "**smoke mode** (`SMOKE = True`: tiny sizes, the curves mean little — a test of the pipeline)")
    where = f"{facts['cpu'] or 'an unknown CPU'} ({facts['cores']} cores)"
    if facts.get("gpu"):
        where += f", GPU {facts['gpu']}"
    compute = []
    if facts.get("device"):
        compute.append(f"device `{facts['device']}`")
    if facts.get("threads"):
        compute.append(f"{facts['threads']} torch thread{'s' if facts['threads'] != 1 else ''}")
    if facts.get("torch"):
        compute.append(f"torch {facts['torch']}")
    compute_text = ", ".join(compute) if compute else "numpy only"
    if facts.get("load"):
        compute_text += f" (the machine meanwhile: {facts['load']})"
    return (f"> **A rendered run.** This page is `notebooks/{facts['notebook']}.ipynb` executed top to bottom in "
            f"{mode} on **{facts['date']}**, on {where}; {compute_text}; Python {facts.get('python') or '?'}; lrkit "
            f"at commit `{facts['commit']}`. **Wall time: {_duration(facts['seconds'])}.** Every figure, table and "
            "\"in this run\" sentence below is that run's output, and every widget shows the state the run left it "
            "in (a static picture: open the notebook with `make lab` to move the controls).")


# --------------------------------------------------------------------------------------------------
# Static widgets
# --------------------------------------------------------------------------------------------------
def compress_png(data: bytes, colors: int = 256) -> bytes:
    """``data`` (PNG bytes) quantised to an adaptive palette of ``colors`` colours and saved with
    ``optimize=True``; the original when that is not smaller (or Pillow cannot read it)."""
    from PIL import Image

    try:
        im = Image.open(io.BytesIO(data))
        im.load()
    except Exception:  # noqa: BLE001 - not a PNG Pillow can read: keep it as it is
        return data
    if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
        q = im.convert("RGBA").quantize(colors=colors, method=Image.Quantize.FASTOCTREE)
    else:
        q = im.convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
    buf = io.BytesIO()
    q.save(buf, format="PNG", optimize=True)
    out = buf.getvalue()
    return out if len(out) < len(data) else data


def _state_of(states: dict[str, Any], ref: Any) -> dict[str, Any] | None:
    if isinstance(ref, str) and ref.startswith("IPY_MODEL_"):
        ref = ref[len("IPY_MODEL_"):]
    return states.get(ref)


def _image_b64(model: dict[str, Any]) -> str | None:
    for b in model.get("buffers", []):
        if b.get("path") == ["value"]:
            data = base64.b64decode(b["data"])
            return base64.b64encode(compress_png(data)).decode("ascii")
    return None


def _control_html(name: str, s: dict[str, Any]) -> str:
    """One control as a disabled HTML element showing its value."""
    label = html.escape(str(s.get("description") or ""))
    lab = f'<span class="lrkit-static-label">{label}</span>' if label else ""
    if name in ("FloatSliderModel", "IntSliderModel", "FloatLogSliderModel"):
        value = s.get("value")
        if name == "FloatLogSliderModel":
            import math

            pos, lo, hi = round(math.log(value) / math.log(s.get("base", 10)), 6), s.get("min", 0), s.get("max", 1)
        else:
            pos, lo, hi = value, s.get("min", 0), s.get("max", 100)
        readout = f' <code>{value}</code>' if name == "IntSliderModel" else ""
        return (f'{lab}<input type="range" disabled min="{lo}" max="{hi}" step="any" value="{pos}" '
                f'style="width:260px">{readout}')
    if name in ("FloatTextModel", "BoundedFloatTextModel", "IntTextModel", "TextModel"):
        return f'{lab}<input type="text" disabled value="{html.escape(str(s.get("value")))}" style="width:90px">'
    if name == "DropdownModel":
        labels = s.get("_options_labels") or []
        i = s.get("index")
        shown = labels[i] if isinstance(i, int) and 0 <= i < len(labels) else ""
        return f'{lab}<select disabled><option selected>{html.escape(str(shown))}</option></select>'
    if name == "CheckboxModel":
        return f'{lab}<input type="checkbox" disabled{" checked" if s.get("value") else ""}>'
    if name in ("HTMLModel", "HTMLMathModel"):
        return str(s.get("value") or "")
    if name == "LabelModel":
        return html.escape(str(s.get("value") or ""))
    return f'<span class="lrkit-static-unknown">[{html.escape(name)}]</span>'


def static_widget_html(model_id: str, states: dict[str, Any]) -> str | None:
    """The widget ``model_id`` and its children as static HTML, from the saved widget ``states``
    (``metadata.widgets[...]["state"]``): boxes as rows/columns, images as ``<img>``, controls disabled
    with their values. None when the model is not in the saved state."""
    model = _state_of(states, model_id)
    if model is None:
        return None
    name, s = model["model_name"], model["state"]
    classes = " ".join(s.get("_dom_classes") or [])
    if name in ("VBoxModel", "HBoxModel", "BoxModel", "GridBoxModel"):
        parts = [static_widget_html(c, states) or "" for c in s.get("children", [])]
        direction = "row" if name == "HBoxModel" else "column"
        return (f'<div class="lrkit-static {classes}" style="display:flex;flex-direction:{direction};gap:4px;'
                f'align-items:{"center" if direction == "row" else "flex-start"}">' + "".join(parts) + "</div>")
    if name == "ImageModel":
        b64 = _image_b64(model)
        if b64 is None:
            return ""
        w = f' width="{s["width"]}"' if s.get("width") else ""
        return f'<img class="{classes}" alt="the explorer\'s figure"{w} src="data:image/png;base64,{b64}">'
    return f'<div class="lrkit-static-control {classes}">{_control_html(name, s)}</div>'


# --------------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------------
def prepare(nb: Any, facts: dict[str, Any]) -> Any:
    """The executed notebook ``nb`` made ready for the page (changed in place and returned): the header
    cell, static widgets, compressed PNGs, without the record and injected-parameters cells."""
    import nbformat

    states = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    cells = [c for c in nb.cells if not set(c.metadata.get("tags", [])) & set(DROP_TAGS)]
    for cell in cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW in data:
                static = static_widget_html(data[WIDGET_VIEW].get("model_id", ""), states)
                if static:
                    data.pop(WIDGET_VIEW)
                    data.pop("image/png", None)     # the figure is in the static HTML
                    data["text/html"] = static
                else:                               # keep the PNG fallback of the display
                    data.pop(WIDGET_VIEW)
            if "image/png" in data:
                png = base64.b64decode(data["image/png"])
                data["image/png"] = base64.b64encode(compress_png(png)).decode("ascii")
    count = 0
    for cell in cells:  # the prompts count the cells shown, without gaps where cells were left out
        if cell.cell_type == "code" and cell.get("execution_count") is not None:
            count += 1
            cell.execution_count = count
            for out in cell.get("outputs", []):
                if "execution_count" in out:
                    out["execution_count"] = count
    cells = [c for cell in cells for c in _collapsed(cell)]
    header = nbformat.v4.new_markdown_cell(header_markdown(facts), metadata={"tags": [HEADER_TAG]})
    cells.insert(1, header)
    nb.cells = cells
    nb.metadata.pop("widgets", None)                # nothing left for a widget manager to load
    nb.metadata.get("papermill", {}).pop("parameters", None)
    return nb


def _collapsed(cell: Any) -> list[Any]:
    """A code cell collapsed in the notebook (``jupyter.source_hidden``, e.g. an exercise's answer) stays
    collapsed on the page: its code in a closed ``<details>``, then its outputs."""
    import nbformat

    if cell.cell_type != "code" or not cell.metadata.get("jupyter", {}).get("source_hidden"):
        return [cell]
    fold = nbformat.v4.new_markdown_cell(
        "<details><summary>Show the code (collapsed in the notebook)</summary>\n\n<pre><code>"
        + html.escape(cell.source) + "</code></pre>\n</details>")
    cell.metadata.setdefault("transient", {})["remove_source"] = True
    return [fold, cell]


def render_page(executed: str | os.PathLike, facts: dict[str, Any], out_dir: str | os.PathLike) -> Path:
    """Write ``<out_dir>/<notebook>.html`` for the executed notebook at ``executed``; returns its path."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = prepare(nbformat.read(str(executed), as_version=4), facts)
    exporter = HTMLExporter(template_name="lab")
    body, _ = exporter.from_notebook_node(nb)
    target = Path(out_dir) / f"{facts['notebook']}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(body, encoding="utf-8")
    return target


def render(path: Path, out_dir: Path, *, smoke: bool, parameters: dict[str, Any] | None = None,
           work: Path = WORK, commit: str | None = None, load: str | None = None,
           cell_timeout: int | None = None) -> dict[str, Any]:
    """Execute the notebook at ``path`` (into ``work``) and render its page into ``out_dir``; returns its
    ``index.json`` entry (the header's facts, the page's name and size)."""
    if cell_timeout is None:
        cell_timeout = run_notebooks.CELL_TIMEOUT if smoke else FULL_CELL_TIMEOUT
    res = run_notebooks.run_notebook(path, work / ("smoke" if smoke else "full"), smoke=smoke, parameters=parameters,
                                     cell_timeout=cell_timeout)
    facts = run_facts(res, commit=commit, load=load)
    page = render_page(res["output"], facts, out_dir)
    return {**facts, "page": page.name, "bytes": page.stat().st_size}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="render only notebooks whose name contains one of these")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--full", dest="smoke", action="store_false", default=False,
                      help="the notebooks' full sizes (default; about 2 h on 2 CPU cores, README)")
    mode.add_argument("--smoke", dest="smoke", action="store_true", help="smoke sizes (a test of the pipeline)")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="where the pages go (default: docs/notebooks)")
    ap.add_argument("--work", default=str(WORK), help="where the executed notebooks go (default: build/render)")
    ap.add_argument("--keep-going", action="store_true", help="render the rest after a failure")
    ap.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                    help="inject a parameter (VALUE parsed as JSON, else a string), e.g. -p THREADS=1")
    ap.add_argument("--timeout", type=int, default=None, metavar="SECONDS",
                    help=f"seconds per cell (default: {FULL_CELL_TIMEOUT} in full mode, "
                         f"{run_notebooks.CELL_TIMEOUT} in smoke mode)")
    ap.add_argument("--load", metavar="TEXT",
                    help="what else the machine ran during the renders, stated in each page's header beside its "
                         "wall time, e.g. 'idle' or 'one other one-thread torch job'")
    args = ap.parse_args(argv)
    try:
        parameters = dict(run_notebooks.parse_parameter(s) for s in args.parameter)
    except ValueError as e:
        ap.error(str(e))
    paths = run_notebooks.notebook_paths(args.names or None)
    if not paths:
        print(f"no notebook in {run_notebooks.NOTEBOOKS} matches {args.names}", file=sys.stderr)
        return 2
    os.environ.setdefault("MPLBACKEND", "Agg")
    out = Path(args.out)
    index_path = out / "index.json"
    failed = []
    for p in paths:
        print(f"[render] {p.name} ({'smoke' if args.smoke else 'full'}) ...", flush=True)
        try:
            # the commit as each notebook starts: a run of several pages may span commits
            entry = render(p, out, smoke=args.smoke, parameters=parameters, work=Path(args.work), commit=git_commit(),
                           load=args.load, cell_timeout=args.timeout)
        except Exception as e:  # noqa: BLE001 - report and continue or stop
            print(f"[render] FAILED {p.name}: {type(e).__name__}: {e}", file=sys.stderr)
            failed.append(p.name)
            if not args.keep_going:
                break
            continue
        out.mkdir(parents=True, exist_ok=True)
        # read just before writing: another render into the same folder may have added pages meanwhile
        index = json.loads(index_path.read_text()) if index_path.exists() else {}
        index[p.stem] = entry
        index_path.write_text(json.dumps(dict(sorted(index.items())), indent=1) + "\n")
        print(f"[render] {p.stem}: {_duration(entry['seconds'])} -> {out / entry['page']} "
              f"({entry['bytes'] / 1e6:.2f} MB)", flush=True)
    total = sum(f.stat().st_size for f in out.glob("*.html")) if out.exists() else 0
    print(f"[render] {len(paths) - len(failed)} rendered, {len(failed)} failed; {out}: {total / 1e6:.2f} MB of pages")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
