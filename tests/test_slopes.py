"""ReLU and LeakyReLU with their slope held constant (gankit.models.slopes): the same numbers as PyTorch's,
without the double backward's matrix products of zeros."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from gankit import TrainConfig
from gankit.bench import _GemmRecorder
from gankit.models import build_models
from gankit.models.slopes import FrozenSlope, freeze_slopes, held_slopes
from gankit.objectives import GradientPenalty, R1Penalty, make_constraint
from gankit.training import Run


@pytest.mark.parametrize("slope", [0.0, 0.2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_frozen_slope_is_the_activation_and_its_derivative(slope, dtype):
    x = torch.randn(300, dtype=dtype)
    x[:7] = 0.0  # the kink: both give the slope of x <= 0 there
    ref = nn.LeakyReLU(slope) if slope else nn.ReLU()
    a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    with held_slopes():  # a penalty's forward pass
        ya, yb = ref(a), FrozenSlope(slope)(b)
    assert ya.dtype == yb.dtype == dtype and torch.equal(ya, yb)
    v = torch.randn(300, dtype=dtype, requires_grad=True)  # the incoming gradient, differentiated again
    (ga,) = torch.autograd.grad(ya, a, v, create_graph=True)
    (gb,) = torch.autograd.grad(yb, b, v, create_graph=True)
    assert torch.equal(ga, gb)
    # f'' = 0: PyTorch's first derivative depends on x through a tensor of zeros, the frozen one not at all
    (zeros,) = torch.autograd.grad(ga.sum(), a, retain_graph=True)
    assert not zeros.any()
    assert torch.autograd.grad(gb.sum(), b, retain_graph=True, allow_unused=True)[0] is None
    # both are linear in the incoming gradient with the same slopes
    assert torch.equal(torch.autograd.grad(ga.sum(), v)[0], torch.autograd.grad(gb.sum(), v)[0])
    # elsewhere, and without a graph, the plain function with PyTorch's autograd
    y = FrozenSlope(slope)(x.clone().requires_grad_(True))
    assert type(y.grad_fn).__name__ == type(ref(a).grad_fn).__name__ and torch.equal(y, ya)
    with torch.no_grad(), held_slopes():
        assert torch.equal(FrozenSlope(slope)(x), ref(x))


def test_freeze_slopes_replaces_relu_and_leaky_relu_modules_in_place():
    D = nn.Sequential(nn.Linear(4, 8), nn.LeakyReLU(0.1, inplace=True), nn.Sequential(nn.Linear(8, 8), nn.ReLU()),
                      nn.Tanh(), nn.Linear(8, 1))
    state = copy.deepcopy(D.state_dict())
    assert freeze_slopes(D) == 2
    assert isinstance(D[1], FrozenSlope) and D[1].negative_slope == 0.1
    assert isinstance(D[2][1], FrozenSlope) and D[2][1].negative_slope == 0.0
    assert isinstance(D[3], nn.Tanh)  # a curved activation keeps its second derivative
    assert freeze_slopes(D) == 0  # once
    assert D.state_dict().keys() == state.keys()


def _penalised_grads(D: nn.Module, penalty, real, fake):
    """The weight gradients of a critic loss plus ``penalty``, and the FLOPs of its matrix products."""
    D.zero_grad()
    recorder = _GemmRecorder()
    with recorder:
        loss = D(fake).mean() - D(real).mean() + penalty.penalty(D, real, fake, torch.Generator().manual_seed(1))
        loss.backward()
    return [p.grad.clone() for p in D.parameters()], loss.detach(), sum(g.flops for g in recorder.gemms)


# the networks, and the most of the arithmetic left (PyTorch's convolutions compute more of their double backward
# together, so fewer of their products are only zeros)
NETWORKS = [("mlp", (2,), {"activation": "leaky_relu"}, 0.9), ("mlp", (784,), {"activation": "relu"}, 0.9),
            ("dcgan", (1, 16, 16), {"width": 8}, 0.9), ("resnet", (1, 16, 16), {"width": 8}, 0.99)]


@pytest.mark.parametrize("penalty", [GradientPenalty(10.0), R1Penalty(1.0)], ids=["gp", "r1"])
@pytest.mark.parametrize(("arch", "shape", "options", "left"), NETWORKS,
                         ids=[n[0] + str(len(n[1])) for n in NETWORKS])
def test_a_penalised_critic_gets_the_same_gradients_from_less_arithmetic(penalty, arch, shape, options, left):
    torch.manual_seed(0)
    _, D = build_models(arch, shape, 8, image=len(shape) == 3, **options)
    frozen = copy.deepcopy(D)
    assert freeze_slopes(frozen) > 0
    real, fake = torch.randn(16, *shape), torch.randn(16, *shape)
    grads, loss, flops = _penalised_grads(D, penalty, real, fake)
    grads_f, loss_f, flops_f = _penalised_grads(frozen, penalty, real, fake)
    assert torch.equal(loss, loss_f)
    assert all(torch.equal(a, b) for a, b in zip(grads, grads_f, strict=True))
    assert flops_f < left * flops  # the zeros' products are gone


def test_the_input_gradient_penalties_prepare_the_critic_and_a_run_uses_it():
    for name in ("gradient-penalty", "r1"):
        _, D = build_models("mlp", (2,), 8, activation="leaky_relu")
        D = make_constraint(name).prepare(D)
        assert any(isinstance(m, FrozenSlope) for m in D.modules())
    _, D = build_models("mlp", (2,), 8, activation="leaky_relu")
    assert not any(isinstance(m, FrozenSlope) for m in make_constraint("clip").prepare(D).modules())
    run = Run(TrainConfig(data="ring", objective="wgan-gp", g_hidden=(16,), d_hidden=(16, 16), iterations=2,
                          snapshot_every=0, tensorboard=False, progress=False))
    assert sum(isinstance(m, FrozenSlope) for m in run.D.modules()) == 2
