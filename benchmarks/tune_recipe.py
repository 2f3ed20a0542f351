"""Choose a setting of the fast recipe on the validation split (never on the test set).

Runs ``lrkit.recipe.train_recipe(target, overrides=...)`` for each seed and prints the validation
accuracy of each run and their median; the test accuracy is stored beside it for the record but is not
printed as part of the choice. Each run is written with :func:`lrkit.recipe.write_recipe_run` under
``--out/target<T>-<label>/seed<S>/`` and is reused when its ``summary.json`` holds the same recipe
configuration and validation split (another one is refused: exit 2).

    python benchmarks/tune_recipe.py --target 90 --set epochs=10 --seeds 3 --threads 1

Accuracies do not depend on the thread count, so tuning runs can share the machine with one other
one-thread job; their times are then not the recipe's times (`lrkit quickstart --target` on an idle
machine gives those).
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install

ROOT = Path(__file__).resolve().parent


def _setting(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--set: expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        raise argparse.ArgumentTypeError(f"--set {key}: {value!r} is not a Python literal") from None


def main(argv: list[str] | None = None, *, data=None) -> int:
    """``data``: a :class:`lrkit.data.Cifar10` to use instead of loading ``--data-dir`` (tests)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", type=int, required=True)
    ap.add_argument("--set", type=_setting, action="append", default=[], metavar="KEY=VALUE",
                    help="a recipe entry to override (repeatable)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "results" / "recipe" / "tuning"))
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 (CUDA runs in float16 autocast: the recipe's "
                    "amp_on_cuda)")
    ap.add_argument("--val-per-class", type=int, default=500, help="validation images per class held out")
    args = ap.parse_args(argv)

    from lrkit.recipe import RECIPES, train_recipe, write_recipe_run

    if args.target not in RECIPES:
        ap.error(f"--target: must be one of {sorted(RECIPES)}")
    if args.seeds < 1:
        ap.error("--seeds: must be >= 1")
    if args.val_per_class < 1:
        ap.error("--val-per-class: must be >= 1 (the choice reads validation accuracy)")
    import torch

    try:
        if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
            ap.error(f"--device {args.device}: CUDA is not available here")
    except RuntimeError:
        ap.error(f"--device: {args.device!r} is not a torch device")
    overrides = dict(args.set)
    unknown = sorted(set(overrides) - set(RECIPES[args.target]))
    if unknown:
        ap.error(f"--set: unknown recipe keys {unknown}")

    from lrkit.bench.store import canonical
    from lrkit.data import load_cifar10

    want = canonical({**RECIPES[args.target], **overrides})
    label = re.sub(r"[^A-Za-z0-9._-]", "", "-".join(f"{k}{v}" for k, v in sorted(overrides.items()))) or "default"
    folder = Path(args.out) / f"target{args.target}-{label}"
    vals = []
    for seed in range(args.seeds):
        run = folder / f"seed{seed}"
        if not (run / "summary.json").exists():
            if data is None:
                data = load_cifar10(args.data_dir)
            res = train_recipe(args.target, data, seed=seed, threads=args.threads, overrides=overrides,
                               device=args.device, val_per_class=args.val_per_class)
            run.mkdir(parents=True, exist_ok=True)
            write_recipe_run(res, run)
        summary = json.loads((run / "summary.json").read_text())
        same_device = torch.device(summary.get("device", "cpu")).type == torch.device(args.device).type
        if canonical(summary.get("config")) != want or summary.get("val_images") != 10 * args.val_per_class \
                or not same_device:
            print(f"tune_recipe.py: {run} holds a run of another recipe configuration, validation split or "
                  "device type; move it away or choose another --out", file=sys.stderr)
            return 2
        vals.append(100 * summary["final_val"]["acc"])
        print(f"target {args.target} {label} seed {seed}: peak {summary['peak_lr']:.3g}, "
              f"validation {vals[-1]:.2f} %", flush=True)
    print(f"target {args.target} {label}: median validation accuracy {statistics.median(vals):.2f} % "
          f"over {len(vals)} seeds")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
