"""Discriminative fine-tuning on a CIFAR-10 transfer task (ULMFiT's recipe, measured) — a thin wrapper.

The experiment lives in :mod:`lrkit.bench.experiments.discriminative` (the protocol is in its docstring): FastNet
pre-trained on CIFAR-10's six animal classes, fine-tuned on the four vehicle classes with few labels,
five arms (scratch / frozen / full / discriminative / gradual) with LRs from the range test, plus
ImageNet ResNet-18 arms when ``LRKIT_RESNET18_WEIGHTS`` names a weights file (or is ``download``).
This script runs it as ``lrkit bench`` does and prints the report; the equivalent commands are::

    LRKIT_DATA_DIR=/path/to/cifar lrkit bench run discriminative --scale lite --out runs/bench --threads 1
    lrkit bench report discriminative --out runs/bench

Results go to ``<out>/discriminative/<scale>/`` (one ``<arm>-seed<k>.json`` per run, the pre-trained
backbone, the range tests' LRs); the report to ``<out>/report.md`` and ``<out>/figures/``. Rerunning
always resumes (finished runs are skipped; ``--resume`` is accepted for old command lines).

What only this script adds: ``--synthetic`` (lrkit's synthetic stand-in instead of CIFAR-10, for
tests) and ``--imagenet-weights PATH`` (the same as ``LRKIT_RESNET18_WEIGHTS=PATH``).

Threads: ``--threads`` (default 2). On a 2-core machine that is busy with another job, use
``--threads 1``: measured here, a FastNet step at batch 32 took 1.1 s with 2 threads against a
competing 2-thread job and 0.07 s with 1 thread (oversubscribed intra-op threads spin).

    python benchmarks/discriminative_experiment.py --scale lite --out runs/bench
    python benchmarks/discriminative_experiment.py --synthetic --scale smoke --out /tmp/d  # no data
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

from lrkit.bench import BenchError, report, run_experiment
from lrkit.bench.experiments.discriminative import TRANSFER_SCALES, WEIGHTS_ENV
from lrkit.data import DataNotFoundError, synthetic_cifar10


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=None, help="CIFAR-10 folder (default: LRKIT_DATA_DIR / lrkit's cache)")
    ap.add_argument("--synthetic", action="store_true", help="use lrkit's synthetic stand-in (tests only)")
    ap.add_argument("--scale", choices=sorted(TRANSFER_SCALES), default="smoke")
    ap.add_argument("--seeds", type=int, default=None, help="number of seeds 0, 1, … (default: smoke 2, lite 3)")
    ap.add_argument("--only", nargs="+", default=None, help="only these arms")
    ap.add_argument("--out", default="runs/bench")
    ap.add_argument("--resume", action="store_true", help="accepted for old command lines: reruns always resume")
    ap.add_argument("--imagenet-weights", default=None,
                    help=f"state-dict file of torchvision's ResNet-18 (= {WEIGHTS_ENV}=PATH)")
    ap.add_argument("--no-download", action="store_true",
                    help=f"accepted for old command lines: weights are downloaded only with {WEIGHTS_ENV}=download")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    if args.seeds is not None and args.seeds < 1:
        ap.error("--seeds must be >= 1")
    torch.set_num_threads(args.threads)
    if args.imagenet_weights:
        os.environ[WEIGHTS_ENV] = args.imagenet_weights
    data = None
    if args.synthetic:
        data = synthetic_cifar10(max(40, TRANSFER_SCALES[args.scale]["per_class"]), 20, seed=0)
        print("DATA: synthetic stand-in (not CIFAR-10; for tests only)", flush=True)
    try:
        summary = run_experiment("discriminative", args.scale, out=args.out, data=data, data_dir=args.data_dir,
                                 seeds=args.seeds, only=args.only, progress=False)
    except (BenchError, DataNotFoundError, ValueError) as e:
        print(f"discriminative_experiment: {e}", file=sys.stderr)
        return 2
    print(f"\n{len(summary.results)} results in {summary.seconds:.0f} s\n", flush=True)
    print(report(args.out, experiments=["discriminative"], scales=(args.scale,)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
