"""The tasks of the range-test benchmark: small nets, data variants, a factorial design split by family.

A *task* is a net, an optimizer, a schedule (the *use* of the suggestion), a batch size, a data
variant, a weight decay and a training length. A *family* is the (net, optimizer) pair: every task of
a family is on the same side of the tuning / evaluation split, so no net is tuned and evaluated with
the same optimizer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

# --------------------------------------------------------------------------------------------------
# Nets (size-agnostic: 8, 16 or 32 px inputs, 1 or 3 channels)
# --------------------------------------------------------------------------------------------------


def _mlp(c: int, px: int, k: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(c * px * px, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                         nn.Linear(128, k))


def _cnn(c: int, px: int, k: int, bn: bool = False) -> nn.Module:
    def block(i: int, o: int) -> list[nn.Module]:
        return [nn.Conv2d(i, o, 3, padding=1, bias=not bn), *([nn.BatchNorm2d(o)] if bn else []), nn.ReLU(),
                nn.MaxPool2d(2)]

    return nn.Sequential(*block(c, 16), *block(16, 32), *block(32, 64), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(64, k))


class _Res(nn.Module):
    def __init__(self, i: int, o: int, stride: int):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(i, o, 3, stride, 1, bias=False), nn.BatchNorm2d(o)
        self.c2, self.b2 = nn.Conv2d(o, o, 3, 1, 1, bias=False), nn.BatchNorm2d(o)
        self.skip = (nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o))
                     if stride != 1 or i != o else nn.Identity())

    def forward(self, x):
        y = torch.relu(self.b1(self.c1(x)))
        return torch.relu(self.b2(self.c2(y)) + self.skip(x))


def _resnet8(c: int, px: int, k: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(c, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                         _Res(16, 16, 1), _Res(16, 32, 2), _Res(32, 64, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(64, k))


class _MixerBlock(nn.Module):
    """ConvMixer's block: a depthwise conv (with a residual), then a pointwise conv, GELU + BN after each."""

    def __init__(self, d: int, kernel: int):
        super().__init__()
        self.dw = nn.Sequential(nn.Conv2d(d, d, kernel, groups=d, padding=kernel // 2), nn.GELU(), nn.BatchNorm2d(d))
        self.pw = nn.Sequential(nn.Conv2d(d, d, 1), nn.GELU(), nn.BatchNorm2d(d))

    def forward(self, x):
        return self.pw(x + self.dw(x))


def _mixer(c: int, px: int, k: int) -> nn.Module:
    patch = 2 if px <= 16 else 4
    return nn.Sequential(nn.Conv2d(c, 48, patch, stride=patch), nn.GELU(), nn.BatchNorm2d(48),
                         *[_MixerBlock(48, 5) for _ in range(4)], nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(48, k))


def _caffe(c: int, px: int, k: int) -> nn.Module:
    from lrkit.models import caffe_cifar10_full

    if (c, px) != (3, 32):
        raise ValueError("the Caffe net takes 3 × 32 × 32 images")
    return caffe_cifar10_full(k)


NETS = {"mlp": _mlp, "cnn": _cnn, "cnn_bn": lambda c, px, k: _cnn(c, px, k, bn=True), "resnet8": _resnet8,
        "mixer": _mixer, "caffe": _caffe}
#: nets that accept only 3 × 32 × 32 inputs
NEEDS_RGB32 = {"caffe"}


# --------------------------------------------------------------------------------------------------
# Data variants: (train images uint8 [N,C,H,W], labels, val images, val labels), carved out of the
# CIFAR-10 *training* set (the test set is never used) or of scikit-learn's digits
# --------------------------------------------------------------------------------------------------
#: name -> (channels, pixels, classes)
DATA = {"cifar10": (3, 32, 10), "cifar10_16": (3, 16, 10), "cifar10_gray": (1, 32, 10),
        "cifar10_noisy": (3, 32, 10), "cifar5": (3, 32, 5), "digits": (1, 8, 10)}
TRAIN_PER_CLASS, VAL_PER_CLASS, NOISE = 1000, 200, 0.2


def _split(y: torch.Tensor, n_train: int, n_val: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed, stratified split (seed 0): ``n_val`` validation and ``n_train`` training indices per class."""
    g = torch.Generator().manual_seed(0)
    tr, va = [], []
    for c in torch.unique(y):
        idx = torch.nonzero(y == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        va.append(idx[:n_val])
        tr.append(idx[n_val:n_val + n_train])
    return torch.cat(tr), torch.cat(va)


def make_data(name: str, cifar: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        x = torch.tensor(np.clip(d.images * 16, 0, 255), dtype=torch.uint8)[:, None]
        y = torch.tensor(d.target, dtype=torch.int64)
        tr, va = _split(y, 10_000, 50)  # 50 validation images per class, the other ~130 train
        return x[tr], y[tr], x[va], y[va]
    x, y = cifar.train_x, cifar.train_y
    if name == "cifar5":
        keep = y < 5
        x, y = x[keep], y[keep]
    tr, va = _split(y, TRAIN_PER_CLASS, VAL_PER_CLASS)
    tx, ty, vx, vy = x[tr], y[tr].clone(), x[va], y[va]
    if name == "cifar10_16":
        tx, vx = (nn.functional.avg_pool2d(t.float(), 2).round().to(torch.uint8) for t in (tx, vx))
    elif name == "cifar10_gray":
        w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        tx, vx = ((t.float() * w).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8) for t in (tx, vx))
    elif name == "cifar10_noisy":  # 20 % of the training labels replaced by a random other class
        g = torch.Generator().manual_seed(1)
        flip = torch.rand(len(ty), generator=g) < NOISE
        ty[flip] = (ty[flip] + torch.randint(1, 10, (int(flip.sum()),), generator=g)) % 10
    return tx, ty, vx, vy


# --------------------------------------------------------------------------------------------------
# Tasks
# --------------------------------------------------------------------------------------------------
OPTIMIZERS = ("sgd", "nesterov", "adam", "adamw")
SCHEDULES = ("constant", "one_cycle", "cosine", "clr")
USE_OF = {"constant": "constant", "one_cycle": "one_cycle", "cosine": "one_cycle", "clr": "clr"}
#: the sweep range every finder shares, by optimizer kind (as the peers' users would set it)
SWEEP = {"sgd": (1e-6, 10.0), "adam": (1e-7, 1.0)}
#: log10 of the coarse grid's ends (extended while the best LR sits at an edge)
GRID = {"sgd": (-3.0, 0.5), "adam": (-4.5, -1.0)}


@dataclass(frozen=True)
class Task:
    name: str
    role: str            # "tuning" | "eval"
    net: str
    optimizer: str
    schedule: str
    batch_size: int
    data: str
    weight_decay: float
    steps: int

    @property
    def family(self) -> str:
        return f"{self.net}/{self.optimizer}"

    @property
    def use(self) -> str:
        return USE_OF[self.schedule]

    @property
    def kind(self) -> str:
        return "sgd" if self.optimizer in ("sgd", "nesterov") else "adam"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: (net, optimizer) families on the tuning side; every other family is evaluated. Chosen so that every
#: net and every optimizer is on both sides, and so are the curve regimes they produce (the Caffe net
#: with SGD is flat until it blows up; Adam on BN nets does not blow up by LR 1)
TUNING_FAMILIES = {("mlp", "sgd"), ("mlp", "adamw"), ("cnn", "nesterov"), ("cnn_bn", "adam"), ("resnet8", "sgd"),
                   ("mixer", "adamw"), ("caffe", "sgd"), ("caffe", "adam")}
TASKS_PER_FAMILY = 2
BATCHES = (32, 64, 128, 256, 512, 1024)
STEPS = (500, 1000)


#: training images per second, one torch thread, channels_last, measured with the benchmark's own nets (by
#: net and image size; a second job ran beside the probe, as it does beside the benchmark)
RATE = {("caffe", 32): 1100, ("cnn", 32): 2000, ("cnn", 16): 7800, ("cnn", 8): 20000,
        ("cnn_bn", 32): 1700, ("cnn_bn", 16): 6500, ("cnn_bn", 8): 22000, ("resnet8", 16): 1600,
        ("resnet8", 8): 10000, ("mixer", 32): 1150, ("mixer", 16): 1250, ("mixer", 8): 4500,
        ("mlp", 32): 17000, ("mlp", 16): 40000, ("mlp", 8): 70000}
MAX_RUN_SECONDS = 15


def _cost_ok(net: str, data: str, batch: int, steps: int) -> bool:
    """A run must fit in about MAX_RUN_SECONDS of one thread (and the net must take the data's images)."""
    c, px, _ = DATA[data]
    if net in NEEDS_RGB32 and (c, px) != (3, 32):
        return False
    rate = RATE.get((net, px))
    return rate is not None and batch * steps / rate <= MAX_RUN_SECONDS


def build_tasks(seed: int = 2026) -> dict[str, Task]:
    """The benchmark's tasks: ``TASKS_PER_FAMILY`` per (net, optimizer) family, attributes from a fixed-seed
    balanced design: each schedule equally often on each side; each net cycles through the data variants its
    input takes; the length is 500 or 1,000 steps and the batch size is drawn among those that keep the run
    within MAX_RUN_SECONDS; weight decay is on for half the tasks."""
    rng = np.random.default_rng(seed)
    variants = {net: [d for d in DATA if (net, DATA[d][1]) in RATE
                      and (net not in NEEDS_RGB32 or DATA[d][:2] == (3, 32))] for net in NETS}
    cycles = {net: list(rng.permutation(v)) for net, v in variants.items()}
    tasks: dict[str, Task] = {}
    for role in ("tuning", "eval"):
        fams = sorted((n, o) for n in NETS for o in OPTIMIZERS if ((n, o) in TUNING_FAMILIES) == (role == "tuning"))
        n = len(fams) * TASKS_PER_FAMILY
        scheds = list(np.resize(SCHEDULES, n))
        rng.shuffle(scheds)
        wds = list(np.resize([True, False], n))
        rng.shuffle(wds)
        targets = list(np.resize(BATCHES, n))
        rng.shuffle(targets)
        for i, (net, opt) in enumerate(f for f in fams for _ in range(TASKS_PER_FAMILY)):
            steps = int(rng.choice(STEPS))
            # the next data variant of the net's cycle that affords the target batch size (else the first one)
            fits = [d for d in cycles[net] if _cost_ok(net, d, int(targets[i]), steps)]
            data = str(fits[0] if fits else cycles[net][0])
            cycles[net].remove(data)
            cycles[net].append(data)
            if not _cost_ok(net, data, BATCHES[0], steps):
                steps = STEPS[0]
            batch = max(b for b in BATCHES if b <= max(int(targets[i]), BATCHES[0]) and _cost_ok(net, data, b, steps))
            wd = (5e-4 if opt in ("sgd", "nesterov") else 0.05) if wds[i] else 0.0
            sched = str(scheds[i])
            name = f"{net}_{opt}_{sched}_b{batch}_{data}_wd{int(wds[i])}_{steps}"
            tasks[name] = Task(name, role, net, opt, sched, batch, data, wd, steps)
    return tasks


TASKS = build_tasks()


def chance(task: Task) -> float:
    return 1.0 / DATA[task.data][2]


def make_model(task: Task, seed: int) -> nn.Module:
    c, px, k = DATA[task.data]
    torch.manual_seed(seed)
    return NETS[task.net](c, px, k)


def make_optimizer(task: Task, params, lr: float) -> torch.optim.Optimizer:
    wd = task.weight_decay
    if task.optimizer in ("sgd", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=task.optimizer == "nesterov", weight_decay=wd)
    if task.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    return torch.optim.AdamW(params, lr=lr, weight_decay=wd)


def make_schedule(task: Task, lr: float):
    """The task's schedule with value ``lr`` (its constant LR, its peak, or CLR's upper bound)."""
    from lrkit import schedules as S

    T = task.steps
    if task.schedule == "constant":
        return S.Constant(lr)
    if task.schedule == "one_cycle":
        return S.OneCycle(lr, T)
    if task.schedule == "cosine":
        return S.warmup(S.Cosine(lr, T), max(1, T // 10), kind="linear", start=0.0)
    return S.triangular2(lr / 6.0, lr, max(1, T // 6))


def log10s(lrs) -> np.ndarray:
    return np.log10(np.asarray(lrs, dtype=np.float64))


def describe() -> str:
    """The task table (markdown)."""
    rows = ["| task | role | family | use | batch | data | weight decay | steps |",
            "|---|---|---|---|---:|---|---:|---:|"]
    for t in TASKS.values():
        rows.append(f"| {t.name} | {t.role} | {t.family} | {t.use} | {t.batch_size} | {t.data} | {t.weight_decay:g}"
                    f" | {t.steps} |")
    return "\n".join(rows)
