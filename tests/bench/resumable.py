"""A bench trainer for the resume tests (tests/bench/test_bench.py, test_executors.py): the plain trainer with
dropout on the input and a count of the optimizer steps each process takes.

Without them a resume cannot be told from a restart: the Caffe net has no dropout and lrkit's batches
depend only on ``(seed, i)``, so training again from iteration 0 gives the same result. Here

- every training step draws a dropout mask from the global torch RNG, so a resumed run matches an
  uninterrupted one only if the checkpoint's RNG states are restored (a fresh process, or the same one
  after ``seed_everything``, is at the RNG state of iteration 0, not of the checkpoint);
- each call appends ``"<run> <seed> <pid> <steps>"`` to ``steps.log`` in the run's folder, so a test can
  see that the resumed process trained only the iterations after the checkpoint.

A module of its own (not a test module): workers get the trainer pickled by reference and import it.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from lrkit.bench.plain import finish_run, fit_run, start_run

STEPS_LOG = "steps.log"
P = 0.2


def _input_dropout(module: nn.Module, args: tuple) -> tuple:
    return (nn.functional.dropout(args[0], P, module.training), *args[1:])


def dropout_trainer(spec, seed, ctx, started):
    """:func:`lrkit.bench.plain.train_plain` with input dropout, logging the optimizer steps it took."""
    run = start_run(spec, seed, ctx)
    run.model.register_forward_pre_hook(_input_dropout)
    steps = [0]
    run.optimizer.register_step_post_hook(lambda *a: steps.__setitem__(0, steps[0] + 1))
    try:
        hist = fit_run(run, ctx)
    finally:
        ctx.folder.mkdir(parents=True, exist_ok=True)
        with open(ctx.folder / STEPS_LOG, "a") as f:
            f.write(f"{spec.name} {seed} {os.getpid()} {steps[0]}\n")
    return finish_run(run, ctx, hist, started)


def steps_taken(folder: Path) -> list[tuple[str, int, int, int]]:
    """``[(run, seed, pid, steps)]`` in the order the trainer calls ended."""
    path = Path(folder) / STEPS_LOG
    if not path.exists():
        return []
    rows = [line.split() for line in path.read_text().splitlines()]
    return [(name, int(seed), int(pid), int(n)) for name, seed, pid, n in rows]
