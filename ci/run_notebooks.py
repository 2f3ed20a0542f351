#!/usr/bin/env python
"""Execute lrkit's notebooks with papermill (and optionally render them to HTML).

    python ci/run_notebooks.py --smoke                 # every notebook, smoke parameters
    python ci/run_notebooks.py --full 03 04 --html     # full parameters, names containing 03 or 04
    python ci/run_notebooks.py --out build/nb --smoke 01_lr_intuition
    python ci/run_notebooks.py --full 05 -p THREADS=1 -p SEED=3   # inject parameters

Executed notebooks go to ``--out`` (default ``build/notebooks``, git-ignored) together with each
notebook's ``<name>.results.json`` (the key numbers the notebook records through
``lrkit.notebook.Recorder`` in its last, collapsed cell) and a ``summary.json`` with the run times.
The kernel is ``python3``: jupyter_client runs a kernelspec whose command is ``python`` with the
interpreter running this script, so a venv's notebooks run in that venv. CIFAR-10 is found by the notebooks through
``LRKIT_DATA_DIR`` (or ``--data-dir``, passed as the ``DATA_DIR`` parameter).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
DEFAULT_OUT = ROOT / "build" / "notebooks"
KERNEL = "python3"
CELL_TIMEOUT = 900  # seconds per cell (smoke cells take well under a minute)


def notebook_paths(names: list[str] | None = None, folder: Path = NOTEBOOKS) -> list[Path]:
    """Every ``*.ipynb`` in ``folder`` (sorted), filtered to names containing one of ``names``."""
    paths = sorted(folder.glob("*.ipynb"))
    if names:
        paths = [p for p in paths if any(n in p.stem for n in names)]
    return paths


def needs_cifar10(path: str | os.PathLike) -> bool:
    """True if the notebook's metadata says it trains on CIFAR-10 (``metadata.lrkit.needs_cifar10``)."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    return bool(nb.metadata.get("lrkit", {}).get("needs_cifar10", False))


def run_notebook(path: str | os.PathLike, out_dir: str | os.PathLike = DEFAULT_OUT, *, smoke: bool = True,
                 parameters: dict[str, Any] | None = None, data_dir: str | None = None, html: bool = False,
                 cell_timeout: int = CELL_TIMEOUT, kernel_name: str = KERNEL) -> dict[str, Any]:
    """Execute one notebook with papermill and return ``{"name", "seconds", "output", "results",
    "results_path", "html"}`` (``results``: the JSON the notebook recorded, ``{}`` if none).

    Parameters injected: ``SMOKE``, ``RESULTS_PATH`` (``<out_dir>/<name>.results.json``), ``DATA_DIR``
    if given, and any extra ``parameters``. Raises papermill's ``PapermillExecutionError`` when a
    cell fails (the partially executed notebook is still written to ``out_dir``).
    """
    import papermill as pm

    path = Path(path).resolve()
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    output = out / path.name
    results_path = out / f"{path.stem}.results.json"
    if results_path.exists():
        results_path.unlink()
    params: dict[str, Any] = {"SMOKE": bool(smoke), "RESULTS_PATH": str(results_path)}
    if data_dir:
        params["DATA_DIR"] = str(data_dir)
    params.update(parameters or {})
    t0 = time.perf_counter()
    pm.execute_notebook(str(path), str(output), parameters=params, kernel_name=kernel_name,
                        cwd=str(path.parent), execution_timeout=cell_timeout, progress_bar=False,
                        log_output=False, request_save_on_cell_execute=False)
    seconds = time.perf_counter() - t0
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    html_path = None
    if html:
        html_path = to_html(output)
    return {"name": path.stem, "seconds": round(seconds, 1), "output": str(output), "results": results,
            "results_path": str(results_path), "html": html_path}


def to_html(notebook: str | os.PathLike) -> str:
    """Render an executed notebook to HTML next to it (nbconvert); returns the HTML path."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook), as_version=4)
    body, _ = HTMLExporter().from_notebook_node(nb)
    target = Path(notebook).with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return str(target)


def parse_parameter(text: str) -> tuple[str, Any]:
    """``"NAME=VALUE"`` → ``(NAME, value)``; VALUE is parsed as JSON if it can be, else kept a string."""
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise ValueError(f"--parameter expects NAME=VALUE with NAME a Python identifier, got {text!r}")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="run only notebooks whose name contains one of these")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--smoke", dest="smoke", action="store_true", default=True,
                      help="small sizes, each notebook in ~2 min on 2 CPU cores (default)")
    mode.add_argument("--full", dest="smoke", action="store_false", help="the notebooks' full sizes")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="output folder (default: build/notebooks)")
    ap.add_argument("--html", action="store_true", help="also write HTML (nbconvert)")
    ap.add_argument("--data-dir", default=None, help="CIFAR-10 folder (default: LRKIT_DATA_DIR / cache)")
    ap.add_argument("--timeout", type=int, default=CELL_TIMEOUT, help="seconds per cell")
    ap.add_argument("--keep-going", action="store_true", help="run the rest after a failure")
    ap.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                    help="inject a parameter (VALUE parsed as JSON, else a string), e.g. -p THREADS=1")
    args = ap.parse_args(argv)
    try:
        parameters = dict(parse_parameter(s) for s in args.parameter)
    except ValueError as e:
        ap.error(str(e))

    paths = notebook_paths(args.names or None)
    if not paths:
        print(f"no notebook in {NOTEBOOKS} matches {args.names}", file=sys.stderr)
        return 2
    os.environ.setdefault("MPLBACKEND", "Agg")
    summary, failed = [], []
    for p in paths:
        print(f"[run_notebooks] {p.name} ({'smoke' if args.smoke else 'full'}) ...", flush=True)
        try:
            res = run_notebook(p, args.out, smoke=args.smoke, parameters=parameters, data_dir=args.data_dir,
                               html=args.html, cell_timeout=args.timeout)
        except Exception as e:  # noqa: BLE001 - report and continue or stop
            print(f"[run_notebooks] FAILED {p.name}: {type(e).__name__}: {e}", file=sys.stderr)
            failed.append(p.name)
            if not args.keep_going:
                break
            continue
        print(f"[run_notebooks] {p.name}: {res['seconds']:.1f} s -> {res['output']}", flush=True)
        summary.append({k: res[k] for k in ("name", "seconds", "output", "results_path", "html")})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps({"smoke": args.smoke, "runs": summary, "failed": failed},
                                                 indent=1))
    total = sum(r["seconds"] for r in summary)
    print(f"[run_notebooks] {len(summary)} ok, {len(failed)} failed, {total:.0f} s total")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
