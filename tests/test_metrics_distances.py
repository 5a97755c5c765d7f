"""Tests of gankit.metrics.distances, and of the public API of gankit.metrics."""

import inspect
import math

import numpy as np
import ot
import pytest
import scipy.stats
import torch
from scipy.spatial.distance import pdist

import gankit.metrics
from gankit.divergences import sliced_wasserstein
from gankit.metrics import energy_distance, median_bandwidth, mmd2, pairwise, sample_distances

# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def test_every_name_in_all_resolves():
    for name in gankit.metrics.__all__:
        assert getattr(gankit.metrics, name) is not None, name
    assert len(set(gankit.metrics.__all__)) == len(gankit.metrics.__all__)


def test_every_public_function_has_a_formula():
    for name in gankit.metrics.__all__:
        obj = getattr(gankit.metrics, name)
        if inspect.isfunction(obj):
            doc = inspect.getdoc(obj)
            assert ".. math::" in doc, name
        if inspect.isfunction(obj):
            assert ".. math:" not in inspect.getdoc(obj).replace(".. math::", ""), name


# ---------------------------------------------------------------------------
# Independent references (double loops)
# ---------------------------------------------------------------------------


def _norm(u, v):
    return math.sqrt(sum((a - b) ** 2 for a, b in zip(u, v, strict=True)))


def _energy_loop(x, y, unbiased):
    n, m = len(x), len(y)
    e_xy = sum(_norm(a, b) for a in x for b in y) / (n * m)
    s_xx = sum(_norm(a, b) for i, a in enumerate(x) for j, b in enumerate(x) if i != j)
    s_yy = sum(_norm(a, b) for i, a in enumerate(y) for j, b in enumerate(y) if i != j)
    if unbiased:
        return 2 * e_xy - s_xx / (n * (n - 1)) - s_yy / (m * (m - 1))
    return 2 * e_xy - s_xx / n**2 - s_yy / m**2


def _mmd2_loop(x, y, k):
    n, m = len(x), len(y)
    k_xx = sum(k(a, b) for i, a in enumerate(x) for j, b in enumerate(x) if i != j) / (n * (n - 1))
    k_yy = sum(k(a, b) for i, a in enumerate(y) for j, b in enumerate(y) if i != j) / (m * (m - 1))
    k_xy = sum(k(a, b) for a in x for b in y) / (n * m)
    return k_xx + k_yy - 2 * k_xy


def _rbf(sigma):
    return lambda u, v: math.exp(-(_norm(u, v) ** 2) / (2 * sigma**2))


def _poly3(u, v):
    return (sum(a * b for a, b in zip(u, v, strict=True)) / len(u) + 1) ** 3


# ---------------------------------------------------------------------------
# energy_distance
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_energy_v_statistic_matches_scipy_in_1d(seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=37), rng.normal(0.5, 2.0, size=23)
    # scipy.stats.energy_distance returns sqrt(2E|X-Y| - E|X-X'| - E|Y-Y'|) (V-statistics).
    expected = scipy.stats.energy_distance(x, y)
    np.testing.assert_allclose(math.sqrt(energy_distance(x, y, unbiased=False)), expected,
                               rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("d", [1, 3, 40])  # 40 takes the Gram-matrix branch
@pytest.mark.parametrize("unbiased", [True, False])
def test_energy_matches_double_loop(d, unbiased):
    rng = np.random.default_rng(d)
    x, y = rng.normal(size=(12, d)), rng.normal(0.3, 1.5, size=(9, d))
    expected = _energy_loop(x.tolist(), y.tolist(), unbiased)
    np.testing.assert_allclose(energy_distance(x, y, unbiased=unbiased), expected,
                               rtol=1e-7, atol=1e-10)


def test_energy_closed_form_point_masses():
    # Two point masses at distance 3, two copies each: 2 * 3 - 0 - 0.
    x, y = np.zeros((2, 2)), np.array([[3.0, 0.0], [3.0, 0.0]])
    assert energy_distance(x, y) == pytest.approx(6.0, rel=1e-12)
    assert energy_distance(x, y, unbiased=False) == pytest.approx(6.0, rel=1e-12)


def test_energy_properties():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 2)), rng.normal(1.0, 1.0, size=(25, 2))
    np.testing.assert_allclose(energy_distance(x, y), energy_distance(y, x), rtol=1e-12)
    np.testing.assert_allclose(energy_distance(x + 5.0, y + 5.0), energy_distance(x, y),
                               rtol=1e-9)
    # Degree-1 homogeneity: E(cX, cY) = c E(X, Y).
    np.testing.assert_allclose(energy_distance(3 * x, 3 * y), 3 * energy_distance(x, y),
                               rtol=1e-12)
    assert energy_distance(x, x, unbiased=False) == pytest.approx(0.0, abs=1e-12)


