"""Published numbers, each with its paper, table/figure and the protocol it was measured under.

Only numbers that the papers print are here; where a paper makes a qualitative claim (e.g. "far
fewer epochs"), the claim is stored as text, not turned into a number.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Reference", "REFERENCES", "reference"]


@dataclass(frozen=True)
class Reference:
    key: str
    paper: str
    arxiv: str
    where: str                       # table / figure / section
    metric: str                      # e.g. "test accuracy %", "test error %"
    values: dict[str, float] = field(default_factory=dict)
    iterations: dict[str, int] = field(default_factory=dict)
    protocol: str = ""
    claim: str = ""


REFERENCES: dict[str, Reference] = {
    "smith2017-table1": Reference(
        key="smith2017-table1",
        paper="L. N. Smith, Cyclical Learning Rates for Training Neural Networks (WACV 2017)",
        arxiv="1506.01186",
        where="Table 1, CIFAR-10",
        metric="test accuracy %",
        values={"fixed": 81.4, "triangular2": 81.4, "decay": 78.5, "exp": 79.1, "exp_range": 82.2},
        iterations={"fixed": 70_000, "triangular2": 25_000, "decay": 25_000, "exp": 70_000, "exp_range": 42_000},
        protocol=("Caffe cifar10_full net, batch 100, per-pixel mean subtraction, no augmentation, Caffe SGD "
                  "(LR inside the momentum buffer) with the prototxt's lr/decay multipliers, momentum 0.9, "
                  "weight decay 0.004. fixed: 0.001, ÷10 at 60k and 65k; triangular2: 0.001–0.006, stepsize "
                  "2000; decay: 0.007 → 0.001 linearly over 4,000 iterations, then 0.001; exp: 0.001·0.99994^t; "
                  "exp_range: 0.001–0.006, stepsize 2000, γ 0.99994."),
        claim="triangular2 reaches the fixed policy's 70k-iteration accuracy in 25k iterations (2.8× fewer).",
    ),
    "smith2017-fig3": Reference(
        key="smith2017-fig3",
        paper="L. N. Smith, Cyclical Learning Rates for Training Neural Networks (WACV 2017)",
        arxiv="1506.01186",
        where="§3.3, Figure 3 (LR range test, CIFAR-10)",
        metric="learning rate",
        values={"base_lr": 0.001, "max_lr": 0.006},
        protocol="Same net and solver as Table 1; LR raised linearly from 0 to 0.02 over a few epochs.",
        claim="Accuracy starts to rise near 0.001 and the rise gets rough above 0.006: base_lr 0.001, max_lr 0.006.",
    ),
    "sgdr": Reference(
        key="sgdr",
        paper="I. Loshchilov, F. Hutter, SGDR: Stochastic Gradient Descent with Warm Restarts (ICLR 2017)",
        arxiv="1608.03983",
        where="Table 1, CIFAR-10, WRN-28-10",
        metric="test error %",
        values={"default_lr0.1": 4.24, "default_lr0.05": 4.13, "T0=50,Tm=1": 4.17, "T0=100,Tm=1": 4.07,
                "T0=200,Tm=1": 3.86, "T0=1,Tm=2": 4.09, "T0=10,Tm=2": 4.03},
        iterations={},
        protocol=("WRN-28-10, 200 epochs, batch 128, SGD momentum 0.9, weight decay 5e-4, η_max 0.05 (SGDR); "
                  "default schedule η0 × 0.2 at epochs 60 / 120 / 160."),
        claim="SGDR reaches ~4 % test error 2–4× faster (in epochs) than the default step schedule.",
    ),
    "onecycle": Reference(
        key="onecycle",
        paper=("L. N. Smith, A disciplined approach to neural network hyper-parameters (2018); "
               "L. N. Smith, N. Topin, Super-Convergence (2017)"),
        arxiv="1803.09820; 1708.07120",
        where="CIFAR-10 ResNets (super-convergence experiments)",
        metric="test accuracy %",
        protocol="One cycle of LR (up then down, momentum cycled inversely) vs a piecewise-constant LR schedule.",
        claim="One-cycle reaches the accuracy of a piecewise-constant schedule in far fewer epochs.",
    ),
    "ulmfit": Reference(
        key="ulmfit",
        paper="J. Howard, S. Ruder, Universal Language Model Fine-tuning for Text Classification (ACL 2018)",
        arxiv="1801.06146",
        where="§3.2 (discriminative fine-tuning, STLR), §3.3 (gradual unfreezing)",
        metric="recipe",
        values={"layer_factor": 2.6, "stlr_cut_frac": 0.1, "stlr_ratio": 32, "stlr_max_lr": 0.01},
        protocol="η^{l−1} = η^l / 2.6; slanted triangular LR; unfreeze one layer group per epoch from the top.",
        claim="Discriminative fine-tuning + STLR + gradual unfreezing beat fine-tuning the whole model at one LR.",
    ),
    "methods": Reference(
        key="methods",
        paper=("Hu et al. 2024, MiniCPM (WSD); Hägele et al. 2024, Scaling Laws and Compute-Optimal Training "
               "Beyond Fixed Training Durations; Defazio et al. 2024, The Road Less Scheduled (schedule-free); "
               "Mishchenko & Defazio 2023, Prodigy; Defazio & Mishchenko 2023, D-Adaptation"),
        arxiv="2404.06395; 2405.18392; 2405.15682; 2306.06101; 2301.07733",
        where="WSD: MiniCPM §4, Hägele et al. §3; schedule-free: §1 and the AlgoPerf 2024 self-tuning track",
        metric="test accuracy %",
        protocol=("No paper ran these methods side by side on one CIFAR-10 net; this experiment is lrkit's own "
                  "comparison on its fast recipe."),
        claim=("A constant LR plus a short 1-sqrt cooldown matches cosine (Hägele et al.); schedule-free "
               "AdamW won AlgoPerf 2024's self-tuning track (Defazio et al.)."),
    ),
}


def reference(key: str) -> Reference:
    if key not in REFERENCES:
        raise ValueError(f"unknown reference {key!r}; known: {sorted(REFERENCES)}")
    return REFERENCES[key]
