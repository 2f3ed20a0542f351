"""Argument types and checks of the ``lrkit`` command (:mod:`lrkit.cli`): every one raises
``argparse.ArgumentTypeError`` or ``ValueError`` with the option's name, before any work is done."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["Parser", "at_least_2", "check_out_dir", "choice", "device_arg", "nonneg_float",
           "nonneg_int", "one_line", "positive_float", "positive_int"]


def one_line(text: str) -> str:
    """``text`` on one line (its lines stripped and joined by spaces)."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


class Parser(argparse.ArgumentParser):
    """argparse with defaults in ``--help`` and usage errors as one line (``prog: message``, exit 2)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        import re

        from ..utils import did_you_mean

        m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if m:  # e.g. a mistyped command: add a "did you mean"
            message += did_you_mean(m.group(1), re.findall(r"'([^']*)'", m.group(2)))
        self.exit(2, f"{self.prog}: {one_line(message)} (see {self.prog} --help)\n")


# --------------------------------------------------------------------------------------------------
# Argument types: each raises ArgumentTypeError, which argparse reports with the option's name
# --------------------------------------------------------------------------------------------------
def _int(s: str, lo: int) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= {lo}, got {s!r}") from None
    if v < lo:
        raise argparse.ArgumentTypeError(f"must be an integer >= {lo}, got {s}")
    return v


def positive_int(s: str) -> int:
    return _int(s, 1)


def nonneg_int(s: str) -> int:
    return _int(s, 0)


def at_least_2(s: str) -> int:
    return _int(s, 2)


def _float(s: str, *, positive: bool) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {s!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {s}")
    if positive and not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {s}")
    if not positive and v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {s}")
    return v


def positive_float(s: str) -> float:
    return _float(s, positive=True)


def nonneg_float(s: str) -> float:
    return _float(s, positive=False)


def choice(choices: Iterable[str]) -> Callable[[str], str]:
    """A type that accepts one of ``choices`` and says "did you mean" otherwise."""
    from ..utils import did_you_mean

    choices = list(choices)

    def parse(s: str) -> str:
        if s not in choices:
            raise argparse.ArgumentTypeError(f"unknown value {s!r}; choose one of {', '.join(choices)}"
                                             + did_you_mean(s, choices))
        return s

    return parse


def device_arg(s: str) -> str:
    """A torch device that exists on this machine: ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    import torch

    try:
        dev = torch.device(s)
    except (RuntimeError, ValueError, TypeError):
        raise argparse.ArgumentTypeError(f"{s!r} is not a torch device (cpu, cuda, cuda:1, mps …)") from None
    if dev.type == "cpu":
        return s
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(f"{s!r} is not available: this machine has no usable CUDA device "
                                             "(torch.cuda.is_available() is False); use --device cpu")
        n = torch.cuda.device_count()
        if dev.index is not None and dev.index >= n:
            raise argparse.ArgumentTypeError(f"{s!r} is not available: this machine has {n} CUDA device(s) "
                                             f"(cuda:0 … cuda:{n - 1})")
        return s
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise argparse.ArgumentTypeError(f"{s!r} is not available on this machine; use --device cpu")
        return s
    raise argparse.ArgumentTypeError(f"{s!r}: lrkit runs on cpu, cuda, cuda:N or mps, not {dev.type!r}")


def check_out_dir(path: str, option: str = "--out") -> None:
    """Refuse an output folder that cannot be one, before any work is done."""
    p = Path(path)
    for q in (p, *p.parents):
        if q.exists():
            if not q.is_dir():
                raise ValueError(f"{option} {path}: {q} exists and is not a folder")
            break