def test_energy_chunked_matches(monkeypatch):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(50, 2)), rng.normal(size=(41, 2))
    expected = energy_distance(x, y)
    monkeypatch.setattr(pairwise, "CHUNK_ENTRIES", 100)  # two rows per chunk
    np.testing.assert_allclose(energy_distance(x, y), expected, rtol=1e-12)


# ---------------------------------------------------------------------------
# median_bandwidth / mmd2
# ---------------------------------------------------------------------------


def test_median_bandwidth_is_median_of_pooled_pairwise_distances():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 3)), rng.normal(1.0, 1.0, size=(21, 3))
    expected = np.median(pdist(np.concatenate([x, y])))
    np.testing.assert_allclose(median_bandwidth(x, y), expected, rtol=1e-12)
    np.testing.assert_allclose(median_bandwidth(x), np.median(pdist(x)), rtol=1e-12)


def test_median_bandwidth_subset_is_close_to_full_median():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3000, 2))
    full = np.median(pdist(x))
    # Median of 300 * 299 / 2 dependent distances: well within 5% of the full median.
    assert median_bandwidth(x, max_points=300) == pytest.approx(full, rel=0.05)


def test_median_bandwidth_degenerate_samples():
    assert median_bandwidth(np.ones((5, 2))) == 1.0
    # 6 of the 10 pairs coincide: the median is 0, so the mean of the nonzero distances is used.
    x = np.array([[0.0], [0.0], [0.0], [0.0], [2.0]])
    assert median_bandwidth(x) == pytest.approx(2.0)


@pytest.mark.parametrize("d", [1, 2, 40])
def test_mmd2_rbf_matches_double_loop(d):
    rng = np.random.default_rng(d)
    x, y = rng.normal(size=(11, d)), rng.normal(0.5, 1.0, size=(8, d))
    sigma = 1.7
    expected = _mmd2_loop(x.tolist(), y.tolist(), _rbf(sigma))
    np.testing.assert_allclose(mmd2(x, y, bandwidth=sigma), expected, rtol=1e-7, atol=1e-10)
    sigma_med = float(np.median(pdist(np.concatenate([x, y]))))
    expected_med = _mmd2_loop(x.tolist(), y.tolist(), _rbf(sigma_med))
    np.testing.assert_allclose(mmd2(x, y), expected_med, rtol=1e-7, atol=1e-10)


def test_mmd2_polynomial_matches_double_loop():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(10, 4)), rng.normal(0.2, 1.0, size=(13, 4))
    expected = _mmd2_loop(x.tolist(), y.tolist(), _poly3)
    np.testing.assert_allclose(mmd2(x, y, kernel="polynomial"), expected, rtol=1e-7, atol=1e-10)


def test_mmd2_is_unbiased_for_equal_distributions():
    rng = np.random.default_rng(0)
    R = 300
    values = np.array([mmd2(rng.normal(size=(20, 2)), rng.normal(size=(20, 2)), bandwidth=1.0)
                       for _ in range(R)])
    # Independent replicates: the mean is 0 within 4 standard errors.
    assert abs(values.mean()) < 4 * values.std(ddof=1) / math.sqrt(R)
    assert np.any(values < 0)  # an unbiased estimate of 0 must go negative sometimes


