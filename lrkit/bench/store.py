"""The one results store of lrkit's benchmarks: where each result lives, and "reuse a stored result
if its configuration matches, else refuse" written once.

Layout under ``out`` (default ``runs/bench``)::

    <experiment>/<scale>/manifest.json          format + lrkit version + the experiment's config hashes
    <experiment>/<scale>/<run>-seed<k>.json      one finished run (config, seed, versions, history, wall time);
                                                 ``.json.gz`` when its JSON is over GZIP_ABOVE bytes (a 70k-step
                                                 history: 7 MB as JSON, 1.2 MB gzipped)
    <experiment>/<scale>/.ckpt/<run>-seed<k>-<hash>.pt   the checkpoint of an unfinished run

Every file is written atomically in lrkit's JSON convention (:func:`lrkit.utils.dumps`); a stored
file of another configuration, format or lrkit version is an error (:class:`BenchError`), never
silently overwritten.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import __version__
from ..utils import atomic_write_bytes, atomic_write_text, dumps, loads, read_json, versions

__all__ = ["BenchError", "MANIFEST_FORMAT", "RESULT_FORMAT", "cached", "check_manifest", "load_result",
           "load_results", "on_disk", "result_path", "result_record", "stored", "write_manifest", "write_record"]

RESULT_FORMAT = "lrkit-bench-result-1"
MANIFEST_FORMAT = "lrkit-bench-manifest-1"


class BenchError(RuntimeError):
    """A benchmark folder or result that cannot be used as asked."""


def canonical(config: Any) -> Any:
    """``config`` as it reads back from JSON (tuples → lists, numpy → python), for comparisons."""
    return loads(dumps(config, sort_keys=True))


#: a stored record whose JSON is longer than this is written gzipped (``<name>.json.gz``)
GZIP_ABOVE = 250_000


def on_disk(path: str | Path) -> Path | None:
    """Where the record named ``path`` (``….json``) is stored: ``path`` itself, or ``path`` + ``.gz``
    (None if neither exists)."""
    path = Path(path)
    for p in (path, path.with_name(path.name + ".gz")):
        if p.exists():
            return p
    return None


def write_record(path: str | Path, text: str) -> Path:
    """Write a record's JSON ``text`` atomically under ``path``, gzipped (``path`` + ``.gz``) when it is
    longer than :data:`GZIP_ABOVE`; returns the file written."""
    path = Path(path)
    if len(text) <= GZIP_ABOVE:
        return atomic_write_text(path, text)
    # mtime=0: the same record gives the same bytes
    return atomic_write_bytes(path.with_name(path.name + ".gz"), gzip.compress(text.encode("utf-8"), mtime=0))


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = read_json(path, "stored result")
    except ValueError as e:
        raise BenchError(f"{e}; move it away or choose another --out") from None
    if not isinstance(doc, dict):
        raise BenchError(f"stored result {path} is not a JSON object; move it away or choose another --out")
    return doc


def stored(path: str | Path, config: Any, *, made: str = "produced by") -> dict[str, Any] | None:
    """The record stored at ``path`` (None if there is none); :class:`BenchError` naming the file if it
    was computed under another ``config`` (the message says it "was <made> another configuration")."""
    path = on_disk(path)
    if path is None:
        return None
    record = _read(path)
    if record.get("config") != canonical(config):
        raise BenchError(f"{path} was {made} another configuration; not overwriting it "
                         "(delete it or choose another --out)")
    return record


def cached(path: str | Path, config: Any, compute: Callable[[], dict[str, Any]], *,
           made: str = "produced by") -> dict[str, Any]:
    """The record stored at ``path`` if it was computed under ``config``; else ``compute()`` it, add
    ``"config"``, store it atomically and return it (as it reads back from the file).

    A file at ``path`` with another ``"config"`` is a :class:`BenchError` naming the file — results of
    another configuration are never overwritten.
    """
    path = Path(path)
    config = canonical(config)
    have = stored(path, config, made=made)
    if have is not None:
        return have
    record = dict(compute())
    record["config"] = config
    text = dumps(record)
    write_record(path, text)
    return loads(text)


# --------------------------------------------------------------------------------------------------
# Results of the experiments' runs
# --------------------------------------------------------------------------------------------------
def result_path(out: str | Path, experiment: str, scale: str, run: str, seed: int) -> Path:
    return Path(out) / experiment / scale / f"{run}-seed{seed}.json"


def result_record(spec: Any, seed: int, *, experiment: str, scale: str, hist: Any, data: Any, device: Any,
                  started: float) -> dict[str, Any]:
    """The result of one finished run (``hist``: its :class:`lrkit.training.History`; ``started``:
    ``time.perf_counter()`` when this session began working on it)."""
    return {
        "format": RESULT_FORMAT, "experiment": experiment, "scale": scale, "run": spec.name, "seed": seed,
        "config": spec.to_dict(), "versions": versions(), "data_source": data.source, "device": str(device),
        "history": hist.to_dict(), "final": hist.final_eval(),
        # wall time of the training itself, summed over resumed sessions (History.wall is cumulative)
        "train_seconds": hist.wall[-1] if hist.wall else None,
        "session_seconds": time.perf_counter() - started,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def load_result(path: str | Path) -> dict[str, Any]:
    res = _read(Path(path))
    if res.get("format") != RESULT_FORMAT:
        raise BenchError(f"{path} is not an lrkit bench result (format {res.get('format')!r})")
    return res


def load_results(out: str | Path, experiment: str, scale: str) -> list[dict[str, Any]]:
    folder = Path(out) / experiment / scale
    if not folder.is_dir():
        return []
    return [load_result(p) for p in sorted([*folder.glob("*-seed*.json"), *folder.glob("*-seed*.json.gz")],
                                           key=lambda p: p.name.removesuffix(".gz"))]


# --------------------------------------------------------------------------------------------------
# Manifests
# --------------------------------------------------------------------------------------------------
def _manifest(folder: Path, experiment: str, scale: str, runs: list[Any]) -> dict[str, Any]:
    """The manifest ``folder`` must hold for ``runs`` (checked against the stored one, if any)."""
    path = folder / "manifest.json"
    want = {"format": MANIFEST_FORMAT, "lrkit": __version__, "experiment": experiment, "scale": scale,
            "runs": {r.name: r.config_hash() for r in runs}}
    if not path.exists():
        return want
    try:
        have = read_json(path, "manifest")
    except ValueError as e:
        raise BenchError(f"{e}; move the folder away or choose another --out") from None
    if have.get("format") != MANIFEST_FORMAT or have.get("lrkit") != __version__:
        raise BenchError(f"{folder} holds results of another lrkit version/format "
                         f"({have.get('format')}, lrkit {have.get('lrkit')}); use another --out")
    changed = sorted(k for k in want["runs"] if k in have.get("runs", {}) and have["runs"][k] != want["runs"][k])
    if changed:
        raise BenchError(f"{folder} holds results of another configuration for runs {changed}; "
                         "use another --out (results are never overwritten silently)")
    want["runs"] = {**have.get("runs", {}), **want["runs"]}
    return want


def check_manifest(folder: str | Path, experiment: str, scale: str, runs: list[Any]) -> None:
    """Raise :class:`BenchError` if ``folder``'s manifest disagrees with ``runs`` (writes nothing)."""
    _manifest(Path(folder), experiment, scale, runs)


def write_manifest(folder: str | Path, experiment: str, scale: str, runs: list[Any]) -> None:
    """Check, then (re)write ``folder``'s manifest, merging the runs it already lists."""
    folder = Path(folder)
    atomic_write_text(folder / "manifest.json", dumps(_manifest(folder, experiment, scale, runs), indent=2))
