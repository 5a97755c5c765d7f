"""Tests of gankit.divergences and gankit.divergence_demo.

Oracles: closed forms, scipy (entropy, jensenshannon, wasserstein_distance, quad) and
POT (emd2, bures_wasserstein_distance). Every random draw is seeded; Monte Carlo
tolerances state the sample size they hold for.
"""

from __future__ import annotations

import doctest
import inspect
import math

import numpy as np
import ot
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats
from scipy.spatial.distance import jensenshannon
from torch import nn

from gankit import divergence_demo, divergences
from gankit.divergences import (
    LipschitzEstimate,
    discriminator_probability,
    js,
    js_from_discriminator_loss,
    js_on_grid,
    js_samples,
    kl,
    kl_gaussian,
    kl_knn,
    kl_on_grid,
    lipschitz_estimate,
    lipschitz_upper_bound,
    sliced_wasserstein,
    w2_gaussian,
    wasserstein,
    wasserstein_1d,
)

LOG2 = math.log(2.0)
RTOL, ATOL = 1e-9, 1e-12  # float64 comparisons with reference libraries

# weights with exact zeros mixed in
weight = st.one_of(st.just(0.0), st.floats(1e-6, 1e3))


def histograms(min_size: int = 1, max_size: int = 20):
    """Pairs (p, q) of equal-length non-negative vectors, each with a positive entry."""
    return st.integers(min_size, max_size).flatmap(
        lambda k: st.tuples(
            st.lists(weight, min_size=k, max_size=k).filter(lambda v: sum(v) > 0),
            st.lists(weight, min_size=k, max_size=k).filter(lambda v: sum(v) > 0),
        )
    )


# ----------------------------------------------------------------------------------------
# API contract
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("module", [divergences, divergence_demo])
def test_all_names_resolve(module):
    for name in module.__all__:
        assert hasattr(module, name), name


@pytest.mark.parametrize("name", [n for n in divergences.__all__ if n != "LipschitzEstimate"])
def test_public_functions_state_their_formula(name):
    assert ".. math::" in inspect.getdoc(getattr(divergences, name))


