"""The ``lrkit`` command.

::

    lrkit quickstart          range test + one-cycle training on CIFAR-10, figure + JSON under runs/
    lrkit find                the LR range test on CIFAR-10: prints suggestions, saves the figure
    lrkit schedule KIND k=v   plot any schedule of lrkit.schedules (e.g. OneCycle max_lr=0.1 total_steps=1000)
    lrkit bench list | run NAME [--scale smoke|lite|full|paper] | report

Every command takes ``--data-dir`` (else ``LRKIT_DATA_DIR``, else the cache, else a download) where
it needs CIFAR-10, and ``--device`` (default: CUDA when available, else CPU).

Errors: a bad argument, missing or corrupt data, or an unusable benchmark folder is reported as one
line on stderr, ``lrkit <command>: <message>``, with exit status 2 (argparse's status for usage
errors); an interruption exits with 130. Arguments are checked before CIFAR-10 is loaded. Anything
else that escapes is a bug in lrkit and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .cliargs import (
    _at_least_2,
    _check_out_dir,
    _choice,
    _device,
    _device_arg,
    _nonneg_float,
    _nonneg_int,
    _one_line,
    _Parser,
    _positive_float,
    _positive_int,
)
from .recipe.quickstart import QUICKSTART_OPTIMIZERS as OPTIMIZERS

__all__ = ["build_parser", "main"]

#: CIFAR-10's images per class (train, test): bounds for the per-class sizes, checked before loading
TRAIN_PER_CLASS, TEST_PER_CLASS = 5000, 1000


def _run_dir(out: str, prefix: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(out) / f"{prefix}-{stamp}"
    n = 1
    while path.exists():  # never overwrite an earlier run
        n += 1
        path = Path(out) / f"{prefix}-{stamp}-{n}"
    path.mkdir(parents=True)
    return path


def _make_optimizer(name: str, model, lr: float, weight_decay: float):
    from .training import make_optimizer

    return make_optimizer({**OPTIMIZERS[name], "lr": lr, "weight_decay": weight_decay}, model)


def _check_sizes(args: argparse.Namespace) -> None:
    """Per-class sizes against CIFAR-10's 5,000 training / 1,000 test images per class."""
    n = getattr(args, "n_per_class", None)
    val = getattr(args, "val_per_class", None) or 0
    test = getattr(args, "test_per_class", None)
    if val >= TRAIN_PER_CLASS:
        raise ValueError(f"--val-per-class must be < {TRAIN_PER_CLASS} (CIFAR-10 has {TRAIN_PER_CLASS} "
                         f"training images per class), got {val}")
    if n is not None and n + val > TRAIN_PER_CLASS:
        what = f"--n-per-class + --val-per-class ({n} + {val})" if val else f"--n-per-class ({n})"
        raise ValueError(f"{what} must be <= {TRAIN_PER_CLASS}, CIFAR-10's training images per class")
    if test is not None and test > TEST_PER_CLASS:
        raise ValueError(f"--test-per-class must be <= {TEST_PER_CLASS} (CIFAR-10's test images per class), "
                         f"got {test}")


