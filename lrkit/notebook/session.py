"""A notebook's first call and its sentences: :func:`setup` and :func:`say`.

**setup** — the one call after a notebook's ``parameters`` cell::

    setup(globals(), smoke=dict(ITERATIONS=30, BATCH_SIZE=32))

checks every parameter (:func:`check_parameters`; the parameters are the
notebook's ALL-CAPS names), and then

- ``SMOKE = True``: sets the small sizes given as ``smoke`` (what the tests run, ≤ 2 min per notebook);
- ``DEVICE``: ``"auto"`` becomes ``"cuda"`` when ``torch.cuda.is_available()``, else ``"cpu"``; a named
  device (``"cpu"``, ``"cuda:1"``) is checked; the notebook's ``DEVICE`` is replaced by the result;
- ``THREADS``: ``torch.set_num_threads`` when given;
- ``SEED``: :func:`lrkit.utils.seed_everything` (python, numpy, torch);

and prints one line saying what it did. It returns the :class:`Session` (also :func:`current`), which
knows the machine (:func:`machine`) and collects the notebook's sentences.

**say** — an "in this run" sentence, printed and kept with its inputs::

    say("sgdr_vs_step", "In this run SGDR ended {lead} against step decay ({a:.2f} % vs {b:.2f} %).",
        lead=lead(final["sgdr"], final["step"]), a=100 * final["sgdr"], b=100 * final["step"])

The sentence is ``template.format(**inputs)``. The notebook's record cell writes every sentence —
template, inputs and text — into its results (:class:`Recorder`), and ``tests/system/test_notebooks.py``
recomputes the inputs from the recorded numbers and renders the template again: a swapped argument, an
inverted comparison or a wrong count changes the text, and the test sees it.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..utils import atomic_write_text, dumps, jsonable

__all__ = ["Recorder", "Session", "check_parameters", "current", "machine", "resolve_device", "say", "setup"]

#: the values a notebook parameter can hold (anything else ALL-CAPS in the namespace is not a parameter)
_PARAMETER_TYPES = (type(None), bool, int, float, str, list, tuple, os.PathLike)


@dataclass
class Session:
    """What :func:`setup` decided for one notebook run, and the sentences :func:`say` printed.

    ``overrides``: ``{name: (value before, smoke value)}`` for the sizes smoke mode changed;
    ``sentences``: ``{key: {"template", "inputs", "text"}}`` in the order they were said.
    """

    smoke: bool = False
    seed: int | None = None
    device: str | None = None
    threads: int | None = None
    overrides: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    sentences: dict[str, dict[str, Any]] = field(default_factory=dict)
    started: float = field(default_factory=time.time)

    def line(self) -> str:
        """The one line :func:`setup` prints."""
        mode = "smoke mode" if self.smoke else "full mode"
        if self.overrides:
            mode += " (" + ", ".join(f"{k} {a!r} → {b!r}" for k, (a, b) in self.overrides.items()) + ")"
        parts = [mode]
        if self.device is not None:
            where = self.machine.get("gpu") if self.device.startswith("cuda") else self.machine.get("cpu")
            parts.append(f"device {self.device}" + (f" ({where})" if where else ""))
        if self.machine.get("torch_threads"):
            n = self.machine["torch_threads"]
            parts.append(f"{n} torch thread{'s' if n != 1 else ''}")
        if self.seed is not None:
            parts.append(f"seed {self.seed}")
        return " · ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """What a notebook's results record about its run (``meta`` of :class:`Recorder`)."""
        return {"smoke": self.smoke, "seed": self.seed, "device": self.device, "threads": self.threads,
                "overrides": {k: list(v) for k, v in self.overrides.items()}, "machine": self.machine,
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.started))}

    def say(self, key: str, template: str, **inputs: Any) -> None:
        """Print ``template.format(**inputs)`` and keep it under ``key`` (see :func:`say`)."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"say: key must be a non-empty string, got {key!r}")
        if not isinstance(template, str):
            raise ValueError(f"say: template must be a string, got {type(template).__name__}")
        try:
            text = template.format(**inputs)
        except (KeyError, IndexError) as e:
            raise ValueError(f"say({key!r}): the template names {e} but no such input was given "
                             f"(inputs: {sorted(inputs)})") from e
        self.sentences[key] = {"template": template, "inputs": jsonable(inputs), "text": text}
        print(text)


_CURRENT: Session | None = None


def current() -> Session:
    """The session of the running notebook (a blank one before :func:`setup` is called)."""
    global _CURRENT
    if _CURRENT is None:
        _CURRENT = Session()
    return _CURRENT


def say(key: str, template: str, **inputs: Any) -> None:
    """Print an "in this run" sentence and keep it — template, inputs, text — for the notebook's record
    (:meth:`Session.say` of :func:`current`). ``key`` names the sentence (saying a key again replaces it);
    ``template`` is a :meth:`str.format` string over ``inputs``.

    Example:
        >>> say("demo", "{name} ended {d:.1f} pp ahead", name="SGDR", d=1.234)
        SGDR ended 1.2 pp ahead
        >>> current().sentences["demo"]["inputs"]
        {'name': 'SGDR', 'd': 1.234}
    """
    current().say(key, template, **inputs)


def machine(torch_used: bool = True) -> dict[str, Any]:
    """The machine a notebook ran on: CPU model and cores, torch's threads and version, the GPU (when
    CUDA is available), Python. ``torch_used=False`` leaves torch out (notebook 01 is numpy only)."""
    info: dict[str, Any] = {"cpu": _cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
                            "platform": platform.platform(terse=True)}
    if torch_used:
        import torch

        info.update(torch=torch.__version__, torch_threads=torch.get_num_threads(),
                    gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
    return info


def _cpu_model() -> str:
    """``model name`` of ``/proc/cpuinfo`` (Linux), else ``platform.processor()``."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def resolve_device(device: Any) -> str:
    """``"auto"`` → ``"cuda"`` when CUDA is available, else ``"cpu"``; any other name is checked as a torch
    device (``ValueError`` naming ``DEVICE`` for an unknown name or a CUDA device that is not there)."""
    import torch

    if device is None or device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"notebook parameter DEVICE must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from e
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"DEVICE={device!r} but CUDA is not available here; use DEVICE = 'auto' or 'cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"DEVICE={device!r} but only {torch.cuda.device_count()} CUDA device(s) are visible")
    return str(dev)


