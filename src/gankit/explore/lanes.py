"""Compared runs stepped at once: a worker thread per run, so two runs train side by side, not one after the other.

:class:`Lanes` gives each run name its own worker thread (a lane) and steps
the runs of one call in their lanes at the same time, then waits for all of
them. torch releases the GIL inside its operations, so the two lanes'
operations run on two cores at once (the Python between them takes turns:
small networks gain little). Each lane uses one torch thread (in torch's
OpenMP build the setting is the calling thread's), so two runs do not
oversubscribe two cores.
A run keeps its own seeded random streams (the Trainer's generators), so its
trajectory does not depend on the run beside it: a compared run ends with the
weights it has when trained alone.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Mapping

import torch

THREADS_PER_LANE = 1  # torch threads of each lane


def _lane_threads() -> None:
    """A lane's thread starts here: its own torch thread count."""
    torch.set_num_threads(THREADS_PER_LANE)


class Lanes:
    """One worker thread per run name, created when first needed.

    Args:
        prefix: the threads' name prefix (a lane's thread is ``<prefix>-<name>``).
    """

    def __init__(self, prefix: str):
        self.prefix = prefix
        self._pools: dict[str, concurrent.futures.ThreadPoolExecutor] = {}

    def run(self, jobs: Mapping[str, Callable[[], None]], inline: bool = False) -> None:
        """Call every job, each in the lane of its run (``inline``: one after the other in the calling thread,
        for a run alone).

        Returns when all have ended; then raises the first failure (in the order of ``jobs``), if any.
        """
        if inline:
            for job in jobs.values():
                job()
            return
        futures = [self._lane(name).submit(job) for name, job in jobs.items()]
        concurrent.futures.wait(futures)
        for future in futures:
            future.result()

    def _lane(self, name: str) -> concurrent.futures.ThreadPoolExecutor:
        if name not in self._pools:
            self._pools[name] = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix=f"{self.prefix}-{name}", initializer=_lane_threads)
        return self._pools[name]

    def close(self) -> None:
        """End the lanes' threads (after the jobs they hold)."""
        for pool in self._pools.values():
            pool.shutdown(wait=True)
        self._pools.clear()


__all__ = ["Lanes", "THREADS_PER_LANE"]
