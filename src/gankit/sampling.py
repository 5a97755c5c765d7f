"""Sampling from trained networks, below the training loop: the device, samples of G, scores of D.

Everything that reads a network without training it (evaluation, the CLI's
``sample``, the experiments) imports from here, so nothing above the loop has
to import the loop, and the loop never imports what sits above it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from .models import pack_size


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` is CUDA when available, else the CPU; an unavailable device is refused."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"device {name!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available here; use cpu or auto")
    return device


@torch.no_grad()
def generate(
    G: nn.Module, n: int, *, noise_dim: int | None = None, seed: int | None = 0,
    generator: torch.Generator | None = None, batch_size: int = 4096,
) -> Tensor:
    """``n`` samples of ``G`` in model units, on ``G``'s device, from z ~ N(0, I), in eval mode.

    The noise comes from ``generator`` if given, else from a fresh generator
    seeded with ``seed`` (``None``: the global one). ``G`` is restored to its mode.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}")
    noise_dim = noise_dim or getattr(G, "noise_dim", None)
    if noise_dim is None:
        raise ValueError("the generator has no noise_dim attribute; pass noise_dim")
    device = next(G.parameters()).device
    if generator is None and seed is not None:
        generator = torch.Generator(device=device).manual_seed(int(seed))
    was_training = G.training
    G.eval()
    try:
        chunks = [G(torch.randn(min(batch_size, n - s), noise_dim, device=device, generator=generator))
                  for s in range(0, n, batch_size)]
    finally:
        G.train(was_training)
    return torch.cat(chunks)  # (n, *sample_shape)


@torch.no_grad()
def discriminator_scores(D: nn.Module, x: Tensor, batch_size: int = 4096) -> np.ndarray:
    """Raw discriminator/critic outputs on ``x`` (model units), in eval mode, as float64 ``(n,)``.

    A packed discriminator (PacGAN, ``m`` samples per input) scores each sample
    as the pack of ``m`` copies of it, so every sample still gets one score.
    """
    device = next(D.parameters()).device
    m = pack_size(D)
    was_training = D.training
    D.eval()
    try:
        out = [D(b.to(device).repeat_interleave(m, dim=0)).reshape(-1).double().cpu()
               for b in torch.split(x, batch_size)]
    finally:
        D.train(was_training)
    return torch.cat(out).numpy()


__all__ = ["discriminator_scores", "generate", "pick_device"]