@pytest.mark.parametrize("module", ["discrete", "transport", "grid"])
def test_doctests(module):
    import importlib

    result = doctest.testmod(importlib.import_module(f"gankit.divergences.{module}"), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# ----------------------------------------------------------------------------------------
# what a discriminator implies; KL / JS between densities on a grid
# ----------------------------------------------------------------------------------------
def test_discriminator_probability_by_hand_and_without_overflow():
    # sigma(l) = 1 / (1 + e^-l): sigma(0) = 1/2, sigma(log 3) = 3/4, sigma(-log 3) = 1/4.
    np.testing.assert_allclose(discriminator_probability([0.0, math.log(3.0), -math.log(3.0)]), [0.5, 0.75, 0.25],
                               rtol=1e-15)
    # D* = sigma(log p - log q) = p / (p + q)
    p, q = np.array([0.1, 2.0, 5.0]), np.array([0.3, 2.0, 1.0])
    np.testing.assert_allclose(discriminator_probability(np.log(p) - np.log(q)), p / (p + q), rtol=1e-14)
    with np.errstate(all="raise"):
        assert discriminator_probability(torch.tensor([-1000.0, 1000.0])).tolist() == [0.0, 1.0]


def test_js_from_the_discriminator_loss_is_exact_at_the_optimal_discriminator():
    # At D* the cross-entropy is 2 log 2 - 2 JS (Goodfellow et al. 2014, Thm. 1): the estimate returns JS.
    p, q = np.array([0.5, 0.3, 0.2, 0.0]), np.array([0.1, 0.3, 0.2, 0.4])
    d_star = p / (p + q)
    with np.errstate(divide="ignore"):
        terms_p = np.where(p > 0, p * np.log(np.where(p > 0, d_star, 1.0)), 0.0)
        terms_q = np.where(q > 0, q * np.log(np.where(q > 0, 1 - d_star, 1.0)), 0.0)
    loss = -(terms_p.sum() + terms_q.sum())
    np.testing.assert_allclose(js_from_discriminator_loss(loss), js(p, q), rtol=1e-12)
    assert js_from_discriminator_loss(2 * LOG2) == 0.0  # D = 1/2 everywhere
    assert js_from_discriminator_loss(0.0) == LOG2  # a perfect discriminator: disjoint supports


def test_kl_and_js_on_a_grid_match_closed_forms_and_quadrature():
    x = np.linspace(-15.0, 15.0, 6001)
    dx = x[1] - x[0]
    p, q = stats.norm(0.0, 1.0), stats.norm(1.5, 0.7)
    # KL between Gaussians: log(s2 / s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2
    closed = math.log(0.7 / 1.0) + (1.0 + 1.5**2) / (2 * 0.7**2) - 0.5
    np.testing.assert_allclose(kl_on_grid(p.logpdf(x), q.logpdf(x), dx), closed, rtol=1e-9)
    np.testing.assert_allclose(kl_on_grid(p.logpdf(x), q.logpdf(x), dx), kl_gaussian(0.0, 1.0, 1.5, 0.49),
                               rtol=1e-9)

    def js_density(t):
        m = 0.5 * (p.pdf(t) + q.pdf(t))
        return 0.5 * (p.pdf(t) * np.log(p.pdf(t) / m) + q.pdf(t) * np.log(q.pdf(t) / m))

    np.testing.assert_allclose(js_on_grid(p.logpdf(x), q.logpdf(x), dx), integrate.quad(js_density, -12, 12)[0],
                               rtol=1e-8)
    assert js_on_grid(p.logpdf(x), p.logpdf(x), dx) == pytest.approx(0.0, abs=1e-15)  # identity, up to rounding
    # Disjoint supports (log density -inf outside): JS = log 2, KL = inf.
    lp = np.where(x < 0, 0.0, -np.inf)
    lq = np.where(x > 1, 0.0, -np.inf)
    assert js_on_grid(lp, lq, dx) == pytest.approx(LOG2, abs=1e-12) and kl_on_grid(lp, lq, dx) == math.inf
    with pytest.raises(ValueError, match="dx must be a finite number > 0"):
        kl_on_grid(lp, lq, 0.0)


# ----------------------------------------------------------------------------------------
# discrete KL / JS
# ----------------------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(histograms())
def test_kl_matches_scipy_entropy(pq):
    p, q = map(np.asarray, pq)
    # scipy.stats.entropy(p, q) normalises both and is inf where q = 0 < p
    np.testing.assert_allclose(kl(p, q), stats.entropy(p, q), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(kl(p, q, base=2), stats.entropy(p, q, base=2), rtol=RTOL,
                               atol=ATOL)


def test_kl_is_infinite_where_q_vanishes_and_zero_log_zero_is_zero():
    assert kl([0.5, 0.5, 0.0], [1.0, 0.0, 0.0]) == math.inf
    # p = 0 where q = 0 contributes nothing: KL([1, 0], [1, 0]) = 0
    assert kl([1.0, 0.0], [1.0, 0.0]) == 0.0
    np.testing.assert_allclose(kl([1.0, 0.0], [0.5, 0.5]), LOG2, rtol=RTOL)


def test_kl_normalises_and_accepts_torch():
    rng = np.random.default_rng(0)
    p, q = rng.random(7), rng.random(7)
    expected = stats.entropy(p, q)
    np.testing.assert_allclose(kl(3.0 * p, 0.2 * q), expected, rtol=RTOL)
    np.testing.assert_allclose(kl(torch.tensor(p), torch.tensor(q, dtype=torch.float32)),
                               stats.entropy(p, q.astype(np.float32)), rtol=1e-6)
    assert isinstance(kl(torch.tensor(p), torch.tensor(q)), float)


@settings(max_examples=150, deadline=None)
@given(histograms())
def test_js_matches_scipy_symmetric_and_bounded(pq):
    p, q = map(np.asarray, pq)
    value = js(p, q)
    # scipy's jensenshannon returns the square root of the divergence
    np.testing.assert_allclose(value, jensenshannon(p, q) ** 2, rtol=1e-7, atol=1e-12)
    assert value == js(q, p)
    assert 0.0 <= value <= LOG2
    assert 0.0 <= js(p, q, base=2) <= 1.0
    np.testing.assert_allclose(js(p, q, base=2), jensenshannon(p, q, base=2) ** 2,
                               rtol=1e-7, atol=1e-12)


@settings(max_examples=150, deadline=None)
@given(st.integers(2, 30).flatmap(
    lambda k: st.tuples(st.lists(st.booleans(), min_size=k, max_size=k)
                        .filter(lambda m: 0 < sum(m) < k),
                        st.lists(st.floats(1e-6, 1e3), min_size=k, max_size=k),
                        st.lists(st.floats(1e-6, 1e3), min_size=k, max_size=k))))
def test_js_is_exactly_log2_on_disjoint_supports(case):
    mask, u, v = (np.asarray(c) for c in case)
    p, q = np.where(mask, u, 0.0), np.where(mask, 0.0, v)
    assert js(p, q) == LOG2
    assert js(p, q, base=2) == 1.0
    assert kl(p, q) == math.inf


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(1e-6, 1e3), min_size=1, max_size=20), st.floats(1e-3, 1e3))
def test_js_of_identical_distributions_is_zero(values, scale):
    p = np.asarray(values)
    assert math.isclose(js(p, p), 0.0, abs_tol=1e-15)
    assert math.isclose(js(p, scale * p), 0.0, abs_tol=1e-15)  # normalisation
    assert math.isclose(kl(p, scale * p), 0.0, abs_tol=1e-15)


