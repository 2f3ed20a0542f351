"""The other libraries' LR finders, driven the same way for lrkit's benchmarks.

Each adapter runs one range test of a peer library on ``model`` (trained in place and restored by
the library itself, as its users would see it) over the given pre-made ``batches`` — exponential
ramp from ``start_lr`` to ``end_lr``, one optimizer step per batch — and returns a :class:`PeerSweep`:
the recorded LRs and losses, and the library's own suggestion (``suggest=False``: none computed,
for timing the sweep alone).

- ``torch-lr-finder``: ``LRFinder.range_test`` + ``reset()``; the suggestion is what
  ``plot(suggest_lr=True)`` returns (steepest gradient of the loss over the sample index), drawn on an
  off-screen Agg figure. Divergence stop: its default ``diverge_th=5`` or off.
- ``fastai``: ``Learner.lr_find(suggest_funcs=(minimum, steep, valley, slide))`` — its four rules —
  on plain torch DataLoaders; ``stop_div`` on (its default) or off.
- ``lightning``: ``Tuner(Trainer).lr_find`` on a thin LightningModule around ``model``; the
  suggestion is ``suggestion()`` (steepest gradient of the smoothed loss over the LR itself);
  ``early_stop_threshold`` 4.0 (its default) or off. Its checkpoint goes into a temporary folder.

:func:`available` says why a peer cannot run here (not installed), without failing. fastai and
Lightning are heavy and are not lrkit dependencies: BENCHMARKS.md shows how they were installed.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

Batches = Sequence[tuple[torch.Tensor, torch.Tensor]]
MakeOpt = Callable[..., torch.optim.Optimizer]  # make_opt(params, lr=...) -> optimizer

PEERS = ("torch-lr-finder", "fastai", "lightning")
_MODULES = {"torch-lr-finder": "torch_lr_finder", "fastai": "fastai.learner", "lightning": "lightning.pytorch"}


@dataclass
class PeerSweep:
    lr: list[float]
    loss: list[float | None]
    suggestions: dict[str, float | None]  # the peer's rules (by its own names) and the LR each suggests

    @property
    def points(self) -> int:
        return len(self.lr)


def available(peer: str) -> str | None:
    """None if ``peer`` imports here, else why not (an import may change torch's thread count: kept)."""
    threads = torch.get_num_threads()
    try:
        __import__(_MODULES[peer])
    except Exception as e:  # noqa: BLE001 - any import failure means "not available"
        return f"{type(e).__name__}: {e}"
    finally:
        torch.set_num_threads(threads)
    return None


@contextlib.contextmanager
def quiet():
    """Silence the peers' progress bars, prints, warnings and logging (same cost for every peer)."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        level = logging.root.manager.disable
        logging.disable(logging.CRITICAL)
        try:
            yield
        finally:
            logging.disable(level)


def _loader(batches: Batches) -> torch.utils.data.DataLoader:
    # batch_size=None: yields the pre-made batches as they are, no collation, no shuffling
    return torch.utils.data.DataLoader(list(batches), batch_size=None, shuffle=False)


def _finite(values) -> list[float | None]:
    return [float(v) if math.isfinite(float(v)) else None for v in values]


def sweep_torch_lr_finder(model: nn.Module, make_opt: MakeOpt, loss_fn: nn.Module, batches: Batches,
                          start_lr: float, end_lr: float, *, diverge: bool = True, suggest: bool = True) -> PeerSweep:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from torch_lr_finder import LRFinder

    finder = LRFinder(model, make_opt(model.parameters(), lr=start_lr), loss_fn, device="cpu")
    with quiet():
        finder.range_test(_loader(batches), start_lr=start_lr, end_lr=end_lr, num_iter=len(batches),
                          step_mode="exp", diverge_th=5 if diverge else math.inf)
        lr = None
        if suggest:
            fig, ax = plt.subplots()
            try:
                out = finder.plot(ax=ax, suggest_lr=True)
            finally:
                plt.close(fig)
            lr = out[1] if isinstance(out, tuple) else None
    finder.reset()
    h = finder.history
    return PeerSweep([float(v) for v in h["lr"]], _finite(h["loss"]),
                     {"steepest": None if lr is None else float(lr)} if suggest else {})


def sweep_fastai(model: nn.Module, make_opt: MakeOpt, loss_fn: nn.Module, batches: Batches,
                 start_lr: float, end_lr: float, *, diverge: bool = True, suggest: bool = True) -> PeerSweep:
    threads = torch.get_num_threads()
    from fastai.callback.schedule import minimum, slide, steep, valley
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    from fastai.optimizer import OptimWrapper

    torch.set_num_threads(threads)  # fastai's import may change it

    def opt_func(params, lr):
        return OptimWrapper(params, opt=make_opt, lr=lr)

    with tempfile.TemporaryDirectory() as tmp:
        dls = DataLoaders(_loader(batches), _loader(batches), device=torch.device("cpu"))
        learn = Learner(dls, model, loss_func=loss_fn, path=tmp, opt_func=opt_func)
        with quiet(), learn.no_bar():
            rules = (minimum, steep, valley, slide)
            res = learn.lr_find(start_lr=start_lr, end_lr=end_lr, num_it=len(batches), stop_div=diverge,
                                show_plot=False, suggest_funcs=rules if suggest else ())
    rec = learn.recorder
    found = {f.__name__: float(getattr(res, f.__name__)) for f in rules} if suggest else {}
    return PeerSweep([float(v) for v in rec.lrs], _finite(rec.losses), found)


def sweep_lightning(model: nn.Module, make_opt: MakeOpt, loss_fn: nn.Module, batches: Batches,
                    start_lr: float, end_lr: float, *, diverge: bool = True, suggest: bool = True) -> PeerSweep:
    import lightning.pytorch as pl
    from lightning.pytorch.tuner import Tuner

    class Wrapped(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = model

        def training_step(self, batch, batch_idx):
            x, y = batch
            return loss_fn(self.net(x), y)

        def configure_optimizers(self):
            return make_opt(self.parameters(), lr=start_lr)

    with tempfile.TemporaryDirectory() as tmp, quiet():
        trainer = pl.Trainer(accelerator="cpu", devices=1, default_root_dir=tmp, logger=False,
                             enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                             max_epochs=1)
        res = Tuner(trainer).lr_find(Wrapped(), train_dataloaders=_loader(batches), min_lr=start_lr,
                                     max_lr=end_lr, num_training=len(batches), mode="exponential",
                                     early_stop_threshold=4.0 if diverge else None, update_attr=False)
        lr = res.suggestion() if suggest else None
    return PeerSweep([float(v) for v in res.results["lr"]], _finite(res.results["loss"]),
                     {"steepest": None if lr is None else float(lr)} if suggest else {})


SWEEPS = {"torch-lr-finder": sweep_torch_lr_finder, "fastai": sweep_fastai, "lightning": sweep_lightning}
