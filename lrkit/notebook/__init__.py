"""What only the notebooks use: their setup and record, interactive explorers, toy problems, and the
analysis their cells call.

- :mod:`~lrkit.notebook.session`             :func:`setup` (parameters checked, smoke sizes, ``DEVICE``, seed —
  one call, one printed line), :func:`say` (an "in this run" sentence, printed and kept with its inputs),
  :class:`Recorder` (what a notebook's test reads)
- :mod:`~lrkit.notebook.controls`            exact-valued float controls, int sliders, dropdowns
- :mod:`~lrkit.notebook.explorer`            :class:`Explorer`, the base that redraws its figure in place
- :mod:`~lrkit.notebook.explorers`           gradient descent (01), the range test (02), discriminative LRs (06)
- :mod:`~lrkit.notebook.schedule_explorers`  cyclic (03), SGDR (04), one-cycle (05), warm-up and WSD (08)
- :mod:`~lrkit.notebook.toy`                 toy loss surfaces, gradient descent on them, their figures (01)
- :mod:`~lrkit.notebook.analysis`            what the notebooks read off their runs (curve noise, who led when,
  restarts, weight norms, the methods bench)
- :mod:`~lrkit.notebook.tools`               finding the data, prose from numbers, the "did it reproduce?" box

A notebook imports the learner's names from :mod:`lrkit` and the rest from here.
"""

from . import analysis, toy
from .explorers import DiscriminativeExplorer, GradientDescentExplorer, RangeTestExplorer
from .schedule_explorers import CyclicExplorer, OneCycleExplorer, SGDRExplorer, WSDExplorer
from .session import Recorder, Session, check_parameters, current, say, setup
from .tools import data_available, default_results_dir, lead, reproduction_box
from .toy import plot_gradient_descent, plot_lr_regimes

__all__ = ["CyclicExplorer", "DiscriminativeExplorer", "GradientDescentExplorer", "OneCycleExplorer",
           "RangeTestExplorer", "Recorder", "SGDRExplorer", "Session", "WSDExplorer", "analysis", "check_parameters",
           "current", "data_available", "default_results_dir", "lead", "plot_gradient_descent", "plot_lr_regimes",
           "reproduction_box", "say", "setup", "toy"]
