"""Building blocks of the theory experiments (optimal discriminator, minimax value, disjoint
supports, vanishing gradient): closed forms, reference integrals and small trainings."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from torch import nn

from gankit.data.toy import gaussian_mixture_1d
from gankit.divergence_demo import family_divergences
from gankit.divergences import discriminator_probability, js_on_grid
from gankit.experiments import EXPERIMENTS
from gankit.experiments import _theory as th
from gankit.experiments import disjoint_supports as ds
from gankit.experiments import vanishing_gradient as vg
from gankit.models import MLPDiscriminator
from gankit.objectives import minimax_generator_loss, nonsaturating_generator_loss, wasserstein_generator_loss

LOG2 = math.log(2.0)
# Goodfellow et al. 2014, Thm. 1 for p = N(0, 1), q = N(1.5, 0.7^2): the BCE loss at D* is
# 2 log 2 - 2 JS = 0.8107568 (checked with scipy quad), so the value is its negative.
V_STAR_GAUSSIANS = -0.8107568


class Linear1d(nn.Module):
    """The logit ``w * x + b`` with (B, 1) inputs and (B,) outputs, like the library's discriminators."""

    def __init__(self, w: float, b: float):
        super().__init__()
        self.lin = nn.Linear(1, 1)
        with torch.no_grad():
            self.lin.weight.fill_(w)
            self.lin.bias.fill_(b)

    def forward(self, x):
        return self.lin(x.reshape(len(x), -1)).squeeze(-1)


def grid(lo=-12.0, hi=12.0, n=24001):
    return np.linspace(lo, hi, n)


# ----------------------------------------------------------------------------- the value function


def test_optimal_value_by_quadrature_matches_the_closed_form_and_gankit_js():
    pr, pg, _ = th.case("gaussians")
    v_quad = th.optimal_value_quad(pr, pg)
    np.testing.assert_allclose(v_quad, V_STAR_GAUSSIANS, atol=1e-7)
    log_pr, log_pg = th.log_densities(pr, pg, grid())
    dx = grid()[1] - grid()[0]
    np.testing.assert_allclose(2 * js_on_grid(log_pr, log_pg, dx) - 2 * LOG2, v_quad, atol=1e-9)
    np.testing.assert_allclose(th.value_on_grid(grid(), log_pr, log_pg, th.optimal_logit(log_pr, log_pg)),
                               v_quad, atol=1e-9)


def test_the_value_at_pg_equal_pr_is_minus_2_log_2():
    pr, pg, _ = th.case("identical")
    np.testing.assert_allclose(th.optimal_value_quad(pr, pg), -2 * LOG2, rtol=1e-10)


@pytest.mark.parametrize("name", ["gaussians", "bimodal"])
def test_d_star_maximises_the_value(name):
    """Any other discriminator has a lower value: V(D) <= V(D*) (Goodfellow et al. 2014, Prop. 1)."""
    pr, pg, _ = th.case(name)
    x = grid()
    log_pr, log_pg = th.log_densities(pr, pg, x)
    best = th.value_on_grid(x, log_pr, log_pg, th.optimal_logit(log_pr, log_pg))
    rng = np.random.default_rng(0)
    for _ in range(5):
        bump = rng.normal() * np.exp(-((x - rng.uniform(-3, 3)) ** 2))  # a smooth perturbation of the logit
        assert th.value_on_grid(x, log_pr, log_pg, th.optimal_logit(log_pr, log_pg) + bump) < best


def test_optimal_discriminator_is_the_density_ratio():
    pr, pg, _ = th.case("bimodal")
    x = np.linspace(-4, 4, 81)
    log_pr, log_pg = th.log_densities(pr, pg, x)
    p = 0.5 * stats.norm.pdf(x, -2, 0.5) + 0.5 * stats.norm.pdf(x, 2, 0.5)
    q = stats.norm.pdf(x, 0, 0.5)
    np.testing.assert_allclose(discriminator_probability(th.optimal_logit(log_pr, log_pg)), p / (p + q), rtol=1e-10)


def test_region_mask_keeps_where_the_total_density_exceeds_one_percent_of_its_peak():
    pr, pg, _ = th.case("identical")
    x = np.linspace(-6, 6, 1201)
    mask = th.region_mask(*th.log_densities(pr, pg, x))
    edge = math.sqrt(-2 * math.log(0.01))  # N(0, 1) falls to 1% of its peak at |x| = 3.0349
    np.testing.assert_allclose([x[mask].min(), x[mask].max()], [-edge, edge], atol=0.01)


