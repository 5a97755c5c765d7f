"""Memory layout where a convolutional network meets a flat vector: one layout on both sides of every kernel.

Convolutional runs keep their weights channels-last (``(B, C, H, W)`` stored as ``(B, H, W, C)``), which the
CPU's convolutions run faster, and the activations follow them. Two places break the chain:

* DCGAN's generator reshapes the projection of z into an image, ``nn.Unflatten``: the result is stored
  channels-first, so its batch norm and ReLU run channels-first while the gradient the first transposed
  convolution hands back is channels-last;
* DCGAN's discriminator flattens its last features for the score, ``nn.Flatten``: the gradient of the
  flat vector comes back channels-first, onto the last LeakyReLU, whose input is channels-last.

PyTorch's elementwise backward kernels take a slow path, element by element, when their operands differ in
layout: LeakyReLU's backward of a ``(32, 64, 7, 7)`` batch took 459 us mixed and 18 us matched on one core.
:class:`Unflatten` (once :func:`channels_last` has marked it) stores the image channels-last, and
:class:`Flatten` returns its gradient in its input's layout: one copy each instead. The values are the same;
only where they sit in memory differs.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def is_channels_last(x: Tensor) -> bool:
    """Whether a 4-d tensor is stored channels-last and not also channels-first (as one of a single channel or
    pixel is)."""
    return x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


class _FlattenKeepingLayout(torch.autograd.Function):
    """``x.flatten(1)`` whose gradient is handed back channels-last, as ``x`` is (differentiable again)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.shape = x.shape
        return x.flatten(1)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return grad.reshape(ctx.shape).contiguous(memory_format=torch.channels_last)


class Flatten(nn.Flatten):
    """``nn.Flatten()`` whose gradient comes back in its input's layout (see the module)."""

    def forward(self, x: Tensor) -> Tensor:
        whole = (self.start_dim, self.end_dim) == (1, -1)
        if whole and x.requires_grad and torch.is_grad_enabled() and is_channels_last(x):
            return _FlattenKeepingLayout.apply(x)
        return super().forward(x)


class Unflatten(nn.Unflatten):
    """``nn.Unflatten`` to an image, stored channels-last once :func:`channels_last` marks it (see the module)."""

    channels_last = False

    def forward(self, x: Tensor) -> Tensor:
        y = super().forward(x)
        return y.contiguous(memory_format=torch.channels_last) if self.channels_last and y.dim() == 4 else y


def channels_last(module: nn.Module) -> nn.Module:
    """``module`` with its weights channels-last (in place, as ``module.to(memory_format=...)``) and every
    :class:`Unflatten` in it storing its image so."""
    module = module.to(memory_format=torch.channels_last)
    for m in module.modules():
        if isinstance(m, Unflatten):
            m.channels_last = True
    return module
