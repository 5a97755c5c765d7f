r"""ResNet generator and discriminator/critic (SNGAN; Miyato et al. 2018, Gulrajani et al. 2017).

The family of SNGAN's CIFAR-10 networks (as in Mimicry's ``sngan_32``), made
for any square side ``s0 * 2^k`` (28, 32, 64, ...), grey or colour:

* **G**: z -> linear to ``(width, s0, s0)``; k up-blocks
  ``BN-ReLU-up2-conv3-BN-ReLU-conv3`` with a ``up2-conv1`` shortcut; BN-ReLU-conv3-tanh.
  Class-conditional: every batch norm takes a gain and a bias per class.
* **D**: an "optimised" first block ``conv3-ReLU-conv3-pool`` (shortcut ``pool-conv1``), down-blocks
  ``ReLU-conv3-ReLU-conv3-pool`` until the side is at most 8, then two blocks at that side; ReLU, the sum
  over positions (global sum pooling) and a linear score. Class-conditional: the projection head on the
  pooled features.

No batch norm in D, so any penalty (gradient penalty, R1) and spectral norm apply as they are.

Each ``up2-conv3`` runs as one transposed convolution at the low resolution and each ``conv3-pool`` as one
convolution of stride 2 (:mod:`gankit.models.resample`: the same functions, 4 multiply-adds per pixel
instead of 9); the 1x1 shortcuts run at the low resolution (a 1x1 convolution commutes with nearest
upsampling and with average pooling).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from .common import doublings, image_shape
from .conditional import (
    ConditionalBatchNorm2d,
    ConditionalBlock,
    Projection,
    add_class_prior,
    head,
    need_labels,
    norm2d,
    one_hot,
    run_layers,
)
from .resample import conv2d_avgpool, upsample_conv2d


def _conv3(a: int, b: int) -> nn.Conv2d:
    return nn.Conv2d(a, b, 3, 1, 1)


class UpBlock(ConditionalBlock):
    """``h -> up2(h) shortcut + conv3(ReLU(BN(conv3(up2(ReLU(BN(h)))))))``."""

    def __init__(self, cin: int, cout: int, n_classes: int):
        super().__init__()
        self.bn1, self.conv1 = norm2d(cin, n_classes), _conv3(cin, cout)
        self.bn2, self.conv2 = norm2d(cout, n_classes), _conv3(cout, cout)
        self.shortcut = nn.Conv2d(cin, cout, 1)
        self.conditional = n_classes > 0

    def _bn(self, bn: nn.Module, h: Tensor, onehot: Tensor | None) -> Tensor:
        return bn(h, onehot) if self.conditional else bn(h)

    @staticmethod
    def _up_conv3(conv: nn.Conv2d, h: Tensor) -> Tensor:
        """``conv(up2(h))``: one transposed convolution of ``h``."""
        return upsample_conv2d(h, conv.weight, conv.bias)

    def forward(self, h: Tensor, onehot: Tensor | None = None) -> Tensor:
        out = self._up_conv3(self.conv1, F.relu(self._bn(self.bn1, h, onehot)))  # (B, C, 2H, 2W)
        out = self.conv2(F.relu(self._bn(self.bn2, out, onehot)))
        return out + F.interpolate(self.shortcut(h), scale_factor=2.0, mode="nearest")  # = shortcut(up2(h))


class DownBlock(nn.Module):
    """A residual block of D: ``conv3(ReLU(conv3(ReLU(h))))`` (pooled when ``down``) plus the shortcut.

    The first block (``first``) takes the image itself: no ReLU before its first
    conv, and its shortcut pools before the 1x1 conv (SNGAN's optimised block).
    """

    def __init__(self, cin: int, cout: int, down: bool, first: bool = False):
        super().__init__()
        self.conv1, self.conv2 = _conv3(cin, cout), _conv3(cout, cout)
        self.down, self.first = down, first
        self.shortcut = nn.Conv2d(cin, cout, 1) if (cin != cout or down) else None
        self.relu = nn.ReLU()  # a module, so that a gradient penalty can hold its slope (gankit.models.slopes)

    @staticmethod
    def _conv3_pool(conv: nn.Conv2d, h: Tensor) -> Tensor:
        """``pool(conv(h))``: one convolution of stride 2."""
        return conv2d_avgpool(h, conv.weight, conv.bias)

    def forward(self, h: Tensor) -> Tensor:
        out = self.relu(self.conv1(h if self.first else self.relu(h)))
        out = self._conv3_pool(self.conv2, out) if self.down else self.conv2(out)
        skip = F.avg_pool2d(h, 2) if self.down else h
        return out + (skip if self.shortcut is None else self.shortcut(skip))  # = pool(shortcut(h))


def _init(module: nn.Module) -> None:
    """Xavier-uniform weights (Glorot and Bengio 2010) as SNGAN's code: gain sqrt(2) for the 3x3 convs (they
    feed a ReLU), 1 for the rest; the per-class gains and biases of conditional batch norm keep their 1 and 0."""
    skip = {id(p) for m in module.modules() if isinstance(m, ConditionalBatchNorm2d) for p in m.parameters()}
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and id(m.weight) not in skip:
            three = isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)
            nn.init.xavier_uniform_(m.weight, 2**0.5 if three else 1.0)


def _downsamplings(side: int) -> int:
    """Halvings of D until the side is at most 8 (32 -> 2, 28 -> 2, 64 -> 3, 8 -> 1): at least one."""
    k = 0
    while side > 8 and side % 2 == 0:
        side //= 2
        k += 1
    return max(1, k)


class ResNetGenerator(nn.Module):
    """SNGAN's ResNet generator for square images of side ``s0 * 2^k`` (see the module).

    Args:
        noise_dim: dimension of z.
        sample_shape: ``(C, H, H)``.
        width: channels of every block (SNGAN on CIFAR-10: 256).
        n_classes: C > 0 makes every batch norm class-conditional.
    """

    def __init__(self, noise_dim: int, sample_shape: Sequence[int], width: int = 64, n_classes: int = 0):
        super().__init__()
        c, h, _ = image_shape(sample_shape, "ResNet")
        self.noise_dim, self.sample_shape = noise_dim, (c, h, h)
        k = doublings(h)
        s0 = h // 2**k
        self.project = nn.Sequential(nn.Linear(noise_dim, width * s0 * s0), nn.Unflatten(1, (width, s0, s0)))
        self.blocks = nn.Sequential(*[UpBlock(width, width, n_classes) for _ in range(k)])
        self.out = nn.Sequential(norm2d(width, n_classes), nn.ReLU(), _conv3(width, c), nn.Tanh())
        _init(self)
        add_class_prior(self, n_classes)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        onehot = one_hot(need_labels(self, y), self.n_classes, z) if self.n_classes else None
        h = self.project(z)  # (B, width, s0, s0)
        return run_layers(self.out, run_layers(self.blocks, h, onehot), onehot)  # (B, C, H, W)


class ResNetDiscriminator(nn.Module):
    """SNGAN's ResNet discriminator/critic (see the module).

    Args:
        sample_shape: ``(C, H, H)``.
        width: channels of every block (SNGAN on CIFAR-10: 128).
        n_classes: C > 0 adds the projection head on the pooled features.
    """

    def __init__(self, sample_shape: Sequence[int], width: int = 64, n_classes: int = 0):
        super().__init__()
        c, h, _ = image_shape(sample_shape, "ResNet")
        self.sample_shape = tuple(sample_shape)
        k = _downsamplings(h)
        blocks = [DownBlock(c, width, down=True, first=True)]
        blocks += [DownBlock(width, width, down=True) for _ in range(k - 1)]
        blocks += [DownBlock(width, width, down=False) for _ in range(2)]
        self.blocks = nn.Sequential(*blocks)
        self.score = nn.Linear(width, 1)
        self.relu = nn.ReLU()
        self.n_classes = int(n_classes)
        if n_classes:
            self.projection = Projection(n_classes, width)
        _init(self)

    def forward(self, x: Tensor, y: Tensor | None = None, *, logits: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Scores ``(B,)``; with ``logits``, also the projection head's class logits ``(B, C)``."""
        phi = self.relu(self.blocks(x)).sum(dim=(2, 3))  # (B, width): global sum pooling
        return head(self, self.score(phi).squeeze(-1), phi, y, logits)
