"""CI mode (tests/ci_mode.py, on with LRKIT_CI=1 as .ci/run sets it): a skip is a failure, except the named
tests; without it, skips stay skips. Checked on a tiny suite of its own, run by a child pytest."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ci_mode import ALLOWED_SKIPS

TESTS = Path(__file__).resolve().parents[1]

SUITE = '''
import pytest

def test_passes():
    pass

def test_skips_in_its_body():
    pytest.skip("no data here")

@pytest.mark.skipif(True, reason="no chromium here")
def test_skipif():
    pass

@pytest.fixture
def needs_data():
    pytest.skip("a fixture found no data")

def test_fixture_skips(needs_data):
    pass

@pytest.mark.xfail(reason="a known failure", strict=True)
def test_xfail():
    assert False
'''


def _pytest(root: Path, ci: bool, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("LRKIT_CI", "PYTEST_ADDOPTS")}
    if ci:
        env["LRKIT_CI"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "ci_mode", "-p", "no:cacheprovider", "-q", "-rfEs",
                           *args], cwd=root, env=env, capture_output=True, text=True, timeout=120)


def _counts(out: str) -> dict[str, int]:
    last = out.strip().splitlines()[-1]
    return {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|xfailed|errors?)", last)}


@pytest.fixture
def suite(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_suite.py").write_text(SUITE)
    allowed = next(iter(ALLOWED_SKIPS))  # a file at the named test's path, whose test skips
    path, name = allowed.split("::")
    (tmp_path / path).parent.mkdir(parents=True)
    (tmp_path / path).write_text(f"import pytest\n\ndef {name}():\n    pytest.skip('no CUDA here')\n")
    return tmp_path


def test_every_skip_fails_in_ci_mode_except_the_named_ones(suite):
    res = _pytest(suite, ci=True)
    assert res.returncode == 1, res.stdout
    # a skip in the body fails the test; a skip at set-up (skipif, a fixture) is an error at set-up
    assert _counts(res.stdout) == {"failed": 1, "errors": 2, "passed": 1, "skipped": 1, "xfailed": 1}, res.stdout
    for name, reason in [("test_skips_in_its_body", "no data here"), ("test_skipif", "no chromium here"),
                         ("test_fixture_skips", "a fixture found no data")]:
        assert re.search(rf"(FAILED|ERROR) test_suite.py::{name} - skipped in CI mode", res.stdout), name
        assert f"skipped in CI mode (LRKIT_CI=1), where a skip is a failure: Skipped: {reason}" in res.stdout
    assert "SKIPPED [1] tests/training/test_train.py" in res.stdout  # the named one may skip


def test_outside_ci_mode_skips_stay_skips(suite):
    res = _pytest(suite, ci=False)
    assert res.returncode == 0, res.stdout
    assert _counts(res.stdout) == {"passed": 1, "skipped": 4, "xfailed": 1}, res.stdout


def test_a_module_skipped_at_collection_fails_in_ci_mode(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_needs_pkg.py").write_text(
        "import pytest\n\npytest.importorskip('no_such_package_lrkit')\n\ndef test_x():\n    pass\n")
    (tmp_path / "test_other.py").write_text("def test_y():\n    pass\n")
    res = _pytest(tmp_path, ci=True)
    assert res.returncode != 0 and "skipped at collection in CI mode" in res.stdout, res.stdout
    assert _pytest(tmp_path, ci=False).returncode == 0


def test_the_named_skips_exist():
    """Every allowed skip names a real test (a renamed test must not keep its exemption by accident)."""
    root = TESTS.parent
    for nodeid, why in ALLOWED_SKIPS.items():
        path, name = nodeid.split("::")
        assert (root / path).is_file() and re.search(rf"^def {name}\(", (root / path).read_text(), re.M), nodeid
        assert why
