"""Tests of gankit.metrics.features: FID, KID, precision / recall, class and mode histograms."""

import itertools
import math

import numpy as np
import ot
import pytest
import scipy.linalg
import scipy.stats
import torch

from gankit.metrics import (
    class_coverage,
    class_histogram,
    fid,
    frechet_distance,
    kid,
    pairwise,
    precision_recall,
    stacked_modes,
)


def _random_spd(rng, d, scale=1.0):
    A = rng.normal(size=(d, d))
    return scale * (A @ A.T / d + 0.5 * np.eye(d))


# ---------------------------------------------------------------------------
# Frechet distance and FID
# ---------------------------------------------------------------------------


def test_frechet_distance_shared_covariance_is_squared_mean_distance():
    rng = np.random.default_rng(0)
    S = _random_spd(rng, 5)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    np.testing.assert_allclose(frechet_distance(mu1, S, mu2, S), np.sum((mu1 - mu2) ** 2),
                               rtol=1e-9, atol=1e-10)


def test_frechet_distance_diagonal_closed_form():
    # Commuting covariances: Tr(S1 + S2 - 2 (S1 S2)^{1/2}) = sum (sqrt(a_i) - sqrt(b_i))^2.
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = 5.0 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    np.testing.assert_allclose(frechet_distance(mu1, np.diag(a), mu2, np.diag(b)), expected,
                               rtol=1e-10)


@pytest.mark.parametrize("seed", range(3))
def test_frechet_distance_matches_pot_and_sqrtm(seed):
    rng = np.random.default_rng(seed)
    d = 6
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    S1, S2 = _random_spd(rng, d), _random_spd(rng, d, scale=2.0)
    value = frechet_distance(mu1, S1, mu2, S2)
    # POT's Bures-Wasserstein distance (ot.gaussian) squared.
    pot = float(ot.gaussian.bures_wasserstein_distance(mu1, mu2, S1, S2)) ** 2
    np.testing.assert_allclose(value, pot, rtol=1e-7)
    # The textbook evaluation with sqrtm of the (well conditioned) non-symmetric product.
    tr = np.trace(scipy.linalg.sqrtm(S1 @ S2)).real
    textbook = np.sum((mu1 - mu2) ** 2) + np.trace(S1) + np.trace(S2) - 2 * tr
    np.testing.assert_allclose(value, textbook, rtol=1e-7)


def test_fid_matches_closed_form_for_gaussian_features():
    rng = np.random.default_rng(1)
    d, n = 3, 20000
    mu1, mu2 = np.zeros(d), np.array([1.0, -0.5, 0.0])
    S1, S2 = _random_spd(rng, d), _random_spd(rng, d, scale=1.5)
    f1 = rng.multivariate_normal(mu1, S1, size=n)
    f2 = rng.multivariate_normal(mu2, S2, size=n)
    exact = frechet_distance(mu1, S1, mu2, S2)
    # Monte Carlo: the fluctuation of the mean term alone is 2 |mu1 - mu2| sqrt(lambda_max * 2 / n)
    # ~ 0.04 here; 0.15 is about 4 standard errors of FID at n = 20000 in 3-D.
    assert abs(fid(f1, f2) - exact) < 0.15
    assert exact > 1.0


def test_fid_shared_covariance_is_squared_mean_shift():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(500, 4))
    shift = np.array([1.0, 2.0, 0.0, -1.0])
    # Translating a sample leaves its covariance unchanged: exact, no sampling error.
    np.testing.assert_allclose(fid(x, x + shift), np.sum(shift**2), rtol=1e-9)


@pytest.mark.parametrize(("n", "d"), [(500, 8), (10, 40)])  # (10, 40): singular covariance
def test_fid_of_a_set_with_itself_is_zero(n, d):
    x = np.random.default_rng(3).normal(size=(n, d))
    assert fid(x, x) == pytest.approx(0.0, abs=1e-6 * d)
    assert fid(torch.from_numpy(x).float(), torch.from_numpy(x).float()) == pytest.approx(
        0.0, abs=1e-6 * d)


