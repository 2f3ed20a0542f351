"""Published numbers, each with its paper, table/figure and the protocol it was measured under.

Only numbers that the papers print are here; where a paper makes a qualitative claim (e.g. "far
fewer epochs"), the claim is stored as text, not turned into a number. ``values`` are keyed by the
names of lrkit's runs wherever a run reproduces the row (so a report, a figure or a notebook box puts
them beside the measured ones), in the unit ``metric`` names; ``iterations`` give where on the curve the
paper read each value, and ``readings`` how it read it: ``"final"`` (at the end of training, the
default), ``"best"`` (the best evaluation up to there, on the paper's test grid ``test_every``) or
``"at"`` (the evaluation at that iteration of a longer run). ``reading_source`` quotes the sentence that
says so. ``other`` holds rows no lrkit run reproduces (other nets, other settings), for the text.
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
    epochs: dict[str, float] = field(default_factory=dict)          # run -> where the paper read it, in epochs
    readings: dict[str, str] = field(default_factory=dict)          # run -> "final" | "best" | "at"
    reading_source: dict[str, str] = field(default_factory=dict)    # run -> the paper's sentence
    test_every: int | None = None                                   # the paper's evaluation interval (iterations)
    other: dict[str, dict[str, float]] = field(default_factory=dict)  # rows lrkit runs no counterpart of

    def reading(self, run: str) -> str:
        """How the paper read ``run``'s value: ``"final"`` unless :attr:`readings` says otherwise."""
        return self.readings.get(run, "final")


