"""A large image file trained by streaming: the peak resident memory of the training processes.

It writes (once) an ``.npy`` of uint8 28 x 28 images of about ``--gigabytes`` GiB, then trains
``gankit train --data FILE`` on it with the defaults (such a file streams by itself: its float32 copy would
be four times larger) and samples the resident memory (VmRSS) of the training process and its DataLoader
workers every 50 ms. It prints the peak of their sum, the start-up time (to the first metrics line) and the
iterations per second. ``--baseline`` also trains the same run with ``stream=no`` (the whole set loaded
as float32), the straightforward way, for the ratio.

Pages of the file that the system caches are not the process's: a streamed row is read with a positioned
read (``os.preadv``), not through a mapping, so the file cache holds it and the process does not.

Usage::

    OMP_NUM_THREADS=2 python benchmarks/streaming.py --file /tmp/big.npy --gigabytes 2 --iterations 300
    python benchmarks/streaming.py --file /tmp/big.npy --baseline        # also the in-memory run
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIDE = 28
CHUNK_ROWS = 200_000


def write_file(path: Path, gigabytes: float, seed: int = 0) -> int:
    """Write ``path`` (if it is not already that file): uint8 images ``(N, 28, 28)`` of blobs; returns N."""
    n = int(gigabytes * 2**30) // (SIDE * SIDE)
    header = {"descr": "|u1", "fortran_order": False, "shape": (n, SIDE, SIDE)}
    if path.exists() and np.load(path, mmap_mode="r").shape == (n, SIDE, SIDE):
        return n
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIDE, :SIDE]
    with open(path, "wb") as f:
        np.lib.format.write_array_header_2_0(f, header)
        for first in range(0, n, CHUNK_ROWS):
            count = min(CHUNK_ROWS, n - first)
            cy, cx, r = (rng.uniform(6, 22, count), rng.uniform(6, 22, count), rng.uniform(3, 9, count))
            d2 = (yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2
            f.write((255 * np.exp(-d2 / (2 * r[:, None, None] ** 2))).astype(np.uint8).tobytes())
            print(f"\rwriting {path}: {first + count:,} / {n:,} images", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return n


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants."""
    todo, total = [pid], 0
    while todo:
        p = todo.pop()
        total += _rss_bytes(p)
        todo += _children(p)
    return total


def train(path: Path, iterations: int, options: list[str]) -> dict[str, float]:
    """Train on ``path``; the peak resident memory of the process tree, start-up seconds, iterations/s
    (or ``killed`` and the peak it had reached)."""
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "gankit", "train", "--data", str(path), "--iterations", str(iterations),
               "--out", str(run), "--no-progress", "--no-tensorboard", "--snapshot-every", "0",
               "--log-every", "50", "--checkpoint-every", str(iterations), *options]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        peak, first_line = 0, None
        while proc.poll() is None:
            peak = max(peak, tree_rss(proc.pid))
            if first_line is None and (run / "metrics.jsonl").exists() and (run / "metrics.jsonl").stat().st_size:
                first_line = time.perf_counter() - start
            time.sleep(0.05)
        if proc.returncode == -9:  # the kernel's out-of-memory killer (or a kill -9): the peak it reached
            return {"peak_rss_gib": peak / 2**30, "killed": True, "wall_s": time.perf_counter() - start}
        if proc.returncode:
            raise SystemExit(f"training failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr.read()[-3000:]}")
        lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        rates = [r["it_per_s"] for r in lines[1:] if "it_per_s" in r] or [lines[-1]["it_per_s"]]
        return {"peak_rss_gib": peak / 2**30, "first_line_s": first_line or float("nan"),
                "it_per_s": float(np.median(rates)), "wall_s": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--file", type=Path, default=Path(tempfile.gettempdir()) / "gankit-stream-2g.npy",
                    help="the .npy to write (once) and train on (default: in the temporary folder)")
    ap.add_argument("--gigabytes", type=float, default=2.0, help="the file's size in GiB (default 2)")
    ap.add_argument("--iterations", type=int, default=300, help="generator iterations per run (default 300)")
    ap.add_argument("--workers", type=int, default=-1, help="DataLoader workers (-1: gankit's choice)")
    ap.add_argument("--baseline", action="store_true", help="also train with the set loaded in memory")
    args = ap.parse_args(argv)
    n = write_file(args.file, args.gigabytes)
    print(f"{args.file}: {n:,} images of {SIDE}x{SIDE} uint8, {args.file.stat().st_size / 2**30:.2f} GiB")
    rows = [("streamed (the default)", train(args.file, args.iterations, ["--data-option", f"workers={args.workers}"]))]
    if args.baseline:
        rows.append(("in memory (stream=no)", train(args.file, args.iterations, ["--data-option", "stream=no"])))
    print("\n| run | peak resident memory (GiB) | start-up to the first line (s) | it/s |\n| --- | --- | --- | --- |")
    for name, r in rows:
        if r.get("killed"):
            print(f"| {name} | {r['peak_rss_gib']:.2f} when killed (SIGKILL, out of memory) after "
                  f"{r['wall_s']:.0f} s | - | - |")
        else:
            print(f"| {name} | {r['peak_rss_gib']:.2f} | {r['first_line_s']:.1f} | {r['it_per_s']:.1f} |")


if __name__ == "__main__":
    main()
