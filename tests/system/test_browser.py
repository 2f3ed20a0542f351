"""What a learner sees: the explorers of notebooks 01–06 in a real JupyterLab, in a real browser.

A JupyterLab server (127.0.0.1, free port, token) serves a temporary folder with copies of the
notebooks (``SMOKE = True``, ``THREADS = 1`` in their parameters cell). Headless Chromium from Debian
(``/usr/bin/chromium``), driven by Playwright, opens each notebook in JupyterLab's own UI, runs
"Run All Cells" from the Run menu, waits for the kernel to go idle and then checks, per explorer:

* the explorer is rendered as a widget: no "Loading widget…", no text repr such as ``HBox(children=``,
  no error output in any cell, no error in the browser console;
* the values are exact: what the kernel holds (read back by a cell typed into the notebook) equals
  what the notebook's code set (e.g. ``max_lr`` 0.006, not 0.00631 after the slider snapped it) and
  what the text boxes show;
* controls that do nothing are disabled (with a tooltip), the others are enabled;
* every enabled control, moved in the page (slider handle by keyboard, value typed into the box,
  dropdown, checkbox), changes the figure (its pixels), and afterwards the kernel's values equal the
  values shown in the page (a typed value exactly).

Screenshots go to ``build/browser/`` (ignored by git). Run alone with ``pytest -m browser``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
OUT = ROOT / "build" / "browser"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
#: notebook -> (values the notebook's code leaves in its explorer, controls that must be disabled). No cell
#: moves a control (tests/system/test_notebooks.py checks it): these are the values the explorer's own cell set,
#: the state the text around it describes; this test then moves every control itself.
NOTEBOOKS = {
    "01_lr_intuition": ({"lr": 0.1, "surface": "quadratic"}, {"y0"}),
    "02_lr_range_test": ({"smoothing": "=rt.smoothing"}, set()),
    "03_cyclical_lr": ({"base_lr": 0.001, "max_lr": 0.006, "gamma": 0.99994, "mode": "triangular2"}, {"gamma"}),
    "04_sgdr": ({"eta_max": 0.05, "T_mult": 2.0, "eta_min": 0.0}, set()),
    # "=NAME": the value of that variable in the notebook's kernel (05's peak comes from its range test)
    "05_one_cycle": ({"max_lr": "=MAX_LR", "pct_start": 0.3, "base_momentum": 0.85}, set()),
    "06_discriminative_finetuning": ({"hi": 0.05, "lo": 0.05 / 100, "rule": "spread"}, {"factor"}),
    "08_beyond_schedules": ({"lr": "=explorer_peak", "branches": 2, "after": "wsd", "cooldown": "1-sqrt"}, set()),
}
PROBE = ('import json; print("LRKIT_PROBE" + json.dumps({k: {"value": w.value, "disabled": bool(w.disabled), '
         '"log": getattr(w, "is_log", None), "lo": getattr(w, "lo", None), "hi": getattr(w, "hi", None), '
         '"step": getattr(w, "step", None)} for k, w in explorer.widgets.items()}))')
WIDGET_REPRS = re.compile(r"\b(H|V)?Box\(children=|FloatLogSlider\(|IntSlider\(|Dropdown\(")


def _require_browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright (python) is not installed (pip install playwright)")
    from lrkit.notebook import data_available

    if not data_available():  # as tests/system/test_notebooks.py: never a 170 MB download from a test
        pytest.skip("the notebooks train on CIFAR-10, which was not found locally "
                    f"(set LRKIT_DATA_DIR; LRKIT_DATA_DIR={os.environ.get('LRKIT_DATA_DIR')!r})")


def _smoke_copy(src: Path, dst: Path) -> None:
    nb = json.loads(src.read_text())
    (cell,) = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    text = "".join(cell["source"])
    text, n = re.subn(r"^SMOKE = False", "SMOKE = True", text, flags=re.M)
    assert n == 1, f"{src.name}: no 'SMOKE = False' in the parameters cell"
    text = re.sub(r"^THREADS = None", "THREADS = 1", text, flags=re.M)
    cell["source"] = text
    for c in nb["cells"]:
        if c["cell_type"] == "code":
            c["outputs"], c["execution_count"] = [], None
    dst.write_text(json.dumps(nb))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(url: str, token: str, path: str, method: str = "GET"):
    req = urllib.request.Request(f"{url}{path}", method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read()
    return json.loads(body) if body else None


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    _require_browser()
    root = tmp_path_factory.mktemp("lab")
    for name in NOTEBOOKS:
        _smoke_copy(ROOT / "notebooks" / f"{name}.ipynb", root / f"{name}.ipynb")
    home = tmp_path_factory.mktemp("jupyter")
    settings = home / "settings"
    for ext, cfg in {"apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
                     "notebook-extension/tracker": {"windowingMode": "none"}}.items():
        p = settings / "@jupyterlab" / f"{ext}.jupyterlab-settings"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(cfg))
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(home / "ws"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    env.pop("MPLBACKEND", None)  # conftest's Agg must not leak into the kernels
    log = open(home / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}", "--LabApp.news_url=", "--ServerApp.open_browser=False", "--allow-root"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                _api(url, token, "/api/status")
                break
            except OSError as e:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start:\n" + (home / "lab.log").read_text()[-3000:]) from e
                time.sleep(0.5)
        yield {"url": url, "token": token}
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _wait_idle(page, lab, timeout: float) -> None:
    """Every code cell has an execution count (none shows ``[*]``/``[ ]``) and the kernel is idle."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        prompts = page.locator(".jp-CodeCell .jp-InputArea-prompt").all_inner_texts()
        busy = [p for p in prompts if not re.search(r"\[\d+\]", p)]
        kernels = _api(lab["url"], lab["token"], "/api/kernels")
        if prompts and not busy and kernels and all(k["execution_state"] == "idle" for k in kernels):
            return
        time.sleep(1)
    raise AssertionError(f"the notebook did not finish in {timeout:.0f} s; prompts: {prompts}")


