"""Progress of a long loop: a bar on a terminal, plain lines in a file or a pipe.

A bar that redraws itself with ``\\r`` is one endless line once the output is
a file (``gankit train ... 2> log``), so there :class:`Progress` writes one
line per reported step instead (at a logging step of the training loop, after
an epoch, a job or a round)::

    wgan on ring: 400/4000 it  d_loss=-0.0132 g_loss=0.00644  251 it/s  ETA 0:00:14
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def format_seconds(seconds: float) -> str:
    """``h:mm:ss``."""
    s = int(round(max(seconds, 0.0)))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class Progress:
    """A tqdm bar when ``stream`` is a terminal; else one plain line per :meth:`report`; nothing when disabled.

    Args:
        total: the count at the end (iterations, steps, jobs).
        desc: what is in progress, the start of every line.
        unit: what is counted.
        initial: the count already done (a resumed run).
        enabled: False: no output at all.
        stream: where to write (default: standard error).
    """

    def __init__(self, total: int, *, desc: str = "", unit: str = "it", initial: int = 0, enabled: bool = True,
                 stream: TextIO | None = None):
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.bar: Any = None
        if enabled and _is_terminal(self.stream):
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True, file=self.stream)
        self.started = self.last_time = time.perf_counter()
        self.first = self.last_n = initial

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.bar is not None:
            self.bar.update(n)

    def describe(self, desc: str) -> None:
        """Change what is in progress (the bar's label, the start of the next lines)."""
        self.desc = desc
        if self.bar is not None:
            self.bar.set_description(desc, refresh=False)

    def report(self, text: str = "") -> None:
        """A step worth reporting: the bar's postfix on a terminal; elsewhere a line with the count, ``text``,
        the rate since the last report and the time left at the rate since the start."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            return
        now = time.perf_counter()
        parts = [f"{self.desc}: {self.n}/{self.total} {self.unit}" if self.desc else f"{self.n}/{self.total}"]
        if text:
            parts.append(text)
        if now > self.last_time and self.n > self.last_n:
            parts.append(f"{(self.n - self.last_n) / (now - self.last_time):.3g} {self.unit}/s")
        if self.first < self.n < self.total:
            parts.append(f"ETA {format_seconds((self.total - self.n) * (now - self.started) / (self.n - self.first))}")
        elif self.n >= self.total:
            parts.append(f"done in {format_seconds(now - self.started)}")
        print("  ".join(parts), file=self.stream, flush=True)
        self.last_time, self.last_n = now, self.n

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or a file-like object without a terminal
        return False


__all__ = ["Progress", "format_seconds"]
