"""The LR range test, measured and read.

- :mod:`~lrkit.rangetest.sweep`          :func:`lr_find`: the loss-based test, a short run of ``fit``
- :mod:`~lrkit.rangetest.accuracy_test`  :func:`accuracy_range_test`: Smith's accuracy-based test, CLR bounds
- :mod:`~lrkit.rangetest.reading`        the LR for a use: the curve in decades, zero-phase; its regime
- :mod:`~lrkit.rangetest.rules`          classic point rules: EMA, steepest / valley / minimum, the bootstrap
- :mod:`~lrkit.rangetest.result`         :class:`RangeTest` (what a sweep measured) and :class:`Suggestion`
- :mod:`~lrkit.rangetest.choice`         :func:`choose_lr`: the one policy from a test to the LR a run uses
"""

from .accuracy_test import AccuracyRangeTest, accuracy_range_test, clr_bounds
from .choice import Choice, choose_lr, lr_from_range_test
from .reading import CLR_RATIO, USE_RULES, USES, SweepReading, read_sweep
from .result import RangeTest, Suggestion
from .rules import POINT_METHODS, ROBUST_BASE, SUGGESTION_METHODS, ema_smooth
from .sweep import Ramp, lr_find

__all__ = ["AccuracyRangeTest", "CLR_RATIO", "Choice", "POINT_METHODS", "ROBUST_BASE", "RangeTest", "Ramp",
           "SUGGESTION_METHODS", "Suggestion", "SweepReading", "USES", "USE_RULES", "accuracy_range_test", "choose_lr",
           "clr_bounds", "ema_smooth", "lr_find", "lr_from_range_test", "read_sweep"]