# ----------------------------------------------------------------------------------------
# Gaussians
# ----------------------------------------------------------------------------------------
def _random_spd(rng: np.random.Generator, d: int) -> np.ndarray:
    A = rng.normal(size=(d, d))
    return A @ A.T + 0.5 * np.eye(d)


@pytest.mark.parametrize("m1, s1, m2, s2", [(0.0, 1.0, 1.5, 0.7), (-1.0, 0.5, 2.0, 2.5),
                                            (0.3, 2.0, 0.3, 2.0)])
def test_kl_gaussian_1d_matches_quadrature_and_formula(m1, s1, m2, s2):
    p, q = stats.norm(m1, s1), stats.norm(m2, s2)
    integral, _ = integrate.quad(lambda t: p.pdf(t) * (p.logpdf(t) - q.logpdf(t)), -40, 40,
                                 limit=200)
    value = kl_gaussian(m1, s1**2, m2, s2**2)  # scalar S means a variance
    np.testing.assert_allclose(value, integral, rtol=1e-7, atol=1e-10)
    formula = math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5
    np.testing.assert_allclose(value, formula, rtol=1e-12, atol=1e-14)


def test_kl_gaussian_properties():
    rng = np.random.default_rng(1)
    for d in (1, 2, 5):
        m1, m2 = rng.normal(size=d), rng.normal(size=d)
        S1, S2 = _random_spd(rng, d), _random_spd(rng, d)
        assert kl_gaussian(m1, S1, m1, S1) == 0.0
        assert kl_gaussian(m1, S1, m2, S2) > 0.0
        # invariance under a common invertible affine map x -> A x + c
        A, c = rng.normal(size=(d, d)) + 3 * np.eye(d), rng.normal(size=d)
        np.testing.assert_allclose(
            kl_gaussian(A @ m1 + c, A @ S1 @ A.T, A @ m2 + c, A @ S2 @ A.T),
            kl_gaussian(m1, S1, m2, S2), rtol=1e-8)
    # independent coordinates: KL is the sum of the 1-D KLs
    v1, v2 = rng.uniform(0.5, 2, 3), rng.uniform(0.5, 2, 3)
    m1, m2 = rng.normal(size=3), rng.normal(size=3)
    np.testing.assert_allclose(
        kl_gaussian(m1, np.diag(v1), m2, np.diag(v2)),
        sum(kl_gaussian(a, b, c, e) for a, b, c, e in zip(m1, v1, m2, v2, strict=True)),
        rtol=1e-12)


def test_w2_gaussian_closed_forms():
    # 1-D: W2 = sqrt((m1 - m2)^2 + (s1 - s2)^2)
    for m1, s1, m2, s2 in [(0.0, 1.0, 1.5, 0.7), (2.0, 3.0, -1.0, 0.1), (0.0, 1.0, 0.0, 1.0)]:
        np.testing.assert_allclose(w2_gaussian(m1, s1**2, m2, s2**2),
                                   math.hypot(m1 - m2, s1 - s2), rtol=1e-12, atol=1e-12)
    # commuting covariances: W2^2 = ||dm||^2 + ||S1^{1/2} - S2^{1/2}||_F^2
    rng = np.random.default_rng(2)
    Q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    l1, l2 = rng.uniform(0.1, 3, 4), rng.uniform(0.1, 3, 4)
    S1, S2 = Q @ np.diag(l1) @ Q.T, Q @ np.diag(l2) @ Q.T
    m1, m2 = rng.normal(size=4), rng.normal(size=4)
    expected = math.sqrt(np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(l1) - np.sqrt(l2)) ** 2))
    np.testing.assert_allclose(w2_gaussian(m1, S1, m2, S2), expected, rtol=1e-10)
    assert w2_gaussian(m1, S1, m1, S1) < 1e-7
    # a singular (PSD) covariance is allowed: a point mass vs N(0, 1) is at distance 1
    np.testing.assert_allclose(w2_gaussian(0.0, 0.0, 0.0, 1.0), 1.0, rtol=1e-12)


