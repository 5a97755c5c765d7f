"""Generator and discriminator/critic families: MLP, DCGAN and ResNet, unconditional or class-conditional.

A generator maps noise ``z`` of shape ``(B, noise_dim)`` to samples of shape
``(B, *sample_shape)``. A discriminator or critic maps samples to one raw score
per sample, shape ``(B,)``: a logit for the GAN games, an unbounded score for
the Wasserstein critic. No sigmoid lives in a model; probabilities and logs are
taken inside the losses. Models have ``forward`` only: training lives in
:mod:`gankit.training`.

A class-conditional pair (``n_classes`` > 0) takes integer labels ``y`` of
shape ``(B,)`` as a second argument, ``G(z, y)`` and ``D(x, y)``
(:mod:`gankit.models.conditional`); its generator carries ``n_classes`` and the
training data's ``class_prior``, which sampling draws classes from.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..presets import ARCHITECTURES
from .common import Packed, count_parameters, eval_mode, pack_size, seeded
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .mlp import ACTIVATIONS, MLPDiscriminator, MLPGenerator
from .resnet import ResNetDiscriminator, ResNetGenerator


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
    n_classes: int = 0,
) -> tuple[nn.Module, nn.Module]:
    """Build a matching generator and discriminator/critic.

    Args:
        arch: ``"mlp"``, ``"dcgan"`` or ``"resnet"``.
        sample_shape: shape of one sample.
        noise_dim: dimension of z.
        image: images get a tanh output (data in [-1, 1]); points a linear one.
        pack: ``m > 1`` wraps the discriminator in :class:`Packed` (PacGAN).
        n_classes: C > 0 builds a class-conditional pair (conditional batch norm or a one-hot input in G,
            the projection head in D).
        Other arguments: see :class:`MLPGenerator`, :class:`MLPDiscriminator`,
            :class:`DCGANGenerator`, :class:`DCGANDiscriminator`, :class:`ResNetGenerator`,
            :class:`ResNetDiscriminator`.
    """
    if pack < 1:
        raise ValueError(f"pack must be >= 1; got {pack}")
    if pack > 1 and n_classes:
        raise ValueError("a packed discriminator (PacGAN) cannot be class-conditional: a pack of m samples has m "
                         "classes; use pack 1 with conditional training")
    c, *rest = sample_shape
    d_shape = (pack * c, *rest)  # m samples side by side (features or channels)
    if arch == "mlp":
        out = "tanh" if image else "linear"
        G = MLPGenerator(noise_dim, sample_shape, g_hidden, activation, g_batchnorm, out, n_classes)
        D = MLPDiscriminator(d_shape, d_hidden, activation, d_norm, n_classes)
    elif arch == "dcgan":
        G = DCGANGenerator(noise_dim, sample_shape, width, batchnorm=True, n_classes=n_classes)
        D = DCGANDiscriminator(d_shape, width, d_norm, n_classes)
    elif arch == "resnet":
        G = ResNetGenerator(noise_dim, sample_shape, width, n_classes)
        D = ResNetDiscriminator(d_shape, width, n_classes)
    else:
        raise ValueError(f"unknown model {arch!r}; choose from {list(ARCHITECTURES)}")
    return G, (Packed(D, pack, sample_shape) if pack > 1 else D)


__all__ = [
    "ACTIVATIONS",
    "ARCHITECTURES",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "MLPDiscriminator",
    "MLPGenerator",
    "Packed",
    "ResNetDiscriminator",
    "ResNetGenerator",
    "build_models",
    "count_parameters",
    "eval_mode",
    "pack_size",
    "seeded",
]
