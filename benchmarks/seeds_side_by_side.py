"""Wall time of S seeds of one config: side by side, stacked, and one after another, as whole commands.

Each way is timed from the command's start to its end (start-up, data, k-means clusters, pictures and all),
in alternating rounds on an otherwise idle machine:

* side by side: ``gankit train --seeds 0-(S-1)``, which on a CPU with two or more free cores trains image
  seeds each in a worker process of one thread (:mod:`gankit.seed_workers`);
* stacked: the same seeds as one stacked network (:class:`gankit.seeds.SeedsTrainer`), in one process with
  torch's threads (all cores);
* one after another: ``gankit train --seed k`` for each seed in turn, each with all cores.

The ratios are the medians over rounds of (one after another) / (the way). Usage::

    python benchmarks/seeds_side_by_side.py --data fashion-mnist --seeds 3 --iterations 2000 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WAYS = ("side by side", "stacked", "one after another")


def _commands(data: str, seeds: int, iterations: int, threads: int, out: Path) -> dict[str, list[list[str]]]:
    gankit = [sys.executable, "-m", "gankit", "--threads", str(threads), "train", "--data", data,
              "--iterations", str(iterations), "--overwrite", "--quiet"]
    stacked = ("import torch; from gankit import TrainConfig; from gankit.seeds import SeedsTrainer; "
               f"torch.set_num_threads({threads}) if {threads} else None; "
               f"SeedsTrainer(TrainConfig(data={data!r}, iterations={iterations}, progress=False), "
               f"list(range({seeds})), {str(out / 'stacked')!r}).fit()")
    return {
        "side by side": [[*gankit, "--seeds", f"0-{seeds - 1}", "--out", str(out / "side")]],
        "stacked": [[sys.executable, "-c", stacked]],
        "one after another": [[*gankit, "--seed", str(s), "--out", str(out / f"seed-{s}")] for s in range(seeds)],
    }


def run(data: str, seeds: int, iterations: int, rounds: int, threads: int = 0, progress: bool = True) -> dict:
    """Seconds of each way per round, and the medians' ratios against one after another (``threads``: torch
    threads of every command; 0: gankit's choice, the free cores)."""
    seconds: dict[str, list[float]] = {way: [] for way in WAYS}
    with tempfile.TemporaryDirectory(prefix="gankit-sbs-") as tmp:
        out = Path(tmp)
        for r in range(rounds):
            for way, commands in _commands(data, seeds, iterations, threads, out).items():
                shutil.rmtree(out / "stacked", ignore_errors=True)  # the stack has no --overwrite
                tic = time.perf_counter()
                for command in commands:
                    done = subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                          text=True)
                    if way == "side by side" and "train side by side" not in done.stderr:
                        raise SystemExit(f"gankit train --seeds did not train side by side here (an image model "
                                         f"on a CPU with two or more free cores does; --threads {threads or 'auto'})")
                seconds[way].append(time.perf_counter() - tic)
            if progress:
                print(f"round {r + 1}: " + ", ".join(f"{w} {seconds[w][-1]:.1f} s" for w in WAYS), file=sys.stderr,
                      flush=True)
    medians = {w: statistics.median(v) for w, v in seconds.items()}
    ratios = {w: statistics.median(a / b for a, b in zip(seconds["one after another"], seconds[w], strict=True))
              for w in WAYS}
    return {"data": data, "seeds": seeds, "iterations": iterations, "rounds": rounds, "threads": threads,
            "seconds": seconds, "median_seconds": medians, "speed_up": ratios}


def table(result: dict) -> str:
    lines = [f"{result['seeds']} seeds x {result['iterations']} iterations on {result['data']}, "
             f"medians of {result['rounds']} alternating rounds",
             "| way | seconds | speed-up over one after another |", "| --- | --- | --- |"]
    for w in WAYS:
        lines.append(f"| {w} | {result['median_seconds'][w]:.1f} | {result['speed_up'][w]:.2f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="fashion-mnist", help="data set (default fashion-mnist)")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0 .. S-1 (default 3)")
    p.add_argument("--iterations", type=int, default=2000, help="iterations per seed (default 2000)")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    p.add_argument("--threads", type=int, default=0, help="torch threads of every command (default 0: the free "
                   "cores, as gankit chooses)")
    p.add_argument("--json", metavar="FILE", help="also write the seconds and ratios here")
    args = p.parse_args(argv)
    for name, least in (("seeds", 2), ("iterations", 1), ("rounds", 1)):
        if getattr(args, name) < least:
            p.error(f"--{name} must be >= {least}; got {getattr(args, name)}")
    result = run(args.data, args.seeds, args.iterations, args.rounds, args.threads)
    print(table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
