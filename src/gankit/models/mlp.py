"""Fully connected generator and discriminator/critic (the seed's networks; points and small images)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..presets import D_NORMS
from .conditional import Projection, add_class_prior, head, need_labels, one_hot

ACTIVATIONS = {
    "relu": lambda: nn.ReLU(),
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "tanh": lambda: nn.Tanh(),
    "elu": lambda: nn.ELU(),
}


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def check_norm(norm: str) -> None:
    if norm not in D_NORMS:
        raise ValueError(f"unknown discriminator norm {norm!r}; choose from {list(D_NORMS)}")


def _mlp(sizes: Sequence[int], act: str, norm: Sequence[nn.Module | None]) -> nn.Sequential:
    """Linear layers between ``sizes``; after every hidden one: its norm (if any), then the activation."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            if norm[i] is not None:
                layers.append(norm[i])
            layers.append(activation(act))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """Fully connected generator ``z -> x`` (``(z, y) -> x`` when class-conditional).

    Args:
        noise_dim: dimension of z.
        sample_shape: shape of one sample, e.g. ``(2,)`` or ``(1, 28, 28)``.
        hidden: widths of the hidden layers.
        activation: hidden activation name.
        batchnorm: BatchNorm on every hidden layer but the first (the widely
            copied MLP GAN generator).
        output: ``"linear"`` (points, any range) or ``"tanh"`` (images in [-1, 1]).
        n_classes: C > 0 makes it class-conditional: the one-hot class is
            concatenated to z (:mod:`gankit.models.conditional`).
    """

    def __init__(
        self,
        noise_dim: int,
        sample_shape: Sequence[int],
        hidden: Sequence[int] = (512, 512, 512),
        activation: str = "relu",
        batchnorm: bool = False,
        output: str = "linear",
        n_classes: int = 0,
    ):
        super().__init__()
        if output not in ("linear", "tanh"):
            raise ValueError(f"output must be 'linear' or 'tanh'; got {output!r}")
        self.noise_dim = noise_dim
        self.sample_shape = tuple(sample_shape)
        sizes = [noise_dim + n_classes, *hidden, math.prod(self.sample_shape)]
        norms = [nn.BatchNorm1d(h) if batchnorm and i > 0 else None for i, h in enumerate(hidden)]
        self.net = _mlp(sizes, activation, norms)
        self.out = nn.Tanh() if output == "tanh" else nn.Identity()
        add_class_prior(self, n_classes)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        if self.n_classes:
            z = torch.cat([z, one_hot(need_labels(self, y), self.n_classes, z)], dim=-1)  # (B, noise_dim + C)
        return self.out(self.net(z)).reshape(z.shape[0], *self.sample_shape)  # (B, *sample_shape); traceable


class MLPDiscriminator(nn.Module):
    """Fully connected discriminator/critic ``x -> score`` with a linear last layer.

    Args:
        sample_shape: shape of one sample; inputs are flattened.
        hidden: widths of the hidden layers.
        activation: hidden activation name.
        norm: ``"none"``, ``"batch"`` or ``"layer"`` on hidden layers (WGAN-GP
            forbids batch norm in the critic: the penalty is per sample).
        n_classes: C > 0 adds the projection head on the last hidden layer
            (:class:`~gankit.models.conditional.Projection`).
    """

    def __init__(
        self,
        sample_shape: Sequence[int],
        hidden: Sequence[int] = (512, 512, 512),
        activation: str = "relu",
        norm: str = "none",
        n_classes: int = 0,
    ):
        super().__init__()
        check_norm(norm)
        self.sample_shape = tuple(sample_shape)
        make = {"none": lambda h: None, "batch": nn.BatchNorm1d, "layer": nn.LayerNorm}[norm]
        self.net = _mlp([math.prod(self.sample_shape), *hidden, 1], activation, [make(h) for h in hidden])
        self.n_classes = int(n_classes)
        if n_classes:
            self.projection = Projection(n_classes, hidden[-1] if hidden else math.prod(self.sample_shape))

    def forward(self, x: Tensor, y: Tensor | None = None, *, logits: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Scores ``(B,)``; with ``logits``, also the projection head's class logits ``(B, C)``."""
        x = x.reshape(len(x), -1)
        if not self.n_classes and not logits:
            return self.net(x).squeeze(-1)  # (B,)
        phi = self.net[:-1](x)  # (B, last hidden width): the features the projection reads
        return head(self, self.net[-1](phi).squeeze(-1), phi, y, logits)
