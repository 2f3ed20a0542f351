"""A fast CIFAR-10 recipe (``lrkit quickstart --target 85|90|94``) and the small quickstart (``lrkit quickstart``).

Written from published ideas, not from anyone's code: patch-whitening first layer (Coates & Ng
2011-style ZCA/PCA of image patches; frozen, as in Jordan 2024, arXiv 2404.00498 §3.2), partial
identity (Dirac) init, BatchNorm with frozen scales and fast-moving statistics, label smoothing
(Szegedy et al. 2016), derandomised *alternating* flips (Jordan 2024 §3.6), Lookahead (Zhang et al.
2019) with a step size ramped up over training, flip/translate test-time augmentation, and a
one-cycle-shaped LR (Smith & Topin 2019) whose peak comes from lrkit's range test.

Everything runs through lrkit's pieces: :class:`~lrkit.recipe.parts.RecipeLoader` is a
:class:`~lrkit.data.BatchLoader` (batch ``i`` still a pure function of ``(seed, i)``), the range test is
:func:`lrkit.rangetest.lr_find`, the schedule a :class:`~lrkit.schedules.OneCycle` driven by
:class:`~lrkit.training.ScheduledLR` inside :func:`lrkit.training.fit`; weight averaging and the
per-epoch curve are ``fit`` callbacks.

The modules, read in this order:

- :mod:`~lrkit.recipe.table`       :data:`RECIPES`: every hyper-parameter with the reason for its value;
                                   :data:`AIRBENCH94`: airbench94's values where they differ (``airbench=True``)
- :mod:`~lrkit.recipe.methods`     :class:`Method`, :data:`METHODS`: the recipe run with another LR method
- :mod:`~lrkit.recipe.parts`       the loader, weight averaging, test-time augmentation, the test curve
- :mod:`~lrkit.recipe.run`         :func:`train_recipe`: setup → find peak → train → final eval → account
- :mod:`~lrkit.recipe.output`      :func:`~lrkit.recipe.output.write_run`: the run folder of both quickstarts
- :mod:`~lrkit.recipe.quickstart`  :func:`quickstart`: a range test, then one-cycle on a subset
"""

from .methods import METHODS, Method, build_schedule, get_method
from .output import write_recipe_run, write_run
from .parts import Curve, RecipeLoader, WeightAverage, evaluate_tta
from .quickstart import QUICKSTART_OPTIMIZERS, QuickstartResult, quickstart
from .run import RecipeResult, train_recipe
from .table import AIRBENCH94, AIRBENCH94_EPOCHS, AIRBENCH94_PEAK, RECIPES, recipe_config

__all__ = ["AIRBENCH94", "AIRBENCH94_EPOCHS", "AIRBENCH94_PEAK", "METHODS", "QUICKSTART_OPTIMIZERS", "RECIPES", "Curve",
           "Method", "QuickstartResult", "RecipeLoader", "RecipeResult", "WeightAverage", "build_schedule",
           "evaluate_tta", "get_method", "quickstart", "recipe_config", "train_recipe", "write_recipe_run", "write_run"]
