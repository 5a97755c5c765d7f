r"""Pairwise distances, kernels and chunked pair sums shared by the metric modules.

Every function takes validated float64 point clouds ``(n, d)`` and ``(m, d)``
(:func:`gankit.checks.points`) and works on row blocks of at most
:data:`CHUNK_ENTRIES` matrix entries, so memory stays bounded for large sets.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.spatial.distance import cdist

__all__ = [
    "CHUNK_ENTRIES",
    "DIRECT_DISTANCE_MAX_DIM",
    "cubic_polynomial_kernel",
    "distances",
    "mmd2_unbiased",
    "pair_sum",
    "rbf_kernel",
    "row_chunk",
    "sq_distances",
]

# Up to this dimension pairwise distances are computed from coordinate
# differences (exact); above it from the Gram expansion with float64 BLAS.
DIRECT_DISTANCE_MAX_DIM = 32
# Largest number of matrix entries materialised at once by the chunked loops.
CHUNK_ENTRIES = 1 << 22

Kernel = Callable[[np.ndarray, np.ndarray], np.ndarray]


def sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    r"""Squared Euclidean distances between rows, shape ``(len(a), len(b))``.

    .. math::
        D_{ij} = \|a_i - b_j\|^2 = \|a_i\|^2 + \|b_j\|^2 - 2\, a_i \cdot b_j

    Low dimensions use coordinate differences (exact up to rounding); high
    dimensions use the expansion with float64 BLAS, clipped at 0, whose absolute
    error is about ``1e-16 * |a| |b|``.
    """
    if a.shape[1] <= DIRECT_DISTANCE_MAX_DIM:
        return cdist(a, b, "sqeuclidean")
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)  # (n, m)
    return np.maximum(sq, 0.0)


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    r"""Euclidean distances between rows, shape ``(len(a), len(b))``.

    .. math::
        D_{ij} = \|a_i - b_j\|_2
    """
    if a.shape[1] <= DIRECT_DISTANCE_MAX_DIM:
        return cdist(a, b, "euclidean")
    return np.sqrt(sq_distances(a, b))


def row_chunk(n_cols: int) -> int:
    """Rows per block so that a block of ``n_cols`` columns holds at most :data:`CHUNK_ENTRIES` entries."""
    return max(1, CHUNK_ENTRIES // max(n_cols, 1))


def pair_sum(x: np.ndarray, y: np.ndarray, pair_fn: Kernel, *, same: bool) -> float:
    r"""Sum of ``pair_fn`` over all pairs of rows, or over the pairs off the diagonal when ``same``.

    .. math::
        \sum_{i, j} k(x_i, y_j) \quad \text{or} \quad \sum_{i \ne j} k(x_i, x_j)

    Rows are processed in chunks so that memory stays ``O(chunk * len(y))``.
    """
    chunk = row_chunk(len(y))
    total = 0.0
    for start in range(0, len(x), chunk):
        block = pair_fn(x[start : start + chunk], y)  # (c, m)
        if same:
            rows = np.arange(block.shape[0])
            block[rows, start + rows] = 0.0
        total += float(block.sum())
    return total


def rbf_kernel(sigma: float) -> Kernel:
    r"""The Gaussian kernel of bandwidth :math:`\sigma`.

    .. math::
        k(x, y) = \exp\left(-\frac{\|x - y\|^2}{2 \sigma^2}\right)
    """

    def kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.exp(-sq_distances(a, b) / (2.0 * sigma**2))

    return kernel


def cubic_polynomial_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    r"""The cubic polynomial kernel of KID (Binkowski et al. 2018), between rows of dimension d.

    .. math::
        k(x, y) = \left(\frac{x \cdot y}{d} + 1\right)^3
    """
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def mmd2_unbiased(X: np.ndarray, Y: np.ndarray, kernel: Kernel) -> float:
    r"""Unbiased MMD^2 of two point clouds (each with at least 2 points; Gretton et al. 2012, Lemma 6).

    .. math::
        \widehat{\mathrm{MMD}}^2_u = \frac{1}{n(n-1)} \sum_{i \ne j} k(x_i, x_j)
            + \frac{1}{m(m-1)} \sum_{i \ne j} k(y_i, y_j) - \frac{2}{nm} \sum_{i, j} k(x_i, y_j)
    """
    n, m = len(X), len(Y)
    k_xx = pair_sum(X, X, kernel, same=True) / (n * (n - 1))
    k_yy = pair_sum(Y, Y, kernel, same=True) / (m * (m - 1))
    k_xy = pair_sum(X, Y, kernel, same=False) / (n * m)
    return float(k_xx + k_yy - 2.0 * k_xy)