def parameters_of(namespace: dict[str, Any]) -> dict[str, Any]:
    """The notebook parameters in ``namespace``: its ALL-CAPS names holding a parameter's kind of value
    (None, bool, int, float, str, list, tuple, a path) — not modules, functions or tables."""
    return {k: v for k, v in namespace.items()
            if k.isupper() and k.isidentifier() and not k.startswith("_") and isinstance(v, _PARAMETER_TYPES)}


def _apply_smoke(namespace: dict[str, Any], smoke: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Set the smoke sizes in ``namespace``; ``{name: (before, after)}`` for those that changed."""
    unknown = sorted(set(smoke) - set(namespace))
    if unknown:
        raise ValueError(f"setup: smoke names {unknown}, which are not parameters of this notebook")
    changed = {k: (namespace[k], v) for k, v in smoke.items() if namespace[k] != v}
    namespace.update(smoke)
    return changed


def setup(namespace: dict[str, Any], *, smoke: dict[str, Any] | None = None, quiet: bool = False) -> Session:
    """Check a notebook's parameters and prepare its run (see the module docstring): smoke sizes when
    ``SMOKE``, ``DEVICE`` resolved, torch threads, the seed. Prints one line unless ``quiet``; returns the
    new :class:`Session`, which :func:`current` returns from now on.

    Example:
        >>> ns = {"SMOKE": True, "SEED": 0, "ITERATIONS": 3000}
        >>> s = setup(ns, smoke={"ITERATIONS": 30})
        smoke mode (ITERATIONS 3000 → 30) · seed 0
        >>> ns["ITERATIONS"], s.overrides
        (30, {'ITERATIONS': (3000, 30)})
    """
    global _CURRENT
    if not isinstance(namespace, dict):
        raise ValueError(f"setup: pass the notebook's globals(), got {type(namespace).__name__}")
    check_parameters(**parameters_of(namespace))
    session = Session(smoke=bool(namespace.get("SMOKE", False)), seed=namespace.get("SEED"))
    if session.smoke and smoke:
        session.overrides = _apply_smoke(namespace, dict(smoke))
    check_parameters(**parameters_of(namespace))       # the smoke sizes are parameters too
    torch_used = "DEVICE" in namespace or namespace.get("THREADS") is not None
    if torch_used:
        import torch

        if namespace.get("THREADS"):
            torch.set_num_threads(int(namespace["THREADS"]))
        session.threads = torch.get_num_threads()
        session.device = namespace["DEVICE"] = resolve_device(namespace.get("DEVICE", "auto"))
    if session.seed is not None:
        if torch_used:
            from ..utils import seed_everything

            seed_everything(session.seed)
        else:
            import random

            import numpy as np

            random.seed(session.seed)
            np.random.seed(session.seed % 2**32)
    session.machine = machine(torch_used)
    _CURRENT = session
    if not quiet:
        print(session.line(), file=sys.stdout)
    return session


# --------------------------------------------------------------------------------------------------
# The record: what a notebook's test reads
# --------------------------------------------------------------------------------------------------
class Recorder:
    """Collects a notebook's key results and writes them to ``path`` as JSON after every call.

    ``rec = Recorder(RESULTS_PATH, notebook=..., smoke=SMOKE)``; ``rec("suggested_lr", 0.01)``. The record
    starts with ``meta`` (the keywords given, the kernel's ``sys.prefix``, and the :class:`Session` of
    :func:`setup` under ``"run"``) and ``sentences`` (every :func:`say` so far: template, inputs, text).
    With ``path=None`` the values are only kept in ``rec.data`` (interactive use). The file is replaced
    atomically. Notebooks call it in one final, collapsed cell, so nothing of it shows in the tutorial.
    """

    def __init__(self, path: str | os.PathLike | None = None, **meta: Any) -> None:
        self.path = Path(path) if path else None
        session = current()
        # sys.prefix shows which environment the kernel ran in (the runner checks it is its own)
        self.data: dict[str, Any] = {"meta": jsonable({**meta, "python_prefix": sys.prefix, "run": session.to_dict()}),
                                     "sentences": jsonable(session.sentences)}
        self._write()

    def __call__(self, name: str, value: Any) -> Any:
        self.data[str(name)] = jsonable(value)
        self._write()
        return value

    record = __call__

    def _write(self) -> None:
        if self.path is None:
            return
        atomic_write_text(self.path, dumps(self.data, indent=1))


def check_parameters(**params: Any) -> dict[str, Any]:
    """Type-check a notebook's parameters (what papermill injected); returns them unchanged.

    ``SMOKE`` must be a bool; ``SEED`` an int ≥ 0; a name ending in ``_DIR`` or ``_PATH`` a string
    or None; ``THREADS`` and every other int-valued size a positive int or None; a float parameter a
    finite number. A wrong one is a ``ValueError`` naming it (``-p SMOKE yes`` is refused, not taken as
    true).
    """
    import math

    for name, v in params.items():
        if name == "SMOKE":
            ok, want = isinstance(v, bool), "True or False"
        elif name == "SEED":
            ok, want = isinstance(v, int) and not isinstance(v, bool) and v >= 0, "an int >= 0"
        elif name.endswith(("_DIR", "_PATH")):
            ok, want = v is None or isinstance(v, (str, os.PathLike)), "a path (str) or None"
        elif isinstance(v, float):
            ok, want = math.isfinite(v) and v > 0, "a finite number > 0"
        elif isinstance(v, (list, tuple, str)):
            ok, want = True, ""
        else:
            ok, want = v is None or (isinstance(v, int) and not isinstance(v, bool) and v > 0), "an int > 0 or None"
        if not ok:
            raise ValueError(f"notebook parameter {name} must be {want}, got {v!r} ({type(v).__name__})")
    return params
