"""``gankit explore --bench``: view updates per second and training speed, live vs headless, each on one core.

Two measurements, each in its own process pinned to one CPU core with one
torch thread, with the measuring client on another core:

1. headless: gankit's Trainer (``parts=[]``) on the ring with the page's
   default run (the ``gan`` preset), iterations per second;
2. live: ``gankit explore`` serving one page that plays the same run; a
   WebSocket client counts the frames it receives and reads the iteration of
   the last one.

It prints both rates, their ratio, and the frames per second.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from typing import Any


def _pinned() -> dict[str, Any]:
    """Popen arguments that pin the child to the first core this process may use (Linux), with one thread."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    kwargs: dict[str, Any] = {"env": env}
    if hasattr(os, "sched_getaffinity"):
        core = min(os.sched_getaffinity(0))
        kwargs["preexec_fn"] = lambda: os.sched_setaffinity(0, {core})
    return kwargs


def url_of(server: subprocess.Popen) -> tuple[str, str]:
    """``(host:port, token)`` from the URL a ``gankit explore`` child prints (its output piped as text)."""
    seen = []
    for line in server.stdout:
        found = re.search(r"http://([^/]+)/\?token=(\S+)", line)
        if found:
            return found.group(1), found.group(2)
        seen.append(line)
    raise RuntimeError(f"the server did not start: {''.join(seen)}")


def headless_rate(seconds: float, device: str = "cpu") -> float:
    """Iterations per second of the page's default run trained headless (no views, nothing written)."""
    import torch

    from ..data import load_dataset
    from ..training import Trainer
    from .run import Settings

    torch.set_num_threads(1)
    dataset = load_dataset("ring", seed=0)
    config = Settings().config("ring", {}, 0, device)
    trainer = Trainer(config, dataset=dataset, parts=[])
    trainer.fit(steps=50)  # warm up
    start, tic = trainer.step, time.perf_counter()
    while time.perf_counter() - tic < seconds and trainer.step < trainer.config.iterations:
        trainer.fit(steps=100)
    return (trainer.step - start) / (time.perf_counter() - tic)


#: How long the page may take to send its first frame (the server imports and builds the run first).
FIRST_FRAME_S = 60.0


def _next_step(ws, deadline: float) -> int | None:
    """Run a's step in the next frame from ``ws``, or None when none comes before ``deadline``."""
    while (left := deadline - time.perf_counter()) > 0:
        try:
            m = json.loads(ws.recv(timeout=left))
        except TimeoutError:
            return None
        if m["type"] == "frame":
            return m["runs"]["a"]["step"]
    return None


def live_rates(seconds: float, device: str = "cpu") -> dict[str, float]:
    """Serve the page in a pinned child process, play the default run and count what arrives."""
    from websockets.sync.client import connect

    cmd = [sys.executable, "-m", "gankit", "--threads", "1", "explore", "--no-browser", "--port", "0",
           "--device", device]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **_pinned())
    try:
        host, token = url_of(server)
        with connect(f"ws://{host}/ws?token={token}", max_size=None) as ws:
            ws.send(json.dumps({"type": "play"}))
            first = _next_step(ws, time.perf_counter() + FIRST_FRAME_S)  # the count starts at the first frame
            if first is None:
                raise RuntimeError(f"no frame arrived in {FIRST_FRAME_S:g} s")
            last, frames, tic = first, 0, time.perf_counter()
            while time.perf_counter() - tic < seconds:
                step = _next_step(ws, tic + seconds)
                if step is not None:
                    frames, last = frames + 1, step
            elapsed = time.perf_counter() - tic
        return {"frames_per_s": frames / elapsed, "it_per_s": (last - first) / elapsed}
    finally:
        server.terminate()
        server.wait(10)


def main(seconds: float = 10.0, device: str = "cpu", rounds: int = 3) -> int:
    """Alternate ``rounds`` headless and live measurements of ``seconds`` each; print the medians and their ratio."""
    code = f"from gankit.explore.bench import headless_rate; print(headless_rate({seconds!r}, {device!r}))"
    headless, live = [], []
    for r in range(rounds):
        print(f"round {r + 1} of {rounds} ...", file=sys.stderr, flush=True)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, **_pinned())
        headless.append(float(out.stdout.strip().splitlines()[-1]))
        live.append(live_rates(seconds, device))
    h = statistics.median(headless)
    it = statistics.median(x["it_per_s"] for x in live)
    fps = statistics.median(x["frames_per_s"] for x in live)
    print(f"gankit explore --bench: {rounds} alternating rounds of {seconds:g} s, medians; one core and one torch "
          "thread each; the page's default run (gan on the ring)")
    print(f"  headless trainer : {h:8.1f} it/s   (rounds: {', '.join(f'{x:.0f}' for x in headless)})")
    rates = ", ".join(f"{x['it_per_s']:.0f}" for x in live)
    frames = ", ".join(f"{x['frames_per_s']:.1f}" for x in live)
    print(f"  live, page open  : {it:8.1f} it/s   (rounds: {rates}); {100 * it / h:.0f}% of headless (target >= 70%)")
    print(f"  view updates     : {fps:8.1f} frames/s (rounds: {frames}; target >= 20)")
    return 0


__all__ = ["headless_rate", "live_rates", "main"]
