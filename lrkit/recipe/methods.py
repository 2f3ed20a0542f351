"""LR methods side by side: where each gets its LR, which optimizer, which schedule.

A :class:`Method` is plain data. :data:`METHODS` holds the ones ``lrkit bench run methods`` compares on the
fast recipe (:mod:`lrkit.recipe`): the recipe run with another LR method. A method gets its LR in one of
three ways (what a self-tuning optimizer's ``lr`` means: :mod:`lrkit.training.self_tuning`).

- **From the range test.** The method sets ``rule``, the use that :meth:`lrkit.rangetest.RangeTest.suggest`
  reads: ``"constant"``, ``"one_cycle"`` (also the peak of warmup + cosine, WSD and SGDR), or ``"clr"``,
  which gives base and max.
- **Set by hand.** ``lr`` is a fixed number. The grid of the reference "best of a small grid" works this
  way, and so does schedule-free AdamW at its package's default.
- **Estimated by the optimizer.** Prodigy and D-Adaptation take ``lr = 1``, a multiplier of the step size
  they estimate.

The schedule is built by :func:`build_schedule` from the peak, the total number of steps and, for CLR,
the base. Every shape parameter is a constant of this module, and each one says where it comes from.
This module is pure: no torch. :func:`lrkit.recipe.train_recipe` turns a method into an optimizer and a
:class:`~lrkit.training.ScheduledLR`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .. import schedules as S
from ..utils import did_you_mean

__all__ = ["METHODS", "OPTIMIZER_KINDS", "SCHEDULE_KINDS", "WARMUP_FRAC", "Method", "build_schedule",
           "get_method", "grid_method"]

#: warm-up length of warmup + cosine, WSD and the schedule-free optimizers, as a fraction of the run. It is
#: the same for all of them, so that they differ only in what follows the warm-up (10 %: a common choice
#: for short runs, not tuned here).
WARMUP_FRAC = 0.10
#: WSD's cooldown: 20 % of the run, 1-sqrt shape (Hägele et al. 2024, §3: the best of the shapes they tried)
WSD_COOLDOWN_FRAC, WSD_COOLDOWN = 0.20, "1-sqrt"
#: SGDR: T_mult = 2 and 3 cycles (1 + 2 + 4 = 7 units), so the run ends at the end of a cycle, as the paper
#: evaluates; T_0 = total / 7
SGDR_CYCLES, SGDR_T_MULT = 3, 2
#: CLR triangular2: 2 whole cycles per run (step = total / 4), ending at base_lr
CLR_CYCLES = 2

#: what ``Method.optimizer`` may be: ``sgd`` is the recipe's own SGD (Nesterov, the bias-LR multiplier,
#: weight decay tied to the LR); the others come from their packages (the ``[modern]`` extra)
OPTIMIZER_KINDS = ("sgd", "sgd_schedulefree", "adamw_schedulefree", "prodigy", "dadapt_sgd")
SCHEDULE_KINDS = ("constant", "one_cycle", "warmup_cosine", "wsd", "sgdr", "clr", "cosine", "none")


@dataclass(frozen=True)
class Method:
    """One LR method (plain data).

    ``rule``: the range-test use its LR comes from (None: ``lr`` is given). ``optimizer``: one of
    :data:`OPTIMIZER_KINDS`; ``options``: its keyword arguments beyond lr / weight decay / warm-up.
    ``schedule``: one of :data:`SCHEDULE_KINDS`. ``family`` groups methods in tables and figures.
    ``lr_scale`` multiplies the range test's suggestion (and CLR's base with it), for an optimizer whose
    documentation says how its LR relates to plain SGD's.
    """

    name: str
    label: str
    family: str
    schedule: str
    optimizer: str = "sgd"
    rule: str | None = None
    lr: float | None = None
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    note: str = ""
    lr_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZER_KINDS:
            raise ValueError(f"method {self.name}: optimizer must be one of {OPTIMIZER_KINDS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULE_KINDS:
            raise ValueError(f"method {self.name}: schedule must be one of {SCHEDULE_KINDS}, got {self.schedule!r}")
        if (self.rule is None) == (self.lr is None):
            raise ValueError(f"method {self.name}: give exactly one of rule (an LR from the range test) and lr")
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"method {self.name}: lr must be > 0, got {self.lr!r}")
        if not (isinstance(self.lr_scale, (int, float)) and 0 < self.lr_scale < float("inf")):
            raise ValueError(f"method {self.name}: lr_scale must be a finite number > 0, got {self.lr_scale!r}")
        if self.lr_scale != 1.0 and self.rule is None:
            raise ValueError(f"method {self.name}: lr_scale scales the range test's suggestion; with a given lr, "
                             "set lr itself")
        if self.schedule == "clr" and self.rule != "clr":
            raise ValueError(f"method {self.name}: the clr schedule needs rule='clr' (its base and max)")

    @property
    def range_test(self) -> bool:
        return self.rule is not None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if d["lr_scale"] == 1.0:  # the default is left out: stored results' configs (hashed) predate the field
            del d["lr_scale"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Method:
        return cls(**d)


def build_schedule(method: Method, peak: float, total: int, *, base: float | None = None,
                   one_cycle: dict[str, Any] | None = None) -> S.Schedule | None:
    """``method``'s LR schedule over ``total`` steps, at ``peak`` (the LR of the constant phase, of the
    one-cycle peak, CLR's max_lr, η_max of SGDR, or the multiplier of an LR-free optimizer).
    ``base``: CLR's base_lr. ``one_cycle``: the recipe's OneCycle shape (``pct_start``, ``div_factor``,
    ``final_div_factor``). ``None`` for ``"none"``: the optimizer keeps its LR (schedule-free)."""
    kind = method.schedule
    warm = max(1, round(WARMUP_FRAC * total))
    if kind == "none":
        return None
    if kind == "constant":
        return S.Constant(peak)
    if kind == "one_cycle":
        shape = one_cycle or {}
        return S.OneCycle(max_lr=peak, total_steps=total, anneal="linear", **shape)
    if kind == "warmup_cosine":
        return S.warmup(S.Cosine(peak, total - warm), warm, prefix=True)
    if kind == "wsd":
        return S.WSD(peak, total, warmup_steps=warm, cooldown_frac=WSD_COOLDOWN_FRAC, cooldown=WSD_COOLDOWN)
    if kind == "sgdr":
        units = sum(SGDR_T_MULT ** k for k in range(SGDR_CYCLES))
        return S.CosineWarmRestarts(total / units, SGDR_T_MULT, eta_max=peak)
    if kind == "clr":
        if base is None:
            raise ValueError(f"method {method.name}: the clr schedule needs base (CLR's base_lr)")
        return S.triangular2(base, peak, total / (2 * CLR_CYCLES))
    if kind == "cosine":
        return S.Cosine(peak, total)
    raise ValueError(f"unknown schedule kind {kind!r}")  # pragma: no cover - __post_init__ checks it


#: the methods of ``lrkit bench run methods`` (the grid's members are made by :func:`grid_method`)
METHODS: dict[str, Method] = {m.name: m for m in [
    Method("constant_rt", "constant (range test)", "range test", "constant", rule="constant"),
    Method("one_cycle_rt", "one-cycle (range test)", "range test", "one_cycle", rule="one_cycle",
           note="the fast recipe itself (without its Lookahead averaging)"),
    Method("warmup_cosine_rt", "warmup + cosine (range test)", "range test", "warmup_cosine", rule="one_cycle"),
    Method("wsd_rt", "WSD, 1-sqrt cooldown (range test)", "range test", "wsd", rule="one_cycle"),
    Method("sgdr_rt", "SGDR, 3 cycles (range test)", "range test", "sgdr", rule="one_cycle"),
    Method("clr_rt", "CLR triangular2 (range test)", "range test", "clr", rule="clr"),
    Method("sf_sgd_rt", "schedule-free SGD (range test)", "schedule-free", "none", "sgd_schedulefree",
           rule="one_cycle", options={"momentum": 0.9},
           note="the one-cycle peak from the range test as lr; momentum 0.9 (the package default)"),
    # added after the first lite run, where sf_sgd_rt (SGD's one-cycle peak as lr) reached 47 % against
    # 71–83 % for the others: the schedulefree README advises an SGD lr 10–50× larger than classical rates.
    # The classical rate here is the range test's constant-LR suggestion (min/10); ×10 is the low end of
    # that advice, taken as written, not searched.
    Method("sf_sgd_rt10", "schedule-free SGD (range test ×10)", "schedule-free", "none", "sgd_schedulefree",
           rule="constant", lr_scale=10.0, options={"momentum": 0.9},
           note="10 × the range test's constant-LR suggestion, the low end of the schedulefree README's "
                "'10x to 50x larger than classical rates' for SGD; momentum 0.9"),
    Method("sf_adamw", "schedule-free AdamW (default lr)", "schedule-free", "none", "adamw_schedulefree",
           lr=0.0025, note="the package's default lr 0.0025 and betas; no range test"),
    Method("prodigy", "Prodigy + cosine (lr = 1)", "LR-free", "cosine", "prodigy", lr=1.0,
           # the prodigyopt README recommends lr = 1 and cosine annealing; it advises safeguard_warmup, bias
           # correction and weight decay 0.01 for diffusion models, and we use them here too
           options={"safeguard_warmup": True, "use_bias_correction": True, "weight_decay": 0.01},
           note="lr = 1 with cosine annealing, safeguard_warmup and bias correction, as the prodigyopt README "
                "advises; decoupled weight decay 0.01 (torch AdamW's default)"),
    Method("dadapt_sgd", "D-Adaptation SGD + cosine (lr = 1)", "LR-free", "cosine", "dadapt_sgd", lr=1.0,
           options={"momentum": 0.9, "weight_decay": 5e-4},
           note="lr = 1 with cosine annealing, momentum 0.9, weight decay 5e-4 (the usual CIFAR value)"),
]}


def grid_method(lr: float) -> Method:
    """One member of the reference grid: the recipe's one-cycle at the hand-set peak ``lr``."""
    return Method(f"grid_one_cycle_{lr:g}", f"one-cycle, peak {lr:g} (grid)", "grid", "one_cycle", lr=float(lr))


def get_method(name: str | Method) -> Method:
    """A :class:`Method` by name (``METHODS`` or ``grid_one_cycle_<lr>``), or ``name`` itself if it is one."""
    if isinstance(name, Method):
        return name
    if isinstance(name, str) and name.startswith("grid_one_cycle_"):
        try:
            return grid_method(float(name.removeprefix("grid_one_cycle_")))
        except ValueError:
            pass
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {sorted(METHODS)} or grid_one_cycle_<lr>"
                         + did_you_mean(str(name), METHODS))
    return METHODS[name]
