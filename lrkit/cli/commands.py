"""The ``lrkit`` commands: ``quickstart``, ``find``, ``schedule`` and ``bench`` (list | run | report).

Each ``cmd_*`` takes the parsed arguments (:func:`lrkit.cli.build_parser`) and returns the exit status;
arguments are checked before CIFAR-10 is loaded.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..recipe.quickstart import QUICKSTART_OPTIMIZERS
from .args import check_out_dir

__all__ = ["TEST_PER_CLASS", "TRAIN_PER_CLASS", "cmd_bench", "cmd_find", "cmd_quickstart", "cmd_schedule",
           "parse_params"]

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
    from ..training import make_optimizer

    return make_optimizer({**QUICKSTART_OPTIMIZERS[name], "lr": lr, "weight_decay": weight_decay}, model)


def _device(name: str | None) -> str:
    """The device to run on, as the command prints and records it (``"cpu"``, ``"cuda"``, …)."""
    from ..training.runtime import default_device

    return str(default_device(name))


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
    if args.recipe_set:
        raise ValueError("--set replaces entries of the fast recipe: it needs --target 85|90|94")
    _check_sizes(args)
    check_out_dir(args.out)

    import torch

    from ..data import load_cifar10
    from ..plot import plot_history
    from ..recipe import quickstart, write_run
    from ..utils import versions

    t0 = time.perf_counter()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    device = _device(args.device)
    cifar = load_cifar10(args.data_dir)
    res = quickstart(cifar, model=args.model, optimizer=args.optimizer, weight_decay=args.weight_decay,
                     batch_size=args.batch_size, n_per_class=args.n_per_class, test_per_class=args.test_per_class,
                     epochs=args.epochs, find_iters=args.find_iters, seed=args.seed, device=device,
                     progress=not args.no_progress)
    rt, sug, L = res.range_test, res.suggestion, res.loaders
    print(f"CIFAR-10 from {cifar.folder}: {L.train.num_examples} training images, "
          f"{L.test.num_examples} test images, device {device}")
    uses = rt.for_uses()
    print(f"range test: {len(rt)} points ({rt.reason}), regime {sug.regime}; suggestions: "
          + ", ".join(f"{u} {s.lr:.3g} [{s.low:.3g}, {s.high:.3g}]" for u, s in uses.items()))
    if not sug.pinned:
        print(f"  {sug.status}: the curve does not pin the LR down — {sug.reason}")
    print(f"trained {args.epochs} epochs of one-cycle with max_lr {res.max_lr:.3g} (the one-cycle peak: "
          f"{sug.rule}; interval {sug.low:.3g}–{sug.high:.3g})")
    final = res.final
    run = _run_dir(args.out, "quickstart")
    config = {k: v for k, v in vars(args).items() if k != "func"} | {"device": device}
    summary = {
        "command": "quickstart", "config": config, "versions": versions(),
        "data_source": cifar.source, "train_images": L.train.num_examples, "test_images": L.test.num_examples,
        "suggestions": {u: {"lr": s.lr, "low": s.low, "high": s.high, "rule": s.rule, "status": s.status,
                            "regime": s.regime} for u, s in uses.items()},
        "max_lr": res.max_lr, "iterations": len(res.history), "final_test": final,
        "wall_seconds": round(time.perf_counter() - t0, 2),
    }
    write_run(run, range_test=rt, history=res.history, summary=summary,
              figure=plot_history(res.history, title=f"one-cycle, max_lr {res.max_lr:.3g}"), used=sug)
    print(f"test accuracy after {args.epochs} epochs: {100 * final['acc']:.2f} % (loss {final['loss']:.4f})")
    print(f"wrote {run / 'range_test.png'}, {run / 'training.png'} and {run / 'summary.json'}")
    return 0


def cmd_find(args: argparse.Namespace) -> int:
    """The LR range test on CIFAR-10."""
    if not args.start_lr < args.end_lr:
        raise ValueError(f"--start-lr must be < --end-lr, got --start-lr {args.start_lr:g} "
                         f">= --end-lr {args.end_lr:g}")
    _check_sizes(args)
    check_out_dir(args.out)

    from .. import data as D
    from .. import models as M
    from ..rangetest import lr_find
    from ..utils import seed_everything

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
    uses = rt.for_uses()
    rt.plot(used=uses["constant"]).savefig(run / "range_test.png", dpi=110, bbox_inches="tight")
    rt.save(run / "range_test.json")
    print(f"{args.model} / {args.optimizer}, {len(rt)} points"
          + (f" (stopped early: {rt.reason})" if rt.stopped_early else "") + f"; regime: {uses['constant'].regime}")
    for use, s in uses.items():  # the suggestion for each use (the first is the default)
        base = f"; base_lr {s.base_lr:.3g}" if s.base_lr else ""
        print(f"  {use:>9}: {s.lr:.3g}  [{s.low:.3g}, {s.high:.3g}]  ({s.status}{base})")
    if not uses["constant"].pinned:
        print(f"  the curve does not pin the LR down — {uses['constant'].reason}")
    print("  other rules: " + ", ".join(f"{m} {s.lr:.3g}" for m, s in rt.suggestions().items()))
    print(f"wrote {run / 'range_test.png'} and {run / 'range_test.json'}")
    return 0


def _quickstart_target(args: argparse.Namespace) -> int:
    """lrkit quickstart --target T: lrkit.recipe.train_recipe on all of CIFAR-10, files under --out."""
    check_out_dir(args.out)
    from ..data import load_cifar10
    from ..recipe import recipe_config, train_recipe, write_recipe_run
    from ..recipe.output import fmt_time

    overrides = _recipe_overrides(args.target, args.recipe_set, recipe_config)
    device = _device(args.device)
    cifar = load_cifar10(args.data_dir)
    res = train_recipe(args.target, cifar, seed=args.seed, device=device, overrides=overrides,
                       progress=not args.no_progress)
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


def _recipe_overrides(target: int, pairs: list[str], recipe_config) -> dict[str, Any]:
    """``--set`` pairs as recipe overrides, checked against the recipe's entries (ValueError naming ``--set``)."""
    try:
        overrides = {k: v for kv in pairs for k, v in [_split_pair(kv)]}
        if len(overrides) != len(pairs):
            raise ValueError("a key is given twice")
        recipe_config(target, overrides)
    except ValueError as e:
        raise ValueError(f"--set: {e}") from None
    return overrides


