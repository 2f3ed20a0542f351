"""Training loss beside test loss and accuracy at the end of every cycle of a cyclical or restarting
schedule (notebooks 03 and 04): the train-against-validation view of d2l §12.11 and Gugger's 1cycle post.

- :func:`cycle_end_view` — at each cycle end: the mean training loss over the last ``window`` steps, and the
  test loss and accuracy of the evaluation made there.
- :func:`plot_train_vs_test` — the training loss (a running mean) and the test loss of every run on one
  axis, the test accuracy on the other, the cycle ends marked.
- :class:`Snapshots` — a ``fit`` callback keeping the weights at the cycle ends; :func:`snapshot_ensemble` — each
  snapshot's test accuracy and the accuracy of averaging the last ``k`` (notebook 04).

A cycle end is where a cyclical schedule's LR is back at its floor: the noise ball of notebook 01 §7 is
smallest there, so the training loss dips; the test loss says whether the dip carries over to new data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..training.callbacks import Callback
from .lessons import train_vs_heldout

__all__ = ["Snapshots", "cycle_end_view", "plot_train_vs_test", "snapshot_ensemble"]


def cycle_end_view(history: Any, ends: Sequence[int], window: int) -> list[dict[str, float]]:
    """One row per cycle end ``e`` in ``ends`` (a number of completed steps) that has an evaluation at ``e``:
    ``{"iteration": e, "train_loss": mean of the training losses of steps e − window … e − 1, "test_loss",
    "test_acc"}`` (the evaluation made after step ``e``). ``history`` is a :class:`lrkit.training.History`."""
    if int(window) != window or window < 1:
        raise ValueError(f"window must be an int >= 1, got {window!r}")
    view = train_vs_heldout(history, int(window))  # the one reading of "training loss before an evaluation"
    train = {int(it): float(t) for it, t in zip(view["iteration"], view["train"], strict=True)}
    evals = {int(e["iteration"]): e for e in history.evals}
    return [{"iteration": end, "train_loss": train[end], "test_loss": float(evals[end]["loss"]),
             "test_acc": float(evals[end]["acc"])}
            for end in map(int, ends) if end in train and np.isfinite(train[end])]


def plot_train_vs_test(runs: Mapping[str, Any], ends: Sequence[int], window: int, *, title: str = ""):
    """Left: each run's training loss (running mean over ``window`` steps, solid) and test loss at its
    evaluations (dashed, dots), with the cycle ends ``ends`` as grey lines; right: its test accuracy, the
    cycle ends ringed. ``runs`` maps a name to a :class:`lrkit.training.History`. Returns the Figure."""
    import matplotlib.pyplot as plt

    fig, (a_loss, a_acc) = plt.subplots(1, 2, figsize=(12, 4.2))
    for k, (name, h) in enumerate(runs.items()):
        loss = np.asarray(h.train_loss, dtype=float)
        w = max(1, min(int(window), len(loss)))
        smooth = np.convolve(loss, np.ones(w) / w, mode="valid")
        a_loss.plot(np.arange(w, len(loss) + 1), smooth, color=f"C{k}", lw=1.2, label=f"{name}: training")
        it = [e["iteration"] for e in h.evals]
        a_loss.plot(it, [e["loss"] for e in h.evals], "o--", ms=3, lw=1, color=f"C{k}", label=f"{name}: test")
        a_acc.plot(it, [100 * e["acc"] for e in h.evals], "o-", ms=3, lw=1.2, color=f"C{k}", label=name)
        at_end = [e for e in h.evals if e["iteration"] in set(int(x) for x in ends)]
        a_acc.plot([e["iteration"] for e in at_end], [100 * e["acc"] for e in at_end], "o", ms=9, mfc="none",
                   color=f"C{k}")
    for end in ends:
        for a in (a_loss, a_acc):
            a.axvline(end, color="0.6", lw=0.8, ls=":")
    a_loss.set(xlabel="iteration", ylabel="loss", title="training (running mean) vs test loss")
    a_acc.set(xlabel="iteration", ylabel="test accuracy %", title="test accuracy (rings: cycle ends)")
    a_loss.legend(fontsize=8, ncol=2)
    a_acc.legend(fontsize=8)
    for a in (a_loss, a_acc):
        a.grid(True, alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


class Snapshots(Callback):
    """A :func:`lrkit.training.fit` callback that keeps a copy of the model's weights after each step count in
    ``at`` (a cyclical schedule's cycle ends): ``states[end]`` is a CPU ``state_dict``. The model is the last one
    made by the factory :meth:`watch` returns, so it works with runners that build their own models
    (``run_schedules(snap.watch(lambda: get_model("fastnet")), ..., callbacks={"sgdr": [snap]})``)."""

    needs_loss = False

    def __init__(self, at: Sequence[int]) -> None:
        self.at = {int(a) for a in at}
        if not self.at or min(self.at) < 1:
            raise ValueError(f"at must hold step counts >= 1, got {at!r}")
        self.model: Any = None
        self.states: dict[int, dict[str, Any]] = {}

    def watch(self, make_model: Any) -> Any:
        """``make_model`` that also remembers each model it makes (the one a run trains)."""
        def make() -> Any:
            self.model = make_model()
            return self.model
        return make

    def __call__(self, iteration: int, history: Any) -> None:
        if iteration + 1 in self.at and self.model is not None:
            state = self.model.state_dict()
            self.states[iteration + 1] = {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def snapshot_ensemble(make_model: Any, states: Mapping[int, Mapping[str, Any]], data: Any, *,
                      device: Any = None) -> dict[str, dict[int, float]]:
    """Test accuracy on ``data`` (batches of ``(x, y)``) of each snapshot in ``states`` (step → ``state_dict``),
    and of the ensemble of the last ``k`` snapshots for every ``k`` — their softmax outputs averaged (Huang et al.
    2017, "Snapshot Ensembles", arXiv 1704.00109): ``{"single": {step: acc}, "ensemble": {k: acc}}``."""
    import torch

    if not states:
        raise ValueError("states holds no snapshot")
    probs, labels = {}, None
    model = make_model()
    if device is not None:
        model = model.to(device)
    model.eval()
    for step in sorted(states):
        model.load_state_dict(states[step])
        out, ys = [], []
        with torch.no_grad():
            for x, y in data:
                out.append(torch.softmax(model(x).float(), dim=1).cpu())
                ys.append(y.cpu())
        probs[step], labels = torch.cat(out), torch.cat(ys)
    steps = sorted(probs)
    single = {s: float((probs[s].argmax(1) == labels).float().mean()) for s in steps}
    ensemble = {}
    for k in range(1, len(steps) + 1):
        mean = torch.stack([probs[s] for s in steps[-k:]]).mean(0)
        ensemble[k] = float((mean.argmax(1) == labels).float().mean())
    return {"single": single, "ensemble": ensemble}
