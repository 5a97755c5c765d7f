"""What every network family shares: image shapes, initialisation, packing, modes and seeded construction."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import Tensor, nn


def image_shape(sample_shape: Sequence[int], family: str = "DCGAN") -> tuple[int, int, int]:
    """``(C, H, W)`` of square images of even side >= 8, or a ``ValueError`` naming the family and the shape."""
    if len(sample_shape) != 3 or sample_shape[1] != sample_shape[2]:
        raise ValueError(f"{family} models need square images (C, H, H); got sample shape {tuple(sample_shape)}")
    c, h, w = (int(s) for s in sample_shape)
    if h < 8 or h % 2:
        raise ValueError(f"{family} models need an even image side >= 8; got {h}")
    return c, h, w


def doublings(size: int) -> int:
    """Stride-2 stages from the smallest start side >= 4 up to ``size`` (28 -> 2, 32 -> 3)."""
    k = 0
    while size % 2 == 0 and size // 2 >= 4:
        size //= 2
        k += 1
    return k


def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights N(0, 0.02), norm weights N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.affine:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m.bias is not None:
            nn.init.zeros_(m.bias)


class Packed(nn.Module):
    """A discriminator that scores ``m`` samples at once (PacGAN, Lin et al. 2018).

    Consecutive groups of ``m`` samples are concatenated into one input: along
    the features for points, along the channels for images, so the inner
    network sees ``(B / m, m * C, ...)`` and returns one score per pack. With
    ``m = 1`` it is the plain discriminator. A minibatch of ``M`` packs holds
    ``M * m`` samples, all real or all generated.

    Args:
        inner: the discriminator for packed inputs (its first layer takes ``m`` times the channels).
        pack: ``m``, the samples per pack.
        sample_shape: the shape of one sample.
    """

    def __init__(self, inner: nn.Module, pack: int, sample_shape: Sequence[int]):
        super().__init__()
        if pack < 1:
            raise ValueError(f"pack must be >= 1; got {pack}")
        self.inner, self.pack, self.sample_shape = inner, int(pack), tuple(sample_shape)

    def forward(self, x: Tensor) -> Tensor:
        B = len(x)
        if B % self.pack:
            raise ValueError(f"a packed discriminator (m = {self.pack}) needs a multiple of {self.pack} samples; "
                             f"got {B}")
        c, *rest = self.sample_shape
        return self.inner(x.reshape(B // self.pack, self.pack * c, *rest))  # (B / m,)


def pack_size(D: nn.Module) -> int:
    """How many samples ``D`` scores at once (1 unless it is :class:`Packed`)."""
    return int(getattr(D, "pack", 1))


def replace_modules(module: nn.Module, swap: Callable[[nn.Module], nn.Module | None]) -> int:
    """Every sub-module ``child`` of ``module`` for which ``swap(child)`` gives a module replaced by it, in place
    (None keeps the child); the count replaced."""
    count = 0
    for parent in module.modules():
        for name, child in list(parent.named_children()):
            new = swap(child)
            if new is not None:
                setattr(parent, name, new)
                count += 1
    return count


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@contextlib.contextmanager
def eval_mode(*modules: nn.Module | None) -> Iterator[None]:
    """Put ``modules`` in eval mode for the block and give each back its own mode after (``None`` is skipped).

    Batch norm then uses its running statistics and dropout is off; a module
    that was training trains again after the block, even if the block raises.
    """
    present = [m for m in modules if m is not None]
    modes = [m.training for m in present]
    for m in present:
        m.eval()
    try:
        yield
    finally:
        for m, mode in zip(present, modes, strict=True):
            m.train(mode)


#: Held inside :func:`seeded`, re-entrant: a seeded block may build networks that seed their own parts.
_GLOBAL_GENERATOR = threading.RLock()


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Draws from torch's global generator inside the block come from ``seed``; its CPU state is restored after.

    What networks use to initialise their weights: building one inside
    ``with seeded(s):`` gives the same weights for the same ``s`` and leaves the
    caller's random stream where it was. ``seed=None`` draws from the stream as
    it is, and puts it back after (for weights that are loaded over at once).
    The global generator is one per process: blocks in other threads wait for
    this one (two sessions of ``gankit explore`` build their networks at once).
    """
    with _GLOBAL_GENERATOR, torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        yield
