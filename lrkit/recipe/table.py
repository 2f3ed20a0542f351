"""The fast recipe's hyper-parameters, each with the reason it has its value: :data:`RECIPES`, one row per
target test accuracy (85, 90, 94 %), airbench-style (one table, a comment per value).

The switches of issue #28 — where lrkit's recipe differs from airbench94 — are entries too, at lrkit's values
by default, so that each difference can be measured alone (``lrkit quickstart --target 94 --set key=value``);
:data:`AIRBENCH94` holds airbench's values, and ``airbench=True`` applies them all at once
(:func:`recipe_config`).

What the recipe is made of and where its ideas come from: :mod:`lrkit.recipe`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AIRBENCH94", "AIRBENCH94_EPOCHS", "AIRBENCH94_PEAK", "RECIPES", "recipe_config"]

# Shared by every target; each line says why. LR values are for the *mean* (not summed) loss.
_COMMON: dict[str, Any] = {
    "whiten_kernel": 2,        # 2×2 patches: 12-dim, cheap; 32→31 px keeps the 3 pools at 15/7/3
    "whiten_eps": 5e-4,        # added to the patch eigenvalues: caps the gain of near-empty directions
    "whiten_images": 5000,     # patch covariance from 5k training images (≈4.8 M patches): plenty for 12×12
    "whiten_bias_epochs": 3,   # whitening filters frozen; its bias learns for the first 3 epochs only
    "bn_momentum": 0.4,        # torch convention (new-batch weight): stats follow the fast-moving weights
    "bn_eps": 1e-12,           # scales frozen at 1 → keep BN exactly scale-invariant, even for quiet channels
    "bn_weight": False,        # BN scales frozen: the convs are scale-invariant, only shifts learn
    "dirac": True,             # partial identity init: the first c_in filters pass their input through
    "head_scale": 1 / 9,       # small logits at init; acts as a LR/temperature cut for the un-normalised head
    "label_smoothing": 0.2,    # short runs overfit the hard labels fast; 0.2 is the published value
    "momentum": 0.85,          # Nesterov; less momentum = less lag behind a schedule that changes in ~500 steps
    "nesterov": True,
    "wd_lr": 1e-3,             # λ·η_peak per step at batch 1024 (×B/1024): fixes the decay per epoch, whatever
                               # peak the range test picks (λ = wd_lr/η); scale-invariant convs make λ·η the knob
    "bias_lr_mult": 4.0,       # BN shifts are not scale-invariant: the weights' effective rate is η/‖w‖² ≈ 3η+
                               # at init (per-filter ‖w‖² ≈ 1/3), so biases get 4η (and λ/4: same λ·η)
    "whiten_bias_group": "biases",  # the whitening conv's bias learns with the BN shifts (bias_lr_mult × η);
                               # "weights": at η with the convs, as airbench94 — what a large multiplier needs
    "pct_start": 0.23,         # LR rises linearly over 23 % of steps, then falls linearly (published shape)
    "div_factor": 5.0,         # start at peak/5 (0.2 → 1.0 in relative units)
    "final_div_factor": 1e4,   # end ≈ 0 (peak / (div_factor · final_div_factor)); 0.2/0.07: end at 0.07 × peak
    "find": {"start_lr": 1e-2, "end_lr": 30.0, "num_iter": 30, "smoothing": 0.1, "val_batches": 1},
    #                          # 30 steps (~2/3 epoch of compute at B=512); loss read on 500 validation images
    "peak_scale": 1.0,         # one-cycle peak = this × suggest(for_="one_cycle") (lrkit's min/3 rule)
    "peak_bounds": (0.05, 20.0),  # clamp: a 30-point test is noisy; outside this it is certainly wrong
    "peak_fallback": 1.0,      # peak used (and recorded) if the test gives no suggestion; also λ during the test
    "average": {"mode": "lookahead", "every": 5, "decay": 0.95, "power": 3},
    #                          # every 5 steps slow ← slow + α(fast − slow), fast ← slow; α = 1 − 0.95⁵·(t/T)³:
    #                          # no averaging early (weights move fast), strong averaging as the LR anneals
    "bn_recompute_batches": 4,  # BN statistics recomputed at the final (averaged) weights: 4 training batches
    "translate": 2,            # random crops of ±2 px (zero pad 2): ±4 costs accuracy in ≤ 12-epoch runs
    "pad_mode": "zeros",       # the crops' border: zeros, or "reflect" (the image mirrored: no black band)
    "train_on_all": False,     # True: the range test still trains on the split and reads the held-out loss, then
                               # the final model trains on the split *and* the held-out images (all 50,000); its
                               # validation accuracy is then not reported (those images were trained on)
    "flip": "alternate",       # each image flipped in alternate epochs (random in the first): no repeats
    "eval_batch_size": 500,
    "curve_every": 1.0,        # test curve every epoch (reporting only; `lrkit bench run methods`: every ½ epoch)
    "curve_tta": 1,            # per-epoch test curve: flip TTA (reporting only)
    "amp_on_cuda": True,       # autocast on CUDA: bfloat16 (no GradScaler, no host sync) where the GPU has it
                               # natively, else float16 + GradScaler ("bfloat16"/"float16": that one); CPU stays
                               # float32 (bf16 is slower on this CPU)
    "compile": False,          # torch.compile the training net (True or a mode, e.g. "max-autotune"); the compile
                               # time counts as training; the range test and evaluations run uncompiled
    "airbench": False,         # True: every AIRBENCH94 value below replaces lrkit's (the A/A check); a key given
                               # explicitly in the overrides still wins
}

#: one dict per target accuracy (%); times are for the 2-core CPU of GUIDE.md (≈1,300 img/s at half
#: width, ≈430 img/s at full width, 2 threads, channels_last)
RECIPES: dict[int, dict[str, Any]] = {
    85: {**_COMMON,
         "widths": (32, 128, 128),  # half width: 3× the throughput of full width
         "epochs": 5,               # 4 epochs: validation 86.6 / 84.5 / 83.3 % on seeds 0-2 (median below 85);
         #                            5 epochs: 156–179 s of training (2 threads, idle, 2026-11-26)
         "batch_size": 512,         # ≈ 88 steps/epoch: enough steps in 4 epochs; CPU speed flat above 256
         "tta": 1},                 # flip TTA: +≈0.3–0.5 points for 2× a (cheap) evaluation
    90: {**_COMMON,
         "widths": (32, 128, 128),
         "epochs": 10,              # 8 epochs: validation 90.64 / 89.98 / 89.80 % on seeds 0-2 (two below 90);
         #                            10 epochs: 91.14 / 90.50 / 90.38 % (benchmarks/tune_recipe.py), ≈ 320 s
         "batch_size": 512,
         "tta": 1},
    94: {**_COMMON,
         "widths": (64, 256, 256),  # the published width: 94 % needs the capacity (half width plateaus lower)
         "epochs": 15,              # 45k × 15 / 430 img/s ≈ 26 min of training: what the 30-min goal leaves.
         #                            Validation (H200, float16, seeds 0-1; BENCHMARKS.md §9): 12 epochs
         #                            93.31–93.87 % over peak × 1-4, 15 epochs 93.88–93.99 %
         "peak_scale": 2.0,         # the best of × 1, 2, 3, 4 on that validation grid (93.99 %; × 3 93.97 %)
         "batch_size": 1024,        # 43 steps/epoch, 645 steps
         "find": {**_COMMON["find"], "num_iter": 20},  # at B=1024 a test point costs 2.4 s: 20 of them
         "tta": 2},                 # flip × {0, 1-px} translate: 4 views, +≈0.2 over flip alone
}
# (the batch size is an entry: `lrkit quickstart --target 94 --set batch_size=512` is the CPU measurement of
# issue #28; wd_lr is per batch of 1024 and scales with B, the range test sets the peak at any B)

#: airbench94's values where lrkit's recipe differs (Keller Jordan's cifar10-airbench, ``airbench94.py``: 94.01 %
#: mean in n = 1000 runs), in lrkit's units. airbench sums the loss and states its LR and weight decay per 1024
#: examples, divided by 1024·(1 + 1/(1 − momentum)) for torch's SGD; for lrkit's mean loss at B = 1024 its LR is
#: 11.5 / (1 + 1/0.15) = 1.50 and its λ·η per step 0.0153 / (1 + 1/0.15) = 2.0e-3 (:data:`AIRBENCH94_PEAK`).
AIRBENCH94: dict[str, Any] = {
    "wd_lr": 2e-3,                   # λ·η per step at the peak: lrkit 1e-3. The convs are scale-invariant, so λ·η
                                     # sets their effective step (∝ √(λη)): 0.7× airbench's at lrkit's 1e-3
    "bias_lr_mult": 64.0,            # its bias_scaler: BN shifts at 64 η (and λ/64: the same λ·η); lrkit 4
    "whiten_bias_group": "weights",  # its whitening bias is among the "other params", at η (64 η would be 96)
    "train_on_all": True,            # it trains on all 50,000 training images; lrkit holds 5,000 out
    "final_div_factor": 0.2 / 0.07,  # its triangle 0.2 → 1 → 0.07: ends at 0.07 × peak; lrkit ≈ 0
    "pad_mode": "reflect",           # its crops pad by reflection; lrkit with zeros
    "tta": 3,                        # its 6 views (tta_level 2): mirror × {0, ±1 px diagonal, reflected}; lrkit 4
}
#: airbench94's peak LR for lrkit's mean loss at B = 1024 (11.5 per 1024 examples, momentum 0.85): the A/A
#: check runs at it (``method=grid_one_cycle_1.5``) instead of the range test's suggestion
AIRBENCH94_PEAK = round(11.5 / (1 + 1 / (1 - 0.85)), 12)  # = 1.5
#: airbench94's length: ceil(48 × 9.9) = 476 steps of 1,024 of the 50,000 images (48 steps per epoch);
#: lrkit rounds epochs × steps per epoch, so 9.92 epochs make the same 476 steps
AIRBENCH94_EPOCHS = 9.92

#: the values some entries may take (checked by :func:`recipe_config`)
_CHOICES: dict[str, tuple] = {
    "pad_mode": ("zeros", "reflect"), "whiten_bias_group": ("biases", "weights"), "tta": (0, 1, 2, 3),
    "curve_tta": (0, 1, 2, 3), "train_on_all": (False, True), "airbench": (False, True),
    "amp_on_cuda": (False, True, "bfloat16", "float16"),
    "compile": (False, True, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"),
    "flip": ("alternate", "random", "none"),
}


def recipe_config(target: int, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The configuration a run of ``RECIPES[target]`` uses: the row, then :data:`AIRBENCH94` when
    ``airbench`` is on (in the row or the overrides), then ``overrides``. ``ValueError`` for an unknown
    target, an unknown key, or a value outside an entry's choices (the on/off switches also take 0 / 1).

    Example:
        >>> cfg = recipe_config(94, {"airbench": True, "tta": 2})
        >>> cfg["wd_lr"], cfg["bias_lr_mult"], cfg["tta"], cfg["epochs"]
        (0.002, 64.0, 2, 15)
    """
    if target not in RECIPES:
        raise ValueError(f"target must be one of {sorted(RECIPES)}, got {target!r}")
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(RECIPES[target])
    if unknown:
        raise ValueError(f"overrides: unknown recipe keys {sorted(unknown)}")
    for key in ("airbench", "train_on_all", "compile"):  # a switch may be given as 0 / 1 (`--set airbench=1`)
        if type(overrides.get(key)) is int and overrides[key] in (0, 1):
            overrides[key] = bool(overrides[key])
    airbench = overrides.get("airbench", RECIPES[target]["airbench"])
    cfg = {**RECIPES[target], **(AIRBENCH94 if airbench is True else {}), **overrides}
    for key, allowed in _CHOICES.items():
        if not any(cfg[key] == a and type(cfg[key]) is type(a) for a in allowed):
            raise ValueError(f"recipe entry {key!r} must be one of {list(allowed)}, got {cfg[key]!r}")
    return cfg