# --------------------------------------------------------------------------------------------------
def cmd_quickstart(args: argparse.Namespace) -> int:
    """Range test, then one-cycle training at the peak it suggests (lrkit.recipe.quickstart); files under runs/.
    With ``--target`` the fast recipe of :mod:`lrkit.recipe` runs instead (all of CIFAR-10)."""
    if args.target is not None:
        return _quickstart_target(args)
    _check_sizes(args)
    _check_out_dir(args.out)

    import torch

    from .data import load_cifar10
    from .plot import plot_history
    from .recipe import quickstart, write_run
    from .utils import versions

    t0 = time.perf_counter()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    device = _device(args.device)
    cifar = load_cifar10(args.data_dir)
    res = quickstart(cifar, model=args.model, optimizer=args.optimizer, weight_decay=args.weight_decay,
                     batch_size=args.batch_size, n_per_class=args.n_per_class, test_per_class=args.test_per_class,
                     epochs=args.epochs, find_iters=args.find_iters, seed=args.seed, device=device,
                     progress=not args.no_progress)
    rt, sug, L = res.range_test, res.suggestion, res.loaders
    print(f"CIFAR-10 from {cifar.source}: {L.train.num_examples} training images, "
          f"{L.test.num_examples} test images, device {device}")
    uses = rt.for_uses()
    print(f"range test: {len(rt)} points ({rt.reason}); suggestions: "
          + ", ".join(f"{u} {s.lr:.3g} [{s.low:.3g}, {s.high:.3g}]" for u, s in uses.items()))
    print(f"trained {args.epochs} epochs of one-cycle with max_lr {res.max_lr:.3g} (the one-cycle rule "
          f"{sug.rule}, interval {sug.low:.3g}–{sug.high:.3g})")
    final = res.final
    run = _run_dir(args.out, "quickstart")
    config = {k: v for k, v in vars(args).items() if k != "func"} | {"device": device}
    summary = {
        "command": "quickstart", "config": config, "versions": versions(),
        "data_source": cifar.source, "train_images": L.train.num_examples, "test_images": L.test.num_examples,
        "suggestions": {u: {"lr": s.lr, "low": s.low, "high": s.high, "rule": s.rule} for u, s in uses.items()},
        "max_lr": res.max_lr, "iterations": len(res.history), "final_test": final,
        "wall_seconds": round(time.perf_counter() - t0, 2),
    }
    write_run(run, range_test=rt, history=res.history, summary=summary,
              figure=plot_history(res.history, title=f"one-cycle, max_lr {res.max_lr:.3g}"))
    print(f"test accuracy after {args.epochs} epochs: {100 * final['acc']:.2f} % (loss {final['loss']:.4f})")
    print(f"wrote {run / 'range_test.png'}, {run / 'training.png'} and {run / 'summary.json'}")
    return 0


def cmd_find(args: argparse.Namespace) -> int:
    """The LR range test on CIFAR-10."""
    if not args.start_lr < args.end_lr:
        raise ValueError(f"--start-lr must be < --end-lr, got --start-lr {args.start_lr:g} "
                         f">= --end-lr {args.end_lr:g}")
    _check_sizes(args)
    _check_out_dir(args.out)

    from . import data as D
    from . import models as M
    from .rangetest import lr_find
    from .utils import seed_everything

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
    rt.save(run / "range_test.json")
    print(f"{args.model} / {args.optimizer}, {len(rt)} points"
          + (f" (stopped early: {rt.reason})" if rt.stopped_early else ""))
    for use, s in rt.for_uses().items():  # the suggestion for each use (the first is the default)
        base = f"; base_lr {s.base_lr:.3g}" if s.base_lr else ""
        print(f"  {use:>9}: {s.lr:.3g}  [{s.low:.3g}, {s.high:.3g}]  (rule {s.rule}{base})")
    print("  other rules: " + ", ".join(f"{m} {s.lr:.3g}" for m, s in rt.suggestions().items()))
    print(f"wrote {run / 'range_test.png'} and {run / 'range_test.json'}")
    return 0


def _quickstart_target(args: argparse.Namespace) -> int:
    """lrkit quickstart --target T: lrkit.recipe.train_recipe on all of CIFAR-10, files under --out."""
    _check_out_dir(args.out)
    from .data import load_cifar10
    from .recipe import train_recipe, write_recipe_run
    from .recipe.output import fmt_time

    device = _device(args.device)
    cifar = load_cifar10(args.data_dir)
    res = train_recipe(args.target, cifar, seed=args.seed, device=device, progress=not args.no_progress)
    run = _run_dir(args.out, f"quickstart{args.target}")
    write_recipe_run(res, run)
    s, val = res.seconds, res.final_val
    print(f"recipe {args.target} on {res.info['train_images']} training images ({res.info['val_images']} held out "
          f"for validation), device {device}, {res.info['threads']} threads; peak LR {res.peak_lr:.3g} "
          f"from {res.peak_source}")
    print(f"time to {args.target} %: {fmt_time(res.time_to_target)}; seconds: range test {s['range_test']:.0f}, "
          f"training {s['training']:.0f}, final evaluation {s['final_eval']:.0f}, total {s['total']:.0f}; "
          f"{res.flops['total'] / 1e15:.3f} PFLOP")
    print(f"final test accuracy (all {res.final_test['n']} images, TTA): {100 * res.final_test['acc']:.2f} %"
          + (f"; validation {100 * val['acc']:.2f} %" if val else ""))
    print(f"wrote {run / 'range_test.png'}, {run / 'training.png'} and {run / 'summary.json'}")
    return 0


