"""Shared fixtures. Figures render off-screen; real CIFAR-10 is used when it can be found locally.

Torch threads: ``LRKIT_TEST_THREADS`` (default ``min(2, cpu_count)``), e.g. ``LRKIT_TEST_THREADS=1`` when
another torch job shares the machine.

The tests mirror the package: ``tests/schedules/`` for :mod:`lrkit.schedules`, ``tests/training/`` for
:mod:`lrkit.training`, …; ``tests/system/`` holds what spans the whole (notebooks, browser, distributed,
fuzzing, packaging, structure).
"""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # a local Ray (the executor tests) reports nothing

import pytest  # noqa: E402
import torch  # noqa: E402
from ci_mode import (  # noqa: E402,F401 - CI mode: a skip is a failure (LRKIT_CI=1, set by .ci/run)
    pytest_make_collect_report,
    pytest_report_header,
    pytest_runtest_makereport,
)
from hypothesis import settings  # noqa: E402

from lrkit.data import DataNotFoundError, load_cifar10, synthetic_cifar10  # noqa: E402

# Hypothesis: in CI (LRKIT_CI=1 or CI=true) the same examples every run (derandomised, no example
# database), and a failure prints the blob that reproduces it (@reproduce_failure). Locally: random
# examples, the failing ones replayed from .hypothesis/, the blob printed too.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("LRKIT_CI") == "1" or os.environ.get("CI") == "true" else "dev")


@pytest.fixture(scope="session")
def real_cifar():
    """The whole real CIFAR-10 from LRKIT_DATA_DIR (or the cache); skipped when not present."""
    try:
        return load_cifar10(download=False)
    except DataNotFoundError as e:
        pytest.skip(f"real CIFAR-10 not available: {e}")


@pytest.fixture(scope="session")
def real_or_synthetic():
    """Real CIFAR-10 when it can be found locally, else the synthetic stand-in."""
    try:
        return load_cifar10(download=False)
    except DataNotFoundError:
        return synthetic_cifar10(40, 10, seed=0)


@pytest.fixture(scope="session")
def synthetic():
    return synthetic_cifar10(40, 10, seed=0)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def torch_threads() -> int:
    """Torch threads for the tests: ``LRKIT_TEST_THREADS``, else ``min(2, cpu_count)``."""
    value = os.environ.get("LRKIT_TEST_THREADS")
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"LRKIT_TEST_THREADS must be a positive int, got {value!r}")
        return int(value)
    return max(1, min(2, os.cpu_count() or 1))



@pytest.fixture(autouse=True, scope="session")
def _threads():
    torch.set_num_threads(torch_threads())


@pytest.fixture(autouse=True)
def _restore_threads():
    """Torch's thread count as it was before each test (``train_recipe(threads=1)`` and others set it), so
    that no test runs at a count an earlier one left behind."""
    before = torch.get_num_threads()
    yield
    if torch.get_num_threads() != before:
        torch.set_num_threads(before)
