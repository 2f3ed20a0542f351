"""CI mode for pytest: a skipped test is a failed test, except the few named in :data:`ALLOWED_SKIPS`.

CI mode is on when ``LRKIT_CI=1`` (``.ci/run`` sets it). A green CI must mean that every test ran:
without this, the tests that need real CIFAR-10, chromium or an optional package skip quietly and
CI passes with none of them run. In CI mode such a skip — at set-up (``skipif``, a fixture's
``pytest.skip``), in the test body, or of a whole module at collection (``importorskip``) — is
reported as a failure with the skip's reason. An expected failure (``xfail``) is not a skip.

Loaded by ``tests/conftest.py`` (its hooks imported there); ``python -m pytest -p ci_mode`` loads it
on its own (tests/system/test_ci_mode.py does, on a tiny suite of its own).
"""

from __future__ import annotations

import os

import pytest

#: node ids (parameters left out) that may skip in CI, with why: they depend on the hardware
ALLOWED_SKIPS = {
    "tests/training/test_train.py::test_rng_state_round_trip_through_a_checkpoint_loaded_onto_the_gpu":
        "needs CUDA (CI has none; ci/gpu_check.py runs it on a GPU)",
    "tests/bench/test_bench_recipe_scripts.py::test_gpu_vs_airbench_needs_cuda_and_says_so":
        "checks the refusal on a machine without CUDA (skipped only where CUDA is present)",
}


def ci_mode() -> bool:
    """True when ``LRKIT_CI=1``: skips are failures."""
    return os.environ.get("LRKIT_CI") == "1"


def allowed(nodeid: str) -> bool:
    return nodeid.split("[", 1)[0] in ALLOWED_SKIPS


def _reason(longrepr) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, line, "Skipped: …")
        return str(longrepr[2])
    return str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if ci_mode() and report.skipped and not hasattr(report, "wasxfail") and not allowed(report.nodeid):
        report.outcome = "failed"
        report.longrepr = (f"skipped in CI mode (LRKIT_CI=1), where a skip is a failure: {_reason(report.longrepr)}\n"
                           "(a test that may skip in CI is named in tests/ci_mode.py ALLOWED_SKIPS)")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if ci_mode() and report.skipped and not allowed(report.nodeid):
        report.outcome = "failed"
        report.longrepr = f"skipped at collection in CI mode (LRKIT_CI=1): {_reason(report.longrepr)}"


def pytest_report_header(config):
    if ci_mode():
        return [f"CI mode (LRKIT_CI=1): a skip is a failure, except {len(ALLOWED_SKIPS)} named test(s)"]
    return None