def _parse_value(s: str) -> Any:
    from .utils import loads

    try:
        return loads(s)
    except ValueError:  # not JSON: the plain string (e.g. mode=triangular2)
        return s


def parse_params(pairs: Iterable[str]) -> dict[str, Any]:
    """``["k=v", …]`` → ``{k: JSON value of v (else the string v)}``; a malformed pair is a ValueError."""
    params: dict[str, Any] = {}
    for kv in pairs:
        if "=" not in kv:
            raise ValueError(f"parameters are key=value, got {kv!r}")
        k, v = kv.split("=", 1)
        k = k.strip()
        if not k.isidentifier():
            raise ValueError(f"parameter name {k!r} (in {kv!r}) is not a valid name")
        if k == "name":
            raise ValueError(f"parameter 'name' is taken by the schedule KIND, got {kv!r}")
        if k in params:
            raise ValueError(f"parameter {k!r} is given twice")
        if v == "":
            raise ValueError(f"parameter {k!r} has no value (got {kv!r})")
        params[k] = _parse_value(v)
    return params


def _check_image_path(path: str, option: str) -> None:
    from matplotlib.backend_bases import FigureCanvasBase

    suffix = Path(path).suffix.lower().lstrip(".")
    types = FigureCanvasBase.get_supported_filetypes()
    if suffix and suffix not in types:
        raise ValueError(f"{option} {path}: matplotlib cannot write {suffix!r} files; use one of "
                         + ", ".join(sorted(types)))
    _check_out_dir(str(Path(path).parent) or ".", option)
    if Path(path).is_dir():
        raise ValueError(f"{option} {path} is a folder; give a file name such as {Path(path) / 'schedule.png'}")


def cmd_schedule(args: argparse.Namespace) -> int:
    """Plot a schedule given as KIND key=value …"""
    _check_image_path(args.output, "-o/--output")
    params = parse_params(args.params)

    from .plot import plot_schedule
    from .schedules import from_config

    sched = from_config({"name": args.kind, **params})
    steps = args.steps or sched.total_steps
    if steps is None:
        raise ValueError(f"{args.kind} has no end (total_steps is None); give --steps")
    if args.momentum and sched.momentum_schedule() is None:
        raise ValueError(f"--momentum: {args.kind} has no momentum schedule")
    fig = plot_schedule({args.kind: sched}, total_steps=steps, momentum=args.momentum, log_y=args.log_y)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    print(f"wrote {out}")
    return 0


def _executor_options(pairs: Iterable[str] | None) -> dict[str, Any]:
    """``--executor-option key=value`` pairs → ``{key: JSON value of value (else the string)}``."""
    options: dict[str, Any] = {}
    for kv in pairs or ():
        k, sep, v = kv.partition("=")
        if not sep or not k.strip().isidentifier() or not v:
            raise ValueError(f"--executor-option takes key=value (e.g. slurm_partition=gpu), got {kv!r}")
        if k.strip() in options:
            raise ValueError(f"--executor-option {k.strip()!r} is given twice")
        options[k.strip()] = _parse_value(v)
    return options


def cmd_bench(args: argparse.Namespace) -> int:
    """lrkit bench list | run NAME | report"""
    from .bench import EXPERIMENTS, SCALES, get_experiment, report, run_experiment

    if args.bench_command == "list":
        for name, exp in EXPERIMENTS.items():
            print(f"{name}: {exp.title}")
            for scale in SCALES:
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
        from .utils import did_you_mean

        exp = get_experiment(args.name)
        names = [r.name for r in exp.runs(args.scale)]
        unknown = [n for n in args.only or () if n not in names]
        if unknown:
            raise ValueError(f"--only: {args.name}/{args.scale} has no run(s) {unknown}"
                             + did_you_mean(unknown[0], names) + f"; its runs: {', '.join(names)}")
        _check_out_dir(args.out)
        from .bench.executors import check_executor

        if args.executor == "serial" and (args.workers or args.threads_per_worker):
            raise ValueError("--workers and --threads-per-worker need a parallel --executor (local, submitit, "
                             "ray); the serial executor trains here, with --threads torch threads")
        options = _executor_options(args.executor_option)
        check_executor(args.executor, workers=args.workers, threads=args.threads_per_worker, **options)
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        summary = run_experiment(args.name, args.scale, out=args.out, data_dir=args.data_dir,
                                 device=args.device, seeds=args.seeds, only=args.only,
                                 progress=not args.no_progress, executor=args.executor, workers=args.workers,
                                 threads=args.threads_per_worker, executor_options=options)
        print(f"{args.name}/{args.scale}: {len(summary.results)} results in {summary.seconds:.0f} s "
              f"under {args.out}")
        return 0
    if args.bench_command == "report":
        for name in args.experiments:
            get_experiment(name)
        if args.headline:
            _check_image_path(args.headline, "--headline")
        text = report(args.out, experiments=args.experiments or None, headline=args.headline)
        print(text)
        return 0
    raise AssertionError(f"unhandled bench command {args.bench_command!r}")  # pragma: no cover