def test_fid_uses_unbiased_sample_covariance():
    x = np.array([[0.0], [2.0]])  # mean 1, sample variance (n - 1) = 2
    y = np.array([[1.0], [1.0]])  # mean 1, variance 0
    assert fid(x, y) == pytest.approx(2.0, rel=1e-12)  # (sqrt(2) - 0)^2


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((np.zeros(2), np.eye(2), np.zeros(3), np.eye(3)), "mu1 and mu2 .* same dimension"),
        ((np.zeros(2), np.eye(3), np.zeros(2), np.eye(2)), "S1"),
        ((np.zeros(2), np.eye(2), np.zeros(2), -np.eye(2)), "S2"),
        ((np.zeros(2), np.eye(2), np.array([np.nan, 0.0]), np.eye(2)), "mu2 must be finite"),
        ((np.zeros((2, 1)), np.eye(2), np.zeros(2), np.eye(2)), r"mu1 must have shape \(d,\)"),
        ((np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]), np.zeros(2), np.eye(2)), "symmetric"),
    ],
)
def test_frechet_distance_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        frechet_distance(*args)


@pytest.mark.parametrize(
    ("f1", "f2", "match"),
    [
        (np.zeros((1, 2)), np.zeros((5, 2)), "{a} must contain at least"),
        (np.zeros((5, 2)), np.zeros((5, 3)), "same number of features"),
        (np.zeros((5, 2, 2)), np.zeros((5, 4)), r"{a} must have shape \(n, d\)"),
        (np.zeros((5, 2)), np.full((5, 2), np.inf), "{b} must be finite"),
    ],
)
@pytest.mark.parametrize(
    ("fn", "names"),
    [(fid, ("f1", "f2")), (kid, ("f1", "f2")), (precision_recall, ("f_real", "f_fake"))],
)
def test_feature_metrics_reject_bad_input(fn, names, f1, f2, match):
    with pytest.raises(ValueError, match=match.format(a=names[0], b=names[1])):
        fn(f1, f2)


# ---------------------------------------------------------------------------
# KID
# ---------------------------------------------------------------------------


def _kid_loop(x, y):
    d = len(x[0])

    def k(u, v):
        return (sum(a * b for a, b in zip(u, v, strict=True)) / d + 1) ** 3

    n, m = len(x), len(y)
    k_xx = sum(k(a, b) for i, a in enumerate(x) for j, b in enumerate(x) if i != j) / (n * (n - 1))
    k_yy = sum(k(a, b) for i, a in enumerate(y) for j, b in enumerate(y) if i != j) / (m * (m - 1))
    k_xy = sum(k(a, b) for a in x for b in y) / (n * m)
    return k_xx + k_yy - 2 * k_xy


def test_kid_on_full_sets_matches_double_loop():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 5)), rng.normal(0.5, 1.0, size=(12, 5))
    # A subset of the full size is a permutation: the unbiased MMD^2 does not change.
    out = kid(x, y, n_subsets=3, subset_size=12)
    expected = _kid_loop(x.tolist(), y.tolist())
    np.testing.assert_allclose(out["mean"], expected, rtol=1e-9)
    assert out["std"] == pytest.approx(0.0, abs=1e-9 * abs(expected))
    assert out["subset_size"] == 12


def test_kid_is_unbiased_for_equal_distributions():
    rng = np.random.default_rng(1)
    R = 200
    values = np.array([kid(rng.normal(size=(50, 4)), rng.normal(size=(50, 4)), n_subsets=1,
                           subset_size=50)["mean"] for _ in range(R)])
    # Independent replicates: the mean is 0 within 4 standard errors.
    assert abs(values.mean()) < 4 * values.std(ddof=1) / math.sqrt(R)


def test_kid_is_clearly_positive_for_shifted_features():
    rng = np.random.default_rng(2)
    out = kid(rng.normal(size=(600, 8)), rng.normal(0.5, 1.0, size=(600, 8)), n_subsets=20,
              subset_size=200)
    assert out["mean"] > 5 * out["std"] > 0


