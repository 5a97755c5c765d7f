"""DCGAN generator and discriminator/critic (Radford et al. 2016), for square images of side s0 * 2^k."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from .common import dcgan_init, doublings, image_shape
from .conditional import Projection, add_class_prior, head, need_labels, norm2d, one_hot, run_layers
from .layout import Flatten, Unflatten
from .mlp import check_norm


class DCGANGenerator(nn.Module):
    """DCGAN generator (Radford et al. 2016): project z, then stride-2 transposed convs.

    The image side must be ``s0 * 2^k`` with ``s0`` in 4..7 (8, 28, 32, 64, ...).
    Channels halve at each stage from ``width * 2^(k-1)``; BatchNorm and ReLU
    after every stage but the last, tanh at the output. Class-conditional
    (``n_classes`` > 0): every batch norm takes a gain and a bias per class.
    """

    def __init__(self, noise_dim: int, sample_shape: Sequence[int], width: int = 64, batchnorm: bool = True,
                 n_classes: int = 0):
        super().__init__()
        c, h, w = image_shape(sample_shape)
        self.noise_dim, self.sample_shape = noise_dim, (c, h, w)
        k = doublings(h)
        s0, c0 = h // 2**k, width * 2 ** (k - 1)

        def norm(ch: int) -> nn.Module:
            return norm2d(ch, n_classes) if batchnorm else nn.Identity()

        self.project = nn.Sequential(nn.Linear(noise_dim, c0 * s0 * s0), Unflatten(1, (c0, s0, s0)),
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
        dcgan_init(self)
        add_class_prior(self, n_classes)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        if not self.n_classes:
            return self.stages(self.project(z))  # (B, C, H, W)
        onehot = one_hot(need_labels(self, y), self.n_classes, z)
        return run_layers(self.stages, run_layers(self.project, z, onehot), onehot)


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator/critic: stride-2 convs with LeakyReLU(0.2), then a linear score.

    Args:
        sample_shape: ``(C, H, W)``, square images of side ``s0 * 2^k``.
        width: channels of the first conv; doubling at each stage.
        norm: ``"batch"`` (DCGAN), ``"layer"`` (WGAN-GP's choice) or ``"none"``;
            never on the first stage.
        n_classes: C > 0 adds the projection head on the flattened features.
    """

    def __init__(self, sample_shape: Sequence[int], width: int = 64, norm: str = "batch", n_classes: int = 0):
        super().__init__()
        check_norm(norm)
        c, h, _ = image_shape(sample_shape)
        self.sample_shape = tuple(sample_shape)
        k = doublings(h)
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
        self.features = nn.Sequential(*layers, Flatten())  # its gradient in the features' layout
        self.score = nn.Linear(ch_in * side * side, 1)
        self.n_classes = int(n_classes)
        if n_classes:
            self.projection = Projection(n_classes, ch_in * side * side)
        dcgan_init(self)

    def forward(self, x: Tensor, y: Tensor | None = None, *, logits: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Scores ``(B,)``; with ``logits``, also the projection head's class logits ``(B, C)``."""
        phi = self.features(x)  # (B, C' H' W')
        return head(self, self.score(phi).squeeze(-1), phi, y, logits)