def test_w2_gaussian_matches_pot_bures():
    rng = np.random.default_rng(3)
    for d in (1, 3, 6):
        m1, m2 = rng.normal(size=d), rng.normal(size=d)
        S1, S2 = _random_spd(rng, d), _random_spd(rng, d)
        reference = float(ot.gaussian.bures_wasserstein_distance(m1, m2, S1, S2))
        np.testing.assert_allclose(w2_gaussian(m1, S1, m2, S2), reference, rtol=1e-7)
        np.testing.assert_allclose(w2_gaussian(m1, S1, m2, S2), w2_gaussian(m2, S2, m1, S1),
                                   rtol=1e-8)


def test_w2_gaussian_matches_exact_empirical_w2():
    rng = np.random.default_rng(4)
    # 1-D, n = 200_000: empirical W2 fluctuates by O(n^-1/2); tolerance 1%
    x, y = rng.normal(0.0, 1.0, 200_000), rng.normal(1.5, 0.7, 200_000)
    np.testing.assert_allclose(wasserstein(x, y, p=2), w2_gaussian(0.0, 1.0, 1.5, 0.49),
                               rtol=1e-2)
    # 2-D, n = 1500 (network simplex): empirical W2 carries an O(sqrt(log n / n)) bias;
    # tolerance 5%
    m1, m2 = np.zeros(2), np.array([1.0, 2.0])
    S1, S2 = np.array([[1.0, 0.3], [0.3, 0.5]]), np.array([[0.4, -0.1], [-0.1, 1.2]])
    x = rng.multivariate_normal(m1, S1, 1500)
    y = rng.multivariate_normal(m2, S2, 1500)
    np.testing.assert_allclose(wasserstein(x, y, p=2), w2_gaussian(m1, S1, m2, S2), rtol=5e-2)


