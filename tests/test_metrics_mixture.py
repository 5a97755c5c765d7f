"""Tests of gankit.metrics.mixture: mode coverage on Gaussian mixtures."""

import itertools
import math

import numpy as np
import pytest
import torch

from gankit.metrics import grid_means, mode_coverage, pairwise, ring_means


def _reference_mode_coverage(samples, means, stds, threshold):
    """Straightforward per-sample loop, written independently of the library."""
    K = len(means)
    counts = [0] * K
    n_hq = 0
    for x in samples:
        r = [math.sqrt(sum((a - b) ** 2 for a, b in zip(x, mu, strict=True))) / s
             for mu, s in zip(means, stds, strict=True)]
        k = min(range(K), key=lambda j: r[j])
        if r[k] < threshold:
            counts[k] += 1
            n_hq += 1
    if n_hq == 0:
        kl = math.inf
    else:
        kl = sum((c / n_hq) * math.log((c / n_hq) * K) for c in counts if c > 0)
    modes = sum(c > 0 for c in counts)
    return {"modes": modes, "n_modes": K, "high_quality": n_hq / len(samples),
            "reverse_kl": kl, "counts": counts}


def _samples_at_modes(means, modes, per_mode, noise, seed):
    rng = np.random.default_rng(seed)
    centres = np.repeat(means[list(modes)], per_mode, axis=0)
    return centres + noise * rng.standard_normal(centres.shape)


# ---------------------------------------------------------------------------
# ring_means / grid_means
# ---------------------------------------------------------------------------


def test_ring_means_are_pacgan_ring():
    means = ring_means()
    expected = np.array([[math.cos(2 * math.pi * k / 8), math.sin(2 * math.pi * k / 8)]
                         for k in range(8)])
    np.testing.assert_allclose(means, expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(ring_means(5, 2.5), axis=1), 2.5, rtol=1e-12)


def test_grid_means_are_pacgan_grid():
    means = grid_means()
    expected = np.array(list(itertools.product([-4, -2, 0, 2, 4], repeat=2)), dtype=float)
    np.testing.assert_array_equal(means, expected)
    assert grid_means(3, 1.0).shape == (9, 2)
    np.testing.assert_allclose(grid_means(4, 1.0).mean(axis=0), 0.0, atol=1e-15)


@pytest.mark.parametrize(
    ("fn", "kwargs", "match"),
    [
        (ring_means, {"n_modes": 0}, "n_modes"),
        (ring_means, {"radius": -1.0}, "radius"),
        (grid_means, {"n_per_side": 2.5}, "n_per_side"),
        (grid_means, {"spacing": 0.0}, "spacing"),
    ],
)
def test_mean_helpers_reject_bad_arguments(fn, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fn(**kwargs)


# ---------------------------------------------------------------------------
# mode_coverage
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("means", "std"), [(ring_means(), 0.01), (grid_means(), 0.05)])
def test_all_modes_covered_equally(means, std):
    K = len(means)
    samples = _samples_at_modes(means, range(K), per_mode=40, noise=0.5 * std, seed=0)
    out = mode_coverage(samples, means, std)
    # Noise of 0.5 std in 2-D exceeds 3 std with probability exp(-18) per sample.
    assert out["modes"] == K and out["n_modes"] == K
    assert out["high_quality"] == 1.0
    assert out["counts"] == [40] * K
    np.testing.assert_allclose(out["reverse_kl"], 0.0, atol=1e-12)