def _run_cell(page, code: str, marker: str, timeout: float = 60) -> str:
    """Type ``code`` into a new cell at the end of the notebook, run it, return its output after
    ``marker``."""
    cells = page.locator(".jp-Notebook .jp-Cell")
    n = cells.count()
    cells.nth(n - 1).click(position={"x": 8, "y": 8})  # the cell's left margin: selects it
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    new = page.locator(".jp-Notebook .jp-Cell").nth(n)
    new.locator(".cm-content").click()
    page.keyboard.insert_text(code)
    page.keyboard.press("Shift+Enter")
    out = new.locator(".jp-OutputArea-output")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = " ".join(out.all_inner_texts())
        if marker in text:
            return text.split(marker, 1)[1].strip()
        if "Traceback" in text or "Error" in text:
            raise AssertionError(f"the probe cell failed: {text[-2000:]}")
        time.sleep(0.3)
    raise AssertionError(f"no output from the probe cell in {timeout} s")


def _figure_bytes(explorer) -> bytes:
    return explorer.locator(".lrkit-figure").screenshot()


def _wait_changed(explorer, before: bytes, what: str, timeout: float = 20) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = _figure_bytes(explorer)
        if now != before:
            return now
        time.sleep(0.2)
    raise AssertionError(f"{what}: the figure did not change within {timeout} s")


def _dom_value(control, kind: str):
    if kind == "exact":
        return float(control.locator("input[type=number]").input_value())
    if kind == "select":
        return control.locator("select").input_value()
    if kind == "checkbox":
        return control.locator("input[type=checkbox]").is_checked()
    return int(control.locator(".widget-readout").inner_text().replace(",", ""))


