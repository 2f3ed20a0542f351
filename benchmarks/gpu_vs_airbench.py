"""Time lrkit's fast recipe against the ``airbench`` package (airbench94) on one GPU, in one process.

Both train on the same images on the same device, one after another, ``--runs`` times each (after one
untimed warm-up run of each, which also pays for cuDNN's autotuning). For each run it records:

- airbench94: the wall time of ``airbench.train94(loader, verbose=False)`` (data preprocessing on the
  device, whitening init, 9.9 epochs of the full 50,000 images), the CUDA work synchronised before and
  after; then its flip + translate TTA test accuracy (timed apart);
- lrkit: :func:`lrkit.recipe.train_recipe` for ``--target`` (range test, setup, training on 45,000 images
  with 5,000 held out; ``seconds`` as the recipe splits them), also synchronised;

and the ratios lrkit ÷ airbench of the medians: the whole time to a trained model (lrkit: setup + range
test + training; airbench: its train94 call) and the time per optimizer step.

``--data-dir``: the real CIFAR-10 (then both accuracies mean something). ``--synthetic``: a CIFAR-shaped
stand-in of the full size (50,000 / 10,000 images): the timings hold, since the work does not depend on
the pixel values, but the accuracies do not (and the range test may stop at another step). airbench reads
``cifar10/train.pt`` and ``test.pt`` under the working folder; they are written from the same images into
a temporary folder, so airbench never downloads anything.

    python benchmarks/gpu_vs_airbench.py --data-dir ../shared/data --runs 3 --out gpu_vs_airbench.json
    python benchmarks/gpu_vs_airbench.py --synthetic --runs 3 --set epochs=15 --out gpu_vs_airbench.json

Needs a CUDA device and ``pip install airbench`` (0.1.8; not an lrkit dependency). Exit 2 without them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tune_recipe import _setting  # noqa: E402  (--set KEY=VALUE, parsed the same way)


def write_airbench_data(data, folder: Path) -> None:
    """airbench's files: ``{images: uint8 [N, 32, 32, 3], labels: int64 [N], classes: [str]}``."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    for name, x, y in (("train.pt", data.train_x, data.train_y), ("test.pt", data.test_x, data.test_y)):
        torch.save({"images": x.permute(0, 2, 3, 1).contiguous(), "labels": y.long(), "classes": list(data.classes)},
                   folder / name)


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def run_airbench(runs: int) -> list[dict]:
    """``runs`` timed airbench94 runs after one untimed one; reads ``cifar10/`` in the working folder."""
    from airbench import CifarLoader, evaluate, train94
    from airbench.lib_airbench94 import hyp

    out = []
    for i in range(runs + 1):
        loader = CifarLoader("cifar10", train=True, batch_size=hyp["opt"]["batch_size"], aug=hyp["aug"],
                             altflip=True)
        _sync()
        t0 = time.perf_counter()
        model = train94(loader, verbose=False)
        _sync()
        dt = time.perf_counter() - t0
        t0 = time.perf_counter()
        acc = evaluate(model, CifarLoader("cifar10", train=False, batch_size=2000), tta_level=hyp["net"]["tta_level"])
        _sync()
        steps = math.ceil(len(loader) * hyp["opt"]["train_epochs"])  # as airbench counts them
        rec = {"run": i - 1 if i else "warm-up", "train_seconds": dt, "steps": steps, "test_acc": acc,
               "eval_seconds": time.perf_counter() - t0, "epochs": hyp["opt"]["train_epochs"],
               "train_images": len(loader.images)}
        print(json.dumps({"airbench94": rec}), flush=True)
        if i:
            out.append(rec)
    return out


