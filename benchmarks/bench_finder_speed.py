"""Speed of lrkit's LR range test against bare training steps and other LR finders (a script, not a
test: the machine is noisy).

Contenders, all on the same model (lrkit.models.caffe_cifar10_full, same initial weights), the same
pre-generated batches, the same optimizer (torch SGD, momentum 0.9), the same exponential LR ramp
and the same number of optimizer steps, divergence stop off:

- ``bare``: a hand-written loop — set the LR, zero_grad, forward, loss, backward, step, loss.item();
- ``lrkit``: :func:`lrkit.rangetest.lr_find` (includes its in-memory snapshot and exact restore);
- ``torch-lr-finder``, ``fastai``, ``lightning``: each library's own range test, driven by
  ``benchmarks/peers.py`` (each if it imports here).

Runs are interleaved (every repeat runs each contender once, in a rotating order) after one
untimed warm-up each; the table shows the median and the minimum seconds and their ratios to
``bare`` (other jobs on the machine only ever add time, so the minimum is the steadier figure).
Target: lrkit ≤ 1.03 × bare.

    python benchmarks/bench_finder_speed.py                 # 100 iterations, batch 128, 3 repeats
    python benchmarks/bench_finder_speed.py --model small --iters 20 --repeats 1   # quick check

The LR ramp (default 1e-6 → 0.1) stays below the point where this net's loss turns NaN on random
data, so that every contender really runs all iterations (lrkit ends a sweep at a non-finite loss).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/peers.py

import peers  # noqa: E402


def build_model(kind: str) -> nn.Module:
    if kind == "caffe":
        from lrkit.models import caffe_cifar10_full

        return caffe_cifar10_full()
    return nn.Sequential(  # a stand-in small CNN
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 8 * 8, 10))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=["caffe", "small"], default="caffe")
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--start-lr", type=float, default=1e-6)
    ap.add_argument("--end-lr", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--warmup-iters", type=int, default=10, help="iterations of the untimed warm-up")
    ap.add_argument("--skip", nargs="*", default=[], help="contenders to skip")
    args = ap.parse_args()

    from lrkit.rangetest import lr_find

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    batches = [(torch.randn(args.batch, 3, 32, 32), torch.randint(0, 10, (args.batch,)))
               for _ in range(args.iters)]
    model = build_model(args.model)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    loss_fn = nn.CrossEntropyLoss()

    def ramp(n):
        gamma = (args.end_lr / args.start_lr) ** (1 / (n - 1))
        return [args.start_lr * gamma**k for k in range(n)]

    def fresh():
        model.load_state_dict(init)
        return torch.optim.SGD(model.parameters(), lr=args.start_lr, momentum=0.9)

    def run_bare(n_iter: int) -> int:
        opt = fresh()
        model.train()
        n = 0
        for (x, y), lr in zip(batches[:n_iter], ramp(n_iter), strict=True):
            for g in opt.param_groups:
                g["lr"] = lr
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            loss.item()
            n += 1
        return n

    def run_lrkit(n_iter: int) -> int:
        opt = fresh()
        rt = lr_find(model, batches[:n_iter], opt, loss_fn, start_lr=args.start_lr, end_lr=args.end_lr,
                     num_iter=n_iter, diverge_th=None, progress=False)
        return len(rt)

    contenders = {"bare": run_bare, "lrkit": run_lrkit}
    notes = []

    def make_opt(params, lr):
        return torch.optim.SGD(params, lr=lr, momentum=0.9)

    for peer in peers.PEERS:  # torch-lr-finder, fastai, lightning: each if it imports here
        if peer in args.skip:
            continue
        why = peers.available(peer)
        if why:
            notes.append(f"{peer} skipped: {why}")
            continue

        def run_peer(n_iter: int, peer=peer) -> int:
            model.load_state_dict(init)
            sweep = peers.SWEEPS[peer](model, make_opt, loss_fn, batches[:n_iter], args.start_lr, args.end_lr,
                                       diverge=False, suggest=False)
            return sweep.points

        contenders[peer] = run_peer

    for name in list(contenders):
        if name in args.skip:
            contenders.pop(name)

    names = list(contenders)
    times: dict[str, list[float]] = {n: [] for n in names}
    steps: dict[str, int] = {}
    print(f"model={args.model} iters={args.iters} batch={args.batch} repeats={args.repeats} "
          f"threads={torch.get_num_threads()} torch={torch.__version__}", flush=True)
    for name in names:  # untimed warm-up
        try:
            contenders[name](min(args.warmup_iters, args.iters))
        except Exception as e:  # noqa: BLE001 - a foreign library failing is reported, not fatal
            notes.append(f"{name} failed: {type(e).__name__}: {e}")
            contenders.pop(name)
    names = list(contenders)
    for r in range(args.repeats):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            t0 = time.perf_counter()
            steps[name] = contenders[name](args.iters)
            times[name].append(time.perf_counter() - t0)
            print(f"  repeat {r + 1}: {name:16s} {times[name][-1]:7.2f} s", flush=True)

    bare = statistics.median(times["bare"])
    bare_min = min(times["bare"])
    print()
    print(f"| {'contender':16s} | steps | median s | min s  | median / bare | min / bare | runs (s)")
    print(f"|{'-' * 18}|-------|----------|--------|---------------|------------|---------")
    for name in names:
        med, best = statistics.median(times[name]), min(times[name])
        runs = ", ".join(f"{t:.2f}" for t in times[name])
        print(f"| {name:16s} | {steps[name]:5d} | {med:8.2f} | {best:6.2f} | {med / bare:13.3f} | "
              f"{best / bare_min:10.3f} | {runs}")
    print("(load makes runs slower, never faster: on a shared machine the min is the steadier figure)")
    for n in notes:
        print("note:", n)


if __name__ == "__main__":
    main()
