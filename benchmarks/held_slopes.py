"""Input-gradient penalties with D's slopes held (gankit.models.slopes) against PyTorch's activations: it/s.

A preset with a gradient penalty (``wgan-gp``) or R1 (``gan-r1``) is trained twice in one process, from
the same seed: as gankit builds it, where the penalties hold the slopes of D's ReLU and LeakyReLU
modules, and with those modules put back to PyTorch's ``nn.ReLU``/``nn.LeakyReLU`` (whose double backward
sends zeros down every layer). The two are timed in alternating rounds of ``--iterations`` generator
iterations, one thread, and the table gives the medians and their ratio. Both train the same numbers (the
tests check that bit for bit), so only the time differs.

Usage::

    python benchmarks/held_slopes.py --data fashion-mnist --objective wgan-gp --iterations 20 --rounds 5
    python benchmarks/held_slopes.py --data ring --objective gan-r1 --iterations 300 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from gankit import TrainConfig
from gankit.models.slopes import FrozenSlope
from gankit.training import Trainer

WAYS = ("held slopes", "PyTorch's activations")


def unfreeze(module: nn.Module) -> int:
    """Put PyTorch's ReLU / LeakyReLU back for every :class:`FrozenSlope` in ``module``; the count."""
    count = 0
    for parent in module.modules():
        for name, child in list(parent.named_children()):
            if isinstance(child, FrozenSlope):
                a = child.negative_slope
                setattr(parent, name, nn.LeakyReLU(a) if a else nn.ReLU())
                count += 1
    return count


def run(data: str, objective: str, iterations: int, rounds: int, warmup: int = 3) -> dict:
    """Time both ways in alternating rounds; their iterations per second and the ratio of the medians."""
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="gankit-slopes-") as tmp:
        trainers = {}
        for way in WAYS:
            config = TrainConfig(data=data, objective=objective, iterations=10**9, snapshot_every=0,
                                 tensorboard=False, progress=False)
            trainer = Trainer(config, Path(tmp) / way.replace(" ", "-").replace("'", ""), parts=[])
            if way != WAYS[0] and not unfreeze(trainer.D):
                raise SystemExit(f"--objective {objective}: D holds no slopes here (a penalty-free preset, or no "
                                 "ReLU/LeakyReLU modules); nothing to compare")
            trainer.fit(steps=warmup)
            trainers[way] = trainer
        rates: dict[str, list[float]] = {way: [] for way in WAYS}
        for r in range(rounds):
            for way, trainer in trainers.items():
                tic = time.perf_counter()
                trainer.fit(steps=iterations)
                rates[way].append(iterations / (time.perf_counter() - tic))
            print(f"round {r + 1}/{rounds}: " + ", ".join(f"{w} {v[-1]:.2f} it/s" for w, v in rates.items()),
                  file=sys.stderr, flush=True)
    medians = {way: statistics.median(v) for way, v in rates.items()}
    return {"data": data, "objective": objective, "iterations": iterations, "rounds": rounds, "it_per_s": rates,
            "median_it_per_s": medians, "speed_up": medians[WAYS[0]] / medians[WAYS[1]]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="fashion-mnist", help="data set name or path (default fashion-mnist)")
    p.add_argument("--objective", default="wgan-gp", help="a preset with an input-gradient penalty (default wgan-gp)")
    p.add_argument("--iterations", type=int, default=20, help="generator iterations per round and way (default 20)")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds; medians reported (default 5)")
    p.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    args = p.parse_args(argv)
    for flag in ("iterations", "rounds"):
        if getattr(args, flag) < 1:
            p.error(f"--{flag} must be >= 1; got {getattr(args, flag)}")
    result = run(args.data, args.objective, args.iterations, args.rounds)
    print(f"| {args.objective} on {args.data} | it/s (median of {args.rounds}) |\n| --- | --- |")
    for way in WAYS:
        print(f"| {way} | {result['median_it_per_s'][way]:.2f} |")
    print(f"held / PyTorch's: {result['speed_up']:.3f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
