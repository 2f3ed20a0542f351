"""Does ``lrkit quickstart``'s peak train as well as the best of a grid of peaks, on its own setup?

For each seed, the quickstart (:func:`lrkit.recipe.quickstart`: FastNet, 1,000 training images per
class, 3 epochs of one-cycle at batch 128, Nesterov SGD) is run once at the peak its range test
suggests (``RangeTest.suggest(for_="one_cycle")``) and once at each of ``GRID`` peaks; the test
accuracy after the last epoch is compared. The check passes when, averaged over the seeds, the rule's
accuracy is within 1 point of the best grid peak's (each seed's best). Every run is one JSON under
``--out`` (lrkit's results store: reused when its config matches, never overwritten).

    python benchmarks/bench_quickstart.py --seeds 3            # 24 runs, ~15-30 min on one CPU thread
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install

from lrkit.bench import store  # noqa: E402
from lrkit.bench.store import BenchError  # noqa: E402
from lrkit.utils import atomic_write_text, dumps  # noqa: E402

ROOT = Path(__file__).resolve().parent
#: 7 peaks, half a decade apart
GRID = tuple(float(f"{v:.3g}") for v in 10.0 ** np.linspace(-2.5, 0.5, 7))
SETUP = {"model": "fastnet", "optimizer": "sgd", "weight_decay": 5e-4, "batch_size": 128, "n_per_class": 1000,
         "test_per_class": 1000, "epochs": 3, "find_iters": 100}


def one(seed: int, peak: float | None, out: Path, data: Any) -> dict[str, Any]:
    """The quickstart with ``seed`` at ``peak`` (None: the rule's), stored or run."""
    name = "rule" if peak is None else f"peak{peak:g}"

    def compute() -> dict[str, Any]:
        from lrkit.recipe import quickstart

        res = quickstart(data, **SETUP, seed=seed, max_lr=peak)
        s = res.suggestion
        return {"acc": res.final["acc"], "max_lr": res.max_lr, "seconds": res.seconds,
                "suggestion": None if s is None else {"lr": s.lr, "low": s.low, "high": s.high, "rule": s.rule}}

    return store.cached(out / f"seed{seed}" / f"{name}.json", {**SETUP, "seed": seed, "peak": peak or "rule"},
                        compute)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "results" / "quickstart"))
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    import torch

    from lrkit.data import load_cifar10

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    try:
        data = load_cifar10(args.data_dir, download=False)
        t0 = time.perf_counter()
        rows = []
        for seed in range(args.seeds):
            rule = one(seed, None, out, data)
            grid = {p: one(seed, p, out, data)["acc"] for p in GRID}
            best = max(grid, key=grid.get)
            rows.append({"seed": seed, "rule_lr": rule["max_lr"], "rule_acc": rule["acc"], "best_peak": best,
                         "best_acc": grid[best], "grid": grid})
    except (BenchError, ValueError, OSError) as e:
        print(f"bench_quickstart: {e}", file=sys.stderr)
        return 2
    gap = 100 * float(np.mean([r["best_acc"] - r["rule_acc"] for r in rows]))
    summary = {"setup": SETUP, "grid": GRID, "seeds": rows, "mean_gap_pp": gap, "within_1pp": gap <= 1.0,
               "wall_seconds_this_call": time.perf_counter() - t0}
    lines = ["| seed | rule's peak | rule acc % | best grid peak | best acc % | gap pp |",
             "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['seed']} | {r['rule_lr']:.3g} | {100 * r['rule_acc']:.2f} | {r['best_peak']:g} | "
              f"{100 * r['best_acc']:.2f} | {100 * (r['best_acc'] - r['rule_acc']):.2f} |" for r in rows]
    lines.append(f"\nMean gap to the best grid peak: {gap:.2f} pp → within 1 point: **{'yes' if gap <= 1 else 'no'}**")
    atomic_write_text(out / "summary.json", dumps(summary, indent=1))
    atomic_write_text(out / "table.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
