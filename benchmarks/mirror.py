"""The same networks as a peer's script, trained by gankit: generator iterations per second, side by side.

A peer script and gankit differ in their networks, so their speeds say little about the training loops.
This benchmark rebuilds the layers of a peer script in gankit (the networks below are written from the
layer lists of PyTorch-GAN's ``wgan_gp.py`` and ``dcgan.py``: same widths, kernels, strides, norms and
their eps, activations), passes them to :func:`gankit.train` as the user's own networks with the peer's
game and optimiser settings, and times both as whole processes, alternately, on the same cores:

* the peer: ``benchmarks/peers.py SCRIPT --seconds S --threads T``, run unmodified (its generator
  iterations per second over its training seconds, from its ``info.json``);
* gankit: this file with ``--ours NAME``, which trains the mirror for S seconds after its first iteration
  and prints its generator iterations per second (in chunks of 50 iterations).

What gankit does differently is the training loop's own: no per-image PIL transform (the data are
tensors in memory), G's forward without a graph in the critic step (``wgan_gp.py`` back-propagates
every critic loss into G too), channels-last convolutions, fused Adam, and each upsampling by 2 followed
by a 3x3 convolution run as one transposed convolution (:mod:`gankit.models.resample`: the same function
and parameters), and the critic's LeakyReLUs holding their slope in the gradient penalty's double backward
(:mod:`gankit.models.slopes`: the same numbers without PyTorch's products of zeros). ``dcgan.py`` scores
one batch of generated images in both updates, and ``wgan_gp.py``'s generator step scores ``G(z)`` of its
last critic step's ``z``; their mirrors do the same (``reuse_fakes``).

Usage::

    OMP_NUM_THREADS=1 taskset -c 1 python benchmarks/mirror.py --peers DIR --seconds 120 --rounds 3
    python benchmarks/mirror.py --ours wgan_gp --seconds 30      # one gankit process alone
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
SCRIPTS = {"wgan_gp": "wgan_gp.py", "dcgan": "dcgan.py"}


# --------------------------------------------------------------------------- the mirrored networks


def wgan_gp_networks() -> tuple[nn.Module, nn.Module]:
    """``wgan_gp.py``'s MLPs: G 100-128-256-512-1024-784 (batch norm with eps 0.8 from the second layer,
    LeakyReLU 0.2, tanh), D 784-512-256-1 (LeakyReLU 0.2)."""
    def block(i: int, o: int, norm: bool = True) -> list[nn.Module]:
        return [nn.Linear(i, o), *([nn.BatchNorm1d(o, 0.8)] if norm else []), nn.LeakyReLU(0.2)]

    G = nn.Sequential(*block(100, 128, norm=False), *block(128, 256), *block(256, 512), *block(512, 1024),
                      nn.Linear(1024, 784), nn.Tanh(), nn.Unflatten(1, (1, 28, 28)))
    D = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.LeakyReLU(0.2), nn.Linear(512, 256),
                      nn.LeakyReLU(0.2), nn.Linear(256, 1), nn.Flatten(0))
    return G, D


def dcgan_networks() -> tuple[nn.Module, nn.Module]:
    """``dcgan.py``'s networks at 32 x 32: G projects z to 128 x 8 x 8, then (upsample x2, 3x3 conv, batch
    norm eps 0.8, LeakyReLU 0.2) twice to 64 channels and a 3x3 conv to one with tanh; D has four 3x3
    stride-2 convs 16-32-64-128 (LeakyReLU 0.2, dropout 0.25, batch norm eps 0.8 after the first) and a
    linear score (the logit: the peer's sigmoid + BCE is gankit's non-saturating loss on logits)."""
    G = nn.Sequential(
        nn.Linear(100, 128 * 8 * 8), nn.Unflatten(1, (128, 8, 8)), nn.BatchNorm2d(128),
        nn.Upsample(scale_factor=2), nn.Conv2d(128, 128, 3, 1, 1), nn.BatchNorm2d(128, 0.8), nn.LeakyReLU(0.2),
        nn.Upsample(scale_factor=2), nn.Conv2d(128, 64, 3, 1, 1), nn.BatchNorm2d(64, 0.8), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 1, 3, 1, 1), nn.Tanh())

    def block(i: int, o: int, norm: bool = True) -> list[nn.Module]:
        return [nn.Conv2d(i, o, 3, 2, 1), nn.LeakyReLU(0.2), nn.Dropout2d(0.25),
                *([nn.BatchNorm2d(o, 0.8)] if norm else [])]

    D = nn.Sequential(*block(1, 16, norm=False), *block(16, 32), *block(32, 64), *block(64, 128),
                      nn.Flatten(), nn.Linear(128 * 2 * 2, 1), nn.Flatten(0))
    return G, D


# The peer's game and optimiser, as gankit config fields (the scripts' default options).
SETTINGS = {
    "wgan_gp": dict(objective="wgan-gp", gp_weight=10.0, d_steps=5, lr=2e-4, betas=(0.5, 0.999), batch_size=64,
                    reuse_fakes=True),  # wgan_gp.py's generator step scores G(z) of its last critic step's z
    "dcgan": dict(objective="nonsaturating", d_steps=1, lr=2e-4, betas=(0.5, 0.999), batch_size=64,
                  reuse_fakes=True),  # dcgan.py scores one batch of generated images in both updates
}
NETWORKS = {"wgan_gp": wgan_gp_networks, "dcgan": dcgan_networks}


def _fashion_mnist_32(folder: Path) -> str:
    """Fashion-MNIST's training images resized to 32 x 32 (PIL bilinear, as the peer's transform), as .npy."""
    from PIL import Image

    from gankit.data import load_dataset

    x = load_dataset("fashion-mnist").x  # (N, 1, 28, 28) in [-1, 1]
    grey = ((x[:, 0].numpy() + 1) * 127.5).round().astype(np.uint8)
    out = np.stack([np.asarray(Image.fromarray(im).resize((32, 32), Image.BILINEAR)) for im in grey])
    path = folder / "fashion-mnist-32.npy"
    np.save(path, out[:, None])
    return str(path)


def run_ours(name: str, seconds: float, threads: int) -> dict[str, float]:
    """Train the mirror of ``name`` for ``seconds`` after its first iteration; its generator iterations/s."""
    from gankit import TrainConfig
    from gankit.training import Trainer

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        data = "fashion-mnist" if name == "wgan_gp" else _fashion_mnist_32(Path(tmp))
        config = TrainConfig(data=data, iterations=10**9, tensorboard=False, progress=False, eval_every=0,
                             ema_decay=0.0, **SETTINGS[name])
        torch.manual_seed(0)
        G, D = NETWORKS[name]()
        if name == "dcgan":  # as gankit's own convolutional models (measured faster on the CPU)
            G, D = (m.to(memory_format=torch.channels_last) for m in (G, D))
        # no parts: no files, pictures or checkpoints in the timed loop (the peer's sample grid every 400
        # batches is timed on its side)
        trainer = Trainer(config, Path(tmp) / "run", parts=[], generator=G, discriminator=D)
        trainer.fit(steps=1)  # the first iteration: warm-up, not timed
        tic, done = time.perf_counter(), 0
        while time.perf_counter() - tic < seconds:
            trainer.fit(steps=50)
            done += 50
        elapsed = time.perf_counter() - tic
    return {"generator_iterations": done, "seconds": elapsed, "its_per_second": done / elapsed}


def run_peer(script: Path, seconds: float, threads: int) -> dict[str, float]:
    """The peer script, unmodified, through ``peers.py`` for ``seconds``; its generator iterations/s."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, str(HERE / "peers.py"), str(script), "--seconds", str(seconds),
                        "--out", tmp, "--n", "64", "--threads", str(threads)], check=True,
                       stdout=subprocess.DEVNULL)
        info = json.loads((Path(tmp) / "info.json").read_text())
    return {"generator_iterations": info["generator_iterations"], "seconds": info["training_seconds"],
            "its_per_second": info["generator_iterations"] / info["training_seconds"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--peers", metavar="DIR", help="a folder holding the peers' wgan_gp.py and dcgan.py")
    p.add_argument("--networks", default="wgan_gp,dcgan", help="which mirrors (default: wgan_gp,dcgan)")
    p.add_argument("--seconds", type=float, default=120.0, help="training seconds per process (default 120)")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    p.add_argument("--threads", type=int, default=1, help="torch threads of every process (default 1)")
    p.add_argument("--ours", choices=sorted(NETWORKS), help="train gankit's mirror of one peer alone and print "
                   "its speed as JSON (what the rounds run)")
    args = p.parse_args(argv)
    if args.ours:
        print(json.dumps(run_ours(args.ours, args.seconds, args.threads)))
        return 0
    if not args.peers:
        p.error("--peers DIR is needed (the folder of the peers' scripts), or --ours NAME")
    names = [n.strip() for n in args.networks.split(",") if n.strip()]
    for n in names:
        if n not in NETWORKS:
            p.error(f"--networks: unknown {n!r}; choose from {sorted(NETWORKS)}")
        if not (Path(args.peers) / SCRIPTS[n]).is_file():
            p.error(f"--peers {args.peers}: no {SCRIPTS[n]} there")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    rows = {n: {"peer": [], "gankit": []} for n in names}
    for r in range(args.rounds):
        for n in names:
            peer = run_peer(Path(args.peers) / SCRIPTS[n], args.seconds, args.threads)
            out = subprocess.run([sys.executable, __file__, "--ours", n, "--seconds", str(args.seconds),
                                  "--threads", str(args.threads)], check=True, capture_output=True, text=True,
                                 env=env)
            ours = json.loads(out.stdout.strip().splitlines()[-1])
            rows[n]["peer"].append(peer["its_per_second"])
            rows[n]["gankit"].append(ours["its_per_second"])
            print(f"round {r + 1} {n}: peer {peer['its_per_second']:.2f} it/s, gankit {ours['its_per_second']:.2f} "
                  f"it/s", flush=True)
    print(f"\n| network | peer it/s (median of {args.rounds}) | gankit it/s | gankit / peer |")
    print("| --- | --- | --- | --- |")
    for n, v in rows.items():
        peer, ours = statistics.median(v["peer"]), statistics.median(v["gankit"])
        print(f"| {SCRIPTS[n]} | {peer:.2f} | {ours:.2f} | {ours / peer:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