REFERENCES: dict[str, Reference] = {
    "smith2017-table1": Reference(
        key="smith2017-table1",
        paper="L. N. Smith, Cyclical Learning Rates for Training Neural Networks (WACV 2017)",
        arxiv="1506.01186",
        where="Table 1, CIFAR-10 (§4.1.1; triangular2's settings: Table 2)",
        metric="test accuracy %",
        values={"fixed": 81.4, "triangular2": 81.4, "decay": 78.5, "exp": 79.1, "exp_range": 82.2},
        iterations={"fixed": 70_000, "triangular2": 25_000, "decay": 25_000, "exp": 70_000, "exp_range": 42_000},
        protocol=("Caffe cifar10_full net, batch 100, per-pixel mean subtraction, no augmentation, Caffe SGD "
                  "(LR inside the momentum buffer) with the prototxt's lr/decay multipliers, momentum 0.9, "
                  "weight decay 0.004, tested every 1,000 iterations on the 10,000 test images. fixed: 0.001, ÷10 "
                  "at 60k and 65k (Caffe's solver files). triangular2: Table 2's three stages, each with its own "
                  "cycle clock (Appendix A's start_lr_policy): 0.001–0.005, stepsize 2,000, on 0–16k; "
                  "0.0001–0.0005, 1,000, on 16k–22k; 0.00001–0.00005, 500, on 22k–25k (§3.1's prose describes "
                  "Figure 1 with one stage 0.001–0.006; §4.1.1 attaches Table 2 to the 81.4 % claim). decay: "
                  "0.007 → 0.001 linearly over 4,000 iterations, then 0.001 (§4.1.1). exp: 0.001·0.99994^t. "
                  "exp_range (§3.1): both bounds × γ^t, γ 0.99994, 0.001–0.006 (the CIFAR-10 bounds are not "
                  "stated; §4.1.1's range), stepsize 2,000, run to 70,000 (Fig. 4) and read at 42,000."),
        claim="triangular2 reaches the fixed policy's 70k-iteration accuracy in 25k iterations (2.8× fewer).",
        readings={"exp": "best", "exp_range": "at"},
        reading_source={
            "fixed": "Table 1's caption: accuracy \"at the end of the training\"",
            "triangular2": "Table 1's caption: accuracy \"at the end of the training\"",
            "decay": "Table 1's caption: accuracy \"at the end of the training\"",
            "exp": "§4.1.1: \"the best test accuracy of 79.1%\"",
            "exp_range": ("§4.1.1: \"one can stop training at iteration 42,000 with a test accuracy of 82.2% (going "
                          "to iteration 70,000 does not improve on this result)\"")},
        test_every=1000,
    ),
    "smith2017-fig3": Reference(
        key="smith2017-fig3",
        paper="L. N. Smith, Cyclical Learning Rates for Training Neural Networks (WACV 2017)",
        arxiv="1506.01186",
        where="§3.3, Figure 3 (LR range test, CIFAR-10)",
        metric="learning rate",
        values={"base_lr": 0.001, "max_lr": 0.006},
        protocol=("Same net and solver as Table 1 (§3.3: \"the architecture and hyper-parameters provided by Caffe\"); "
                  "the LR raised linearly for 8 epochs (Fig. 3's caption) from 0 to 0.02 (read off Fig. 3's axis; "
                  "the text gives no range); the bounds read by eye off the accuracy curve."),
        claim="Accuracy starts to rise near 0.001 and the rise gets rough above 0.006: base_lr 0.001, max_lr 0.006.",
    ),
    "sgdr": Reference(
        key="sgdr",
        paper="I. Loshchilov, F. Hutter, SGDR: Stochastic Gradient Descent with Warm Restarts (ICLR 2017)",
        arxiv="1608.03983",
        where="Table 1, CIFAR-10, WRN-28-10, median of 5 runs",
        metric="test error %",
        values={"step_lr0.1": 4.24, "sgdr_T0=1_Tm=2": 4.09, "sgdr_T0=10_Tm=2": 4.03},
        iterations={},
        # the step schedule ends at epoch 200; each SGDR run at its last restart within 200 epochs (§3: "the end of
        # the last performed run"; T_0 = 10 at epoch 150 per §4.3, T_0 = 1 at 127 = 1 + 2 + … + 64, inferred)
        epochs={"step_lr0.1": 200, "sgdr_T0=1_Tm=2": 127, "sgdr_T0=10_Tm=2": 150},
        protocol=("WRN-28-10, 200 epochs, batch 128, SGD momentum 0.9 (eq. 3–4: the LR inside the velocity), "
                  "weight decay 5e-4, η_max 0.05 (SGDR); default schedule η0 × 0.2 at epochs 60 / 120 / 160. "
                  "Each value is the median of 5 runs; SGDR's are read at the end of its last cycle (T_0 = 10: "
                  "epoch 150, §4.3)."),
        claim="SGDR reaches ~4 % test error 2–4× faster (in epochs) than the default step schedule.",
        other={"Table 1, WRN-28-10, test error % (median of 5)": {
                   "default, η0 0.05": 4.13, "T0=50, Tm=1": 4.17, "T0=100, Tm=1": 4.07, "T0=200, Tm=1": 3.86},
               "Table 1, CIFAR-100, WRN-28-10, test error % (median of 5)": {
                   "default, η0 0.1": 20.33, "default, η0 0.05": 20.21, "T0=50, Tm=1": 19.99, "T0=100, Tm=1": 19.87,
                   "T0=200, Tm=1": 19.98, "T0=1, Tm=2": 19.74, "T0=10, Tm=2": 19.58}},
    ),
    "onecycle": Reference(
        key="onecycle",
        paper=("L. N. Smith, N. Topin, Super-Convergence: Very Fast Training of Neural Networks Using Large Learning "
               "Rates (2017); L. N. Smith, A disciplined approach to neural network hyper-parameters (2018)"),
        arxiv="1708.07120; 1803.09820",
        where=("Smith & Topin Fig. 1a (ResNet-56) and the ResNet-20 comparison, CIFAR-10; values as transcribed from "
               "v3 and matching the authors' Caffe logs (lnsmith54/super-convergence), not checked against the "
               "paper's own text, which was not readable here"),
        metric="test accuracy %",
        values={"clr_0.1-3.0": 92.4, "piecewise_lr0.35": 91.2},
        iterations={"clr_0.1-3.0": 10_000, "piecewise_lr0.35": 80_000},
        protocol=("ResNet-56, total batch 1,000 (125 per GPU × 8 GPUs, Caffe), SGD momentum 0.9, weight decay 1e-4, "
                  "mirror-only augmentation; one triangular cycle 0.1 → 3.0 → 0.1, stepsize 5,000, 10,000 "
                  "iterations (200 epochs), BatchNorm moving-average fraction 0.95; against piecewise constant "
                  "0.35, ×0.1 at 50k and 70k, 80,000 iterations, fraction 0.999. Final test accuracy."),
        claim=("One cycle reaches the accuracy of a piecewise-constant schedule in far fewer iterations "
               "(10,000 against 80,000 for ResNet-56: 92.4 % against 91.2 %)."),
        other={"ResNet-20 (per the authors' logs: stepsize 5k, 10k iterations)": {
                   "clr_0.1-3.0": 90.4, "piecewise_lr0.35": 88.6},
               "ResNet-110 (total batch 800)": {"clr_0.1-3.0": 92.1, "piecewise_lr0.35": 91.0},
               "Table 1, ResNet-56 by training images: PC-LR @ 80k / CLR @ 10k": {
                   "40k PC": 89.1, "40k CLR": 91.1, "30k PC": 85.7, "30k CLR": 89.6, "20k PC": 82.7,
                   "20k CLR": 87.9, "10k PC": 71.4, "10k CLR": 80.6}},
    ),
    "ulmfit": Reference(
        key="ulmfit",
        paper="J. Howard, S. Ruder, Universal Language Model Fine-tuning for Text Classification (ACL 2018)",
        arxiv="1801.06146",
        where=("Table 7 (classifier fine-tuning ablation; validation error %, IMDb / TREC-6 / AG), §3.2 "
               "(discriminative fine-tuning, STLR), §3.3 (gradual unfreezing)"),
        metric="validation error % on IMDb (TREC-6 and AG in `other`)",
        values={"scratch": 9.93, "frozen": 6.49, "full": 6.87, "discriminative": 5.57, "gradual": 5.00},
        protocol=("AWD-LSTM pre-trained on WikiText-103, fine-tuned as a classifier; η^{l−1} = η^l / 2.6; "
                  "slanted triangular LRs (cut_frac 0.1, ratio 32, η_max 0.01); gradual unfreezing one layer "
                  "group per epoch from the top; Adam β 0.7 / 0.99, batch 64, 50 epochs; baselines early-stopped. "
                  "lrkit's arms map to Table 7's rows: scratch = 'From scratch', frozen = 'Last', full = 'Full', "
                  "discriminative = 'Full + discr', gradual = 'Freez + discr + stlr' (full ULMFiT)."),
        claim=("Discriminative fine-tuning + STLR + gradual unfreezing beat fine-tuning the whole model at one LR "
               "(Table 7: 5.00 against 6.87 % error on IMDb)."),
        other={"Table 7, TREC-6 validation error %": {"scratch": 13.36, "frozen": 16.09, "full": 6.86,
                                                       "discriminative": 6.21, "gradual": 5.69},
               "Table 7, AG validation error %": {"scratch": 6.81, "frozen": 8.38, "full": 5.81,
                                                   "discriminative": 5.62, "gradual": 5.38},
               "Table 7, rows lrkit does not run (IMDb / TREC-6 / AG)": {
                   "Chain-thaw": 5.39, "Freez": 6.37, "Freez + discr": 5.39, "Freez + stlr": 5.04,
                   "Freez + cos": 5.70},
               "recipe": {"layer_factor": 2.6, "stlr_cut_frac": 0.1, "stlr_ratio": 32, "stlr_max_lr": 0.01}},
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
