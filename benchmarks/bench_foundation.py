"""Side-by-side speed checks for the foundation (a script, not a test: the machine is noisy).

1. Data: lrkit's in-memory BatchLoader (batched pad-4 crop + flip + normalise on uint8 tensors)
   vs torchvision's standard DataLoader + RandomCrop/RandomHorizontalFlip/ToTensor/Normalize with
   2 workers, on the same CIFAR-10 training images. Images per second; target ≥ 10×.
2. Trainer: lrkit.training.fit vs a hand-written loop (zero_grad, forward, loss, backward, step, loss
   recorded) on the same model, optimizer and pre-made batches. Target overhead ≤ 5 %.
3. Memory layout: lrkit.training.fit with ``channels_last=True`` vs the default contiguous layout, same
   model, optimizer and batches, for each of ``--layout-models`` (what the bench runner, the range
   tests and the recipes use, where it is faster).

Runs alternate between the contenders and report medians.

    python benchmarks/bench_foundation.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def bench_data(cifar, batch_size: int, batches: int, repeats: int) -> None:
    import torchvision.transforms as TT
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset

    from lrkit.data import BatchLoader, make_preprocess

    pre = make_preprocess("channel", cifar.train_x)
    mean = pre.mean.flatten().tolist()
    std = pre.std.flatten().tolist()
    hwc = cifar.train_x.permute(0, 2, 3, 1).numpy()

    class TVData(Dataset):
        tf = TT.Compose([TT.RandomCrop(32, padding=4), TT.RandomHorizontalFlip(), TT.ToTensor(),
                         TT.Normalize(mean, std)])

        def __len__(self):
            return len(hwc)

        def __getitem__(self, i):
            return self.tf(Image.fromarray(hwc[i])), int(cifar.train_y[i])

    def run_tv() -> float:
        dl = DataLoader(TVData(), batch_size=batch_size, shuffle=True, num_workers=2, drop_last=True)
        it = iter(dl)
        next(it)  # workers started
        t = time.perf_counter()
        for _ in range(batches):
            next(it)
        dt = time.perf_counter() - t
        del it
        return batches * batch_size / dt

    def run_lrkit(seed: int) -> float:
        bl = BatchLoader(cifar.train_x, cifar.train_y, batch_size, augment=True, preprocess=pre, seed=seed)
        bl.get_batch(0)
        t = time.perf_counter()
        for i in range(1, batches + 1):
            bl.get_batch(i)
        return batches * batch_size / (time.perf_counter() - t)

    tv, lk = [], []
    for r in range(repeats):
        tv.append(run_tv())
        lk.append(run_lrkit(r))
    mtv, mlk = statistics.median(tv), statistics.median(lk)
    print(f"\n## data: {batches} batches of {batch_size}, {repeats} alternating repeats (median img/s)")
    print("| loader | images/s | × torchvision |")
    print("|---|---:|---:|")
    print(f"| torchvision DataLoader (2 workers, PIL transforms) | {mtv:,.0f} | 1.00 |")
    print(f"| lrkit BatchLoader (batched uint8 gather) | {mlk:,.0f} | {mlk / mtv:.1f} |")


def bench_trainer(cifar, iters: int, repeats: int, model_name: str) -> None:
    from lrkit.data import BatchLoader, make_preprocess
    from lrkit.models import get_model
    from lrkit.training import fit

    pre = make_preprocess("pixel_mean", cifar.train_x)
    bl = BatchLoader(cifar.train_x, cifar.train_y, 100, preprocess=pre, seed=0)
    batches = [bl.get_batch(i) for i in range(iters)]
    torch.manual_seed(0)
    init = get_model(model_name).state_dict()

    def fresh():
        m = get_model(model_name)
        m.load_state_dict(init)
        return m, torch.optim.SGD(m.parameters(), lr=0.001, momentum=0.9, weight_decay=0.004)

    def hand() -> float:
        m, opt = fresh()
        m.train()
        losses = []
        t = time.perf_counter()
        for x, y in batches:
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return time.perf_counter() - t

    def trainer() -> float:
        m, opt = fresh()
        t = time.perf_counter()
        fit(m, opt, batches, iterations=iters, progress=True, desc="fit")
        return time.perf_counter() - t

    hand()  # warm-up (allocator, kernels)
    h, f = [], []
    for _ in range(repeats):
        h.append(hand())
        f.append(trainer())
    mh, mf = statistics.median(h), statistics.median(f)
    print(f"\n## trainer: {model_name}, {iters} iterations of batch 100, {repeats} alternating repeats (median)")
    print("| loop | seconds | × hand-written |")
    print("|---|---:|---:|")
    print(f"| hand-written loop | {mh:.2f} | 1.000 |")
    print(f"| lrkit.training.fit (tqdm bar, History) | {mf:.2f} | {mf / mh:.3f} |")


def bench_layout(cifar, iters: int, repeats: int, models: list[str]) -> None:
    from lrkit.data import BatchLoader, make_preprocess
    from lrkit.models import get_model
    from lrkit.training import fit

    pre = make_preprocess("channel", cifar.train_x)
    print(f"\n## memory layout: fit, {iters} iterations, {repeats} alternating repeats (median ms/iteration)")
    print("| model (batch) | contiguous | channels_last | speed-up |")
    print("|---|---:|---:|---:|")
    for name in models:
        bs = 100 if name == "caffe_cifar10_full" else 128
        bl = BatchLoader(cifar.train_x, cifar.train_y, bs, preprocess=pre, seed=0)
        batches = [bl.get_batch(i) for i in range(iters)]
        torch.manual_seed(0)
        init = get_model(name).state_dict()

        def run(cl: bool, name=name, init=init, batches=batches) -> float:
            m = get_model(name)
            m.load_state_dict(init)
            opt = torch.optim.SGD(m.parameters(), lr=0.001, momentum=0.9)
            t = time.perf_counter()
            fit(m, opt, batches, iterations=iters, progress=False, channels_last=cl)
            return 1000 * (time.perf_counter() - t) / iters

        run(True)  # warm-up
        times = {False: [], True: []}
        for _ in range(repeats):
            for cl in (False, True):
                times[cl].append(run(cl))
        a, b = statistics.median(times[False]), statistics.median(times[True])
        print(f"| {name} ({bs}) | {a:.1f} | {b:.1f} | {a / b:.2f}× |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--batches", type=int, default=100)
    p.add_argument("--iters", type=int, default=100)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--model", default="caffe_cifar10_full")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--skip-data", action="store_true")
    p.add_argument("--skip-trainer", action="store_true")
    p.add_argument("--skip-layout", action="store_true")
    p.add_argument("--layout-models", nargs="+", default=["caffe_cifar10_full", "fastnet", "resnet20"])
    args = p.parse_args()
    from lrkit.data import load_cifar10

    if args.threads:
        torch.set_num_threads(args.threads)
    cifar = load_cifar10(args.data_dir)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if not args.skip_data:
        bench_data(cifar, args.batch_size, args.batches, args.repeats)
    if not args.skip_trainer:
        bench_trainer(cifar, args.iters, args.repeats, args.model)
    if not args.skip_layout:
        bench_layout(cifar, args.iters, args.repeats, args.layout_models)


if __name__ == "__main__":
    main()
