r"""Distances between two sample sets, reported next to a real-vs-real baseline.

A distance between generated and real samples means little on its own: every
estimator is biased or noisy at a finite sample size, and "how far from zero is
far" depends on ``n`` and on the dimension. :func:`sample_distances` therefore
computes each distance twice with the same sample size: once between real and
generated samples (``value``) and once between two disjoint sets of real samples
(``baseline``), which is what a perfect generator would score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gankit.checks import points, points_pair, positive_int, same_dim
from gankit.divergences import sliced_wasserstein, wasserstein
from gankit.metrics.pairwise import cubic_polynomial_kernel, distances, mmd2_unbiased, pair_sum, rbf_kernel

__all__ = [
    "KERNELS",
    "SAMPLE_METRICS",
    "energy_distance",
    "median_bandwidth",
    "mmd2",
    "sample_distances",
]

#: Names accepted by the ``metrics`` argument of :func:`sample_distances`.
SAMPLE_METRICS: tuple[str, ...] = ("w1", "w2", "energy", "mmd")

#: Kernels accepted by :func:`mmd2`.
KERNELS: tuple[str, ...] = ("rbf", "polynomial")

# Above this dimension exact optimal transport is replaced by its sliced version.
_EXACT_OT_MAX_DIM = 16


# ---------------------------------------------------------------------------
# Energy distance
# ---------------------------------------------------------------------------


def energy_distance(x: Any, y: Any, *, unbiased: bool = True) -> float:
    r"""Squared energy distance between two samples (Szekely & Rizzo 2013).

    .. math::
        \mathcal{E}^2(P, Q) = 2\,\mathbb{E}\|X - Y\| - \mathbb{E}\|X - X'\|
        - \mathbb{E}\|Y - Y'\|, \qquad X, X' \sim P,\; Y, Y' \sim Q,

    with the Euclidean norm in ``d`` dimensions. It is zero if and only if
    ``P = Q``. The cross term is the mean over all ``n m`` pairs. The within
    terms are U-statistics by default,

    .. math::
        \widehat{\mathbb{E}}\|X - X'\| = \frac{1}{n(n-1)} \sum_{i \neq j} \|x_i - x_j\|,

    which makes the estimate unbiased (it can be slightly negative when
    ``P = Q``). With ``unbiased=False`` they are V-statistics (divide by
    ``n^2``, diagonal included); that estimate is the energy distance between
    the two empirical distributions, is never negative, and in 1-D equals
    ``scipy.stats.energy_distance(x, y) ** 2``.

    Args:
        x: samples from ``P``, shape ``(n, d)``, ``(n,)`` or ``(n, C, H, W)`` (flattened).
        y: samples from ``Q``, same number of features as ``x``.
        unbiased: U-statistics (default) or V-statistics for the within terms.

    Returns:
        The squared energy distance as a Python float.

    References:
        Szekely, G. J. and Rizzo, M. L. (2013). Energy statistics: a class of
        statistics based on distances. Journal of Statistical Planning and
        Inference 143(8), 1249-1272.
    """
    min_points = 2 if unbiased else 1
    X, Y = points_pair(x, y, min_points=min_points)
    n, m = len(X), len(Y)
    e_xy = pair_sum(X, Y, distances, same=False) / (n * m)
    sum_xx = pair_sum(X, X, distances, same=True)
    sum_yy = pair_sum(Y, Y, distances, same=True)
    if unbiased:
        e_xx, e_yy = sum_xx / (n * (n - 1)), sum_yy / (m * (m - 1))
    else:
        e_xx, e_yy = sum_xx / n**2, sum_yy / m**2
    return float(2.0 * e_xy - e_xx - e_yy)


# ---------------------------------------------------------------------------
# Maximum mean discrepancy
# ---------------------------------------------------------------------------


def median_bandwidth(x: Any, y: Any = None, *, max_points: int = 2000, seed: int = 0) -> float:
    r"""Median heuristic for the Gaussian kernel bandwidth (Gretton et al. 2012).

    .. math::
        \sigma = \operatorname{median}\{\|z_i - z_j\| : i < j\}

    over the pooled sample ``z = x`` (then ``y``). When the pooled sample has
    more than ``max_points`` points, a random subset of ``max_points`` of them
    (drawn with ``seed``) is used, so the cost stays ``O(max_points^2)``. If the
    median is 0 (more than half the pairs coincide) the mean of the nonzero
    distances is used, and if all points coincide ``sigma = 1`` (every Gaussian
    kernel value is then 1 whatever ``sigma``).

    Args:
        x: samples, shape ``(n, d)``, ``(n,)`` or ``(n, C, H, W)`` (flattened).
        y: optional second sample with the same number of features.
        max_points: largest number of pooled points used.
        seed: seed of the subset drawn when the pooled sample is larger.

    Returns:
        ``sigma`` as a Python float.
    """
    X = points(x, "x")
    if y is not None:
        Y = points(y, "y")
        same_dim(X, Y, "x", "y")
        X = np.concatenate([X, Y])  # (n + m, d)
    max_points = positive_int(max_points, "max_points", minimum=2)
    if len(X) < 2:
        raise ValueError("x and y together must contain at least 2 points for the median heuristic")
    if len(X) > max_points:
        X = X[np.random.default_rng(seed).choice(len(X), max_points, replace=False)]
    iu = np.triu_indices(len(X), k=1)
    dist = distances(X, X)[iu]  # (N (N - 1) / 2,)
    sigma = float(np.median(dist))
    if sigma > 0.0:
        return sigma
    nonzero = dist[dist > 0.0]
    return float(nonzero.mean()) if nonzero.size else 1.0




def mmd2(x: Any, y: Any, kernel: str = "rbf", bandwidth: float | None = None) -> float:
    r"""Unbiased squared maximum mean discrepancy (Gretton et al. 2012, Lemma 6).

    .. math::
        \widehat{\mathrm{MMD}}^2_u = \frac{1}{n(n-1)} \sum_{i \neq j} k(x_i, x_j)
        + \frac{1}{m(m-1)} \sum_{i \neq j} k(y_i, y_j)
        - \frac{2}{nm} \sum_{i, j} k(x_i, y_j)

    Kernels:

    * ``"rbf"``: :math:`k(x, y) = \exp(-\|x - y\|^2 / (2\sigma^2))`, with
      ``sigma = bandwidth``, or the median heuristic of :func:`median_bandwidth`
      on the pooled sample when ``bandwidth`` is None. Call
      :func:`median_bandwidth` yourself to know (or reuse) the ``sigma``.
    * ``"polynomial"``: :math:`k(x, y) = (x^\top y / d + 1)^3`, the kernel of
      the kernel inception distance (Binkowski et al. 2018); takes no bandwidth.

    The estimate is unbiased, so it fluctuates around 0 (and can be negative)
    when the two distributions are equal.

    Args:
        x: samples from ``P``, shape ``(n, d)``, ``(n,)`` or ``(n, C, H, W)``; ``n >= 2``.
        y: samples from ``Q``, same number of features; ``m >= 2``.
        kernel: ``"rbf"`` or ``"polynomial"``.
        bandwidth: ``sigma > 0`` of the RBF kernel; None for the median heuristic.

    Returns:
        The unbiased MMD^2 estimate as a Python float.

    References:
        Gretton, A., Borgwardt, K. M., Rasch, M. J., Schoelkopf, B. and Smola, A.
        (2012). A kernel two-sample test. JMLR 13, 723-773.
    """
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; choose from {list(KERNELS)}")
    X, Y = points_pair(x, y, min_points=2)
    if kernel == "polynomial":
        if bandwidth is not None:
            raise ValueError("bandwidth applies only to kernel='rbf'; pass bandwidth=None")
        return mmd2_unbiased(X, Y, cubic_polynomial_kernel)
    if bandwidth is None:
        sigma = median_bandwidth(X, Y)
    else:
        sigma = float(bandwidth)
        if not np.isfinite(sigma) or sigma <= 0.0:
            raise ValueError(f"bandwidth must be a finite number > 0; got {bandwidth!r}")
    return mmd2_unbiased(X, Y, rbf_kernel(sigma))


# ---------------------------------------------------------------------------
# All distances with the real-vs-real baseline
# ---------------------------------------------------------------------------


def _wasserstein(
    u: np.ndarray, v: np.ndarray, p: int, exact: bool, n_projections: int, seed: int
) -> float:
    """Exact W_p between point clouds, or its sliced approximation."""
    if exact:
        return float(wasserstein(u, v, p=p))
    return float(sliced_wasserstein(u, v, p=p, n_projections=n_projections, seed=seed))


def sample_distances(
    real: Any,
    fake: Any,
    *,
    held_out: Any = None,
    metrics: Sequence[str] = SAMPLE_METRICS,
    max_exact: int = 2000,
    n_projections: int = 256,
    seed: int = 0,
) -> dict[str, Any]:
    r"""Distances between generated and real samples, with the real-vs-real baseline.

    For each requested metric the result holds ``value``, the distance between
    ``fake`` and ``real``, and ``baseline``, the same distance between two
    disjoint sets of real samples of the same size ``n``: two random halves of
    ``real``, or ``real`` and ``held_out`` when given. The baseline is what a
    perfect generator would score at this sample size; a value is meaningful
    only relative to it. With :math:`A` the real points (shared by both),
    :math:`F` the generated ones and :math:`B` the second real set,

    .. math::
        \text{value} = D(F, A), \qquad \text{baseline} = D(B, A), \qquad |A| = |B| = |F| = n.

    Metrics:

    * ``"w1"``, ``"w2"``: Wasserstein-1 and -2,
      :math:`W_p = (\inf_\gamma \mathbb{E}_\gamma \|x - y\|^p)^{1/p}`,
      exact optimal transport between the empirical distributions when
      ``d <= 16`` (:func:`gankit.divergences.wasserstein`), otherwise the
      sliced Wasserstein distance with ``n_projections`` random directions
      (:func:`gankit.divergences.sliced_wasserstein`, same projections for the
      value and the baseline). ``method`` says which.
    * ``"energy"``: unbiased squared energy distance, :func:`energy_distance`.
    * ``"mmd"``: unbiased MMD^2 with the Gaussian kernel, :func:`mmd2`; the
      bandwidth (median heuristic on ``real`` pooled with ``fake``) is reported
      and reused for the baseline. Both unbiased estimators fluctuate around 0
      for equal distributions, so a baseline can be slightly negative.

    Every metric uses the same ``n = min(available, max_exact)`` points per set,
    where ``available`` is ``min(len(fake), len(real) // 2)`` (halves) or
    ``min(len(fake), len(real), len(held_out))``. Subsets are drawn at random
    with ``seed`` (the halves are random, never the first and second half of
    ``real``, which may be sorted); ``notes`` records every such choice.
    Images ``(n, C, H, W)`` are flattened.

    Args:
        real: real samples, shape ``(n, d)``, ``(n,)`` or ``(n, C, H, W)``.
        fake: generated samples with the same number of features.
        held_out: optional second set of real samples for the baseline.
        metrics: any of ``("w1", "w2", "energy", "mmd")``, or one of them as a string.
        max_exact: largest number of points per set (exact optimal transport
            costs about ``O(n^3)``, the energy distance and MMD ``O(n^2 d)``).
        n_projections: number of directions of the sliced Wasserstein distance.
        seed: seed of the subsets and of the projections.

    Returns:
        ``{metric: {"value", "baseline", ...}, "n": n, "dim": d, "notes": [str]}``
        with ``"method"`` (``"exact"`` or ``"sliced"``) for ``w1``/``w2`` and
        ``"bandwidth"`` for ``mmd``.
    """
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    if not metrics:
        raise ValueError(f"metrics must name at least one of {list(SAMPLE_METRICS)}")
    unknown = [name for name in metrics if name not in SAMPLE_METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {list(SAMPLE_METRICS)}")
    max_exact = positive_int(max_exact, "max_exact", minimum=2)
    n_projections = positive_int(n_projections, "n_projections")

    R = points(real, "real")
    F = points(fake, "fake", min_points=2)
    same_dim(R, F, "real", "fake")
    d = R.shape[1]
    rng = np.random.default_rng(seed)
    notes: list[str] = []

    real_perm = rng.permutation(len(R))
    if held_out is None:
        if len(R) < 4:
            raise ValueError(
                f"real must contain at least 4 points to form two halves of >= 2 points "
                f"(got {len(R)}); pass held_out to compare with other real samples"
            )
        available = min(len(F), len(R) // 2)
        n = min(available, max_exact)
        A, B = R[real_perm[:n]], R[real_perm[n : 2 * n]]
        notes.append(f"baseline: two disjoint random subsets of real, {n} points each")
    else:
        H = points(held_out, "held_out", min_points=2)
        same_dim(R, H, "real", "held_out")
        if len(R) < 2:
            raise ValueError(f"real must contain at least 2 points; got {len(R)}")
        available = min(len(F), len(R), len(H))
        n = min(available, max_exact)
        A, B = R[real_perm[:n]], H[rng.permutation(len(H))[:n]]
        notes.append(f"baseline: real vs held_out, {n} points each")
    F = F[rng.permutation(len(F))[:n]]
    if n < available:
        notes.append(f"random subsets of {n} points per set (max_exact={max_exact})")

    result: dict[str, Any] = {}
    exact = d <= _EXACT_OT_MAX_DIM
    if any(name in ("w1", "w2") for name in metrics):
        if exact:
            notes.append(f"w1/w2: exact optimal transport (d={d} <= {_EXACT_OT_MAX_DIM})")
        else:
            notes.append(
                f"w1/w2: sliced Wasserstein with {n_projections} projections "
                f"(d={d} > {_EXACT_OT_MAX_DIM})"
            )
    for name in metrics:
        if name in ("w1", "w2"):
            p = 1 if name == "w1" else 2
            result[name] = {
                "value": _wasserstein(F, A, p, exact, n_projections, seed),
                "baseline": _wasserstein(B, A, p, exact, n_projections, seed),
                "method": "exact" if exact else "sliced",
            }
        elif name == "energy":
            result[name] = {"value": energy_distance(F, A), "baseline": energy_distance(B, A)}
        else:  # "mmd"
            sigma = median_bandwidth(A, F, seed=seed)
            result[name] = {
                "value": mmd2(F, A, bandwidth=sigma),
                "baseline": mmd2(B, A, bandwidth=sigma),
                "bandwidth": sigma,
            }
    result["n"] = n
    result["dim"] = d
    result["notes"] = notes
    return result
