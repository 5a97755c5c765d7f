"""Memory layout where a convolutional network meets a flat vector (gankit.models.layout)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from gankit import TrainConfig
from gankit.models.layout import Flatten, Unflatten, channels_last, is_channels_last
from gankit.training import Run

CL = torch.channels_last


def test_flatten_hands_its_gradient_back_in_its_inputs_layout():
    x = torch.randn(4, 6, 3, 3).to(memory_format=CL).requires_grad_(True)
    y, ref = Flatten()(x), nn.Flatten()(x)
    assert torch.equal(y, ref)
    v = torch.randn_like(ref).requires_grad_(True)
    (g,) = torch.autograd.grad(y, x, v, create_graph=True)
    (g_ref,) = torch.autograd.grad(ref, x, v)
    assert torch.equal(g, g_ref) and is_channels_last(g) and not is_channels_last(g_ref)
    # differentiable again (a penalty on D's input gradient goes through it)
    (gg,) = torch.autograd.grad((g * g).sum(), v)
    assert torch.allclose(gg, 2 * v)
    plain = torch.randn(4, 6, 3, 3, requires_grad=True)  # channels-first in, nn.Flatten's own path
    assert Flatten()(plain).grad_fn.name() == nn.Flatten()(plain).grad_fn.name()


def test_unflatten_stores_the_image_channels_last_once_marked():
    net = nn.Sequential(nn.Linear(5, 4 * 3 * 3), Unflatten(1, (4, 3, 3)), nn.Conv2d(4, 2, 3, padding=1))
    z = torch.randn(7, 5)
    before = net(z)
    assert not is_channels_last(net[1](net[0](z)))  # unmarked: nn.Unflatten
    channels_last(net)
    h = net[1](net[0](z))
    assert net[1].channels_last and is_channels_last(h) and is_channels_last(net[2].weight)
    assert torch.allclose(net(z), before, atol=1e-6)  # the same values, stored otherwise
    assert copy.deepcopy(net)[1].channels_last  # the EMA's copy keeps it


def _layout(t: torch.Tensor) -> str | None:
    """nchw or nhwc where a 4-d tensor is stored one way only (a single channel or pixel is both)."""
    if t.dim() != 4 or (t.is_contiguous() and t.is_contiguous(memory_format=CL)):
        return None
    return "nhwc" if is_channels_last(t) else "nchw" if t.is_contiguous() else "other"


class _MixedLayouts(TorchDispatchMode):
    """The elementwise and normalisation kernels that ran on operands stored in different layouts."""

    WATCHED = ("leaky_relu_backward", "threshold_backward", "native_batch_norm", "native_batch_norm_backward",
               "leaky_relu", "relu")

    def __init__(self) -> None:
        super().__init__()
        self.mixed: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket.__name__ in self.WATCHED:
            layouts = {_layout(a) for a in args if isinstance(a, torch.Tensor)} - {None}
            if len(layouts) > 1:
                self.mixed.append(f"{func.overloadpacket.__name__} {sorted(layouts)}")
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("conditional", [False, True])
def test_a_dcgan_iteration_runs_no_kernel_on_mixed_layouts(conditional):
    run = Run(TrainConfig(data="digits", model="dcgan", width=8, batch_size=8,
                          iterations=2, objective="gan-fast", conditional=conditional, snapshot_every=0,
                          tensorboard=False, progress=False))
    assert isinstance(run.D.features[-1], Flatten)
    assert run.G.project[1].channels_last and run.ema.model.project[1].channels_last
    watch = _MixedLayouts()
    with watch:
        run.iteration(run.window)
    assert watch.mixed == []
