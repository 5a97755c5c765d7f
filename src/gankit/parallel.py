"""Independent runs over worker processes: one per core on the CPU, each with one thread.

Two processes with two OpenMP threads each on two cores slow each other down many
times over, so every worker pins torch to one thread. Each run is seeded, so the
results do not depend on the number of workers.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

import torch


def default_workers(device: str = "auto") -> int:
    """Processes for independent runs: one per core (at most 2) on the CPU, one on a GPU."""
    if device != "cpu" and torch.cuda.is_available():
        return 1
    return max(1, min(2, os.cpu_count() or 1))


def _init_worker() -> None:
    torch.set_num_threads(1)


def _pool(workers: int, jobs: int) -> ProcessPoolExecutor:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=min(workers, jobs), mp_context=ctx, initializer=_init_worker)


def map_runs(fn: Callable[[Any], Any], jobs: Sequence[Any], workers: int = 1) -> list[Any]:
    """``[fn(job) for job in jobs]``, in order, over ``workers`` processes (spawned).

    ``fn`` must be a module-level function and ``jobs`` picklable.
    """
    jobs = list(jobs)
    if workers <= 1 or len(jobs) <= 1:
        return [fn(job) for job in jobs]
    with _pool(workers, len(jobs)) as pool:
        return list(pool.map(fn, jobs))


def as_done(fn: Callable[[Any], Any], jobs: Sequence[Any], workers: int = 1) -> Iterator[tuple[int, Any]]:
    """``(index, fn(job))`` for every job as it finishes, over ``workers`` processes.

    Jobs start in the order given, so put the longest first to finish soonest.
    """
    jobs = list(jobs)
    if workers <= 1 or len(jobs) <= 1:
        for i, job in enumerate(jobs):
            yield i, fn(job)
        return
    with _pool(workers, len(jobs)) as pool:
        futures = {pool.submit(fn, job): i for i, job in enumerate(jobs)}
        for future in as_completed(futures):
            yield futures[future], future.result()


def machine(workers: int) -> dict[str, Any]:
    """What a benchmark ran on: CPUs, worker processes (one thread each), torch and Python versions."""
    return {"cpus": os.cpu_count(), "workers": workers, "threads_per_worker": 1, "torch": torch.__version__,
            "python": platform.python_version(), "processor": platform.processor() or platform.machine()}
