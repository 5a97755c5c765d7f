"""Generator and discriminator/critic families: MLP and DCGAN.

A generator maps noise ``z`` of shape ``(B, noise_dim)`` to samples of shape
``(B, *sample_shape)``. A discriminator or critic maps samples to one raw score
per sample, shape ``(B,)``: a logit for the GAN games, an unbounded score for
the Wasserstein critic. No sigmoid lives in a model; probabilities and logs are
taken inside the losses. Models have ``forward`` only: training lives in
:mod:`gankit.training`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor, nn

from .presets import ARCHITECTURES, D_NORMS

ACTIVATIONS = {
    "relu": lambda: nn.ReLU(),
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "tanh": lambda: nn.Tanh(),
    "elu": lambda: nn.ELU(),
}


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def _check_norm(norm: str) -> None:
    if norm not in D_NORMS:
        raise ValueError(f"unknown discriminator norm {norm!r}; choose from {list(D_NORMS)}")


def _mlp(sizes: Sequence[int], activation: str, norm: Sequence[nn.Module | None]) -> nn.Sequential:
    """Linear layers between ``sizes``; after every hidden one: its norm (if any), then the activation."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            if norm[i] is not None:
                layers.append(norm[i])
            layers.append(_activation(activation))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """Fully connected generator ``z -> x``.

    Args:
        noise_dim: dimension of z.
        sample_shape: shape of one sample, e.g. ``(2,)`` or ``(1, 28, 28)``.
        hidden: widths of the hidden layers.
        activation: hidden activation name.
        batchnorm: BatchNorm on every hidden layer but the first (the widely
            copied MLP GAN generator).
        output: ``"linear"`` (points, any range) or ``"tanh"`` (images in [-1, 1]).
    """

    def __init__(
        self,
        noise_dim: int,
        sample_shape: Sequence[int],
        hidden: Sequence[int] = (512, 512, 512),
        activation: str = "relu",
        batchnorm: bool = False,
        output: str = "linear",
    ):
        super().__init__()
        if output not in ("linear", "tanh"):
            raise ValueError(f"output must be 'linear' or 'tanh'; got {output!r}")
        self.noise_dim = noise_dim
        self.sample_shape = tuple(sample_shape)
        sizes = [noise_dim, *hidden, math.prod(self.sample_shape)]
        norms = [nn.BatchNorm1d(h) if batchnorm and i > 0 else None for i, h in enumerate(hidden)]
        self.net = _mlp(sizes, activation, norms)
        self.out = nn.Tanh() if output == "tanh" else nn.Identity()

    def forward(self, z: Tensor) -> Tensor:
        return self.out(self.net(z)).reshape(len(z), *self.sample_shape)  # (B, *sample_shape)


class MLPDiscriminator(nn.Module):
    """Fully connected discriminator/critic ``x -> score`` with a linear last layer.

    Args:
        sample_shape: shape of one sample; inputs are flattened.
        hidden: widths of the hidden layers.
        activation: hidden activation name.
        norm: ``"none"``, ``"batch"`` or ``"layer"`` on hidden layers (WGAN-GP
            forbids batch norm in the critic: the penalty is per sample).
    """

    def __init__(
        self,
        sample_shape: Sequence[int],
        hidden: Sequence[int] = (512, 512, 512),
        activation: str = "relu",
        norm: str = "none",
    ):
        super().__init__()
        _check_norm(norm)
        self.sample_shape = tuple(sample_shape)
        make = {"none": lambda h: None, "batch": nn.BatchNorm1d, "layer": nn.LayerNorm}[norm]
        self.net = _mlp([math.prod(self.sample_shape), *hidden, 1], activation, [make(h) for h in hidden])

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.reshape(len(x), -1)).squeeze(-1)  # (B,)


def _doublings(size: int) -> int:
    """Stride-2 stages from the smallest start side >= 4 up to ``size`` (28 -> 2, 32 -> 3)."""
    k = 0
    while size % 2 == 0 and size // 2 >= 4:
        size //= 2
        k += 1
    return k


