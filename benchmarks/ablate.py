"""One of gankit's speed-ups undone, against gankit as it is: iterations per second, side by side in one process.

A preset is trained twice from the same seed: as gankit builds it, and with one change undone on the
built networks (``--undo``):

* ``slopes``: the input-gradient penalties (``wgan-gp``, ``gan-r1``) hold the slopes of D's ReLU and
  LeakyReLU modules (:mod:`gankit.models.slopes`); undone, PyTorch's ``nn.ReLU``/``nn.LeakyReLU`` are put
  back, whose double backward sends zeros down every layer. Both train the same numbers, bit for bit.
* ``layout``: DCGAN's image reshape stores channels-last and its flatten hands the gradient back in the
  features' layout (:mod:`gankit.models.layout`); undone, ``nn.Unflatten``/``nn.Flatten`` store
  channels-first, and some elementwise kernels meet operands in both layouts. The values are the same.
* ``rmsprop``: RMSProp's step is one fused kernel call (:mod:`gankit.training.rmsprop`); undone, the
  optimisers step as ``torch.optim.RMSprop`` (five passes over each tensor) from the same state. The values
  agree to a few units in the last place.

The two are timed in alternating rounds of ``--iterations`` generator iterations on ``--threads`` threads;
the table gives the medians, their ratio and the spread of the rounds' own ratios (the machine's speed
drifts; the two ways of a round run seconds apart).

Usage::

    python benchmarks/ablate.py --undo slopes --data fashion-mnist --objective wgan-gp --iterations 20
    python benchmarks/ablate.py --undo layout --data fashion-mnist --iterations 100 --threads 2
    python benchmarks/ablate.py --undo rmsprop --data fashion-mnist --objective wgan --model mlp --iterations 40
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
from gankit.models.common import replace_modules
from gankit.models.layout import Flatten, Unflatten
from gankit.models.slopes import FrozenSlope
from gankit.training import Trainer
from gankit.training.rmsprop import FusedRMSprop


def unfreeze(module: nn.Module) -> int:
    """Put PyTorch's ReLU / LeakyReLU back for every :class:`FrozenSlope` in ``module``; the count."""
    return replace_modules(module, lambda m: (nn.LeakyReLU(m.negative_slope) if m.negative_slope else nn.ReLU())
                           if isinstance(m, FrozenSlope) else None)


def channels_first_boundaries(module: nn.Module) -> int:
    """Put ``nn.Flatten`` / ``nn.Unflatten`` back for gankit's layout-keeping ones in ``module``; the count."""
    return replace_modules(module, lambda m: nn.Flatten(m.start_dim, m.end_dim) if isinstance(m, Flatten)
                           else nn.Unflatten(m.dim, m.unflattened_size) if isinstance(m, Unflatten) else None)


def plain_rmsprop(trainer: Trainer) -> int:
    """Step the trainer's fused RMSProp optimisers as ``torch.optim.RMSprop`` (whose state they share); the count."""
    fused = [opt for opt in (trainer.opt_d, trainer.opt_g) if isinstance(opt, FusedRMSprop)]
    for opt in fused:
        opt.__class__ = torch.optim.RMSprop  # the same object and state, PyTorch's own step
    return len(fused)


# what --undo takes: the change undone on a trainer's networks (the count of modules changed), and the names
# of the two ways
UNDO = {
    "slopes": (lambda t: unfreeze(t.D), ("held slopes", "PyTorch's activations")),
    "layout": (lambda t: channels_first_boundaries(t.G) + channels_first_boundaries(t.D),
               ("layouts kept", "channels-first reshapes")),
    "rmsprop": (plain_rmsprop, ("fused RMSProp", "torch.optim.RMSprop")),
}


def run(undo: str, data: str, objective: str | None, iterations: int, rounds: int, threads: int = 1,
        warmup: int = 3, model: str | None = None) -> dict:
    """Time both ways in alternating rounds; their iterations per second and the ratio of the medians."""
    apply, ways = UNDO[undo]
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="gankit-ablate-") as tmp:
        trainers = {}
        for i, way in enumerate(ways):
            config = TrainConfig(data=data, objective=objective, iterations=10**9, snapshot_every=0,
                                 tensorboard=False, progress=False, **({"model": model} if model else {}))
            trainer = Trainer(config, Path(tmp) / str(i), parts=[])
            if i and not apply(trainer):
                raise SystemExit(f"--undo {undo}: nothing to undo in {objective or 'the default recipe'} on {data} "
                                 f"(slopes: a preset with a gradient penalty or R1; layout: a DCGAN; rmsprop: "
                                 f"a preset with RMSProp, wgan)")
            trainer.fit(steps=warmup)
            trainers[way] = trainer
        rates: dict[str, list[float]] = {way: [] for way in ways}
        for r in range(rounds):
            for way, trainer in trainers.items():
                tic = time.perf_counter()
                trainer.fit(steps=iterations)
                rates[way].append(iterations / (time.perf_counter() - tic))
            print(f"round {r + 1}/{rounds}: " + ", ".join(f"{w} {v[-1]:.2f} it/s" for w, v in rates.items()),
                  file=sys.stderr, flush=True)
    medians = {way: statistics.median(v) for way, v in rates.items()}
    paired = [a / b for a, b in zip(rates[ways[0]], rates[ways[1]], strict=True)]  # each round's own ratio
    return {"undo": undo, "data": data, "objective": objective, "iterations": iterations, "rounds": rounds,
            "threads": threads, "ways": list(ways), "it_per_s": rates, "median_it_per_s": medians,
            "speed_up": medians[ways[0]] / medians[ways[1]], "round_ratios": paired}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--undo", required=True, choices=sorted(UNDO), help="the change to undo")
    p.add_argument("--data", default="fashion-mnist", help="data set name or path (default fashion-mnist)")
    p.add_argument("--objective", help="a preset (default: the data's default recipe)")
    p.add_argument("--model", choices=("mlp", "dcgan", "resnet"), help="image networks (default: the preset's)")
    p.add_argument("--iterations", type=int, default=20, help="generator iterations per round and way (default 20)")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds; medians reported (default 5)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    args = p.parse_args(argv)
    for flag in ("iterations", "rounds", "threads"):
        if getattr(args, flag) < 1:
            p.error(f"--{flag} must be >= 1; got {getattr(args, flag)}")
    result = run(args.undo, args.data, args.objective, args.iterations, args.rounds, args.threads,
                 model=args.model)
    first, second = result["ways"]
    what = (args.objective or "default recipe") + (f" ({args.model})" if args.model else "")
    print(f"| {what} on {args.data}, {args.threads} thread(s) | it/s (median of "
          f"{args.rounds}) |\n| --- | --- |")
    for way in result["ways"]:
        print(f"| {way} | {result['median_it_per_s'][way]:.2f} |")
    ratios = result["round_ratios"]
    print(f"{first} / {second}: {result['speed_up']:.3f}x (the rounds' own ratios: median "
          f"{statistics.median(ratios):.3f}x, {min(ratios):.3f}x to {max(ratios):.3f}x)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
