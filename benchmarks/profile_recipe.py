"""Where the fast recipe's time goes, per operator (``torch.profiler``, self CPU time).

Runs ``lrkit.recipe.train_recipe(target)`` once under ``torch.profiler.profile`` — setup, the range test,
``--epochs`` of training, the test curve and the final evaluation — and writes the operators' self CPU
times (each operator's own time, without the operators it calls) to ``--out/profile<T>.json``, with a
markdown table of the largest ones and of coarse groups (convolutions, BatchNorm, …) on stdout.

    python benchmarks/profile_recipe.py --target 85 --epochs 1 --threads 2

Time it on an idle machine: the shares are what matters, and a job beside it distorts them too.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install

ROOT = Path(__file__).resolve().parent

#: coarse groups of operators, first match wins (regex on the aten name)
GROUPS = (
    ("autograd engine (per-node bookkeeping)", r"^autograd::"),
    ("convolution (forward + backward)", r"conv|mkldnn_convolution|slow_conv"),
    ("BatchNorm (forward + backward)", r"batch_norm"),
    ("pooling", r"pool"),
    ("activation (GELU/ReLU)", r"gelu|relu|threshold"),
    ("matmul / linear head", r"\bmm\b|addmm|matmul|linear|aten::mm"),
    ("optimizer + weight averaging (elementwise on parameters)", r"_foreach|lerp|addcmul|add_|mul_|sgd"),
    ("loss", r"cross_entropy|log_softmax|nll_loss"),
    ("fill / zero (gradients, pooling indices, buffers)", r"fill_|zero_|empty"),
    ("data: augmentation, copies, layout", r"copy_|flip|index|cat|contiguous|clone|to_copy|gather|pad|roll|where"),
)


def group_of(name: str) -> str:
    for label, pattern in GROUPS:
        if re.search(pattern, name):
            return label
    return "other"


def main(argv: list[str] | None = None, *, data=None, overrides: dict | None = None, val_per_class: int = 500) -> int:
    """``data`` (a :class:`lrkit.data.Cifar10`), ``overrides`` (recipe entries) and ``val_per_class``: for tests."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", type=int, default=85)
    ap.add_argument("--epochs", type=float, default=1.0, help="training epochs to profile (> 0)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--out", default=str(ROOT / "results" / "recipe"))
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args(argv)
    if not args.epochs > 0:
        ap.error("--epochs: must be > 0")

    import torch
    from torch.profiler import ProfilerActivity, profile

    from lrkit.data import load_cifar10
    from lrkit.recipe import RECIPES, train_recipe
    from lrkit.utils import atomic_write_text, dumps, versions

    if args.target not in RECIPES:
        ap.error(f"--target: must be one of {sorted(RECIPES)}")
    torch.set_num_threads(args.threads)
    if data is None:
        data = load_cifar10(args.data_dir)
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        res = train_recipe(args.target, data, seed=0, threads=args.threads, val_per_class=val_per_class,
                           overrides={**(overrides or {}), "epochs": args.epochs})
    wall = time.perf_counter() - t0

    ops = [{"name": e.key, "calls": e.count, "self_cpu_s": e.self_cpu_time_total / 1e6}
           for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(o["self_cpu_s"] for o in ops)
    ops.sort(key=lambda o: -o["self_cpu_s"])
    groups: dict[str, float] = {}
    for o in ops:
        o["share"] = o["self_cpu_s"] / total
        o["group"] = group_of(o["name"])
        groups[o["group"]] = groups.get(o["group"], 0.0) + o["self_cpu_s"]
    record = {"command": " ".join(["python", "benchmarks/profile_recipe.py"] + (argv or sys.argv[1:])),
              "target": args.target, "epochs": args.epochs, "threads": args.threads, "versions": versions(),
              "wall_seconds_profiled": wall, "self_cpu_seconds": total, "recipe_seconds": res.seconds,
              "iterations": res.info["iterations"],
              "groups": {k: {"self_cpu_s": v, "share": v / total}
                         for k, v in sorted(groups.items(), key=lambda kv: -kv[1])},
              "ops": ops}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"profile{args.target}.json"
    atomic_write_text(path, dumps(record, indent=1))

    print(f"recipe {args.target}, {res.info['iterations']} training steps, {args.threads} threads: "
          f"{wall:.1f} s under the profiler, {total:.1f} s of operator self time")
    print("\n| group | self CPU s | share |\n|---|---:|---:|")
    for k, v in record["groups"].items():
        print(f"| {k} | {v['self_cpu_s']:.2f} | {100 * v['share']:.1f} % |")
    print("\n| operator | calls | self CPU s | share |\n|---|---:|---:|---:|")
    for o in ops[: args.top]:
        print(f"| `{o['name']}` | {o['calls']} | {o['self_cpu_s']:.2f} | {100 * o['share']:.1f} % |")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