def test_kid_caps_subset_size_and_is_deterministic():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(30, 3)), rng.normal(size=(40, 3))
    out = kid(x, y, n_subsets=5, subset_size=1000, seed=4)
    assert out["subset_size"] == 15  # half the smaller set: subsets that differ
    assert kid(x, y, n_subsets=5, subset_size=1000, seed=4) == out


def test_kid_below_subset_size_has_a_real_spread():
    """Fewer samples than subset_size: the spread over subsets is the estimator's, not rounding noise."""
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(300, 4)), rng.normal(0.3, 1.0, size=(300, 4))
    out = kid(x, y, n_subsets=20, subset_size=1000)
    assert out["subset_size"] == 150 and out["std"] > 1e-3 * abs(out["mean"]) > 0


def test_kid_rejects_bad_options():
    with pytest.raises(ValueError, match="n_subsets"):
        kid(np.zeros((5, 2)), np.zeros((5, 2)), n_subsets=0)
    with pytest.raises(ValueError, match="subset_size"):
        kid(np.zeros((5, 2)), np.zeros((5, 2)), subset_size=1)


# ---------------------------------------------------------------------------
# Precision and recall
# ---------------------------------------------------------------------------


def _precision_recall_loop(real, fake, k):
    def radii(points):
        out = []
        for i, p in enumerate(points):
            dist = sorted(math.dist(p, q) for j, q in enumerate(points) if j != i)
            out.append(dist[k - 1])
        return out

    def coverage(queries, points, r):
        inside = [any(math.dist(q, p) <= rp for p, rp in zip(points, r, strict=True))
                  for q in queries]
        return sum(inside) / len(queries)

    return coverage(fake, real, radii(real)), coverage(real, fake, radii(fake))


@pytest.mark.parametrize(("k", "d"), [(1, 2), (3, 3), (5, 40)])
def test_precision_recall_matches_loop(k, d):
    rng = np.random.default_rng(k)
    real, fake = rng.normal(size=(60, d)), rng.normal(0.5, 1.3, size=(45, d))
    p, r = _precision_recall_loop(real.tolist(), fake.tolist(), k)
    out = precision_recall(real, fake, k=k)
    assert out["precision"] == pytest.approx(p, abs=1e-12)
    assert out["recall"] == pytest.approx(r, abs=1e-12)


def test_precision_recall_chunked_matches(monkeypatch):
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(300, 2)), rng.normal(0.3, 1.0, size=(250, 2))
    expected = precision_recall(real, fake)
    monkeypatch.setattr(pairwise, "CHUNK_ENTRIES", 1000)  # 3-4 rows per chunk
    assert precision_recall(real, fake) == expected


def test_identical_sets_have_full_precision_and_recall():
    x = np.random.default_rng(1).normal(size=(400, 5))
    assert precision_recall(x, x) == {"precision": 1.0, "recall": 1.0}


def test_precision_falls_as_fakes_move_away():
    rng = np.random.default_rng(2)
    real, base = rng.normal(size=(800, 2)), rng.normal(size=(800, 2))
    # Steps of one standard deviation: each step changes precision by far more than the
    # sampling noise of a fraction of 800 points (about 0.01 near precision 1).
    shifts = [0.0, 1.0, 2.0, 3.0, 4.0, 8.0]
    precision = [precision_recall(real, base + [s, 0.0])["precision"] for s in shifts]
    assert all(a > b for a, b in itertools.pairwise(precision)), precision
    assert precision[0] > 0.9 and precision[-1] == 0.0


def test_recall_drops_when_fakes_collapse_to_one_mode():
    rng = np.random.default_rng(3)
    centres = np.array([[-5.0, 0.0], [5.0, 0.0]])
    real = centres[rng.integers(0, 2, 1000)] + rng.normal(size=(1000, 2))
    fake = centres[0] + rng.normal(size=(1000, 2))  # only the left mode
    out = precision_recall(real, fake)
    assert out["precision"] > 0.9
    assert 0.35 < out["recall"] < 0.6  # about half of the real points are covered


def test_precision_recall_needs_more_than_k_points():
    with pytest.raises(ValueError, match="f_real must contain at least 4"):
        precision_recall(np.zeros((3, 2)), np.zeros((10, 2)), k=3)
    with pytest.raises(ValueError, match="k must be"):
        precision_recall(np.zeros((10, 2)), np.zeros((10, 2)), k=0)


