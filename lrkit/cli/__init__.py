"""The ``lrkit`` command: the parser and :func:`main` here, the commands in :mod:`lrkit.cli.commands`,
the argument types in :mod:`lrkit.cli.args`.

::

    lrkit quickstart          range test + one-cycle training on CIFAR-10, figure + JSON under runs/
    lrkit find                the LR range test on CIFAR-10: prints suggestions, saves the figure
    lrkit schedule KIND k=v   plot any schedule of lrkit.schedules (e.g. OneCycle max_lr=0.1 total_steps=1000)
    lrkit bench list | run NAME [--scale smoke|lite|full|paper] | report | quotes [--fix]

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
from typing import Any

from ..recipe.quickstart import QUICKSTART_OPTIMIZERS as OPTIMIZERS
from .args import (
    Parser,
    at_least_2,
    choice,
    device_arg,
    nonneg_float,
    nonneg_int,
    one_line,
    positive_float,
    positive_int,
)
from .commands import TEST_PER_CLASS, TRAIN_PER_CLASS, cmd_bench, cmd_find, cmd_quickstart, cmd_schedule, parse_params

__all__ = ["build_parser", "main", "parse_params"]


# --------------------------------------------------------------------------------------------------
def _add_data_args(p: argparse.ArgumentParser, out: str = "runs") -> None:
    p.add_argument("--data-dir", default=None, help="folder holding cifar-10-batches-py (None: $LRKIT_DATA_DIR, "
                   "else the cache, else download)")
    p.add_argument("--device", type=device_arg, default=None,
                   help="cpu, cuda, cuda:1, mps (None: cuda if available, else cpu)")
    p.add_argument("--seed", type=nonneg_int, default=0, help="random seed (>= 0)")
    p.add_argument("--out", default=out, help="folder for results")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _add_model_args(p: argparse.ArgumentParser, model: str) -> None:
    from ..models import MODELS

    p.add_argument("--model", default=model, type=choice(MODELS), choices=list(MODELS), metavar="MODEL",
                   help=f"a model of lrkit.models: {', '.join(MODELS)}")
    p.add_argument("--optimizer", default="sgd", type=choice(OPTIMIZERS), choices=list(OPTIMIZERS),
                   help="sgd: Nesterov momentum 0.9; caffe-sgd: Caffe's SGD with the net's LR multipliers")
    p.add_argument("--weight-decay", type=nonneg_float, default=5e-4, help="weight decay (>= 0)")
    p.add_argument("--batch-size", type=positive_int, default=128, help="training batch size")


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``lrkit``: one subparser per command (``--help`` shows every default)."""
    from .. import __version__

    parser = Parser(prog="lrkit", description="Learning rates, taught and measured.")
    parser.add_argument("--version", action="version", version=f"lrkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_quickstart_parser, _find_parser, _schedule_parser, _bench_parser):
        add(sub)
    return parser


def _command(sub: Any, name: str, text: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=text, description=text)


def _quickstart_parser(sub: Any) -> None:
    q = _command(sub, "quickstart", "range test + short one-cycle training on CIFAR-10")
    _add_data_args(q)
    _add_model_args(q, "fastnet")
    q.add_argument("--n-per-class", type=positive_int, default=1000,
                   help=f"training images per class (<= {TRAIN_PER_CLASS})")
    q.add_argument("--test-per-class", type=positive_int, default=1000,
                   help=f"test images per class (<= {TEST_PER_CLASS})")
    q.add_argument("--epochs", type=positive_int, default=3, help="epochs of one-cycle training")
    q.add_argument("--find-iters", type=at_least_2, default=100, help="iterations of the range test (>= 2)")
    q.add_argument("--target", type=int, choices=[85, 90, 94], default=None,
                   help="run the fast recipe for this test accuracy (%%) on all of CIFAR-10 (lrkit.recipe); "
                   "the model/size/epoch options above are then the recipe's")
    q.add_argument("--set", dest="recipe_set", nargs="+", default=[], metavar="KEY=VALUE",
                   help="with --target: replace recipe entries (lrkit.recipe.RECIPES), e.g. --set airbench=1 "
                   "tta=2 (values as JSON, else strings)")
    q.set_defaults(func=cmd_quickstart)



def _find_parser(sub: Any) -> None:
    f = _command(sub, "find", "the LR range test on CIFAR-10")
    _add_data_args(f)
    _add_model_args(f, "caffe_cifar10_full")
    f.add_argument("--n-per-class", type=positive_int, default=None,
                   help=f"training images per class (None: all, {TRAIN_PER_CLASS})")
    f.add_argument("--start-lr", type=positive_float, default=1e-5, help="first LR of the sweep (> 0)")
    f.add_argument("--end-lr", type=positive_float, default=10.0, help="last LR of the sweep (> --start-lr)")
    f.add_argument("--num-iter", type=at_least_2, default=100, help="points of the sweep (>= 2)")
    f.add_argument("--mode", default="exp", type=choice(("exp", "linear")), choices=["exp", "linear"],
                   help="exponential or linear LR ramp")
    f.add_argument("--val-per-class", type=positive_int, default=None,
                   help="hold out this many training images per class and use validation loss")
    f.add_argument("--val-batches", type=positive_int, default=2,
                   help="validation batches per point (with --val-per-class)")
    f.set_defaults(func=cmd_find)



def _schedule_parser(sub: Any) -> None:
    s = _command(sub, "schedule", "plot a schedule: lrkit schedule OneCycle max_lr=0.1 total_steps=1000")
    s.add_argument("kind", help="a schedule class of lrkit.schedules (OneCycle, Cyclic, CosineWarmRestarts, …) "
                   "or module:Class")
    s.add_argument("params", nargs="*", default=[],
                   help="constructor arguments as key=value (values parsed as JSON, else taken as strings)")
    s.add_argument("--steps", type=positive_int, default=None,
                   help="iterations to plot (None: the schedule's total_steps)")
    s.add_argument("--momentum", action="store_true", help="also plot the momentum schedule")
    s.add_argument("--log-y", action="store_true", help="logarithmic LR axis")
    s.add_argument("-o", "--output", default="runs/schedule.png", help="image file to write")
    s.set_defaults(func=cmd_schedule)



def _bench_parser(sub: Any) -> None:
    from ..bench.spec import SCALES

    b = _command(sub, "bench", "reproduce the papers' CIFAR-10 results: list | run NAME | report")
    bsub = b.add_subparsers(dest="bench_command", required=True, metavar="BENCH_COMMAND")

    def bench_command(name: str, text: str) -> argparse.ArgumentParser:
        return bsub.add_parser(name, help=text, description=text)

    bench_command("list", "the experiments and their scales")
    br = bench_command("run", "run one experiment (resumes; never overwrites other configs' results)")
    br.add_argument("name", help="an experiment (see lrkit bench list)")
    br.add_argument("--scale", default="smoke", type=choice(SCALES), choices=SCALES,
                    help="smoke: CI; lite: about an hour; full: all of CIFAR-10, schedule scaled; paper: the protocol")
    br.add_argument("--seeds", type=positive_int, default=None, help="number of seeds (None: the experiment's)")
    br.add_argument("--only", nargs="+", default=None, help="only these runs of the experiment")
    br.add_argument("--out", default="runs/bench", help="folder for results")
    br.add_argument("--data-dir", default=None, help="folder holding cifar-10-batches-py (None: $LRKIT_DATA_DIR, "
                    "else the cache, else download)")
    br.add_argument("--device", type=device_arg, default=None,
                    help="cpu, cuda, cuda:1, mps (None: cuda if available, else cpu)")
    br.add_argument("--threads", type=positive_int, default=None,
                    help="torch CPU threads of this process (None: torch's)")
    br.add_argument("--executor", default="serial", type=choice(("serial", "local", "submitit", "ray")),
                    choices=["serial", "local", "submitit", "ray"],
                    help="where the runs train: here one after another, a local process pool, submitit "
                    "(Slurm, else local jobs) or Ray (docs/scaling.md)")
    br.add_argument("--workers", type=positive_int, default=None,
                    help="worker processes / jobs in flight (None: the CPUs here, at most one per run)")
    br.add_argument("--threads-per-worker", type=positive_int, default=None,
                    help="torch threads of each worker (None: CPUs // workers)")
    br.add_argument("--executor-option", action="append", default=None, metavar="KEY=VALUE",
                    help="an option of the executor, repeatable: submitit's (timeout_min=120, "
                    "slurm_partition=gpu, gpus_per_node=1, cluster=local, folder=…), ray's (address=…, num_gpus=1)")
    br.add_argument("--no-progress", action="store_true", help="no progress bars")
    bp = bench_command("report", "figures + markdown table from the results under --out")
    bp.add_argument("experiments", nargs="*", default=[], help="experiments to report (none: all)")
    bp.add_argument("--out", default="runs/bench", help="folder holding the results")
    bp.add_argument("--headline", default=None, help="also save the headline figure (README) here")
    bq = bench_command("quotes", "check (or --fix) the numbers the documents quote from benchmarks/results")
    bq.add_argument("files", nargs="*", default=[], help="documents (none: README, BENCHMARKS, the notebooks)")
    bq.add_argument("--fix", action="store_true", help="rewrite every quoted number from the results")
    b.set_defaults(func=cmd_bench)


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
        print(f"lrkit {name}: {one_line(str(e)) or type(e).__name__}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
