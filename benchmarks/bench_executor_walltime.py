"""Wall time of the suggestion-quality grid, side by side in one run: 1 process × 2 torch threads
against 2 worker processes × 1 thread (lrkit.bench.executors' local pool).

Both configurations compute the same units (trainings at every grid LR and lrkit's sweeps, every
seed) of ``--tasks`` at the ``full`` scale of ``benchmarks/bench_suggestion_quality.py``, each into its
own fresh folder, so nothing is reused; the order of the two alternates with ``--repeats``. Run it on an
otherwise idle machine.

    python benchmarks/bench_executor_walltime.py --tasks mlp_adam_const_b64 caffe_sgd_const_b100
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _bench():
    spec = importlib.util.spec_from_file_location("bench_suggestion_quality", HERE / "bench_suggestion_quality.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", nargs="+", default=["mlp_adam_const_b64", "caffe_sgd_const_b100"])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--data-dir", default=os.environ.get("LRKIT_DATA_DIR"))
    args = ap.parse_args(argv)
    bench = _bench()
    configs = {"1 process × 2 threads": dict(executor="serial", threads=2),
               "2 workers × 1 thread": dict(executor="local", workers=2, threads=1)}
    times: dict[str, list[float]] = {k: [] for k in configs}
    n_units = None
    for r in range(args.repeats):
        for name in (list(configs) if r % 2 == 0 else list(configs)[::-1]):
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                summary = bench.run("full", tmp, tasks=args.tasks, finders=["lrkit"], data_dir=args.data_dir,
                                    log=lambda *a, **k: None, **configs[name])
                times[name].append(time.perf_counter() - t0)
                n_units = len(list(Path(tmp).rglob("seed*/*.json")))
            print(f"{name}: {times[name][-1]:.1f} s ({n_units} units)", flush=True)
    print(f"\n{n_units} units of {', '.join(args.tasks)} (scale full, lrkit's sweeps only), "
          f"{summary['seeds']} seeds × {summary['grid_points']} LRs")
    print("| configuration | wall time (s) |\n|---|---:|")
    for name, ts in times.items():
        print(f"| {name} | {', '.join(f'{t:.1f}' for t in ts)} |")
    a, b = (min(t) for t in times.values())
    print(f"\n2 workers × 1 thread / 1 process × 2 threads: {b / a:.2f} (best of {args.repeats})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