# ---------------------------------------------------------------------------
# Class histograms and Stacked MNIST modes
# ---------------------------------------------------------------------------


def test_class_histogram_counts_and_frequencies():
    labels = [0, 2, 2, 3, 3, 3]
    np.testing.assert_array_equal(class_histogram(labels, 5, normalize=False), [1, 0, 2, 3, 0])
    np.testing.assert_allclose(class_histogram(torch.tensor(labels), 5), [1 / 6, 0, 1 / 3, 1 / 2, 0])


def test_class_coverage_against_scipy_entropy():
    rng = np.random.default_rng(0)
    pred = rng.integers(0, 6, size=500)
    ref = rng.choice(6, size=800, p=[0.3, 0.2, 0.2, 0.1, 0.1, 0.1])
    out = class_coverage(pred, 6, reference_labels=ref)
    p, q = np.bincount(pred, minlength=6) / 500, np.bincount(ref, minlength=6) / 800
    # scipy.stats.entropy(p, q) is KL(p || q) in nats.
    np.testing.assert_allclose(out["kl_to_data"], scipy.stats.entropy(p, q), rtol=1e-12)
    np.testing.assert_allclose(out["histogram"], p)
    assert out["classes_covered"] == 6


def test_class_coverage_uniform_missing_classes_and_infinity():
    out = class_coverage(np.repeat(np.arange(10), 7), 10)
    assert out["classes_covered"] == 10 and out["kl_to_data"] == pytest.approx(0.0, abs=1e-12)
    out = class_coverage([0, 0, 1, 1], 10)
    assert out["classes_covered"] == 2
    np.testing.assert_allclose(out["kl_to_data"], math.log(10 / 2), rtol=1e-12)
    # A generated class absent from the data: KL(p || q) is infinite.
    assert class_coverage([0, 1, 2], 3, reference_labels=[0, 1, 1])["kl_to_data"] == math.inf
    # min_count: class 2 has a single sample.
    assert class_coverage([0, 0, 1, 1, 2], 3, min_count=2)["classes_covered"] == 2


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        ([], "at least one label"),
        ([0, 10], r"\[0, 10\)"),
        ([0, -1], r"\[0, 10\)"),
        ([0.5, 1.0], "integer class labels"),
        ([[0, 1]], r"shape \(n,\)"),
    ],
)
def test_class_coverage_rejects_bad_labels(labels, match):
    with pytest.raises(ValueError, match=match):
        class_coverage(labels, 10)


def test_stacked_modes_all_modes_uniform():
    triples = np.array(list(itertools.product(range(10), repeat=3)))  # every mode once
    out = stacked_modes(np.repeat(triples, 2, axis=0))
    assert out["modes"] == 1000 and out["n_modes"] == 1000
    assert out["reverse_kl"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("k", [1, 10, 37, 500])
def test_stacked_modes_k_modes_equally_filled(k):
    rng = np.random.default_rng(k)
    chosen = rng.choice(1000, k, replace=False)
    triples = np.stack([chosen // 100, (chosen // 10) % 10, chosen % 10], axis=1)
    out = stacked_modes(np.repeat(triples, 3, axis=0))
    assert out["modes"] == k
    np.testing.assert_allclose(out["reverse_kl"], math.log(1000 / k), rtol=1e-12, atol=1e-12)


def test_stacked_modes_distinguishes_channel_order():
    # (1, 2, 3) and (3, 2, 1) are different modes; so are two permutations of any triple.
    out = stacked_modes(np.array([[1, 2, 3], [3, 2, 1], [2, 1, 3]]))
    assert out["modes"] == 3
    out = stacked_modes(np.array([[1, 2], [2, 1]]), n_classes=3)
    assert out["n_modes"] == 9 and out["modes"] == 2


def test_stacked_modes_rejects_bad_labels():
    with pytest.raises(ValueError, match=r"shape \(n, c\)"):
        stacked_modes(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        stacked_modes(np.array([[1, 2, 10]]))
