r"""ReLU and LeakyReLU with their slope held constant under differentiation: the same function and derivatives,
without the zeros that an input-gradient penalty's double backward carries through every layer.

Both are :math:`f(x) = s(x)\, x` with the slope :math:`s(x) = 1` for :math:`x > 0` and :math:`\alpha`
otherwise (:math:`\alpha = 0` for ReLU). As :math:`s` is piecewise constant,

.. math::
    f'(x) = s(x), \qquad f''(x) = 0 \quad \text{(almost everywhere)}.

A gradient penalty (WGAN-GP, R1) differentiates :math:`\nabla_x D(x)` with respect to D's weights. PyTorch
gives the first derivative of ReLU and LeakyReLU a derivative with respect to their input that is a tensor
of zeros, and autograd carries those zeros down through every layer below: a matrix product of zeros for
each weight and for each layer's input, the input's own gradient included (on WGAN-GP's MLP critic
784-512-256-1, a third of the penalty's arithmetic). Written as :math:`x \cdot \mathrm{sg}(s(x))` (sg: stop
gradient), with PyTorch's own kernels whose backward reads :math:`x` without a graph, the outputs, the first
derivative and the penalty's gradient are the same numbers, and that path does not exist. Only the penalty's
own forward pass (:func:`held_slopes`) needs it; the others keep PyTorch's functions, which cost less per call.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .common import replace_modules

_PENALTY = threading.local()  # .on: a penalty's forward pass is running in this thread


@contextlib.contextmanager
def held_slopes() -> Iterator[None]:
    """The forward passes inside (a penalty's, whose input gradient is differentiated again) hold the slopes of
    :class:`FrozenSlope` modules; elsewhere they are PyTorch's functions, with their own autograd."""
    outer = getattr(_PENALTY, "on", False)
    _PENALTY.on = True
    try:
        yield
    finally:
        _PENALTY.on = outer


class _Held(torch.autograd.Function):
    """LeakyReLU (ReLU for slope 0) whose backward reads its input without a graph: PyTorch's own kernels,
    forward and backward, so the numbers are the same bit for bit; under a double backward only the incoming
    gradient is differentiated (the slope does not depend on anything)."""

    @staticmethod
    def forward(ctx, x: Tensor, negative_slope: float) -> Tensor:
        y = F.leaky_relu(x, negative_slope) if negative_slope else F.relu(x)
        ctx.negative_slope = negative_slope
        ctx.save_for_backward((x if negative_slope else y).detach())  # ReLU's backward reads its output
        return y

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        (saved,) = ctx.saved_tensors
        a = ctx.negative_slope
        if a:
            return torch.ops.aten.leaky_relu_backward(grad, saved, a, False), None
        return torch.ops.aten.threshold_backward(grad, saved, 0), None


class FrozenSlope(nn.LeakyReLU):
    r"""LeakyReLU (ReLU at ``negative_slope = 0``) with its slope :math:`s(x)` held constant under
    differentiation inside :func:`held_slopes` (see the module); elsewhere the plain function."""

    def __init__(self, negative_slope: float = 0.0):
        super().__init__(negative_slope)

    def forward(self, x: Tensor) -> Tensor:
        a = self.negative_slope
        if getattr(_PENALTY, "on", False) and x.requires_grad and torch.is_grad_enabled():
            return _Held.apply(x, a)
        return F.leaky_relu(x, a) if a else F.relu(x)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


def freeze_slopes(module: nn.Module) -> int:
    """Replace every ``nn.ReLU`` and ``nn.LeakyReLU`` inside ``module`` by a :class:`FrozenSlope` of the same
    slope, in place (activations hold no parameters: the state dict is unchanged); the count replaced.

    Activations called as functions in a ``forward`` (``F.relu``) are not reached.
    """
    def swap(child: nn.Module) -> nn.Module | None:
        if isinstance(child, FrozenSlope) or not isinstance(child, (nn.ReLU, nn.LeakyReLU)):
            return None
        return FrozenSlope(child.negative_slope if isinstance(child, nn.LeakyReLU) else 0.0)

    return replace_modules(module, swap)
