"""The ``Example:`` blocks of lrkit's public doors run as written.

The same as ``python -m pytest --doctest-modules lrkit/schedules lrkit/rangetest/rules.py …``; listed here
so that the default test run includes them. The pure ones (schedules, rules, analysis) import no torch.
"""

from __future__ import annotations

import doctest
import importlib

import pytest

#: the modules whose docstrings hold examples: the schedules and their registry, the range test's rules,
#: result and policy, the scheduler, the loop, the runtime, discriminative LRs, the bench's readings
MODULES = ["lrkit", "lrkit.schedules", "lrkit.schedules.base", "lrkit.rangetest.rules", "lrkit.rangetest.result",
           "lrkit.rangetest.choice", "lrkit.rangetest.sweep", "lrkit.training.scheduler", "lrkit.training.loop",
           "lrkit.training.runtime", "lrkit.finetune.lrs", "lrkit.bench.analysis"]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no example"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed"
