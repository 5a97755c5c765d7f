"""The mirror benchmark's networks (the peers' layers rebuilt) and its gankit side (its runs are measurements)."""

from __future__ import annotations

import pytest
import torch

from conftest import load_benchmark


def _module():
    return load_benchmark("mirror")


@pytest.mark.parametrize("name, parameters, side", [
    # the peers' parameter counts, from their layer lists: wgan_gp.py's G and D, dcgan.py's G and D at 32 px
    ("wgan_gp", (12_928 + 33_024 + 512 + 131_584 + 1_024 + 525_312 + 2_048 + 803_600,
                 401_920 + 131_328 + 257), 28),
    ("dcgan", (827_392 + 256 + 147_584 + 256 + 73_792 + 128 + 577,
               160 + 4_640 + 64 + 18_496 + 128 + 73_856 + 256 + 513), 32),
])
def test_the_mirrors_have_the_peers_shapes_and_parameters(name, parameters, side):
    G, D = _module().NETWORKS[name]()
    assert (sum(p.numel() for p in G.parameters()), sum(p.numel() for p in D.parameters())) == parameters
    with torch.no_grad():
        x = G(torch.randn(5, 100))
    assert x.shape == (5, 1, side, side) and float(x.abs().max()) <= 1
    with torch.no_grad():
        assert D(x).shape == (5,)
    eps = {m.eps for m in G.modules() if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))}
    assert 0.8 in eps  # the peers' BatchNorm(n, 0.8) sets eps, not the momentum


def test_gankit_trains_the_mirror_through_its_own_networks_and_reports_a_rate(capsys):
    assert _module().main(["--ours", "wgan_gp", "--seconds", "0.5"]) == 0
    out = capsys.readouterr().out
    assert '"generator_iterations": 50' in out and '"its_per_second"' in out
