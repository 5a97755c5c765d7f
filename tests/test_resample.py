"""A 3x3 convolution next to a factor-2 resampling as one strided convolution (:mod:`gankit.models.resample`):
the pair's function and gradients, the rewrite of a user's network, and a run that reuses its critic step's
samples for the generator step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gankit import TrainConfig
from gankit.models.resample import UpsampledConv2d, conv2d_avgpool, fuse_resampling, upsample_conv2d
from gankit.training import Run


def _pair_up(x, w, b, groups):
    return F.conv2d(F.interpolate(x, scale_factor=2.0, mode="nearest"), w, b, padding=1, groups=groups)


def _pair_pool(x, w, b, groups):
    return F.avg_pool2d(F.conv2d(x, w, b, padding=1, groups=groups), 2)


@pytest.mark.parametrize("fused, pair", [(upsample_conv2d, _pair_up), (conv2d_avgpool, _pair_pool)])
@pytest.mark.parametrize("groups, side", [(1, 5), (1, 8), (3, 7), (3, 4)])
def test_one_strided_convolution_is_the_resampling_and_the_3x3_convolution(fused, pair, groups, side):
    g = torch.Generator().manual_seed(side * groups)
    x = torch.randn(2, 6, side, side, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(9, 6 // groups, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(9, generator=g, dtype=torch.float64, requires_grad=True)
    out, ref = fused(x, w, b, groups), pair(x, w, b, groups)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    v = torch.randn(ref.shape, generator=g, dtype=torch.float64)  # gradients of <v, f> in x, w and b
    for got, want in zip(torch.autograd.grad((out * v).sum(), (x, w, b)),
                         torch.autograd.grad((ref * v).sum(), (x, w, b)), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-11)


def test_a_kernel_other_than_3x3_is_refused():
    with pytest.raises(ValueError, match="3x3"):
        upsample_conv2d(torch.zeros(1, 2, 4, 4), torch.zeros(3, 2, 5, 5))


def test_fuse_resampling_keeps_the_function_the_parameters_and_the_state_dict():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Upsample(scale_factor=2), nn.Conv2d(4, 6, 3, 1, 1), nn.ReLU(),
        nn.Sequential(nn.Upsample(scale_factor=(2, 2)), nn.Conv2d(6, 6, 3, 1, 1, groups=2)),  # nested, grouped
        nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(6, 5, 3, 1, 1),  # not nearest: left alone
        nn.Upsample(scale_factor=2), nn.Conv2d(5, 3, 3, 2, 1),  # stride 2: left alone
        nn.Upsample(scale_factor=2), nn.Conv2d(3, 3, 1),  # 1x1: left alone
    )
    x = torch.randn(2, 4, 3, 3)
    keys, params, ref = list(net.state_dict()), list(net.parameters()), net(x)
    assert fuse_resampling(net) == 2
    assert list(net.state_dict()) == keys and all(p is q for p, q in zip(params, net.parameters(), strict=True))
    assert isinstance(net[1], UpsampledConv2d) and isinstance(net[0], nn.Identity)
    assert isinstance(net[3][1], UpsampledConv2d) and type(net[5]) is nn.Conv2d and type(net[7]) is nn.Conv2d
    torch.testing.assert_close(net(x), ref, rtol=1e-5, atol=1e-5)
    assert fuse_resampling(net) == 0  # nothing left to fuse


def test_a_run_of_the_users_own_networks_trains_the_fused_generator(tmp_path, tiny):
    G = nn.Sequential(nn.Linear(4, 8 * 4 * 4), nn.Unflatten(1, (8, 4, 4)), nn.Upsample(scale_factor=2),
                      nn.Conv2d(8, 1, 3, 1, 1), nn.Tanh())
    D = nn.Sequential(nn.Flatten(), nn.Linear(64, 1), nn.Flatten(0))
    run = Run(TrainConfig(data="digits", noise_dim=4, iterations=2, **tiny), generator=G, discriminator=D)
    assert isinstance(run.G[3], UpsampledConv2d)
    before = run.G[3].weight.detach().clone()
    run.iteration(run.window)
    assert not torch.equal(before, run.G[3].weight)  # its weight is the optimiser's


def _count_forwards(module: nn.Module) -> list[torch.Tensor]:
    outputs: list[torch.Tensor] = []
    module.register_forward_hook(lambda m, args, out: outputs.append(out))
    return outputs


@pytest.mark.parametrize("K", [1, 3])
@pytest.mark.parametrize("reuse", [False, True])
def test_reuse_fakes_runs_g_k_times_per_iteration_and_d_scores_the_last_samples(reuse, K, tiny):
    config = TrainConfig(data="digits", objective="gan", model="dcgan", width=8, batch_size=16, d_steps=K,
                         reuse_fakes=reuse, **tiny)
    run = Run(config)
    g_out = _count_forwards(run.G)
    d_in: list[torch.Tensor] = []
    run.D.register_forward_hook(lambda m, args, out: d_in.append(args[0]))
    run.iteration(run.window)
    assert len(g_out) == (K if reuse else K + 1)
    # the generator step's D input: the last critic step's samples, the only ones with a graph
    assert (d_in[-1] is g_out[K - 1]) == reuse
    assert [out.requires_grad for out in g_out[:K]] == [reuse and k == K - 1 for k in range(K)]
    assert run.reused_fakes is None  # nothing held between iterations