# ----------------------------------------------------------------------------------------
# optimal transport
# ----------------------------------------------------------------------------------------
def test_wasserstein_1d_matches_scipy_with_and_without_weights():
    rng = np.random.default_rng(5)
    for _ in range(40):
        n, m = rng.integers(1, 60, size=2)
        x, y = rng.normal(size=n) * 3, rng.standard_t(3, size=m) + 1
        a, b = rng.random(n), rng.random(m)
        a[rng.random(n) < 0.2] = 0.0  # zero weights are allowed
        a[0] = max(a[0], 0.1)
        # scipy.stats.wasserstein_distance: W1 with optional weights
        np.testing.assert_allclose(wasserstein_1d(x, y), stats.wasserstein_distance(x, y),
                                   rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(wasserstein_1d(x, y, a=a, b=b),
                                   stats.wasserstein_distance(x, y, a, b), rtol=RTOL,
                                   atol=ATOL)
        np.testing.assert_allclose(wasserstein(x, y, a=a, b=b),
                                   wasserstein_1d(x, y, a=a, b=b), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("p", [1, 2, 3])
def test_wasserstein_1d_matches_pot_emd2(p):
    rng = np.random.default_rng(6)
    for _ in range(10):
        n, m = rng.integers(1, 40, size=2)
        x, y = rng.normal(size=n), rng.exponential(size=m)
        a, b = rng.random(n) + 0.01, rng.random(m) + 0.01
        M = ot.dist(x[:, None], y[:, None], metric="euclidean") ** p
        reference = ot.emd2(a / a.sum(), b / b.sum(), M) ** (1 / p)
        np.testing.assert_allclose(wasserstein_1d(x, y, p=p, a=a, b=b), reference, rtol=1e-7,
                                   atol=1e-10)


@pytest.mark.parametrize("p", [1, 2])
def test_wasserstein_matches_pot_emd2_in_higher_dimension(p):
    rng = np.random.default_rng(7)
    for d in (2, 3, 5):
        x, y = rng.normal(size=(40, d)), rng.normal(size=(30, d)) + 0.5
        a, b = rng.random(40), rng.random(30)
        M = ot.dist(x, y, metric="euclidean") ** p
        reference = ot.emd2(a / a.sum(), b / b.sum(), M) ** (1 / p)
        np.testing.assert_allclose(wasserstein(x, y, p=p, a=a, b=b), reference, rtol=1e-7)
        np.testing.assert_allclose(wasserstein(torch.tensor(x), torch.tensor(y), p=p),
                                   ot.emd2([], [], M) ** (1 / p), rtol=1e-7)


def test_wasserstein_translation_symmetry_identity():
    rng = np.random.default_rng(8)
    for d in (1, 2, 3):
        x, y = rng.normal(size=(50, d)), rng.normal(size=(35, d))
        c = rng.normal(size=d)
        for p in (1, 2):
            # a pure translation is optimal: W_p(x, x + c) = |c|
            np.testing.assert_allclose(wasserstein(x, x + c, p=p), np.linalg.norm(c),
                                       rtol=1e-9)
            np.testing.assert_allclose(wasserstein(x, y, p=p), wasserstein(y, x, p=p),
                                       rtol=1e-9)
            assert wasserstein(x, x, p=p) == 0.0
            assert wasserstein(x, y, p=p) > 0.0


def test_sliced_wasserstein_is_exact_in_1d_and_a_lower_bound_in_2d():
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=300), rng.gamma(2.0, size=200)
    for p in (1, 2):
        # in 1-D every direction is +-1 and W_p is invariant under reflection
        np.testing.assert_allclose(sliced_wasserstein(x, y, p=p, n_projections=5),
                                   wasserstein_1d(x, y, p=p), rtol=1e-10)
        np.testing.assert_allclose(sliced_wasserstein(x, x[:200], p=p, n_projections=3),
                                   wasserstein_1d(x, x[:200], p=p), rtol=1e-10)
    x2 = rng.normal(size=(200, 2))
    y2 = rng.normal(size=(150, 2)) * [1.0, 2.0] + [1.0, 0.0]
    for p in (1, 2):
        exact = wasserstein(x2, y2, p=p)
        sliced = sliced_wasserstein(x2, y2, p=p, n_projections=256)
        # every projection is 1-Lipschitz, so SW_p <= W_p deterministically
        assert 0.3 * exact < sliced <= exact * (1 + 1e-12)
    # seeded: same directions, same value
    assert sliced_wasserstein(x2, y2, seed=3) == sliced_wasserstein(x2, y2, seed=3)


@pytest.mark.parametrize("d", [2, 3, 5])
def test_sliced_wasserstein_of_two_point_masses_is_the_sphere_average(d):
    """SW_1(delta_0, delta_v) = |v| E|theta_1| with E|theta_1| = Gamma(d/2) / (sqrt(pi) Gamma((d+1)/2)) for
    theta uniform on S^{d-1}: 2/pi in 2-D, 1/2 in 3-D. Directions restricted to the axes or to one orthant
    would give other values (in 2-D for v = (3, 4): 3.5 and 4.46 against 3.18)."""
    v = {2: np.array([3.0, 4.0]), 3: np.array([1.0, -2.0, 2.0])}.get(d, np.random.default_rng(d).normal(size=d))
    closed = np.linalg.norm(v) * math.gamma(d / 2) / (math.sqrt(math.pi) * math.gamma((d + 1) / 2))
    x, y = np.zeros((4, d)), np.tile(v, (4, 1))
    # L = 20000 directions: the Monte Carlo error of the mean of |theta . v| is below 0.5%
    np.testing.assert_allclose(sliced_wasserstein(x, y, p=1, n_projections=20000, seed=1), closed, rtol=0.02)
    if d == 2:
        assert closed == pytest.approx(10 / math.pi)


def test_sliced_wasserstein_equal_sizes_match_unequal_path():
    rng = np.random.default_rng(10)
    x, y = rng.normal(size=(64, 3)), rng.normal(size=(64, 3)) + 1
    y_rep = np.repeat(y, 2, axis=0)  # same distribution, 128 atoms
    np.testing.assert_allclose(sliced_wasserstein(x, y, p=2), sliced_wasserstein(x, y_rep, p=2),
                               rtol=1e-10)


# ----------------------------------------------------------------------------------------
# sample-based estimators
# ----------------------------------------------------------------------------------------
def test_kl_knn_within_ten_percent_of_closed_form_in_2d():
    rng = np.random.default_rng(0)
    m1, S1 = np.zeros(2), np.eye(2)
    m2, S2 = np.array([1.0, -1.0]), np.array([[1.5, 0.3], [0.3, 1.2]])
    truth = kl_gaussian(m1, S1, m2, S2)  # about 1.02 nats
    x = rng.multivariate_normal(m1, S1, 5000)
    for m in (5000, 4000):
        y = rng.multivariate_normal(m2, S2, m)
        # n = 5000, k = 1: relative spread about 4% over seeds; tolerance 10%
        np.testing.assert_allclose(kl_knn(x, y), truth, rtol=0.10)
        np.testing.assert_allclose(kl_knn(x, y, k=3), truth, rtol=0.10)


def test_kl_knn_rejects_duplicates():
    x = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="x contains duplicate points"):
        kl_knn(x, np.random.default_rng(0).normal(size=(5, 2)))
    with pytest.raises(ValueError, match="y contains points equal"):
        kl_knn(x[1:], x)


