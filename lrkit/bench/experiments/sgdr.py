"""SGDR (Loshchilov & Hutter 2017, arXiv 1608.03983, Table 1): cosine annealing with warm restarts against
step decay, read as *anytime* test error — at every restart point, and when each run first reaches the
step schedule's final error (the paper's claim: 2–4× sooner).

The runs train with the plain trainer; full/paper scales end each SGDR run at its last restart within the
budget and evaluate every run at every restart point (``extra["eval_at"]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import schedules as S
from ..analysis import Reading, acc_at, anytime_notes, first_reaching, paired
from ..figures import curves_figure
from ..spec import Experiment, RunSpec, scaled

__all__ = ["EXPERIMENT", "restart_points"]

_SGDR_EPOCHS = {"smoke": 2, "lite": 15, "full": 20, "paper": 200}
_SGDR_DATA = {"smoke": {"n_per_class": 50, "test_per_class": 50},
              "lite": {"n_per_class": 1000, "test_per_class": 200},
              "full": {}, "paper": {}}
_SGDR_MODEL = {"smoke": "wrn16_1", "lite": "wrn16_2", "full": "fastnet", "paper": "wrn28_10"}


def restart_points(t0: int, t_mult: int, until: int) -> list[int]:
    """The iterations at which cosine warm restarts with period ``t0`` × ``t_mult``^k end a cycle."""
    out, end, period = [], t0, t0
    while end <= until:
        out.append(end)
        period *= t_mult
        end += period
    return out


def _sgdr(scale: str, f: float) -> list[RunSpec]:
    epochs = _SGDR_EPOCHS[scale]
    data = _SGDR_DATA[scale]
    n_train = 10 * data.get("n_per_class", 5000)
    spe = n_train // 128
    total = epochs * spe
    g = epochs / 200  # every epoch quantity of the paper's 200-epoch protocol is scaled by g
    sgd = {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "nesterov": False}
    if scale == "paper":  # eq. (3)-(4): the LR inside the velocity, as Caffe's SGD (no multipliers)
        sgd = {"name": "caffe_sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4}
    common = dict(model=_SGDR_MODEL[scale], optimizer=sgd, batch_size=128, augment=True, **data,
                  eval_every=max(1, spe // 2) if scale != "smoke" else spe)
    step = S.MultiStep(0.1, [scaled(60 * g * spe), scaled(120 * g * spe), scaled(160 * g * spe)], 0.2)
    if scale in ("smoke", "lite"):  # as the lite results were made: every run for the whole budget
        return [RunSpec("step_lr0.1", schedule=step.to_config(), iterations=total, **common),
                *[RunSpec(f"sgdr_T0={t0}_Tm=2", schedule=S.CosineWarmRestarts(t0 * g * spe, 2.0, eta_max=0.05)
                          .to_config(), iterations=total, **common) for t0 in (1, 10)]]
    # full / paper: each SGDR run ends at its last restart point within the budget (the anytime
    # comparison is read at restart points); every run is also evaluated at every restart point of both
    t0s = {t0: scaled(t0 * g * spe) for t0 in (1, 10)}
    ends = {t0: restart_points(p, 2, total) for t0, p in t0s.items()}
    at = sorted(set(ends[1]) | set(ends[10]))
    return [RunSpec("step_lr0.1", schedule=step.to_config(), iterations=total, extra={"eval_at": at}, **common),
            *[RunSpec(f"sgdr_T0={t0}_Tm=2", schedule=S.CosineWarmRestarts(t0s[t0], 2.0, eta_max=0.05).to_config(),
                      iterations=ends[t0][-1], extra={"eval_at": at, "restarts": ends[t0]}, **common)
              for t0 in (1, 10)]]


# --------------------------------------------------------------------------------------------------
# What the report says, and the figure
# --------------------------------------------------------------------------------------------------
def sgdr_notes(r: Reading) -> list[str]:
    """full / paper: read at the restart points; lite: when each run first reaches step's final accuracy."""
    if any(s["results"][0]["config"].get("extra", {}).get("restarts") for s in r.summary.values()):
        return _restart_notes(r.summary)
    return anytime_notes(r.summary, "step_lr0.1")


