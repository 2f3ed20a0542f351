"""Everything that steps an optimizer: the one loop and what it is made of.

- :mod:`~lrkit.training.loop`        :func:`fit` (the loop, as named phases), :func:`train_step`, :func:`evaluate`
- :mod:`~lrkit.training.runtime`     :class:`Runtime`: device, AMP dtype, channels_last, GradScaler — resolved once
- :mod:`~lrkit.training.callbacks`   :class:`Callback` (the documented protocol) and :class:`StopTraining`
- :mod:`~lrkit.training.history`     :class:`History`, what a run recorded
- :mod:`~lrkit.training.checkpoint`  ``save`` / ``load`` side by side, one ``FORMAT``
- :mod:`~lrkit.training.scheduler`   :class:`ScheduledLR`: the only writer of a param group's LR and momentum
- :mod:`~lrkit.training.optim`       :class:`CaffeSGD`, :func:`make_optimizer`
- :mod:`~lrkit.training.self_tuning` optimizers that set their own LR: schedule-free, LR-free
- :mod:`~lrkit.training.state`       :class:`preserve_training_state`: exact in-memory save and restore
- :mod:`~lrkit.training.distributed` data-parallel training under torch.distributed
- :mod:`~lrkit.training.compare`     runs side by side: one model per schedule, WSD's branches
"""

from .callbacks import Callback, StopTraining
from .compare import run_schedules, run_wsd_branches
from .history import History
from .loop import StepResult, evaluate, fit, train_step
from .optim import OPTIMIZERS, CaffeSGD, make_optimizer
from .runtime import Runtime, model_device
from .scheduler import ScheduledLR
from .self_tuning import eval_weights, recompute_bn, sets_own_lr
from .state import preserve_training_state

__all__ = ["OPTIMIZERS", "CaffeSGD", "Callback", "History", "Runtime", "ScheduledLR", "StepResult", "StopTraining",
           "eval_weights", "evaluate", "fit", "make_optimizer", "model_device", "preserve_training_state",
           "recompute_bn", "run_schedules", "run_wsd_branches", "sets_own_lr", "train_step"]