def _js_gaussians_1d(m1, s1, m2, s2):
    p, q = stats.norm(m1, s1), stats.norm(m2, s2)

    def integrand(t):
        a, b = p.pdf(t), q.pdf(t)
        half = 0.5 * (a + b)
        out = 0.0
        if a > 0:
            out += 0.5 * a * math.log(a / half)
        if b > 0:
            out += 0.5 * b * math.log(b / half)
        return out

    return integrate.quad(integrand, -30, 30, limit=200)[0]


def test_js_samples_against_quadrature_disjoint_and_identical():
    rng = np.random.default_rng(11)
    n = 2000
    # n = 2000, k = 5: spread about 0.01 nats over seeds; tolerance 0.04 nats
    for m1, s1, m2, s2 in [(0.0, 1.0, 1.5, 0.7), (0.0, 1.0, 0.5, 2.0)]:
        x, y = rng.normal(m1, s1, n), rng.normal(m2, s2, n)
        np.testing.assert_allclose(js_samples(x, y), _js_gaussians_1d(m1, s1, m2, s2),
                                   atol=0.04)
    x, y = rng.normal(0, 1, n), rng.normal(1.5, 0.7, 1500)  # unequal sizes
    np.testing.assert_allclose(js_samples(x, y), _js_gaussians_1d(0, 1, 1.5, 0.7), atol=0.04)
    # identical distributions: about 0.005 nats at n = 2000; tolerance 0.02
    same = js_samples(rng.normal(size=(n, 2)), rng.normal(size=(n, 2)))
    assert 0.0 <= same < 0.02
    # disjoint supports: log 2 up to the O(1/n) size correction
    far = js_samples(rng.random((500, 2)), rng.random((400, 2)) + 5.0)
    np.testing.assert_allclose(far, LOG2, atol=1e-2)
    assert far <= LOG2


# ----------------------------------------------------------------------------------------
# Lipschitz constants
# ----------------------------------------------------------------------------------------
def _mlp(seed: int, width: int = 32) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, width), nn.ReLU(), nn.Linear(width, width),
                         nn.LeakyReLU(0.2), nn.Linear(width, 1))


def test_lipschitz_estimate_of_a_linear_map_is_its_norm():
    torch.manual_seed(0)
    layer = nn.Linear(6, 1).double()
    x = torch.randn(64, 6, dtype=torch.float64)
    result = lipschitz_estimate(layer, x)
    sigma = float(torch.linalg.matrix_norm(layer.weight.detach(), ord=2))
    assert isinstance(result, LipschitzEstimate)
    np.testing.assert_allclose(result.gradient, sigma, rtol=1e-12)
    np.testing.assert_allclose(result.estimate, sigma, rtol=1e-12)
    assert result.pairs <= sigma * (1 + 1e-12)
    np.testing.assert_allclose(lipschitz_upper_bound(layer), sigma, rtol=1e-12)


def test_lipschitz_estimate_any_shape_numpy_eval_and_no_side_effects():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 1)).eval()
    net[1].weight.requires_grad_(False)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = np.random.default_rng(0).normal(size=(40, 3, 2, 2))  # float64 numpy
    result = lipschitz_estimate(net, x, n_pairs=64)
    assert 0.0 < result.pairs <= result.estimate
    assert result.estimate == max(result.pairs, result.gradient)
    assert not net.training
    assert [p.requires_grad for p in net.parameters()] == [False, True, True, True]
    assert all(p.grad is None for p in net.parameters())
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k])
    # a plain callable returning (n,) works too: f(x) = 3 sin(x_1) has constant 3
    xs = torch.linspace(-3, 3, 101, dtype=torch.float64)[:, None]
    res = lipschitz_estimate(lambda t: 3 * torch.sin(t[:, 0]), xs)
    np.testing.assert_allclose(res.gradient, 3.0, rtol=1e-3)


@pytest.mark.parametrize("seed", range(4))
def test_lipschitz_estimate_never_exceeds_upper_bound_for_relu_mlps(seed):
    net = _mlp(seed)
    x = torch.randn(256, 2, generator=torch.Generator().manual_seed(seed)) * 3
    result = lipschitz_estimate(net, x, n_pairs=512, seed=seed)
    bound = lipschitz_upper_bound(net)
    expected = math.prod(float(torch.linalg.matrix_norm(m.weight.detach().double(), ord=2))
                         for m in net if isinstance(m, nn.Linear))
    np.testing.assert_allclose(bound, expected, rtol=1e-12)
    assert 0.0 < result.estimate <= bound