# --------------------------------------------------------------------------------------------------
def _add_data_args(p: argparse.ArgumentParser, out: str = "runs") -> None:
    p.add_argument("--data-dir", default=None, help="folder holding cifar-10-batches-py (None: $LRKIT_DATA_DIR, "
                   "else the cache, else download)")
    p.add_argument("--device", type=_device_arg, default=None,
                   help="cpu, cuda, cuda:1, mps (None: cuda if available, else cpu)")
    p.add_argument("--seed", type=_nonneg_int, default=0, help="random seed (>= 0)")
    p.add_argument("--out", default=out, help="folder for results")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _add_model_args(p: argparse.ArgumentParser, model: str) -> None:
    from .models import MODELS

    p.add_argument("--model", default=model, type=_choice(MODELS), choices=list(MODELS), metavar="MODEL",
                   help=f"a model of lrkit.models: {', '.join(MODELS)}")
    p.add_argument("--optimizer", default="sgd", type=_choice(OPTIMIZERS), choices=list(OPTIMIZERS),
                   help="sgd: Nesterov momentum 0.9; caffe-sgd: Caffe's SGD with the net's LR multipliers")
    p.add_argument("--weight-decay", type=_nonneg_float, default=5e-4, help="weight decay (>= 0)")
    p.add_argument("--batch-size", type=_positive_int, default=128, help="training batch size")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .bench.spec import SCALES

    parser = _Parser(prog="lrkit", description="Learning rates, taught and measured.")
    parser.add_argument("--version", action="version", version=f"lrkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text)

    q = command("quickstart", "range test + short one-cycle training on CIFAR-10")
    _add_data_args(q)
    _add_model_args(q, "fastnet")
    q.add_argument("--n-per-class", type=_positive_int, default=1000,
                   help=f"training images per class (<= {TRAIN_PER_CLASS})")
    q.add_argument("--test-per-class", type=_positive_int, default=1000,
                   help=f"test images per class (<= {TEST_PER_CLASS})")
    q.add_argument("--epochs", type=_positive_int, default=3, help="epochs of one-cycle training")
    q.add_argument("--find-iters", type=_at_least_2, default=100, help="iterations of the range test (>= 2)")
    q.add_argument("--target", type=int, choices=[85, 90, 94], default=None,
                   help="run the fast recipe for this test accuracy (%%) on all of CIFAR-10 (lrkit.recipe); "
                   "the model/size/epoch options above are then the recipe's")
    q.set_defaults(func=cmd_quickstart)

    f = command("find", "the LR range test on CIFAR-10")
    _add_data_args(f)
    _add_model_args(f, "caffe_cifar10_full")
    f.add_argument("--n-per-class", type=_positive_int, default=None,
                   help=f"training images per class (None: all, {TRAIN_PER_CLASS})")
    f.add_argument("--start-lr", type=_positive_float, default=1e-5, help="first LR of the sweep (> 0)")
    f.add_argument("--end-lr", type=_positive_float, default=10.0, help="last LR of the sweep (> --start-lr)")
    f.add_argument("--num-iter", type=_at_least_2, default=100, help="points of the sweep (>= 2)")
    f.add_argument("--mode", default="exp", type=_choice(("exp", "linear")), choices=["exp", "linear"],
                   help="exponential or linear LR ramp")
    f.add_argument("--val-per-class", type=_positive_int, default=None,
                   help="hold out this many training images per class and use validation loss")
    f.add_argument("--val-batches", type=_positive_int, default=2,
                   help="validation batches per point (with --val-per-class)")
    f.set_defaults(func=cmd_find)

    s = command("schedule", "plot a schedule: lrkit schedule OneCycle max_lr=0.1 total_steps=1000")
    s.add_argument("kind", help="a schedule class of lrkit.schedules (OneCycle, Cyclic, CosineWarmRestarts, …) "
                   "or module:Class")
    s.add_argument("params", nargs="*", default=[],
                   help="constructor arguments as key=value (values parsed as JSON, else taken as strings)")
    s.add_argument("--steps", type=_positive_int, default=None,
                   help="iterations to plot (None: the schedule's total_steps)")
    s.add_argument("--momentum", action="store_true", help="also plot the momentum schedule")
    s.add_argument("--log-y", action="store_true", help="logarithmic LR axis")
    s.add_argument("-o", "--output", default="runs/schedule.png", help="image file to write")
    s.set_defaults(func=cmd_schedule)

    b = command("bench", "reproduce the papers' CIFAR-10 results: list | run NAME | report")
    bsub = b.add_subparsers(dest="bench_command", required=True, metavar="BENCH_COMMAND")

    def bench_command(name: str, text: str) -> argparse.ArgumentParser:
        return bsub.add_parser(name, help=text, description=text)

    bench_command("list", "the experiments and their scales")
    br = bench_command("run", "run one experiment (resumes; never overwrites other configs' results)")
    br.add_argument("name", help="an experiment (see lrkit bench list)")
    br.add_argument("--scale", default="smoke", type=_choice(SCALES), choices=SCALES,
                    help="smoke: CI; lite: about an hour; full: all of CIFAR-10, schedule scaled; paper: the protocol")
    br.add_argument("--seeds", type=_positive_int, default=None, help="number of seeds (None: the experiment's)")
    br.add_argument("--only", nargs="+", default=None, help="only these runs of the experiment")
    br.add_argument("--out", default="runs/bench", help="folder for results")
    br.add_argument("--data-dir", default=None, help="folder holding cifar-10-batches-py (None: $LRKIT_DATA_DIR, "
                    "else the cache, else download)")
    br.add_argument("--device", type=_device_arg, default=None,
                    help="cpu, cuda, cuda:1, mps (None: cuda if available, else cpu)")
    br.add_argument("--threads", type=_positive_int, default=None,
                    help="torch CPU threads of this process (None: torch's)")
    br.add_argument("--executor", default="serial", type=_choice(("serial", "local", "submitit", "ray")),
                    choices=["serial", "local", "submitit", "ray"],
                    help="where the runs train: here one after another, a local process pool, submitit "
                    "(Slurm, else local jobs) or Ray (docs/scaling.md)")
    br.add_argument("--workers", type=_positive_int, default=None,
                    help="worker processes / jobs in flight (None: the CPUs here, at most one per run)")
    br.add_argument("--threads-per-worker", type=_positive_int, default=None,
                    help="torch threads of each worker (None: CPUs // workers)")
    br.add_argument("--executor-option", action="append", default=None, metavar="KEY=VALUE",
                    help="an option of the executor, repeatable: submitit's (timeout_min=120, "
                    "slurm_partition=gpu, gpus_per_node=1, cluster=local, folder=…), ray's (address=…, num_gpus=1)")
    br.add_argument("--no-progress", action="store_true", help="no progress bars")
    bp = bench_command("report", "figures + markdown table from the results under --out")
    bp.add_argument("experiments", nargs="*", default=[], help="experiments to report (none: all)")
    bp.add_argument("--out", default="runs/bench", help="folder holding the results")
    bp.add_argument("--headline", default=None, help="also save the headline figure (README) here")
    b.set_defaults(func=cmd_bench)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that are the user's (bad input, data, benchmark folder), not lrkit's bugs."""
    errors: list[type[BaseException]] = [ValueError, OSError]  # DataNotFoundError is an OSError
    for mod in ("lrkit.bench.runner", "lrkit.bench.store"):
        m = sys.modules.get(mod)  # only if already imported: importing bench here could fail itself
        cls = getattr(m, "BenchError", None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            errors.append(cls)
    return tuple(errors)


def main(argv: list[str] | None = None) -> int:
    """Run the ``lrkit`` command; returns the exit status (argparse's own errors exit with 2)."""
    import os

    os.environ.setdefault("MPLBACKEND", "Agg")
    parser = build_parser()
    args = parser.parse_args(argv)
    name = args.command + (f" {args.bench_command}" if args.command == "bench" else "")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"lrkit {name}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if not isinstance(e, _user_errors()):
            raise
        print(f"lrkit {name}: {_one_line(str(e)) or type(e).__name__}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
