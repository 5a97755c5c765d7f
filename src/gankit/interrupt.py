"""Ctrl-C and SIGTERM during a long loop: finish the current step, save, then stop; a second Ctrl-C aborts.

Inside :func:`stop_requests` the first SIGINT or SIGTERM does not interrupt
anything: it only sets :attr:`StopRequest.signum`, which the loop reads once per
iteration, so the iteration in progress completes, the checkpoint is written
whole, and the loop raises :class:`Interrupted` naming where it stopped. A second
signal of the same kind raises :class:`KeyboardInterrupt` at once (the user
insists). A different second signal (torchrun's SIGTERM after the terminal's
SIGINT) does not abort, so that the checkpoint can still be written; under
torchrun, whose agent forwards the terminal's Ctrl-C to workers that already got
it, a repeat within a second counts as the same request.

Outside the main thread signal handlers cannot be installed: there the default
behaviour stays.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A loop stopped on SIGINT/SIGTERM after saving its state.

    Attributes:
        signum: the signal that asked for the stop.
        step: the iteration the loop stopped at (its checkpoint's).
        run_dir: the folder holding the checkpoint (None when nothing was written).
        exit_code: 128 + signum, the conventional exit status (130 for SIGINT, 143 for SIGTERM).
    """

    def __init__(self, signum: int, step: int, run_dir=None, total: int | None = None):
        self.signum, self.step, self.run_dir, self.total = signum, step, run_dir, total
        name = signal.Signals(signum).name
        of = f" of {total}" if total is not None else ""
        super().__init__(f"stopped on {name} at iteration {step}{of}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class StopRequest:
    """What the signal handlers saw: ``signum`` of the first stop request (None until one arrives).

    Args:
        grace: seconds after the first signal during which a repeat is the same request.
    """

    def __init__(self, grace: float = 0.0) -> None:
        self.signum: int | None = None
        self.grace = grace
        self._at = 0.0

    def __bool__(self) -> bool:
        return self.signum is not None

    def _handle(self, signum: int, frame) -> None:
        if self.signum is None:
            self.signum, self._at = signum, time.monotonic()
            return
        if signum == self.signum and time.monotonic() - self._at >= self.grace:
            raise KeyboardInterrupt(f"aborted by a second {signal.Signals(signum).name}")


@contextlib.contextmanager
def stop_requests() -> Iterator[StopRequest]:
    """Turn SIGINT/SIGTERM into a stop request for the duration of the block (main thread only).

    The previous handlers come back on leaving the block. Blocks nest: the
    inner one handles the signals while it runs.
    """
    request = StopRequest(grace=1.0 if int(os.environ.get("WORLD_SIZE", "1")) > 1 else 0.0)
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, request._handle)
    try:
        yield request
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


__all__ = ["Interrupted", "StopRequest", "stop_requests"]