def _exact_operator_norm(layer: nn.Module, shape: tuple[int, ...]) -> float:
    """Largest singular value of the layer's linear part, from its explicit matrix."""
    size = math.prod(shape)
    basis = torch.eye(size, dtype=torch.float64).reshape(size, *shape)  # (size, *shape)
    with torch.no_grad():
        columns = layer(basis) - layer(torch.zeros(1, *shape, dtype=torch.float64))
    return float(torch.linalg.matrix_norm(columns.reshape(size, -1), ord=2))  # (size, out)


@pytest.mark.parametrize("layer, shape", [
    (lambda: nn.Conv2d(2, 3, 3, stride=2, padding=1), (2, 9, 9)),
    (lambda: nn.Conv2d(4, 4, 3, padding=2, dilation=2, groups=2), (4, 6, 5)),
    (lambda: nn.Conv1d(2, 3, 4, stride=3, padding=1), (2, 13)),
    (lambda: nn.Conv3d(1, 2, 2), (1, 3, 3, 3)),
    (lambda: nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1), (3, 6, 6)),
    (lambda: nn.ConvTranspose1d(2, 4, 3, stride=3, groups=2, output_padding=1), (2, 6)),
])
def test_conv_bound_is_an_upper_bound_of_the_exact_operator_norm(layer, shape):
    torch.manual_seed(0)
    module = layer().double()
    exact = _exact_operator_norm(module, shape)
    bound = lipschitz_upper_bound(module, input_shape=shape)
    # an upper bound, tight up to boundary effects on these small inputs
    assert exact * (1 - 1e-9) <= bound <= 1.6 * exact


def test_conv_net_upper_bound_dominates_estimate():
    for seed in range(2):
        torch.manual_seed(seed)
        net = nn.Sequential(
            nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(4, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 1), nn.Sigmoid(),
        ).eval()
        x = torch.randn(128, 1, 8, 8)
        result = lipschitz_estimate(net, x, n_pairs=256)
        assert 0.0 < result.estimate <= lipschitz_upper_bound(net, input_shape=(1, 8, 8))


def test_lipschitz_upper_bound_rejects_unknown_layers_and_missing_shape():
    with pytest.raises(ValueError, match="input_shape is required.*'0'"):
        lipschitz_upper_bound(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()))
    with pytest.raises(ValueError, match=r"'1' \(BatchNorm1d\).*training mode"):
        lipschitz_upper_bound(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)).train())
    with pytest.raises(ValueError, match=r"'1' \(LayerNorm\) has no known Lipschitz"):
        lipschitz_upper_bound(nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2)))

    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Parameter(torch.tensor(2.0))

        def forward(self, x):
            return self.c * x

    with pytest.raises(ValueError, match=r"'0' \(Scale\)"):
        lipschitz_upper_bound(nn.Sequential(Scale(), nn.Linear(2, 1)))
    with pytest.raises(ValueError, match="input_shape"):
        lipschitz_upper_bound(nn.Sequential(nn.Conv2d(1, 2, 3)), input_shape=(3, 8, 8))


def test_lipschitz_estimate_rejects_bad_input():
    with pytest.raises(ValueError, match="x must have shape"):
        lipschitz_estimate(nn.Linear(2, 1), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="one scalar per sample"):
        lipschitz_estimate(nn.Linear(2, 3), torch.randn(8, 2))
    with pytest.raises(ValueError, match="x must be finite"):
        lipschitz_estimate(nn.Linear(2, 1), torch.tensor([[0.0, 1.0], [math.nan, 0.0]]))


# ----------------------------------------------------------------------------------------
# invalid input: every message names the argument and the rule
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [kl, js])
@pytest.mark.parametrize("p, q, match", [
    ([0.5, -0.3, 0.8], [0.3, 0.3, 0.4], "p must be non-negative; got min -0.3"),
    ([0.3, 0.3, 0.4], [0.5, -0.3, 0.8], "q must be non-negative; got min -0.3"),
    ([0.5, math.nan], [0.5, 0.5], "p must be finite"),
    ([0.5, 0.5], [math.inf, 0.5], "q must be finite"),
    ([], [], "p must be non-empty"),
    ([0.5, 0.5], [], "q must be non-empty"),
    ([0.0, 0.0], [0.5, 0.5], "p must have a positive sum"),
    ([0.5, 0.5], [0.0, 0.0], "q must have a positive sum"),
    ([0.5, 0.5], [0.2, 0.3, 0.5], "p and q must have the same shape"),
    ([[0.5, 0.5]], [0.5, 0.5], "p must be 1-D"),
])
def test_kl_js_reject_bad_input(fn, p, q, match):
    with pytest.raises(ValueError, match=match):
        fn(p, q)