def test_mmd2_detects_shift_and_symmetry():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(200, 2)), rng.normal(2.0, 1.0, size=(200, 2))
    assert mmd2(x, y) > 0.3
    np.testing.assert_allclose(mmd2(x, y, bandwidth=1.0), mmd2(y, x, bandwidth=1.0), rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kernel": "laplace"}, "unknown kernel"),
        ({"kernel": "polynomial", "bandwidth": 1.0}, "bandwidth"),
        ({"bandwidth": -1.0}, "bandwidth"),
    ],
)
def test_mmd2_rejects_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mmd2(np.zeros((3, 2)), np.ones((3, 2)), **kwargs)


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        (np.zeros((0, 2)), np.zeros((3, 2)), "x must contain at least"),
        (np.zeros((1, 2)), np.zeros((3, 2)), "x must contain at least 2"),
        (np.zeros((3, 2)), np.zeros((3, 3)), "same number of features"),
        (np.zeros((3, 2)), np.full((3, 2), np.nan), "y must be finite"),
        (np.float64(1.0), np.zeros((3, 1)), "x must have shape"),
    ],
)
@pytest.mark.parametrize("fn", [energy_distance, mmd2])
def test_invalid_input_raises(fn, x, y, match):
    with pytest.raises(ValueError, match=match):
        fn(x, y)


def test_torch_inputs_are_accepted():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(15, 3)), rng.normal(size=(12, 3))
    tx, ty = torch.from_numpy(x), torch.from_numpy(y).requires_grad_(True)
    assert energy_distance(tx, ty) == energy_distance(x, y)
    assert mmd2(tx, ty) == mmd2(x, y)


# ---------------------------------------------------------------------------
# sample_distances
# ---------------------------------------------------------------------------


def _pot_wp(x, y, p):
    M = ot.dist(x, y, metric="euclidean") ** p
    return ot.emd2(ot.unif(len(x)), ot.unif(len(y)), M) ** (1 / p)


def test_sample_distances_against_pot_and_scipy():
    rng = np.random.default_rng(0)
    real, fake, held = (rng.normal(size=(150, 2)), rng.normal(0.7, 1.2, size=(150, 2)),
                        rng.normal(size=(150, 2)))
    out = sample_distances(real, fake, held_out=held)
    # All sets have n = 150 points, so no subsampling: only the row order changes.
    assert out["n"] == 150 and out["dim"] == 2
    for name, p in (("w1", 1), ("w2", 2)):
        assert out[name]["method"] == "exact"
        np.testing.assert_allclose(out[name]["value"], _pot_wp(fake, real, p), rtol=1e-7)
        np.testing.assert_allclose(out[name]["baseline"], _pot_wp(held, real, p), rtol=1e-7)
    np.testing.assert_allclose(out["energy"]["value"], energy_distance(fake, real), rtol=1e-9)
    sigma = median_bandwidth(real, fake)
    assert out["mmd"]["bandwidth"] == pytest.approx(sigma, rel=1e-12)
    np.testing.assert_allclose(out["mmd"]["value"], mmd2(fake, real, bandwidth=sigma), rtol=1e-9)
    np.testing.assert_allclose(out["mmd"]["baseline"], mmd2(held, real, bandwidth=sigma),
                               rtol=1e-9)


def test_sample_distances_1d_energy_matches_scipy():
    rng = np.random.default_rng(1)
    real, fake, held = rng.normal(size=80), rng.normal(1.0, 1.0, size=80), rng.normal(size=80)
    out = sample_distances(real, fake, held_out=held, metrics=("w1", "energy"))
    np.testing.assert_allclose(out["w1"]["value"], scipy.stats.wasserstein_distance(real, fake),
                               rtol=1e-7)
    # Unbiased energy = V-statistic + the diagonal correction of the within terms.
    v_stat = scipy.stats.energy_distance(real, fake) ** 2
    n = 80
    e_xx = np.abs(real[:, None] - real[None, :]).sum() / n**2
    e_yy = np.abs(fake[:, None] - fake[None, :]).sum() / n**2
    expected = v_stat - (e_xx + e_yy) / (n - 1)
    np.testing.assert_allclose(out["energy"]["value"], expected, rtol=1e-7, atol=1e-10)