def test_monte_carlo_value_of_the_exact_optimal_discriminator():
    """For N(0, 1) vs N(1, 1) the optimal logit is linear, -x + 1/2: the MC value matches quad within 4 sigma."""
    pr, pg = gaussian_mixture_1d((0.0,), (1.0,)), gaussian_mixture_1d((1.0,), (1.0,))
    D = Linear1d(-1.0, 0.5)
    n = 200_000
    value = th.value_monte_carlo(D, pr, pg, n, seed=0)
    exact = th.optimal_value_quad(pr, pg)
    # spread of log D(x) + log(1 - D(y)) per pair of samples, from quadrature
    second = integrate.quad(lambda t: stats.norm.pdf(t) * math.log(1 / (1 + math.exp(t - 0.5))) ** 2, -12, 12)[0]
    sd = math.sqrt(2 * (second - (exact / 2) ** 2))
    assert abs(value - exact) <= 4 * sd / math.sqrt(n)


def test_unknown_case_is_refused():
    with pytest.raises(ValueError, match="unknown case 'nope'.*bimodal"):
        th.case("nope")


# ----------------------------------------------------------------------------- training alone


def test_discriminator_trained_alone_finds_the_linear_optimal_logit():
    """Logistic regression on N(0, 1) vs N(1, 1): the optimum is the logit -x + 1/2 exactly."""
    torch.manual_seed(0)
    pr, pg = gaussian_mixture_1d((0.0,), (1.0,)), gaussian_mixture_1d((1.0,), (1.0,))
    D = MLPDiscriminator((1,), (), "relu")  # no hidden layer: a single Linear(1, 1)
    th.train_discriminator(D, pr.sample, pg.sample, steps=400, batch_size=2048, lr=0.05, anneal=True, seed=0)
    w, b = D.net[0].weight.item(), D.net[0].bias.item()
    np.testing.assert_allclose([w, b], [-1.0, 0.5], atol=0.06)


def test_discriminator_alone_keeps_its_optimiser_across_stages():
    pr, pg = gaussian_mixture_1d((0.0,), (1.0,)), gaussian_mixture_1d((1.0,), (1.0,))

    def fit(stages):
        D = th.seeded_network(0, lambda: MLPDiscriminator((1,), (8,), "relu"))
        alone = th.DiscriminatorAlone(D, pr.sample, pg.sample, batch_size=64, seed=3)
        for k in stages:
            alone.train(k)
        return alone.steps, torch.cat([p.detach().flatten() for p in D.parameters()])

    steps_a, a = fit([5, 0, 15])
    steps_b, b = fit([20])
    assert steps_a == steps_b == 20
    torch.testing.assert_close(a, b)  # same samples, same Adam state: stages change nothing


def test_discriminator_alone_refuses_bad_sizes():
    D = MLPDiscriminator((1,), (4,), "relu")
    pr = gaussian_mixture_1d((0.0,), (1.0,))
    with pytest.raises(ValueError, match="batch_size"):
        th.DiscriminatorAlone(D, pr.sample, pr.sample, batch_size=0)
    with pytest.raises(ValueError, match="steps"):
        th.train_discriminator(D, pr.sample, pr.sample, steps=0, batch_size=8)


@pytest.fixture
def small_1d_budget(monkeypatch):
    """A tiny training budget for the cached 1-D discriminators; the cache is cleared around the test."""
    th._fit_1d_state.cache_clear()
    monkeypatch.setitem(th.BUDGET_1D, True, th.Budget(steps=30, batch_size=128, hidden=(8,), lr=1e-2))
    yield
    th._fit_1d_state.cache_clear()


def test_fitted_discriminators_are_cached_and_copied(small_1d_budget):
    a = th.fitted_1d_discriminator("gaussians", quick=True, seed=0)
    with torch.no_grad():
        next(a.parameters()).add_(1.0)  # changing one copy must not change the cache
    b = th.fitted_1d_discriminator("gaussians", quick=True, seed=0)
    c = th.fitted_1d_discriminator("gaussians", quick=True, seed=0)
    assert th._fit_1d_state.cache_info().misses == 1
    for p, q in zip(b.parameters(), c.parameters(), strict=True):
        torch.testing.assert_close(p, q)
    assert not torch.equal(next(a.parameters()), next(b.parameters()))


# ----------------------------------------------------------------------------- parallel lines


def test_shifted_line_puts_samples_on_the_line_theta():
    G = th.ShiftedLine(0.7)
    u = th.uniform_noise(100, torch.Generator().manual_seed(0))
    x = G(u)
    assert x.shape == (100, 2)
    torch.testing.assert_close(x[:, 0], torch.full((100,), 0.7))
    torch.testing.assert_close(x[:, 1], u[:, 0])