@pytest.mark.parametrize("k", [1, 3, 6, 25])
def test_k_modes_equally_filled_give_log_k_ratio(k):
    means, std = grid_means(), 0.05
    chosen = np.random.default_rng(k).choice(len(means), k, replace=False)
    samples = _samples_at_modes(means, chosen, per_mode=7, noise=0.3 * std, seed=1)
    out = mode_coverage(samples, means, std)
    assert out["modes"] == k
    assert sorted(np.flatnonzero(out["counts"])) == sorted(chosen)
    np.testing.assert_allclose(out["reverse_kl"], math.log(25 / k), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("std", [0.01, np.linspace(0.01, 0.02, 8)])
def test_threshold_boundary_along_outward_direction(std):
    means = ring_means()
    sigma = np.broadcast_to(std, (8,))
    # Moving radially outwards from mode k increases the distance to every other mode.
    inside = means * (1.0 + 2.99 * sigma[:, None])
    outside = means * (1.0 + 3.01 * sigma[:, None])
    out_in = mode_coverage(inside, means, std)
    out_out = mode_coverage(outside, means, std)
    assert out_in["high_quality"] == 1.0 and out_in["counts"] == [1] * 8
    assert out_out["high_quality"] == 0.0 and out_out["modes"] == 0
    assert out_out["counts"] == [0] * 8 and out_out["reverse_kl"] == math.inf
    # A looser threshold accepts the outside points again.
    assert mode_coverage(outside, means, std, threshold=3.02)["modes"] == 8


def test_nearest_mode_is_nearest_in_mahalanobis_distance():
    means = np.array([[0.0], [1.0]])
    # Euclidean: 0.6 is nearer to 1.0; in standard deviations it is 0.6 from mode 0, 40 from mode 1.
    out = mode_coverage(np.array([[0.6]]), means, np.array([1.0, 0.01]))
    assert out["counts"] == [1, 0]
    assert out["high_quality"] == 1.0


@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_reference_loop(seed):
    rng = np.random.default_rng(seed)
    K, d, n = int(rng.integers(1, 7)), int(rng.integers(1, 4)), 300
    means = rng.uniform(-3, 3, size=(K, d))
    stds = rng.uniform(0.2, 1.0, size=K)
    samples = rng.uniform(-4, 4, size=(n, d))
    threshold = float(rng.uniform(0.5, 3.0))
    expected = _reference_mode_coverage(samples.tolist(), means.tolist(), stds.tolist(), threshold)
    out = mode_coverage(samples, means, stds, threshold=threshold)
    assert out["counts"] == expected["counts"]
    assert out["modes"] == expected["modes"] and out["n_modes"] == expected["n_modes"]
    assert out["high_quality"] == expected["high_quality"]
    np.testing.assert_allclose(out["reverse_kl"], expected["reverse_kl"], rtol=1e-12)


def test_chunked_computation_matches(monkeypatch):
    rng = np.random.default_rng(0)
    means, std = ring_means(), 0.2
    samples = rng.normal(size=(257, 2))
    expected = mode_coverage(samples, means, std)
    monkeypatch.setattr(pairwise, "CHUNK_ENTRIES", 40)  # 2-3 samples per chunk
    assert mode_coverage(samples, means, std) == expected


def test_torch_and_numpy_inputs_agree():
    rng = np.random.default_rng(3)
    samples = rng.normal(scale=1.2, size=(200, 2))
    out_np = mode_coverage(samples, ring_means(), 0.3)
    out_t = mode_coverage(torch.from_numpy(samples).float(), torch.from_numpy(ring_means()), 0.3)
    assert out_np["modes"] == out_t["modes"]
    assert isinstance(out_t["modes"], int) and isinstance(out_t["high_quality"], float)
    assert all(isinstance(c, int) for c in out_t["counts"])


@pytest.mark.parametrize(
    ("samples", "means", "std", "threshold", "match"),
    [
        (np.zeros((0, 2)), ring_means(), 0.1, 3.0, "samples.*at least 1"),
        (np.zeros((5, 3)), ring_means(), 0.1, 3.0, "same dimension"),
        (np.array([[np.nan, 0.0]]), ring_means(), 0.1, 3.0, "samples must be finite"),
        (np.zeros(5), ring_means(), 0.1, 3.0, "same dimension"),
        (np.zeros((5, 2, 1)), ring_means(), 0.1, 3.0, r"samples must have shape \(n, d\)"),
        (np.zeros((5, 2)), ring_means(), -0.1, 3.0, "std must be finite and > 0"),
        (np.zeros((5, 2)), ring_means(), np.ones(3), 3.0, r"std must .* shape \(K,\)"),
        (np.zeros((5, 2)), ring_means(), 0.1, 0.0, "threshold"),
        (np.zeros((5, 2)), np.zeros((0, 2)), 0.1, 3.0, "means"),
    ],
)
def test_invalid_input_raises(samples, means, std, threshold, match):
    with pytest.raises(ValueError, match=match):
        mode_coverage(samples, means, std, threshold=threshold)


def test_docstring_examples():
    import doctest

    import gankit.data.toy

    result = doctest.testmod(gankit.data.toy)  # ring_means and grid_means live with the data
    assert result.attempted >= 2 and result.failed == 0