def _split_pair(kv: str) -> tuple[str, Any]:
    if "=" not in kv or not kv.split("=", 1)[0].strip() or not kv.split("=", 1)[1]:
        raise ValueError(f"entries are KEY=VALUE, got {kv!r}")
    k, v = kv.split("=", 1)
    return k.strip(), _parse_value(v)


def _parse_value(s: str) -> Any:
    from ..utils import loads

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
    check_out_dir(str(Path(path).parent) or ".", option)
    if Path(path).is_dir():
        raise ValueError(f"{option} {path} is a folder; give a file name such as {Path(path) / 'schedule.png'}")


def cmd_schedule(args: argparse.Namespace) -> int:
    """Plot a schedule given as KIND key=value …"""
    _check_image_path(args.output, "-o/--output")
    params = parse_params(args.params)

    from ..plot import plot_schedule
    from ..schedules import from_config

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
    run = {"list": _bench_list, "run": _bench_run, "report": _bench_report, "quotes": _bench_quotes}.get(
        args.bench_command)
    if run is None:  # pragma: no cover
        raise AssertionError(f"unhandled bench command {args.bench_command!r}")
    return run(args)


def _bench_quotes(args: argparse.Namespace) -> int:
    """Check (or rewrite) the numbers the documents quote from the committed results."""
    from ..bench import quotes

    files = args.files or quotes.documents()
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise ValueError(f"files: {missing[0]} is not a file")
    if args.fix:
        print(f"{quotes.fix(files)} quoted numbers rewritten in {len(files)} documents")
        return 0
    bad = quotes.check(files)
    for m in bad:
        print(m)
    print(f"{len(quotes.quoted(files))} quoted numbers in {len(files)} documents, {len(bad)} differ from the results")
    return 1 if bad else 0


def _bench_list(args: argparse.Namespace) -> int:
    """Every experiment with its runs and iterations at each scale."""
    from ..bench import EXPERIMENTS, SCALES

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


def _bench_run(args: argparse.Namespace) -> int:
    """Run one experiment at one scale (every argument checked before the data is loaded)."""
    from ..bench import get_experiment, run_experiment
    from ..bench.executors import check_executor
    from ..utils import did_you_mean

    exp = get_experiment(args.name)
    names = [r.name for r in exp.runs(args.scale)]
    unknown = [n for n in args.only or () if n not in names]
    if unknown:
        raise ValueError(f"--only: {args.name}/{args.scale} has no run(s) {unknown}"
                         + did_you_mean(unknown[0], names) + f"; its runs: {', '.join(names)}")
    check_out_dir(args.out)
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


def _bench_report(args: argparse.Namespace) -> int:
    """Figures and the markdown report of the results under ``--out``."""
    from ..bench import get_experiment, report

    for name in args.experiments:
        get_experiment(name)
    if args.headline:
        _check_image_path(args.headline, "--headline")
    print(report(args.out, experiments=args.experiments or None, headline=args.headline))
    return 0
