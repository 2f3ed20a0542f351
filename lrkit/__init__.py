"""lrkit: learning rates, taught and measured.

Modules, one concept each:

- :mod:`lrkit.schedules`  pure schedule math, ``lr(t)`` for an iteration ``t``
- :mod:`lrkit.scheduler`  a real ``torch.optim.lr_scheduler.LRScheduler`` driving any optimizer
- :mod:`lrkit.finder`     the LR range test and its suggestions
- :mod:`lrkit.data`       CIFAR-10 (online download or a local copy) with in-memory batched augmentation
- :mod:`lrkit.models`     reference models (Smith's Caffe net, CIFAR ResNets, a fast net)
- :mod:`lrkit.train`      the one training loop, ``History`` and a Caffe-semantics SGD
- :mod:`lrkit.plot`       matplotlib figures for every result
- :mod:`lrkit.cli`        the ``lrkit`` command
"""

__version__ = "0.1.0"
