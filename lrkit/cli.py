"""The ``lrkit`` command.

::

    lrkit quickstart          range test + one-cycle training on CIFAR-10, figure + JSON under runs/
    lrkit find                the LR range test on CIFAR-10: prints suggestions, saves the figure
    lrkit schedule KIND k=v   plot any schedule of lrkit.schedules (e.g. OneCycle max_lr=0.1 total_steps=1000)
    lrkit bench list | run NAME [--scale smoke|lite|paper] | report

Every command takes ``--data-dir`` (else ``LRKIT_DATA_DIR``, else the cache, else a download) where
it needs CIFAR-10, and ``--device`` (default: CUDA when available, else CPU).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _device(name: str | None) -> str:
    import torch

    if name:
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


def _run_dir(out: str, prefix: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(out) / f"{prefix}-{stamp}"
    n = 1
    while path.exists():  # never overwrite an earlier run
        n += 1
        path = Path(out) / f"{prefix}-{stamp}-{n}"
    path.mkdir(parents=True)
    return path


_OPTIMIZERS = {"sgd": {"name": "sgd", "momentum": 0.9, "nesterov": True},
               "adamw": {"name": "adamw"},
               "caffe-sgd": {"name": "caffe_sgd", "momentum": 0.9, "multipliers": True}}


def _make_optimizer(name: str, model, lr: float, weight_decay: float):
    from .train import make_optimizer

    return make_optimizer({**_OPTIMIZERS[name], "lr": lr, "weight_decay": weight_decay}, model)


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=None, help="folder holding cifar-10-batches-py (else $LRKIT_DATA_DIR, "
                   "else the cache, else download)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 … (default: cuda if available)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs", help="folder for results (default: runs/)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _positive_int(s: str) -> int:
    v = int(s)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {s}")
    return v


def _positive_float(s: str) -> float:
    v = float(s)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {s}")
    return v


# --------------------------------------------------------------------------------------------------
def cmd_quickstart(args: argparse.Namespace) -> int:
    """Range test, then one-cycle training at the suggested LR; figure + JSON under runs/."""
    import torch

    from . import data as D
    from . import models as M
    from .finder import lr_find
    from .schedules import OneCycle
    from .train import fit, seed_everything, versions

    t0 = time.perf_counter()
    seed_everything(args.seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    device = _device(args.device)
    cifar = D.load_cifar10(args.data_dir)
    L = D.cifar10_loaders(cifar, batch_size=args.batch_size, n_per_class=args.n_per_class,
                          test_per_class=args.test_per_class, seed=args.seed, device=device)
    print(f"CIFAR-10 from {cifar.source}: {L.train.num_examples} training images, "
          f"{L.test.num_examples} test images, device {device}")
    model = M.get_model(args.model).to(device)
    opt = _make_optimizer(args.optimizer, model, lr=1e-3, weight_decay=args.weight_decay)

    rt = lr_find(model, L.train, opt, start_lr=1e-5, end_lr=10.0, num_iter=args.find_iters,
                 progress=not args.no_progress)
    sug = rt.suggest("robust")
    max_lr = float(sug.lr)
    suggestions = rt.suggestions()
    print(f"range test: {len(rt)} points; suggestions: " + ", ".join(
        f"{s.method} {s.lr:.3g}" for s in suggestions.values()))
    print(f"training {args.epochs} epochs of one-cycle with max_lr {max_lr:.3g} "
          f"(robust suggestion, interval {sug.low:.3g}–{sug.high:.3g})")

    iters = args.epochs * len(L.train)
    sched = OneCycle(max_lr=max_lr, total_steps=iters)
    hist = fit(model, opt, L.train, iterations=iters, schedule=sched, momentum="auto", eval_data=L.test,
               eval_every=len(L.train), device=device, progress=not args.no_progress, desc="one-cycle")
    final = hist.final_eval()
    run = _run_dir(args.out, "quickstart")
    from .plot import plot_history

    fig_rt = rt.plot()
    fig_rt.savefig(run / "range_test.png", dpi=110, bbox_inches="tight")
    fig_h = plot_history(hist, title=f"one-cycle, max_lr {max_lr:.3g}")
    fig_h.savefig(run / "training.png", dpi=110, bbox_inches="tight")
    hist.save(run / "history.json")
    (run / "range_test.json").write_text(rt.to_json())
    summary = {
        "command": "quickstart", "config": vars(args) | {"device": device}, "versions": versions(),
        "data_source": cifar.source, "train_images": L.train.num_examples, "test_images": L.test.num_examples,
        "suggestions": {s.method: {"lr": s.lr, "low": s.low, "high": s.high} for s in suggestions.values()},
        "max_lr": max_lr, "iterations": iters, "final_test": final,
        "wall_seconds": round(time.perf_counter() - t0, 2),
    }
    from .train import atomic_write_text

    atomic_write_text(run / "summary.json", json.dumps(summary, indent=2, default=str))
    print(f"test accuracy after {args.epochs} epochs: {final['acc']:.4f} (loss {final['loss']:.4f})")
    print(f"wrote {run / 'range_test.png'}, {run / 'training.png'} and {run / 'summary.json'}")
    return 0


def cmd_find(args: argparse.Namespace) -> int:
    """The LR range test on CIFAR-10."""
    from . import data as D
    from . import models as M
    from .finder import lr_find
    from .train import seed_everything

    seed_everything(args.seed)
    device = _device(args.device)
    L = D.cifar10_loaders(data_dir=args.data_dir, batch_size=args.batch_size, n_per_class=args.n_per_class,
                          val_per_class=args.val_per_class or 0, seed=args.seed, device=device,
                          preprocess="pixel_mean" if args.model == "caffe_cifar10_full" else "channel",
                          augment=args.model != "caffe_cifar10_full")
    model = M.get_model(args.model).to(device)
    opt = _make_optimizer(args.optimizer, model, lr=args.start_lr, weight_decay=args.weight_decay)
    kw: dict[str, Any] = {}
    if args.val_per_class:
        kw = {"val_data": L.val, "val_batches": args.val_batches}
    rt = lr_find(model, L.train, opt, start_lr=args.start_lr, end_lr=args.end_lr, num_iter=args.num_iter,
                 mode=args.mode, progress=not args.no_progress, **kw)
    run = _run_dir(args.out, "find")
    rt.plot().savefig(run / "range_test.png", dpi=110, bbox_inches="tight")
    (run / "range_test.json").write_text(rt.to_json())
    print(f"{args.model} / {args.optimizer}, {len(rt)} points"
          + (f" (stopped early: {rt.reason})" if rt.stopped_early else ""))
    for s in rt.suggestions().values():
        extra = f"  [{s.low:.3g}, {s.high:.3g}]" if s.low != s.high else ""
        print(f"  {s.method:>8}: {s.lr:.3g}{extra}")
    print(f"wrote {run / 'range_test.png'} and {run / 'range_test.json'}")
    return 0


def _parse_value(s: str) -> Any:
    try:
        return json.loads(s)
    except json.JSONDecodeError:
        return s


def cmd_schedule(args: argparse.Namespace) -> int:
    """Plot a schedule given as KIND key=value …"""
    from .plot import plot_schedule
    from .schedules import from_config

    params = {}
    for kv in args.params:
        if "=" not in kv:
            raise SystemExit(f"lrkit schedule: parameters are key=value, got {kv!r}")
        k, v = kv.split("=", 1)
        params[k] = _parse_value(v)
    try:
        sched = from_config({"name": args.kind, **params})
    except (TypeError, ValueError) as e:
        raise SystemExit(f"lrkit schedule: {e}") from e
    steps = args.steps or sched.total_steps
    if steps is None:
        raise SystemExit("lrkit schedule: this schedule has no end; give --steps")
    fig = plot_schedule({args.kind: sched}, total_steps=steps, momentum=args.momentum, log_y=args.log_y)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    print(f"wrote {out}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """lrkit bench list | run NAME | report"""
    from .bench import EXPERIMENTS, BenchError, get_experiment, report, run_experiment

    try:
        if args.bench_command == "list":
            for name, exp in EXPERIMENTS.items():
                print(f"{name}: {exp.title}")
                for scale in ("smoke", "lite", "paper"):
                    if scale in exp.unavailable:
                        print(f"    {scale:>5}: not available — {exp.unavailable[scale]}")
                        continue
                    runs = exp.runs(scale)
                    total = sum(r.iterations for r in runs)
                    factor = f" (factor {exp.factors[scale]:g})" if scale in exp.factors else ""
                    print(f"    {scale:>5}{factor}: {len(runs)} runs, {total:,} iterations: "
                          + ", ".join(r.name for r in runs))
            return 0
        if args.bench_command == "run":
            get_experiment(args.name)
            if args.threads:
                import torch

                torch.set_num_threads(args.threads)
            summary = run_experiment(args.name, args.scale, out=args.out, data_dir=args.data_dir,
                                     device=args.device, seeds=args.seeds, only=args.only,
                                     progress=not args.no_progress)
            print(f"{args.name}/{args.scale}: {len(summary.results)} results in {summary.seconds:.0f} s "
                  f"under {args.out}")
            return 0
        if args.bench_command == "report":
            text = report(args.out, experiments=args.experiments or None, headline=args.headline)
            print(text)
            return 0
    except (BenchError, ValueError) as e:
        print(f"lrkit bench: {e}", file=sys.stderr)
        return 2
    return 1


# --------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="lrkit", description="Learning rates, taught and measured.")
    parser.add_argument("--version", action="version", version=f"lrkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    q = sub.add_parser("quickstart", help="range test + short one-cycle training on CIFAR-10")
    _add_data_args(q)
    q.add_argument("--model", default="fastnet")
    q.add_argument("--optimizer", default="sgd", choices=["sgd", "adamw", "caffe-sgd"])
    q.add_argument("--weight-decay", type=float, default=5e-4)
    q.add_argument("--batch-size", type=_positive_int, default=128)
    q.add_argument("--n-per-class", type=_positive_int, default=1000, help="training images per class")
    q.add_argument("--test-per-class", type=_positive_int, default=1000, help="test images per class")
    q.add_argument("--epochs", type=_positive_int, default=3)
    q.add_argument("--find-iters", type=_positive_int, default=100)
    q.set_defaults(func=cmd_quickstart)

    f = sub.add_parser("find", help="the LR range test on CIFAR-10")
    _add_data_args(f)
    f.add_argument("--model", default="caffe_cifar10_full")
    f.add_argument("--optimizer", default="sgd", choices=["sgd", "adamw", "caffe-sgd"])
    f.add_argument("--weight-decay", type=float, default=5e-4)
    f.add_argument("--batch-size", type=_positive_int, default=128)
    f.add_argument("--n-per-class", type=_positive_int, default=None)
    f.add_argument("--start-lr", type=_positive_float, default=1e-6)
    f.add_argument("--end-lr", type=_positive_float, default=10.0)
    f.add_argument("--num-iter", type=_positive_int, default=100)
    f.add_argument("--mode", default="exp", choices=["exp", "linear"])
    f.add_argument("--val-per-class", type=_positive_int, default=None,
                   help="hold out this many training images per class and use validation loss")
    f.add_argument("--val-batches", type=_positive_int, default=2)
    f.set_defaults(func=cmd_find)

    s = sub.add_parser("schedule", help="plot a schedule: lrkit schedule OneCycle max_lr=0.1 total_steps=1000")
    s.add_argument("kind", help="a schedule class of lrkit.schedules (OneCycle, Cyclic, CosineWarmRestarts, …)")
    s.add_argument("params", nargs="*", help="constructor arguments as key=value (values parsed as JSON)")
    s.add_argument("--steps", type=_positive_int, default=None, help="iterations to plot")
    s.add_argument("--momentum", action="store_true", help="also plot the momentum schedule")
    s.add_argument("--log-y", action="store_true")
    s.add_argument("-o", "--output", default="runs/schedule.png")
    s.set_defaults(func=cmd_schedule)

    b = sub.add_parser("bench", help="reproduce the papers' CIFAR-10 results: list | run NAME | report")
    bsub = b.add_subparsers(dest="bench_command", required=True)
    bsub.add_parser("list", help="the experiments and their scales")
    br = bsub.add_parser("run", help="run one experiment (resumes; never overwrites other configs' results)")
    br.add_argument("name")
    br.add_argument("--scale", default="smoke", choices=["smoke", "lite", "paper"])
    br.add_argument("--seeds", type=_positive_int, default=None, help="number of seeds (default: the experiment's)")
    br.add_argument("--only", nargs="+", default=None, help="only these runs of the experiment")
    br.add_argument("--out", default="runs/bench")
    br.add_argument("--data-dir", default=None)
    br.add_argument("--device", default=None)
    br.add_argument("--threads", type=_positive_int, default=None, help="torch CPU threads")
    br.add_argument("--no-progress", action="store_true")
    bp = bsub.add_parser("report", help="figures + markdown table from the results under --out")
    bp.add_argument("experiments", nargs="*")
    bp.add_argument("--out", default="runs/bench")
    bp.add_argument("--headline", default=None, help="also save the headline figure (README) here")
    b.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    import os

    os.environ.setdefault("MPLBACKEND", "Agg")
    parser = build_parser()
    args = parser.parse_args(argv)
    from .data import DataNotFoundError

    try:
        return args.func(args)
    except DataNotFoundError as e:
        print(f"lrkit {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lrkit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