def test_theta_gradient_of_linear_critic_and_logistic_discriminator():
    theta, a, b = 0.8, 1.5, 4.0
    G = th.ShiftedLine(theta)
    u = th.uniform_noise(50, torch.Generator().manual_seed(1))
    critic = nn.Sequential(nn.Linear(2, 1, bias=False), nn.Flatten(0))
    with torch.no_grad():
        critic[0].weight.copy_(torch.tensor([[-1.0, 0.3]]))  # f(x) = -x1 + 0.3 x2: slope -1 across the lines
    # -E f(G(u)) = theta - 0.3 E u, so d/dtheta = 1
    np.testing.assert_allclose(th.theta_gradient(G, critic, wasserstein_generator_loss, u), 1.0, rtol=1e-6)
    D = nn.Sequential(nn.Linear(2, 1), nn.Flatten(0))
    with torch.no_grad():
        D[0].weight.copy_(torch.tensor([[-b, 0.0]]))
        D[0].bias.fill_(a)  # logit l = a - b x1
    sig = 1 / (1 + math.exp(-(a - b * theta)))
    # dl/dtheta = -b. minimax: L = -softplus(l), dL/dtheta = b sigma(l);
    # non-saturating: L = softplus(-l), dL/dtheta = b (1 - sigma(l))
    np.testing.assert_allclose(th.theta_gradient(G, D, minimax_generator_loss, u), b * sig, rtol=1e-5)
    np.testing.assert_allclose(th.theta_gradient(G, D, nonsaturating_generator_loss, u), b * (1 - sig), rtol=1e-5)


def test_distinct_drops_repeated_rows_and_rows_to_avoid():
    x = np.array([[0.0, 0.1], [0.0, 0.2], [0.0, 0.1], [0.0, 0.3]])
    np.testing.assert_array_equal(ds.distinct(x), [[0.0, 0.1], [0.0, 0.2], [0.0, 0.3]])
    np.testing.assert_array_equal(ds.distinct(x, avoid=np.array([[0.0, 0.2]])), [[0.0, 0.1], [0.0, 0.3]])


def test_sample_estimates_on_parallel_lines():
    est = ds.sample_estimates(np.array([0.0, 1.0]), 300, (100, 400), seed=0)
    np.testing.assert_allclose(est["js"], [0.0, LOG2], atol=0.05)
    np.testing.assert_allclose(est["w1"], [0.0, 1.0], atol=0.06)  # W1 between samples: about 1/sqrt(n) at 0
    assert est["kl"][1, 1] - est["kl"][1, 0] > 1.0  # KL = +inf: the estimate grows with n
    assert abs(est["kl"][0, 1]) < 0.5
    exact = family_divergences("parallel_lines", 1.0)
    assert math.isinf(exact["kl"]) and exact["js"] == pytest.approx(LOG2) and exact["w1"] == pytest.approx(1.0)


# ----------------------------------------------------------------------------- generator gradients


def test_generator_gradient_norms_match_autograd_and_leave_d_untouched():
    torch.manual_seed(0)
    G = nn.Linear(3, 2)
    D = nn.Sequential(nn.Linear(2, 1), nn.Flatten(0))
    noises = [torch.randn(16, 3) for _ in range(4)]
    norms = th.generator_gradient_norms(G, D, minimax_generator_loss, noises)
    assert all(p.grad is None and p.requires_grad for p in D.parameters())
    assert all(p.grad is None for p in G.parameters())  # nothing accumulated either
    for z, got in zip(noises, norms, strict=True):
        G.zero_grad()
        minimax_generator_loss(D(G(z))).backward()
        want = torch.sqrt(sum((p.grad**2).sum() for p in G.parameters()))
        np.testing.assert_allclose(got, float(want), rtol=1e-5)


@pytest.mark.parametrize("max_steps, marks", [(1, [1]), (50, [1, 3, 10, 30, 50]),
                                              (1000, [1, 3, 10, 30, 100, 300, 1000]),
                                              (3000, [1, 3, 10, 30, 100, 300, 1000, 3000])])
def test_log_checkpoints(max_steps, marks):
    assert th.log_checkpoints(max_steps) == marks


def test_vanishing_gradient_measure_on_a_tiny_setting():
    s = vg.Setting("ring", "ring", "mlp", pretrain=2, d_steps=3, hidden=(8, 8))
    r = vg.measure(s, seed=0)
    assert r["steps"] == [1, 3]
    for curve in r["curves"].values():
        assert len(curve["mean"]) == 2 and all(m > 0 and np.isfinite(m) for m in curve["mean"])
    assert set(r["drop"]) == {"minimax", "nonsaturating", "wgan_gp"} and all(d >= 1 for d in r["drop"].values())
    assert 0.0 <= r["on_a_mode"] <= 1.0 and 0.0 <= r["rated_real"] <= 1.0


def test_quick_settings_do_not_need_fashion_mnist():
    chosen, _ = vg.settings(quick=True)
    assert [s.data for s in chosen] == ["ring", "digits"]


@pytest.mark.parametrize("name", ["optimal-discriminator", "minimax-value", "disjoint-supports",
                                  "vanishing-gradient"])
def test_modules_are_registered_under_their_names(name):
    import importlib

    module = importlib.import_module(f"gankit.experiments.{EXPERIMENTS[name]}")
    assert module.NAME == name and module.CLAIM and callable(module.run)