def run_lrkit(data, runs: int, target: int, overrides: dict, device: str, val_per_class: int = 500) -> list[dict]:
    """One untimed warm-up (1 epoch) and ``runs`` seeds of ``train_recipe(target)``."""
    from lrkit.recipe import train_recipe

    out = []
    for i in range(runs + 1):
        warm = i == 0
        _sync()
        t0 = time.perf_counter()
        res = train_recipe(target, data, seed=i - 1 if i else 0, device=device, val_per_class=val_per_class,
                           overrides={**overrides, "epochs": 1} if warm else overrides)
        _sync()
        wall = time.perf_counter() - t0
        s = res.seconds
        rec = {"run": "warm-up" if warm else i - 1, "wall_seconds": wall, "seconds": s,
               "to_model_seconds": s["setup"] + s["range_test"] + s["training"],
               "steps": res.info["iterations"], "range_test_steps": len(res.range_test or []),
               "train_images": res.info["train_images"], "epochs": res.config["epochs"],
               "test_acc": res.final_test["acc"], "val_acc": (res.final_val or {}).get("acc"),
               "peak_lr": res.peak_lr, "time_to_target": res.time_to_target, "amp": res.info["amp"]}
        print(json.dumps({"lrkit": rec}), flush=True)
        if not warm:
            out.append(rec)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--data-dir", help="folder holding cifar-10-batches-py")
    src.add_argument("--synthetic", action="store_true", help="a full-size CIFAR-shaped stand-in (timings only)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs of each (after one warm-up each)")
    ap.add_argument("--target", type=int, default=94, help="lrkit recipe: 85, 90 or 94")
    ap.add_argument("--set", type=_setting, action="append", default=[], metavar="KEY=VALUE",
                    help="a recipe entry to override (repeatable)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--out", required=True, help="JSON file for the results")
    args = ap.parse_args(argv)

    import torch

    from lrkit.recipe import RECIPES

    if args.runs < 1:
        ap.error("--runs: must be >= 1")
    if args.target not in RECIPES:
        ap.error(f"--target: must be one of {sorted(RECIPES)}")
    overrides = dict(args.set)
    unknown = sorted(set(overrides) - set(RECIPES[args.target]))
    if unknown:
        ap.error(f"--set: unknown recipe keys {unknown}")
    out = Path(args.out)
    if not out.parent.is_dir():
        ap.error(f"--out: folder {out.parent} does not exist")
    if not args.device.startswith("cuda") or not torch.cuda.is_available():
        print(f"gpu_vs_airbench.py: --device {args.device}: needs a CUDA device (airbench runs on CUDA only)",
              file=sys.stderr)
        return 2
    try:
        import airbench  # noqa: F401
    except ImportError:
        print("gpu_vs_airbench.py: the airbench package is missing (pip install airbench==0.1.8)", file=sys.stderr)
        return 2
    from lrkit.data import load_cifar10, synthetic_cifar10

    data = synthetic_cifar10(5000, 1000, seed=0) if args.synthetic else load_cifar10(args.data_dir, download=False)
    info = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "data": data.source,
            "target": args.target, "overrides": overrides, "runs": args.runs,
            "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:])}
    print(json.dumps(info), flush=True)
    here = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp:
        write_airbench_data(data, Path(tmp) / "cifar10")
        os.chdir(tmp)
        try:
            ab = run_airbench(args.runs)  # imports airbench94, which turns cudnn.benchmark on for the process
            info["cudnn_benchmark"] = torch.backends.cudnn.benchmark
            lk = run_lrkit(data, args.runs, args.target, overrides, args.device)
        finally:
            os.chdir(here)

    def med(xs):
        return statistics.median(xs)

    summary = {
        "airbench_train_seconds": med([r["train_seconds"] for r in ab]),
        "lrkit_to_model_seconds": med([r["to_model_seconds"] for r in lk]),
        "lrkit_training_seconds": med([r["seconds"]["training"] for r in lk]),
        "airbench_ms_per_step": 1e3 * med([r["train_seconds"] / r["steps"] for r in ab]),
        "lrkit_ms_per_step": 1e3 * med([r["seconds"]["training"] / r["steps"] for r in lk]),
        "airbench_test_acc": med([r["test_acc"] for r in ab]),
        "lrkit_test_acc": med([r["test_acc"] for r in lk]),
    }
    summary["ratio_to_model"] = summary["lrkit_to_model_seconds"] / summary["airbench_train_seconds"]
    summary["ratio_per_step"] = summary["lrkit_ms_per_step"] / summary["airbench_ms_per_step"]
    result = {**info, "airbench94": ab, "lrkit": lk, "summary": summary}
    tmp_out = out.with_name(out.name + ".tmp")
    tmp_out.write_text(json.dumps(result, indent=1, default=float))
    tmp_out.replace(out)
    print(json.dumps({"summary": summary}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
