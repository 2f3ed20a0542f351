"""The quickstart: a range test, then one-cycle training at the peak it suggests, on a CIFAR-10 subset.

:func:`quickstart` is what ``lrkit quickstart`` runs (the command writes the run folder,
:func:`lrkit.recipe.output.write_run`). The peak is the range test's suggestion for a one-cycle peak —
the rule lrkit documents for it (:data:`lrkit.rangetest.USE_RULES`), through the one policy of
:func:`lrkit.rangetest.choose_lr` — unless ``max_lr`` is given, which is how
``benchmarks/bench_quickstart.py`` compares the rule with a grid of peaks on the same setup.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..data import cifar10_loaders
from ..models import get_model
from ..rangetest import choose_lr, lr_find
from ..schedules import OneCycle
from ..training import fit, make_optimizer
from ..utils import seed_everything

__all__ = ["QUICKSTART_OPTIMIZERS", "QuickstartResult", "quickstart"]

#: the quickstart's optimizers (``weight_decay`` and ``lr`` are added)
QUICKSTART_OPTIMIZERS = {"sgd": {"name": "sgd", "momentum": 0.9, "nesterov": True},
                         "adamw": {"name": "adamw"},
                         "caffe-sgd": {"name": "caffe_sgd", "momentum": 0.9, "multipliers": True}}


@dataclass
class QuickstartResult:
    range_test: Any          # lrkit.rangetest.RangeTest
    suggestion: Any          # the one-cycle Suggestion (None when max_lr was given)
    max_lr: float
    history: Any             # lrkit.training.History
    loaders: Any
    seconds: float

    @property
    def final(self) -> dict[str, float]:
        return self.history.final_eval()


def quickstart(data: Any, *, model: str = "fastnet", optimizer: str = "sgd", weight_decay: float = 5e-4,
               batch_size: int = 128, n_per_class: int | None = 1000, test_per_class: int | None = 1000,
               epochs: int = 3, find_iters: int = 100, seed: int = 0, device: Any = "cpu",
               max_lr: float | None = None, progress: bool = False) -> QuickstartResult:
    """Range test (1e-5 → 10, ``find_iters`` steps) on a fresh model, then ``epochs`` of one-cycle
    (momentum cycled) at the suggested peak — or at ``max_lr`` — evaluated on the test images after
    every epoch. ``seed`` sets the subset, the initial weights and the batch order."""
    t0 = time.perf_counter()
    seed_everything(seed)
    L = cifar10_loaders(data, batch_size=batch_size, n_per_class=n_per_class, test_per_class=test_per_class,
                        seed=seed, device=device)
    net = get_model(model).to(device)
    opt = make_optimizer({**QUICKSTART_OPTIMIZERS[optimizer], "lr": 1e-3, "weight_decay": weight_decay}, net)
    rt = lr_find(net, L.train, opt, start_lr=1e-5, end_lr=10.0, num_iter=find_iters, channels_last=True,
                 progress=progress)
    suggestion = None
    if max_lr is None:
        suggestion = choose_lr(rt, ["one_cycle"]).suggestion
        max_lr = float(suggestion.lr)
    iters = epochs * len(L.train)
    hist = fit(net, opt, L.train, iterations=iters, schedule=OneCycle(max_lr=max_lr, total_steps=iters),
               momentum="auto", eval_data=L.test, eval_every=len(L.train), device=device, channels_last=True,
               progress=progress, desc="one-cycle")
    return QuickstartResult(rt, suggestion, float(max_lr), hist, L, time.perf_counter() - t0)
