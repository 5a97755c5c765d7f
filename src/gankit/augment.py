r"""Differentiable augmentation of the discriminator's inputs (DiffAugment, Zhao et al. 2020).

The discriminator of a GAN trained on little data memorises it; augmenting
only the real images would teach the generator the augmentations. DiffAugment
applies the same random, differentiable transforms :math:`T` to *both* real and
generated images wherever the discriminator sees them, in its own step and in
the generator's, so the gradient reaches G through :math:`T`:

.. math::
    L_D = \mathbb{E}_x\, \ell_r\big(D(T(x))\big) + \mathbb{E}_z\, \ell_f\big(D(T(G(z)))\big), \qquad
    L_G = \mathbb{E}_z\, \ell_g\big(D(T(G(z)))\big).

Each sample gets its own draw of every transform of the policy, in this order
(the paper's code, ``DiffAugment_pytorch.py``):

* ``color``: brightness :math:`x + (u_1 - \tfrac12)`, saturation
  :math:`\bar x_c + 2 u_2 (x - \bar x_c)` (mean over channels), contrast
  :math:`\bar x + (u_3 + \tfrac12)(x - \bar x)` (mean over the image), with
  :math:`u_i \sim U[0, 1)`;
* ``translation``: a shift by an integer number of pixels in
  :math:`[-\lfloor s/8 \rceil, \lfloor s/8 \rceil]` along each axis, filled with zeros (mid-grey in [-1, 1]);
* ``cutout``: a square of half the side set to zero at a uniform position (clipped at the border).

Every draw comes from a ``torch.Generator`` passed in, so a run's
augmentations are part of its random streams (exact resume).

References:
    Zhao, S., Liu, Z., Lin, J., Zhu, J.-Y. and Han, S. (2020). Differentiable
    Augmentation for Data-Efficient GAN Training. NeurIPS.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: The transforms, in the order a policy applies them.
AUGMENTATIONS = ("color", "translation", "cutout")
#: Shift of ``translation`` and side of ``cutout``, as fractions of the image side (the paper's values).
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def parse_policy(policy: str) -> tuple[str, ...]:
    """``"translation,cutout"`` -> ``("translation", "cutout")`` in the canonical order; ``""``/``"none"`` -> ``()``.

    Raises:
        ValueError: naming an unknown transform and listing the valid ones.
    """
    names = [p.strip() for p in str(policy).split(",") if p.strip() and p.strip() != "none"]
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"unknown augmentation(s) {unknown}; choose from {list(AUGMENTATIONS)} "
                         "(comma-separated), or none")
    return tuple(a for a in AUGMENTATIONS if a in names)


def _uniform(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """One U[0, 1) draw per sample, shaped to broadcast over ``x`` (``(B, 1, 1, 1)``)."""
    return torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), device=x.device, dtype=x.dtype, generator=generator)


def color(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Random brightness, saturation and contrast per sample (``x``: ``(B, C, H, W)`` in [-1, 1])."""
    x = x + (_uniform(x, generator) - 0.5)
    mean = x.mean(dim=1, keepdim=True)  # (B, 1, H, W)
    x = (x - mean) * (_uniform(x, generator) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    return (x - mean) * (_uniform(x, generator) + 0.5) + mean


def translation(x: Tensor, generator: torch.Generator | None = None, ratio: float = TRANSLATION_RATIO) -> Tensor:
    """Shift each sample by up to ``ratio`` of its side in each direction, filling with zeros."""
    B, _, H, W = x.shape
    sh, sw = int(H * ratio + 0.5), int(W * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (B, 1, 1), device=x.device, generator=generator)
    tx = torch.randint(-sw, sw + 1, (B, 1, 1), device=x.device, generator=generator)
    rows = torch.arange(H, device=x.device).view(1, H, 1)
    cols = torch.arange(W, device=x.device).view(1, 1, W)
    # the pixel of the output at (i, j) is the input's (i + ty, j + tx), or 0 outside: index a 1-padded copy
    gy = torch.clamp(rows + ty + 1, 0, H + 1).expand(B, H, W)
    gx = torch.clamp(cols + tx + 1, 0, W + 1).expand(B, H, W)
    padded = torch.nn.functional.pad(x, [1, 1, 1, 1])  # (B, C, H + 2, W + 2), zeros around
    b = torch.arange(B, device=x.device).view(B, 1, 1)
    return padded.permute(0, 2, 3, 1)[b, gy, gx].permute(0, 3, 1, 2)  # (B, H, W, C) -> (B, C, H, W)


def cutout(x: Tensor, generator: torch.Generator | None = None, ratio: float = CUTOUT_RATIO) -> Tensor:
    """Set a square of ``ratio`` of the side to zero at a uniform position in each sample (clipped at the border)."""
    B, _, H, W = x.shape
    ch, cw = int(H * ratio + 0.5), int(W * ratio + 0.5)
    oy = torch.randint(0, H + (1 - ch % 2), (B, 1, 1), device=x.device, generator=generator)
    ox = torch.randint(0, W + (1 - cw % 2), (B, 1, 1), device=x.device, generator=generator)
    rows = torch.arange(H, device=x.device).view(1, H, 1)
    cols = torch.arange(W, device=x.device).view(1, 1, W)
    dy, dx = rows - oy + ch // 2, cols - ox + cw // 2  # position inside the square, (B, H, 1) and (B, 1, W)
    inside = (dy >= 0) & (dy < ch) & (dx >= 0) & (dx < cw)  # (B, H, W)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_TRANSFORMS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x: Tensor, policy: tuple[str, ...] | str, generator: torch.Generator | None = None) -> Tensor:
    """Apply the policy's transforms to a batch of images ``(B, C, H, W)``; differentiable in ``x``.

    Args:
        x: images in the model's range.
        policy: transform names (see :data:`AUGMENTATIONS`), or a comma-separated string.
        generator: the random stream of the draws (None: torch's global one).
    """
    names = parse_policy(policy) if isinstance(policy, str) else policy
    if names and x.ndim != 4:
        raise ValueError(f"augmentations apply to images (B, C, H, W); got a batch of shape {tuple(x.shape)}")
    for name in names:
        x = _TRANSFORMS[name](x, generator)
    return x


class Augment:
    """A run's augmentation: its policy and its own random stream (part of the checkpoint).

    Args:
        policy: transform names or a comma-separated string.
        device: where the draws happen.
        seed: seeds the stream.
    """

    def __init__(self, policy: tuple[str, ...] | str, device: torch.device | str = "cpu", seed: int = 0):
        self.policy = parse_policy(policy) if isinstance(policy, str) else tuple(policy)
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def __call__(self, x: Tensor) -> Tensor:
        return diff_augment(x, self.policy, self.generator)

    def state_dict(self) -> Tensor:
        return self.generator.get_state()

    def load_state_dict(self, state: Tensor) -> None:
        self.generator.set_state(state)


__all__ = ["AUGMENTATIONS", "Augment", "color", "cutout", "diff_augment", "parse_policy", "translation"]
