"""Sampling: the truncation trick, lerp and slerp, latent paths, against hand computations and closed forms."""

import math
import threading

import pytest
import torch
from scipy import stats

from gankit.models import eval_mode, seeded
from gankit.sampling import (
    generate,
    interpolate,
    latent_paths,
    lerp,
    noise,
    slerp,
    truncated_noise,
)

F64 = {"rtol": 1e-12, "atol": 1e-12}
E1 = torch.tensor([1.0, 0.0], dtype=torch.float64)
E2 = torch.tensor([0.0, 1.0], dtype=torch.float64)


def test_slerp_of_orthogonal_vectors_by_hand():
    # Omega = 90 degrees, sin Omega = 1: slerp(e1, e2; t) = cos(t 90) e1 + sin(t 90) e2.
    s = 0.5**0.5
    torch.testing.assert_close(slerp(E1, E2, 0.5), torch.tensor([s, s], dtype=torch.float64), **F64)
    torch.testing.assert_close(slerp(E1, E2, 1 / 3), torch.tensor([3**0.5 / 2, 0.5], dtype=torch.float64), **F64)
    torch.testing.assert_close(slerp(E1, E2, 0.0), E1, **F64)
    torch.testing.assert_close(slerp(E1, E2, 1.0), E2, **F64)
    # The arc keeps the norm of end points of equal norm; the straight line cuts inside: |lerp(.5)| = 2 / sqrt 2.
    torch.testing.assert_close(slerp(2 * E1, 2 * E2, 0.5), torch.tensor([2 * s, 2 * s], dtype=torch.float64), **F64)
    torch.testing.assert_close(lerp(2 * E1, 2 * E2, 0.5), torch.tensor([1.0, 1.0], dtype=torch.float64), **F64)


def test_slerp_at_60_degrees_and_where_the_arc_is_undefined():
    # z0 = e1, z1 = (1/2, sqrt 3 / 2): Omega = 60 deg; at t = 1/2 the coefficients are sin 30 / sin 60 = 1 / sqrt 3.
    z1 = torch.tensor([0.5, 3**0.5 / 2], dtype=torch.float64)
    expected = (E1 + z1) / 3**0.5  # = (cos 30, sin 30)
    torch.testing.assert_close(slerp(E1, z1, 0.5), expected, **F64)
    torch.testing.assert_close(expected, torch.tensor([3**0.5 / 2, 0.5], dtype=torch.float64), **F64)
    # Parallel end points: sin Omega = 0, so slerp is lerp.
    torch.testing.assert_close(slerp(E1, 3 * E1, 0.25), 1.5 * E1, **F64)


def test_lerp_and_slerp_broadcast_paths():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g)
    t = torch.linspace(0, 1, 4)
    for interp in (lerp, slerp):
        path = interp(z0[:, None], z1[:, None], t[None])  # (3, 4, 5)
        assert path.shape == (3, 4, 5)
        torch.testing.assert_close(path[:, 0], z0)
        torch.testing.assert_close(path[:, -1], z1)
    torch.testing.assert_close(lerp(z0, z1, 0.25), 0.75 * z0 + 0.25 * z1)


@pytest.mark.parametrize("psi", [0.5, 1.0, 2.0])
def test_truncated_noise_stays_inside_and_keeps_the_normal_on_the_interval(psi):
    n = 200_000
    z = truncated_noise((n // 10, 10), psi, generator=torch.Generator().manual_seed(1)).double().flatten()
    assert z.abs().max() <= psi
    # Accepted values follow N(0, 1) conditioned on |z| <= psi: scipy's truncnorm(-psi, psi).
    ks = stats.kstest(z.numpy(), stats.truncnorm(-psi, psi).cdf)
    assert ks.pvalue > 1e-3, ks
    # Its variance 1 - 2 psi phi(psi) / (2 Phi(psi) - 1), within 5 standard errors (n draws of z^2).
    var = 1 - 2 * psi * stats.norm.pdf(psi) / (2 * stats.norm.cdf(psi) - 1)
    sd_of_z2 = math.sqrt(stats.truncnorm(-psi, psi).moment(4) - var**2)
    assert abs(float((z**2).mean()) - var) < 5 * sd_of_z2 / math.sqrt(n)


def test_truncation_refuses_a_useless_threshold():
    for psi in (0.0, -1.0, float("nan"), 0.001):
        with pytest.raises(ValueError, match="truncation psi must be a finite number >= 0.01"):
            truncated_noise((4, 2), psi)


def test_generate_and_interpolate_draw_their_noise_from_the_seed():
    G = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    G.noise_dim = 3
    G.train()
    z = noise(6, 3, generator=torch.Generator().manual_seed(7), truncation=0.8)
    with eval_mode(G), torch.no_grad():
        expected = G(z)
    torch.testing.assert_close(generate(G, 6, seed=7, truncation=0.8), expected)
    assert G.training  # given back in its mode
    paths = latent_paths(2, 5, 3, method="lerp", generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    z0 = noise(2, 3, generator=g)
    z1 = noise(2, 3, generator=g)
    torch.testing.assert_close(paths[:, 2], (z0 + z1) / 2)  # t = 2 / 4
    x = interpolate(G, 2, 5, method="lerp", seed=3)
    assert x.shape == (2, 5, 2)
    with eval_mode(G), torch.no_grad():
        torch.testing.assert_close(x, G(paths.reshape(10, 3)).reshape(2, 5, 2))
    with pytest.raises(ValueError, match=r"unknown interpolation 'cubic'; choose from \['slerp', 'lerp'\]"):
        latent_paths(2, 5, 3, method="cubic")
    with pytest.raises(ValueError, match="steps >= 2"):
        interpolate(G, 2, 1)


def test_eval_mode_and_seeded_restore_what_they_change():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5))
    net.train()
    other = torch.nn.Linear(2, 2).eval()
    with pytest.raises(RuntimeError), eval_mode(net, other, None):
        assert not net.training and not other.training
        raise RuntimeError
    assert net.training and not other.training
    state = torch.get_rng_state()
    with seeded(11):
        a = torch.nn.Linear(4, 4).weight
    with seeded(11):
        b = torch.nn.Linear(4, 4).weight
    torch.testing.assert_close(a, b)
    assert torch.equal(torch.get_rng_state(), state)


def test_seeded_blocks_in_two_threads_each_get_their_own_seed():
    """Two threads building seeded networks at once (two explorer sessions) each get the weights of their seed."""

    def build(seed: int) -> torch.Tensor:
        with seeded(seed):
            layers = [torch.nn.Linear(64, 64) for _ in range(20)]  # long enough for the threads to interleave
        return torch.cat([p.detach().flatten() for layer in layers for p in layer.parameters()])

    want = {s: build(s) for s in (1, 2)}
    wrong = []

    def work(seed: int) -> None:
        wrong.extend(seed for _ in range(30) if not torch.equal(build(seed), want[seed]))

    threads = [threading.Thread(target=work, args=(s,)) for s in want]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong, f"{len(wrong)} of 60 builds drew another thread's stream"