def _kind(control) -> str:
    if control.locator("input[type=number]").count():
        return "exact"
    if control.locator("select").count():
        return "select"
    if control.locator("input[type=checkbox]").count():
        return "checkbox"
    return "int"


def _is_disabled(control, kind: str) -> bool:
    sel = {"exact": "input[type=number]", "select": "select", "checkbox": "input[type=checkbox]"}.get(kind)
    if sel:
        return control.locator(sel).is_disabled()
    return control.locator(".noUi-target[disabled], .widget-slider[disabled]").count() > 0


def _typed_value(spec: dict) -> float:
    """A value off the slider's grid, inside its range (shows that typing is exact)."""
    v, hi, step = spec["value"], spec["hi"], spec["step"]
    if spec["log"]:
        new = float(f"{v * 1.37:.4g}") if v * 1.37 < 10 ** hi else float(f"{v / 1.37:.4g}")
    else:
        d = 3.3 * step
        new = round(v + d if v + d <= hi else v - d, 6)
    return new


def _check_notebook(page, lab, name: str, expected: dict, disabled: set, console: list[str]) -> dict:
    t0 = time.monotonic()
    page.goto(f"{lab['url']}/lab/workspaces/{name[:2]}/tree/{name}.ipynb?reset&token={lab['token']}")
    page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    deadline = time.monotonic() + 60
    while not _api(lab["url"], lab["token"], "/api/kernels") and time.monotonic() < deadline:
        time.sleep(0.5)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    _wait_idle(page, lab, timeout=300)
    run_s = time.monotonic() - t0
    explorer = page.locator(".lrkit-explorer")
    explorer.first.wait_for(timeout=30_000)
    assert explorer.count() == 1, f"{name}: {explorer.count()} explorers"
    explorer.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    body = page.locator(".jp-Notebook").inner_text()
    assert "Loading widget" not in body, f"{name}: a widget did not load"
    assert "javascript error" not in body.lower(), f"{name}: a widget view failed: {console}"
    assert not WIDGET_REPRS.search(body), f"{name}: a widget shows as text: {WIDGET_REPRS.search(body)[0]}"
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
    assert errors.count() == 0, f"{name}: error output: {errors.first.inner_text()[-1500:]}"
    page.screenshot(path=str(OUT / f"{name}-page.png"))
    explorer.screenshot(path=str(OUT / f"{name}-explorer.png"))

    spec = json.loads(_run_cell(page, PROBE, "LRKIT_PROBE"))
    expected = dict(expected)
    for key, v in list(expected.items()):
        if isinstance(v, str) and v.startswith("="):
            expected[key] = json.loads(_run_cell(page, f'import json; print("LRKIT_VAL" + json.dumps({v[1:]}))',
                                                 "LRKIT_VAL"))
    for key, v in expected.items():
        assert spec[key]["value"] == v, f"{name}.{key}: kernel holds {spec[key]['value']!r}, the code set {v!r}"
    controls = {re.search(r"lrkit-key-(\S+)", c.get_attribute("class"))[1]: c
                for c in explorer.locator(".lrkit-control").all()}
    assert set(controls) == set(spec), f"{name}: controls on the page {sorted(controls)} != {sorted(spec)}"
    kinds = {k: _kind(c) for k, c in controls.items()}
    for key, c in controls.items():  # what the page shows is what the kernel holds
        assert _dom_value(c, kinds[key]) == spec[key]["value"], f"{name}.{key}: page and kernel differ"
    dom_disabled = {k for k, c in controls.items() if _is_disabled(c, kinds[k])}
    assert dom_disabled == disabled == {k for k, s in spec.items() if s["disabled"]}, \
        f"{name}: disabled on the page {dom_disabled}, expected {disabled}"
    for k in disabled:
        titles = [controls[k].get_attribute("title") or ""] + [
            e.get_attribute("title") or "" for e in controls[k].locator("[title]").all()]
        assert any(t.strip() for t in titles), f"{name}.{k}: disabled without a hint (tooltip)"

    typed = {}
    fig = _figure_bytes(explorer)
    for key, c in controls.items():
        kind = kinds[key]
        if _is_disabled(c, kind):
            continue
        c.scroll_into_view_if_needed()
        if kind == "select":
            options = c.locator("option").all_inner_texts()
            c.locator("select").select_option(next(o for o in options if o != _dom_value(c, kind)))
            fig = _wait_changed(explorer, fig, f"{name}.{key}")
        elif kind == "checkbox":
            c.locator("input[type=checkbox]").click()
            fig = _wait_changed(explorer, fig, f"{name}.{key}")
        else:  # a slider: move its handle one step by keyboard (right, or left at the end)
            before = _dom_value(c, kind)
            c.locator(".noUi-handle").focus()
            page.keyboard.press("ArrowRight")
            try:
                fig = _wait_changed(explorer, fig, f"{name}.{key} (slider →)", timeout=6)
            except AssertionError:
                page.keyboard.press("ArrowLeft")
                page.keyboard.press("ArrowLeft")
                fig = _wait_changed(explorer, fig, f"{name}.{key} (slider ←)")
            deadline = time.monotonic() + 10
            while _dom_value(c, kind) == before and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _dom_value(c, kind) != before, f"{name}.{key}: moving the slider did not change its value"
        if kind == "exact":  # and type an exact value into the box
            live = json.loads(_run_cell(page, PROBE, "LRKIT_PROBE"))[key]
            value = _typed_value(live)
            box = c.locator("input[type=number]")
            box.fill(repr(value))
            box.press("Enter")
            box.evaluate("e => e.blur()")  # a text box commits on Enter or when it loses focus


            typed[key] = value
            fig = _wait_changed(explorer, fig, f"{name}.{key} (typed {value})")
    page.wait_for_timeout(300)
    after = json.loads(_run_cell(page, PROBE, "LRKIT_PROBE"))
    for key, c in controls.items():
        shown = _dom_value(c, kinds[key])
        assert after[key]["value"] == shown, f"{name}.{key}: kernel {after[key]['value']!r} != page {shown!r}"
        if key in typed:
            assert after[key]["value"] == typed[key], f"{name}.{key}: typed {typed[key]!r}, kernel holds " \
                                                      f"{after[key]['value']!r}"
    explorer.screenshot(path=str(OUT / f"{name}-explorer-after.png"))
    body = page.locator(".jp-Notebook").inner_text()
    assert "Loading widget" not in body and not WIDGET_REPRS.search(body)
    assert "javascript error" not in body.lower(), f"{name}: a widget view failed: {console}"
    assert not console, f"{name}: browser console errors: {console}"
    return {"run_s": round(run_s, 1), "total_s": round(time.monotonic() - t0, 1), "typed": typed}


def test_explorers_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright

    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    report = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            for name, (expected, disabled) in NOTEBOOKS.items():
                page = context.new_page()
                console: list[str] = []
                page.on("console", lambda m, c=console: c.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e, c=console: c.append(f"page error: {e}"))
                try:
                    report[name] = _check_notebook(page, lab, name, expected, disabled, console)
                except BaseException:
                    page.screenshot(path=str(OUT / f"{name}-FAILED.png"))
                    err = page.get_by_text("Click to show javascript error")
                    if err.count():  # show why a widget view failed
                        err.first.click()
                        page.wait_for_timeout(500)
                        shown = page.locator(".jupyter-widgets.jp-mod-error, .jupyter-widgets-error-widget")
                        print("widget view error:", shown.first.inner_text()[:3000])
                    raise
                finally:
                    page.close()
                    for s in _api(lab["url"], lab["token"], "/api/sessions"):
                        _api(lab["url"], lab["token"], f"/api/sessions/{s['id']}", method="DELETE")
        finally:
            browser.close()
    (OUT / "report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
