"""The range-test benchmark (BENCHMARKS.md §3): how good is each finder's LR on tasks it never saw?

48 tasks (:mod:`rangetest.tasks`): 6 nets × 4 optimizers = 24 families, 2 tasks each; a family's tasks are all
on one side of the split, tuning (8 families, 16 tasks) or evaluation (16 families, 32 tasks). Each task trains
its net with its schedule (its *use*: a constant LR, a one-cycle or warm-up + cosine peak, CLR's upper bound) for
500 or 1,000 steps at every LR of an adaptive grid (0.5-decade steps, extended past an edge that holds the best,
refined ±0.25 decade around the best), 2 seeds, and scores validation accuracy (carved out of the training
set). Every finder — lrkit, fastai, torch-lr-finder, Lightning — sweeps the same batches from the same
initialisation; lrkit also sweeps with 300 steps and with start_lr 1e-5 (the stability table).

    python benchmarks/bench_rangetest.py run tuning --workers 2        # the tuning half (resumable)
    python benchmarks/bench_rangetest.py fit                            # fit lrkit's reading on it
    python benchmarks/bench_rangetest.py run eval --workers 2          # then, once, the evaluation half
    python benchmarks/bench_rangetest.py report eval                    # the tables of BENCHMARKS.md §3
    python benchmarks/bench_rangetest.py tasks                          # the task table

Every unit is one JSON under ``--out`` (default benchmarks/results/rangetest), reused when its config matches.
The peers come from ``make setup-peers`` (the ``[peers]`` extra); CIFAR-10 from ``LRKIT_DATA_DIR``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install
sys.path.insert(0, str(Path(__file__).resolve().parent))  # rangetest/ and peers.py

from rangetest import grid as G  # noqa: E402
from rangetest import score, units  # noqa: E402
from rangetest import tasks as R  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "rangetest"


def stored_points(task: R.Task, out: Path, seeds: int) -> dict[float, list[float]]:
    """``{lr: [val_acc of seed 0, 1, …]}`` of the stored trainings (seeds missing at an LR left out)."""
    from lrkit.utils import read_json

    pts: dict[float, dict[int, float]] = {}
    for s in range(seeds):
        for p in (out / "tasks" / task.name / f"seed{s}").glob("train_lr*.json"):
            rec = read_json(p)
            pts.setdefault(float(rec["config"]["lr"]), {})[s] = rec["val_acc"]
    return {lr: [a[s] for s in sorted(a)] for lr, a in pts.items()}


def run(role: str, out: Path, *, seeds: int = 2, data_dir: str | None = None, workers: int = 1, threads: int = 1,
        tasks: list[str] | None = None, stability: bool = True, log=print) -> None:
    """Every sweep of the role's tasks, then the adaptive grid round after round until no task needs a point."""
    from lrkit.bench.executors import get_executor, run_all

    names = [n for n, t in R.TASKS.items() if t.role == role and (not tasks or n in tasks)]
    todo = [("sweep", (n, f, s, "default", str(out), data_dir)) for n in names for s in range(seeds)
            for f in units.FINDERS]
    if stability:
        todo += [("sweep", (n, f, 0, v, str(out), data_dir)) for n in names for f in units.FINDERS
                 for v in ("long", "start5")]
    coarse = {n: G.grid_points_of(R.TASKS[n]) for n in names}
    kind, kw = ("local", {"workers": workers}) if workers > 1 else ("serial", {})
    with get_executor(kind, threads=threads, **kw) as ex:
        for rnd in range(100):
            for n in names:
                t = R.TASKS[n]
                for lr in G.next_points(coarse[n], stored_points(t, out, seeds), seeds, R.chance(t)):
                    todo += [("train", (n, lr, s, str(out), data_dir)) for s in range(seeds)]
            if not todo:
                return
            todo.sort(key=lambda u: -(R.TASKS[u[1][0]].steps * R.TASKS[u[1][0]].batch_size if u[0] == "train" else 0))
            t0 = time.perf_counter()
            log(f"round {rnd}: {len(todo)} units")
            run_all(ex, units.call, todo)
            log(f"round {rnd}: done in {time.perf_counter() - t0:.0f} s")
            todo = []


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="train and sweep one half (resumable)")
    r.add_argument("role", choices=["tuning", "eval"])
    r.add_argument("--workers", type=int, default=1)
    r.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    r.add_argument("--data-dir", default=None)
    r.add_argument("--tasks", nargs="*", help="only these tasks")
    r.add_argument("--no-stability", action="store_true", help="skip the 300-step and start_lr 1e-5 sweeps")
    sub.add_parser("fit", help="fit lrkit's reading on the tuning half and print its tables")
    p = sub.add_parser("report", help="the tables of one half")
    p.add_argument("role", choices=["tuning", "eval"])
    sub.add_parser("tasks", help="the task table")
    for q in sub.choices.values():
        q.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args(argv)
    if a.cmd == "run":
        run(a.role, a.out, data_dir=a.data_dir, workers=a.workers, threads=a.threads, tasks=a.tasks,
            stability=not a.no_stability)
    elif a.cmd == "fit":
        print(score.fit(score.load_role("tuning", a.out)))
    elif a.cmd == "report":
        print(score.report(a.role, a.out))
    else:
        print(R.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