class DCGANGenerator(nn.Module):
    """DCGAN generator (Radford et al. 2016): project z, then stride-2 transposed convs.

    The image side must be ``s0 * 2^k`` with ``s0`` in 4..7 (8, 28, 32, 64, ...).
    Channels halve at each stage from ``width * 2^(k-1)``; BatchNorm and ReLU
    after every stage but the last, tanh at the output.
    """

    def __init__(self, noise_dim: int, sample_shape: Sequence[int], width: int = 64, batchnorm: bool = True):
        super().__init__()
        c, h, w = _image_shape(sample_shape)
        self.noise_dim, self.sample_shape = noise_dim, (c, h, w)
        k = _doublings(h)
        s0, c0 = h // 2**k, width * 2 ** (k - 1)
        norm = nn.BatchNorm2d if batchnorm else lambda ch: nn.Identity()
        self.project = nn.Sequential(nn.Linear(noise_dim, c0 * s0 * s0), nn.Unflatten(1, (c0, s0, s0)),
                                     norm(c0), nn.ReLU())
        stages: list[nn.Module] = []
        ch = c0
        for i in range(k):
            last = i == k - 1
            out = c if last else ch // 2
            stages.append(nn.ConvTranspose2d(ch, out, 4, 2, 1, bias=last or not batchnorm))
            stages += [nn.Tanh()] if last else [norm(out), nn.ReLU()]
            ch = out
        self.stages = nn.Sequential(*stages)
        _dcgan_init(self)

    def forward(self, z: Tensor) -> Tensor:
        return self.stages(self.project(z))  # (B, C, H, W)


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator/critic: stride-2 convs with LeakyReLU(0.2), then a linear score.

    Args:
        sample_shape: ``(C, H, W)``, square images of side ``s0 * 2^k``.
        width: channels of the first conv; doubling at each stage.
        norm: ``"batch"`` (DCGAN), ``"layer"`` (WGAN-GP's choice) or ``"none"``;
            never on the first stage.
    """

    def __init__(self, sample_shape: Sequence[int], width: int = 64, norm: str = "batch"):
        super().__init__()
        _check_norm(norm)
        c, h, _ = _image_shape(sample_shape)
        self.sample_shape = tuple(sample_shape)
        k = _doublings(h)
        layers: list[nn.Module] = []
        ch_in, ch = c, width
        for i in range(k):
            layers.append(nn.Conv2d(ch_in, ch, 4, 2, 1))
            if i > 0 and norm == "batch":
                layers.append(nn.BatchNorm2d(ch))
            elif i > 0 and norm == "layer":
                layers.append(nn.GroupNorm(1, ch))  # layer norm over (C, H, W)
            layers.append(nn.LeakyReLU(0.2))
            ch_in, ch = ch, ch * 2
        side = h // 2**k
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.score = nn.Linear(ch_in * side * side, 1)
        _dcgan_init(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.score(self.features(x)).squeeze(-1)  # (B,)


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


def _image_shape(sample_shape: Sequence[int]) -> tuple[int, int, int]:
    if len(sample_shape) != 3 or sample_shape[1] != sample_shape[2]:
        raise ValueError(f"DCGAN models need square images (C, H, H); got sample shape {tuple(sample_shape)}")
    c, h, w = (int(s) for s in sample_shape)
    if h < 8 or h % 2:
        raise ValueError(f"DCGAN models need an even image side >= 8; got {h}")
    return c, h, w


def _dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights N(0, 0.02), norm weights N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m.bias is not None:
            nn.init.zeros_(m.bias)


def build_models(
    arch: str,
    sample_shape: Sequence[int],
    noise_dim: int,
    *,
    g_hidden: Sequence[int] = (512, 512, 512),
    d_hidden: Sequence[int] = (512, 512, 512),
    activation: str = "relu",
    g_batchnorm: bool = False,
    d_norm: str = "none",
    width: int = 64,
    image: bool = False,
    pack: int = 1,
) -> tuple[nn.Module, nn.Module]:
    """Build a matching generator and discriminator/critic.

    Args:
        arch: ``"mlp"`` or ``"dcgan"``.
        sample_shape: shape of one sample.
        noise_dim: dimension of z.
        image: images get a tanh output (data in [-1, 1]); points a linear one.
        pack: ``m > 1`` wraps the discriminator in :class:`Packed` (PacGAN).
        Other arguments: see :class:`MLPGenerator`, :class:`MLPDiscriminator`,
            :class:`DCGANGenerator`, :class:`DCGANDiscriminator`.
    """
    if pack < 1:
        raise ValueError(f"pack must be >= 1; got {pack}")
    c, *rest = sample_shape
    d_shape = (pack * c, *rest)  # m samples side by side (features or channels)
    if arch == "mlp":
        out = "tanh" if image else "linear"
        G = MLPGenerator(noise_dim, sample_shape, g_hidden, activation, g_batchnorm, out)
        D = MLPDiscriminator(d_shape, d_hidden, activation, d_norm)
    elif arch == "dcgan":
        G = DCGANGenerator(noise_dim, sample_shape, width, batchnorm=True)
        D = DCGANDiscriminator(d_shape, width, d_norm)
    else:
        raise ValueError(f"unknown model {arch!r}; choose from {list(ARCHITECTURES)}")
    return G, (Packed(D, pack, sample_shape) if pack > 1 else D)


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


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Draws from torch's global generator inside the block come from ``seed``; its CPU state is restored after.

    What networks use to initialise their weights: building one inside
    ``with seeded(s):`` gives the same weights for the same ``s`` and leaves the
    caller's random stream where it was. ``seed=None`` draws from the stream as
    it is, and puts it back after (for weights that are loaded over at once).
    """
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        yield


__all__ = [
    "ARCHITECTURES",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "MLPDiscriminator",
    "MLPGenerator",
    "Packed",
    "build_models",
    "count_parameters",
    "eval_mode",
    "pack_size",
    "seeded",
]
