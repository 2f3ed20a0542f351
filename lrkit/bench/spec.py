"""Benchmark experiments as plain data: a :class:`RunSpec` is one training run, an
:class:`Experiment` lists its runs at each scale and owns how they train, what the report says about
them and the figure it draws.

A RunSpec is plain data (model name, optimizer settings, a schedule config from
:meth:`lrkit.schedules.Schedule.to_config`, iterations, data settings), so a result carries its exact
configuration and a changed configuration is detected rather than silently mixed with old results.

Scaling: ``lite`` and ``smoke`` multiply every iteration count, step size and milestone of a paper's
protocol by one stated factor (:func:`scaled`: rounded, at least 1).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from .. import schedules as S
from ..utils import did_you_mean

__all__ = ["SCALES", "Experiment", "RunSpec", "scaled"]

#: ``smoke`` (seconds, CI) < ``lite`` (≤ ~1 h, often a subset of the data) < ``full`` (all 50,000 training
#: and 10,000 test images, the paper's schedule scaled by one stated factor) < ``paper`` (the protocol)
SCALES = ("smoke", "lite", "full", "paper")


def scaled(x: float) -> int:
    """An iteration count (step size, milestone) of a protocol times a scale's factor: rounded, at least 1."""
    return max(1, int(round(x)))


@dataclass(frozen=True)
class RunSpec:
    """One training run of an experiment (plain data; see module docstring)."""

    name: str
    model: str
    optimizer: dict[str, Any]
    schedule: dict[str, Any]
    iterations: int
    batch_size: int
    eval_every: int
    momentum: Any = None                # None | "auto" | a schedule config
    preprocess: str = "channel"
    augment: bool = True
    n_per_class: int | None = None      # training images per class (None: all)
    test_per_class: int | None = None   # test images per class (None: all 1,000)
    kind: str = "train"                 # "train" | "accuracy_range_test"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def config_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]

    def build_schedule(self) -> S.Schedule:
        return S.from_config(self.schedule)


@dataclass(frozen=True)
class Experiment:
    """An experiment: its runs at each scale (``build(scale, factor)``), its reference and defaults, and the
    functions that make it one module's business (:mod:`lrkit.bench.experiments`).

    ``unavailable`` maps a scale the experiment does not have to the reason (asking for it is a
    ``ValueError`` saying so). ``prepare``, when given, does the work the runs share before any of
    them trains (e.g. pre-training a backbone and the range tests of a transfer experiment), cached in
    the results folder: ``prepare(runs, ctx) -> runs to train`` with the runner's
    :class:`~lrkit.bench.runner.Context`. ``check()``, when given, checks the environment the experiment
    needs (raising :class:`~lrkit.bench.store.BenchError`) before any data is loaded.

    ``trainer(spec, seed, ctx, started) -> result`` trains one run (None: the plain trainer,
    :func:`lrkit.bench.plain.train_plain`); it must be a module-level function (workers get it pickled).
    ``notes(reading) -> [markdown line]`` and ``figure(reading) -> Figure`` read the stored results of one
    scale (a :class:`lrkit.bench.analysis.Reading`) for the report (None: no notes; the plain curves of
    :func:`lrkit.bench.figures.curves_figure`). ``headline``: the report can save this experiment's figure
    as the README's picture.
    """

    name: str
    title: str
    reference: str
    description: str
    factors: dict[str, float]
    build: Callable[[str, float], list[RunSpec]]
    seeds: dict[str, int] = field(default_factory=lambda: {"smoke": 1, "lite": 1, "full": 3, "paper": 1})
    unavailable: dict[str, str] = field(default_factory=dict)
    prepare: Callable[..., list[RunSpec]] | None = None
    check: Callable[[], object] | None = None
    trainer: Callable[..., dict[str, Any]] | None = None
    notes: Callable[[Any], list[str]] | None = None
    figure: Callable[[Any], Any] | None = None
    headline: bool = False

    def runs(self, scale: str) -> list[RunSpec]:
        if scale not in SCALES:
            raise ValueError(f"unknown scale {scale!r}; choose one of {SCALES}" + did_you_mean(scale, SCALES))
        if scale in self.unavailable:
            raise ValueError(f"{self.name} has no {scale} scale: {self.unavailable[scale]}")
        return self.build(scale, self.factors.get(scale, 1.0))
