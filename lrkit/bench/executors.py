"""Where the bench's runs execute: one small interface, shaped like :class:`concurrent.futures.Executor`,
over existing engines.

=============  ===========================================================================================
``serial``     in this process, one after another (the default; nothing is pickled)
``local``      a pool of ``workers`` processes on this machine (:class:`concurrent.futures.ProcessPoolExecutor`,
               ``spawn`` start method: forking a process whose torch/OpenMP is initialised is unsafe)
``submitit``   one job per call through `submitit <https://github.com/facebookincubator/submitit>`_: Slurm
               when ``sbatch`` is found, else submitit's local executor (``cluster="local"`` forces it)
``ray``        one core Ray task per call (``ray.remote``): the cluster at ``address`` / ``RAY_ADDRESS``, else a
               local instance of ``workers × threads`` CPUs
=============  ===========================================================================================

Every executor is a context manager with ``submit(fn, *args, **kwargs) -> Future`` (a
:class:`concurrent.futures.Future`) and ``map(fn, *iterables)``; :func:`run_all` runs ``fn`` on every item
and returns the results in item order. In every worker, ``torch.set_num_threads(threads)`` (and
``OMP_NUM_THREADS``/``MKL_NUM_THREADS``) is set before ``fn`` runs, ``threads`` defaulting to
``max(1, os.cpu_count() // workers)`` so that the workers share the cores instead of oversubscribing them.
``fn`` and its arguments must be picklable for every kind but ``serial`` (module-level functions, plain data).
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..utils import did_you_mean

__all__ = ["EXECUTORS", "LocalExecutor", "RayExecutor", "SerialExecutor", "SubmititExecutor", "WorkerError",
           "check_executor", "get_executor", "run_all", "set_threads"]

EXECUTORS = ("serial", "local", "submitit", "ray")
SCALE_EXTRA = "pip install 'lrkit[scale]'"
#: submitit's own defaults are 2 min (local) and 5 min (Slurm) per job: far too short for a training run
SUBMITIT_TIMEOUT_MIN = 24 * 60


class WorkerError(RuntimeError):
    """A call failed in a worker whose engine does not hand back the exception itself (submitit)."""


def set_threads(threads: int | None) -> None:
    """Give this process ``threads`` torch CPU threads (None: leave them as they are); call it before torch work."""
    if threads is None:
        return
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # for anything this process starts
        os.environ[var] = str(threads)
    import torch

    torch.set_num_threads(threads)


def _call(threads: int | None, fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> Any:
    """What a worker runs: set the threads, then ``fn(*args, **kwargs)``."""
    set_threads(threads)
    return fn(*args, **kwargs)


def _check_count(name: str, value: int | None) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name} must be a positive int or None, got {value!r}")
    return value


def _default_threads(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // workers)


def _need(module: str, kind: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"executor {kind!r} needs the {module} package ({e}); install it with {SCALE_EXTRA}") from e


class _Base:
    """The context-manager and ``map`` part of :class:`concurrent.futures.Executor`."""

    kind = ""
    workers: int = 1
    threads: int | None = None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future:  # pragma: no cover
        raise NotImplementedError

    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any]) -> Iterable[Any]:
        """Like :meth:`concurrent.futures.Executor.map`: results in order (all calls submitted first)."""
        futures = [self.submit(fn, *args) for args in zip(*iterables, strict=False)]
        return (f.result() for f in futures)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown(wait=True, cancel_futures=exc[0] is not None)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(workers={self.workers}, threads={self.threads})"


class SerialExecutor(_Base):
    """Runs every call at once, in this process (``threads``, when given, is set here for the duration)."""

    kind = "serial"

    def __init__(self, threads: int | None = None):
        self.threads = _check_count("threads", threads)
        self._saved: int | None = None

    def __enter__(self):
        if self.threads is not None:
            import torch

            self._saved = torch.get_num_threads()
            torch.set_num_threads(self.threads)
        return self

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._saved is not None:
            import torch

            torch.set_num_threads(self._saved)
            self._saved = None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future:
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except Exception as e:  # noqa: BLE001 - handed back through the future, like any executor
            fut.set_exception(e)
        return fut


class LocalExecutor(_Base):
    """A pool of ``workers`` spawned processes on this machine, ``threads`` torch threads each."""

    kind = "local"

    def __init__(self, workers: int | None = None, threads: int | None = None):
        import multiprocessing as mp

        self.workers = _check_count("workers", workers) or (os.cpu_count() or 1)
        self.threads = _check_count("threads", threads) or _default_threads(self.workers)
        self._pool = cf.ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"),
                                            initializer=set_threads, initargs=(self.threads,))

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future:
        return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


class SubmititExecutor(_Base):
    """One submitit job per call; at most ``workers`` jobs queued or running at once.

    ``options`` go to :meth:`submitit.AutoExecutor.update_parameters` (``timeout_min``, ``mem_gb``,
    ``gpus_per_node``, ``slurm_partition``, ``slurm_account``, ``slurm_qos``, …); ``cluster`` (None: Slurm if
    available, else local) and ``folder`` (the jobs' pickles and logs) go to the constructor.
    ``cpus_per_task`` defaults to ``threads``, ``timeout_min`` to :data:`SUBMITIT_TIMEOUT_MIN`.
    """

    kind = "submitit"

    def __init__(self, workers: int | None = None, threads: int | None = None, *, folder: str | Path = "runs/submitit",
                 cluster: str | None = None, **options: Any):
        submitit = _need("submitit", self.kind)
        try:
            self._ex = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
        except (ValueError, AssertionError, RuntimeError) as e:  # e.g. an unknown cluster
            raise ValueError(f"submitit: {e}") from None
        self.cluster = self._ex.cluster
        on_this_machine = self.cluster in ("local", "debug")
        # on a cluster the scheduler queues the jobs; here, the workers share this machine's cores
        self.workers = _check_count("workers", workers) or ((os.cpu_count() or 1) if on_this_machine else 1000)
        self.threads = (_check_count("threads", threads) or options.get("cpus_per_task")
                        or (_default_threads(self.workers) if on_this_machine else 1))
        options = {"cpus_per_task": self.threads, "timeout_min": SUBMITIT_TIMEOUT_MIN, **options}
        try:
            self._ex.update_parameters(**options)
        except (NameError, AssertionError, ValueError) as e:  # submitit's ways of saying "bad option"
            raise ValueError(f"submitit: {e}") from None
        # each job is waited for by a thread of this process: this bounds the jobs in flight
        self._waiters = cf.ThreadPoolExecutor(self.workers, thread_name_prefix="lrkit-submitit")
        self._jobs: list[Any] = []
        self._lock = threading.Lock()

    def _run(self, fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> Any:
        job = self._ex.submit(_call, self.threads, fn, args, kwargs)
        with self._lock:
            self._jobs.append(job)
        try:
            return job.result()
        except Exception as e:  # submitit's FailedJobError carries the worker's traceback as text
            raise WorkerError(f"submitit job {job.job_id} failed (log: {job.paths.stderr}):\n{e}") from None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future:
        return self._waiters.submit(self._run, fn, args, kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            with self._lock:
                for job in self._jobs:
                    if not job.done():
                        job.cancel(check=False)
        self._waiters.shutdown(wait=wait, cancel_futures=cancel_futures)


class RayExecutor(_Base):
    """One core Ray task per call, each reserving ``threads`` CPUs (and ``num_gpus`` GPUs).

    Connects to ``address`` (else ``$RAY_ADDRESS``); without either, starts a local instance with
    ``workers × threads`` CPUs and stops it on exit. Environment variables ``LRKIT_*`` of this process
    are handed to the tasks (``runtime_env``), so e.g. ``LRKIT_DATA_DIR`` reaches a cluster's workers.
    """

    kind = "ray"

    def __init__(self, workers: int | None = None, threads: int | None = None, *, address: str | None = None,
                 num_gpus: float = 0, **init_options: Any):
        self._ray = _need("ray", self.kind)
        address = address or os.environ.get("RAY_ADDRESS") or None
        self.workers = _check_count("workers", workers) or (os.cpu_count() or 1)
        # a cluster's CPUs are not this machine's: there, one thread per task unless told
        self.threads = _check_count("threads", threads) or (_default_threads(self.workers) if address is None else 1)
        env = {k: v for k, v in os.environ.items() if k.startswith("LRKIT_")}
        self._owned = False
        if not self._ray.is_initialized():
            kw: dict[str, Any] = {"runtime_env": {"env_vars": env}, "include_dashboard": False,
                                  "log_to_driver": True, **init_options}
            if address is None:
                kw["num_cpus"] = self.workers * self.threads
            self._ray.init(address=address, **kw)
            self._owned = True
        self._task = self._ray.remote(num_cpus=self.threads, num_gpus=num_gpus, max_retries=0)(_call)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future:
        fut: cf.Future = cf.Future()
        ray_fut = self._task.remote(self.threads, fn, args, kwargs).future()

        def done(rf: cf.Future) -> None:
            try:
                fut.set_result(rf.result())
            except self._ray.exceptions.RayTaskError as e:  # hand back the task's own exception
                cause = getattr(e, "cause", None)
                fut.set_exception(cause if isinstance(cause, BaseException) else e)
            except BaseException as e:  # noqa: BLE001 - a worker died, the task was cancelled, …
                fut.set_exception(e)

        ray_fut.add_done_callback(done)
        return fut

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._owned and self._ray.is_initialized():
            self._ray.shutdown()
            self._owned = False


def check_executor(kind: str, *, workers: int | None = None, threads: int | None = None, **options: Any) -> None:
    """Raise what :func:`get_executor` would for these arguments, starting nothing: an unknown ``kind``
    (``ValueError`` with a did-you-mean), bad ``workers`` / ``threads``, options the kind does not take,
    a missing optional package (``ImportError`` naming ``pip install 'lrkit[scale]'``)."""
    import importlib.util

    if kind not in EXECUTORS:
        raise ValueError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}"
                         + did_you_mean(kind, EXECUTORS))
    _check_count("workers", workers)
    _check_count("threads", threads)
    if kind == "serial" and (workers not in (None, 1) or options):
        raise ValueError(f"the serial executor takes no workers or options (got workers={workers!r}, "
                         f"options {sorted(options)}); choose local, submitit or ray to run in parallel")
    if kind == "local" and options:
        raise ValueError(f"the local executor takes no options, got {sorted(options)}")
    if kind in ("submitit", "ray") and importlib.util.find_spec(kind) is None:
        raise ImportError(f"executor {kind!r} needs the {kind} package; install it with {SCALE_EXTRA}")


def get_executor(kind: str = "serial", *, workers: int | None = None, threads: int | None = None,
                 **options: Any) -> _Base:
    """An executor of ``kind`` (one of :data:`EXECUTORS`; see the module docstring).

    ``workers``: processes (``local``), jobs in flight (``submitit``), CPUs of a local Ray instance ÷ ``threads``
    (``ray``); default ``os.cpu_count()``; ``serial`` takes no ``workers``. ``threads``: torch threads of each
    worker, default ``max(1, os.cpu_count() // workers)``. ``options``: the engine's own (submitit: ``folder``,
    ``cluster``, ``update_parameters`` keys; ray: ``address``, ``num_gpus``, ``ray.init`` keywords).
    Errors: :func:`check_executor`.
    """
    check_executor(kind, workers=workers, threads=threads, **options)
    if kind == "serial":
        return SerialExecutor(threads)
    if kind == "local":
        return LocalExecutor(workers, threads)
    if kind == "submitit":
        return SubmititExecutor(workers, threads, **options)
    return RayExecutor(workers, threads, **options)


def run_all(executor: Any, fn: Callable[[Any], Any], items: Iterable[Any], *,
            on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
    """``[fn(item) for item in items]`` through ``executor``, in item order.

    ``on_result(i, result)`` is called in this process as each result arrives (in item order for the
    serial executor, in order of completion otherwise). The first call to fail stops the rest — calls not
    started are cancelled (running ones finish) — and its exception is re-raised, with a note naming the item.
    """
    items = list(items)
    if isinstance(executor, SerialExecutor):  # one after another: a failure stops before the next starts
        results = []
        for i, item in enumerate(items):
            results.append(fn(item))
            if on_result is not None:
                on_result(i, results[-1])
        return results
    futures = {executor.submit(fn, item): i for i, item in enumerate(items)}
    out: list[Any] = [None] * len(items)
    try:
        for fut in cf.as_completed(futures):
            i = futures[fut]
            try:
                out[i] = fut.result()
            except cf.BrokenExecutor as e:  # e.g. BrokenProcessPool
                raise WorkerError(f"a worker process died while running item {i} ({items[i]!r}) — killed, or out "
                                  "of memory? Finished results are kept; run again to resume") from e
            except Exception as e:
                if hasattr(e, "add_note"):
                    e.add_note(f"(raised by a {getattr(executor, 'kind', 'worker')} worker on item {i}: {items[i]!r})")
                raise
            if on_result is not None:
                on_result(i, out[i])
    except BaseException:
        for f in futures:
            f.cancel()
        raise
    return out