def test_sample_distances_sliced_for_images():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(120, 1, 5, 5))
    fake = rng.normal(0.5, 1.0, size=(120, 1, 5, 5))
    held = rng.normal(size=(120, 1, 5, 5))
    out = sample_distances(real, fake, held_out=held, metrics=("w1", "w2"), n_projections=64,
                           seed=3)
    assert out["dim"] == 25 and out["w1"]["method"] == "sliced"
    flat = (real.reshape(120, -1), fake.reshape(120, -1), held.reshape(120, -1))
    for name, p in (("w1", 1), ("w2", 2)):
        value = sliced_wasserstein(flat[1], flat[0], p=p, n_projections=64, seed=3)
        baseline = sliced_wasserstein(flat[2], flat[0], p=p, n_projections=64, seed=3)
        np.testing.assert_allclose(out[name]["value"], value, rtol=1e-9)
        np.testing.assert_allclose(out[name]["baseline"], baseline, rtol=1e-9)
    assert any("sliced" in note for note in out["notes"])


def test_baseline_shrinks_with_sample_size():
    rng = np.random.default_rng(0)
    small = sample_distances(rng.normal(size=(200, 2)), rng.normal(size=(100, 2)),
                             metrics=("w1",))
    large = sample_distances(rng.normal(size=(2000, 2)), rng.normal(size=(1000, 2)),
                             metrics=("w1",))
    assert small["n"] == 100 and large["n"] == 1000
    # Empirical W1 in 2-D decays roughly like n^{-1/2}: a factor about 3 for 10x more points.
    assert large["w1"]["baseline"] < small["w1"]["baseline"] / 2


def test_value_far_above_baseline_for_shifted_distributions():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(600, 2)), rng.normal(2.0, 1.0, size=(300, 2))
    out = sample_distances(real, fake)
    # Shift 2 in each coordinate (W1 = W2 = 2.83 for the distributions); at n = 300 the
    # real-vs-real baselines are about 0.3 for W1 and W2 and 0.01 for energy and MMD in 2-D.
    for name in ("w1", "w2", "energy", "mmd"):
        assert out[name]["value"] > 5 * abs(out[name]["baseline"]), name


def test_halves_are_random_not_first_and_second_half():
    # Sorted real samples: the first and second halves would be far apart.
    real = np.sort(np.random.default_rng(0).normal(size=400))
    out = sample_distances(real, real[::-1].copy(), metrics=("w1",))
    first_second = scipy.stats.wasserstein_distance(real[:200], real[200:])
    assert first_second > 1.0
    assert out["w1"]["baseline"] < 0.3


def test_sample_size_rules_and_notes():
    rng = np.random.default_rng(0)
    out = sample_distances(rng.normal(size=(1000, 2)), rng.normal(size=(300, 2)), metrics=("w1",))
    assert out["n"] == 300
    out = sample_distances(rng.normal(size=(100, 2)), rng.normal(size=(300, 2)), metrics=("w1",))
    assert out["n"] == 50
    assert set(sample_distances(np.zeros((8, 1)), np.ones((8, 1)), metrics="energy")) == {
        "energy", "n", "dim", "notes"}
    out = sample_distances(rng.normal(size=(100, 2)), rng.normal(size=(300, 2)), metrics=("w1",),
                           max_exact=20)
    assert out["n"] == 20
    assert any("max_exact=20" in note for note in out["notes"])
    assert any("baseline" in note for note in out["notes"])


def test_sample_distances_is_deterministic_given_seed():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(300, 2)), rng.normal(size=(300, 2))
    a = sample_distances(real, fake, seed=7)
    b = sample_distances(torch.from_numpy(real), torch.from_numpy(fake), seed=7)
    assert a == b


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metrics": ("w1", "fid")}, "unknown metric"),
        ({"metrics": ()}, "metrics"),
        ({"max_exact": 1}, "max_exact"),
        ({"n_projections": 0}, "n_projections"),
        ({"held_out": np.zeros((10, 3))}, "same number of features"),
    ],
)
def test_sample_distances_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sample_distances(np.zeros((10, 2)), np.ones((10, 2)), **kwargs)


def test_sample_distances_rejects_bad_samples():
    with pytest.raises(ValueError, match="real must contain at least 4"):
        sample_distances(np.zeros((3, 2)), np.ones((10, 2)))
    with pytest.raises(ValueError, match="same number of features"):
        sample_distances(np.zeros((10, 2)), np.ones((10, 3)))
    with pytest.raises(ValueError, match="fake must be finite"):
        sample_distances(np.zeros((10, 2)), np.full((10, 2), np.inf))