def test_kl_rejects_bad_base():
    with pytest.raises(ValueError, match="base must be"):
        kl([0.5, 0.5], [0.5, 0.5], base=1)


@pytest.mark.parametrize("fn", [kl_gaussian, w2_gaussian])
@pytest.mark.parametrize("args, match", [
    ((np.zeros(2), np.ones((2, 3)), np.zeros(2), np.eye(2)), "S1 must be a square matrix"),
    ((np.zeros(2), np.eye(2), np.zeros(2), [[1.0, 0.5], [0.0, 1.0]]), "S2 must be symmetric"),
    ((np.zeros(2), np.eye(2), np.zeros(2), np.diag([1.0, -1.0])),
     "S2 must be positive semi-definite"),
    ((np.zeros(3), np.eye(2), np.zeros(3), np.eye(3)), r"S1 must have shape \(3, 3\)"),
    ((np.zeros(2), np.eye(2), np.zeros(3), np.eye(3)), "m1 and m2 must have the same"),
    ((np.zeros(2), 1.0, np.zeros(2), np.eye(2)), "S1 may be a scalar variance only for d = 1"),
    ((np.array([0.0, math.nan]), np.eye(2), np.zeros(2), np.eye(2)), "m1 must be finite"),
])
def test_gaussian_functions_reject_bad_input(fn, args, match):
    with pytest.raises(ValueError, match=match):
        fn(*args)


def test_kl_gaussian_needs_positive_definite():
    with pytest.raises(ValueError, match="S1 must be positive definite"):
        kl_gaussian(np.zeros(2), np.diag([1.0, 0.0]), np.zeros(2), np.eye(2))


@pytest.mark.parametrize("fn", [wasserstein, wasserstein_1d, sliced_wasserstein, kl_knn,
                                js_samples])
@pytest.mark.parametrize("x, y, kwargs, match", [
    (np.zeros((0, 1)), np.ones((3, 1)), {}, r"x must contain at least 1 point\(s\); got an empty set"),
    (np.ones((3, 1)), np.array([[1.0], [math.inf]]), {}, "y must be finite"),
    (np.ones((3, 2)), np.ones((3, 3)), {}, "x and y must have the same number of features per point"),
])
def test_sample_functions_reject_bad_input(fn, x, y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fn(x, y, **kwargs)


def test_wasserstein_rejects_bad_order_and_weights():
    x, y = np.arange(4.0), np.arange(3.0)
    with pytest.raises(ValueError, match="p must be a finite number >= 1"):
        wasserstein(x, y, p=0.5)
    with pytest.raises(ValueError, match=r"a must have shape \(4,\)"):
        wasserstein(x, y, a=[1.0, 1.0])
    with pytest.raises(ValueError, match="b must be non-negative"):
        wasserstein_1d(x, y, b=[1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="x and y must be 1-D samples"):
        wasserstein_1d(np.ones((3, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="n_projections must be a positive integer"):
        sliced_wasserstein(x, y, n_projections=0)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        kl_knn(x, y, k=0)


# ----------------------------------------------------------------------------------------
# the demo figure
# ----------------------------------------------------------------------------------------
def test_divergence_demo(tmp_path):
    thetas = [-1.5, -0.5, 0.0, 0.25, 1.0, 2.0]
    out = divergence_demo.run(tmp_path, thetas=thetas)
    assert (tmp_path / "divergences.png").stat().st_size > 0
    assert out["figure"] == tmp_path / "divergences.png"
    t = np.asarray(thetas)
    np.testing.assert_array_equal(out["thetas"], t)
    nonzero = t != 0
    for family in divergence_demo.FAMILIES:
        curve = out[family]
        np.testing.assert_allclose(curve["w1"], np.abs(t), rtol=1e-12, atol=1e-12)
        assert np.all(np.isinf(curve["kl"][nonzero]))
        assert curve["kl"][~nonzero][0] == 0.0 and curve["js"][~nonzero][0] == 0.0
        if family == "segments":  # partial overlap: JS = min(|theta|, 1) log 2
            np.testing.assert_allclose(curve["js"], np.minimum(np.abs(t), 1) * LOG2,
                                       rtol=1e-12)
        else:  # disjoint supports: exactly log 2
            assert np.all(curve["js"][nonzero] == LOG2)
    table = out["table"]
    assert "JS/log2" in table and "+inf" in table
    assert len(table.splitlines()) == 2 + len(divergence_demo.FAMILIES) * len(thetas)
