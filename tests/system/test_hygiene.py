"""The test suite's own hygiene (issue #30, "Flakiness out"): no assertion on wall time, torch's thread
count restored after each test, Hypothesis derandomised in CI, Ray's usage statistics off."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import torch
from hypothesis import settings

TESTS = Path(__file__).resolve().parents[1]
#: names whose appearance in an ordering comparison of an ``assert`` makes it a bound on wall time
CLOCKS = {"perf_counter", "monotonic", "time", "process_time", "wall", "elapsed", "seconds", "time_to_target"}


def _clock_bounds(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Assert):
            continue
        for cmp in (n for n in ast.walk(node.test) if isinstance(n, ast.Compare)):
            if not any(isinstance(op, (ast.Lt, ast.LtE, ast.Gt, ast.GtE)) for op in cmp.ops):
                continue
            names = {n.id for n in ast.walk(cmp) if isinstance(n, ast.Name)}
            names |= {n.attr for n in ast.walk(cmp) if isinstance(n, ast.Attribute)}
            if names & CLOCKS:
                where = path.relative_to(TESTS.parent) if path.is_relative_to(TESTS.parent) else path
                found.append(f"{where}:{node.lineno}: {ast.unparse(node.test)[:100]}")
    return found


def test_no_test_asserts_on_wall_time():
    """A bound on seconds fails on a loaded machine and passes a slow regression on a fast one: timings
    are benchmarks (benchmarks/, BENCHMARKS.md), not tests. (Time-outs that stop a hang are not asserts.)"""
    found = [hit for p in sorted(TESTS.rglob("*.py")) for hit in _clock_bounds(p)]
    assert found == [], "wall-clock assertions:\n" + "\n".join(found)


def test_the_wall_time_check_sees_a_bound(tmp_path):
    bad = tmp_path / "test_bad.py"
    bad.write_text("import time\n\ndef test_x():\n    t = time.perf_counter()\n"
                   "    assert time.perf_counter() - t < 1.0\n    wall = 3\n    assert wall < 60, wall\n"
                   "    assert len(res.seconds) == 6\n")
    assert len(_clock_bounds(bad)) == 2


# torch's thread count: conftest's ``_restore_threads`` puts it back after each test. The first test changes
# it, the second (pytest runs a module's tests in order) sees the session's count again.
_SEEN: dict[str, int] = {}


def test_threads_1_a_test_may_change_the_thread_count():
    _SEEN["before"] = torch.get_num_threads()
    torch.set_num_threads(_SEEN["before"] + 1)


def test_threads_2_the_next_test_gets_it_back():
    if "before" in _SEEN:  # run alone (-k), the first test did not run
        assert torch.get_num_threads() == _SEEN["before"]


def test_hypothesis_profile_and_ray_statistics():
    ci = os.environ.get("LRKIT_CI") == "1" or os.environ.get("CI") == "true"
    assert settings().derandomize is ci and settings().print_blob
    if ci:
        assert settings().database is None  # the same examples every CI run, nothing replayed from a past one
    assert os.environ.get("RAY_USAGE_STATS_ENABLED") == "0"