def _restart_notes(summ: dict[str, dict[str, Any]], base: str = "step_lr0.1") -> list[str]:
    """At every restart point of each SGDR run: its test error against the step schedule's at the same
    iteration (paired by seed), and the paper's claim — SGDR reaches the step schedule's final error
    2–4× sooner."""
    notes = []
    if base not in summ:
        return notes
    spe = (summ[base]["results"][0]["history"].get("steps_per_epoch") or 1)
    final_err = 100 - summ[base]["acc_mean"]
    for name, s in summ.items():
        restarts = s["results"][0]["config"]["extra"].get("restarts")
        if name == base or not restarts:
            continue
        cells = []
        for at in restarts:
            m, half, n = paired(summ, name, base, arm_at=at, base_at=at)
            err = 100 - 100 * float(np.mean([acc_at(res, at) for res in s["results"]]))
            cells.append(f"ep {at / spe:.1f}: {err:.2f} % vs {err + m:.2f} % ({-m:+.2f}"
                         + (f" ± {half:.2f})" if n > 1 else ")"))
        over = f"mean over {s['seeds']} seeds; difference ± 95 % paired t-interval" if s["seeds"] > 1 else "1 seed"
        notes.append(f"{name} test error at its restart points vs {base} at the same epoch ({over}): "
                     + "; ".join(cells))
        hits = [first_reaching(res, 1 - final_err / 100) for res in s["results"]]
        base_ep = summ[base]["iterations"] / spe
        if all(h is not None for h in hits):
            ep = max(hits) / spe
            notes.append(f"{name} reaches {base}'s final error ({final_err:.2f} %) at epoch {ep:.1f} (latest seed) "
                         f"= {base_ep / ep:.2f}× sooner than {base}'s {base_ep:.0f} epochs → 2–4× sooner: "
                         f"**{'yes' if base_ep / ep >= 2 else 'no'}**")
        else:
            notes.append(f"{name} does not reach {base}'s final error ({final_err:.2f} %) in every seed within its "
                         f"{s['iterations'] / spe:.1f} epochs → 2–4× sooner: **no**")
    return notes


def sgdr_figure(r: Reading) -> Any:
    """Test error (log scale) against epoch, with each run's published error (WRN-28-10, median of 5) as a star
    where the paper read it (its epoch × the scale's factor)."""
    def star(ax: Any, i: int, run: str, s: dict[str, Any]) -> None:
        if run in r.ref.values and run in r.ref.epochs:
            ax.plot([r.ref.epochs[run] * r.factor], [r.ref.values[run]], marker="*", ms=14, color=f"C{i}", mec="k",
                    ls="none")

    def legend_entry(ax: Any) -> None:
        ax.plot([], [], marker="*", ms=12, color="w", mec="k", ls="none",
                label=f"published (WRN-28-10, median of 5), at the paper's epoch × {r.factor:g}")
        ax.set(yscale="log")

    return curves_figure(r, x="epoch", error=True, mark=star, extra=legend_entry)


EXPERIMENT = Experiment(
    "sgdr", "SGDR vs step decay: anytime test error", "sgdr",
    "Cosine warm restarts (T_0 = 1 and 10 epochs of 200, T_mult 2, η_max 0.05, scaled to the budget) vs "
    "×0.2 steps at 30/60/80 %; test error at every restart point (full/paper: each SGDR run ends at "
    "its last restart within the budget).",
    {"smoke": 2 / 200, "lite": 15 / 200, "full": 20 / 200, "paper": 1.0}, _sgdr, notes=sgdr_notes,
    figure=sgdr_figure, seeds={"smoke": 1, "lite": 1, "full": 3, "paper": 5})
