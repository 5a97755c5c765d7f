"""Sample-based estimators of KL and JS for continuous data."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from ..checks import points_pair, positive_int
from .discrete import LOG2


def _kth_distance(tree: cKDTree, points: np.ndarray, k: int) -> np.ndarray:
    """Distance from each point to its k-th nearest neighbour in ``tree``, shape ``(n,)``."""
    dist, _ = tree.query(points, k=[k])
    return dist[:, 0]


def kl_knn(x: Any, y: Any, k: int = 1) -> float:
    r"""k-nearest-neighbour estimate of KL(P || Q) from samples x ~ P and y ~ Q.

    .. math::
        \widehat{\mathrm{KL}}(P \,\|\, Q) = \frac{d}{n} \sum_{i=1}^{n}
        \log \frac{\nu_k(i)}{\rho_k(i)} + \log \frac{m}{n - 1},

    where :math:`\rho_k(i)` is the distance from :math:`x_i` to its k-th nearest
    neighbour among the other points of ``x`` and :math:`\nu_k(i)` the distance to its
    k-th nearest neighbour in ``y`` (Wang, Kulkarni & Verdu 2009, eq. 5; Perez-Cruz
    2008). The estimator is consistent (asymptotically unbiased and mean-square
    consistent as n, m grow, for fixed k) but biased at finite n, increasingly so in high
    dimension, and it can be slightly negative when P = Q. The bias is mostly downwards
    and largest where P puts mass in regions where Q is sparse: for two 2-D Gaussians at
    n = m = 5000 and k = 1 it is a few percent (with a spread of about 4%) when Q is wider
    than P, and around -10% when Q is narrower. Larger k lowers the variance and raises
    the bias. Duplicate points make a distance zero and the logarithm undefined: they
    raise ``ValueError`` (add a small jitter to discrete data).

    Args:
        x: sample of P, shape ``(n, d)`` or ``(n,)``, with ``n >= k + 1``.
        y: sample of Q, shape ``(m, d)``, with ``m >= k``.
        k: neighbour rank.

    Returns:
        The estimate, in nats.

    Raises:
        ValueError: if samples are empty, not finite, of different dimension, too small
            for ``k``, or contain duplicate points.
    """
    k = positive_int(k, "k")
    x_arr, y_arr = points_pair(x, y)
    n, d = x_arr.shape
    m = y_arr.shape[0]
    if n < k + 1:
        raise ValueError(f"x must have at least k + 1 = {k + 1} points; got {n}")
    if m < k:
        raise ValueError(f"y must have at least k = {k} points; got {m}")
    rho = _kth_distance(cKDTree(x_arr), x_arr, k + 1)  # +1 skips x_i itself
    nu = _kth_distance(cKDTree(y_arr), x_arr, k)
    if np.any(rho == 0):
        raise ValueError(f"x contains duplicate points ({int(np.sum(rho == 0))} with a zero "
                         f"{k}-th neighbour distance); add jitter or raise k")
    if np.any(nu == 0):
        raise ValueError(f"y contains points equal to points of x ({int(np.sum(nu == 0))} "
                         f"zero distances); add jitter or raise k")
    return float(d * np.mean(np.log(nu / rho)) + math.log(m / (n - 1)))


def _kl_to_mixture(
    u: np.ndarray, z_tree: cKDTree, in_z: np.ndarray, s: int, k: int, name: str
) -> float:
    """kNN estimate of KL(U || M) where ``z`` is a balanced sample of M of size 2s.

    ``in_z[i]`` says whether ``u[i]`` is itself one of the points of ``z``; it is then
    excluded from its own neighbour search.
    """
    n, d = u.shape
    rho = _kth_distance(cKDTree(u), u, k + 1)  # +1 skips u_i itself
    dist, _ = z_tree.query(u, k=[k, k + 1])
    nu = np.where(in_z, dist[:, 1], dist[:, 0])
    if np.any(rho == 0) or np.any(nu == 0):
        raise ValueError(f"{name} contains duplicate points (zero nearest-neighbour distance);"
                         f" add jitter or raise k")
    size = 2 * s - in_z.astype(np.float64)  # points of z other than u_i
    return float(d * np.mean(np.log(nu / rho)) + np.mean(np.log(size)) - math.log(n - 1))


def js_samples(x: Any, y: Any, k: int = 5, seed: int = 0) -> float:
    r"""k-nearest-neighbour estimate of JS(P, Q) from samples x ~ P and y ~ Q.

    .. math::
        \mathrm{JS}(P, Q) = \tfrac12 \mathrm{KL}(P \,\|\, M) + \tfrac12 \mathrm{KL}(Q \,\|\, M),
        \qquad M = \tfrac12 (P + Q),

    each term estimated as in :func:`kl_knn` (Wang, Kulkarni & Verdu 2009) with the
    pooled sample as the sample of M:

    .. math::
        \widehat{\mathrm{KL}}(P \,\|\, M) = \frac{d}{n} \sum_{i=1}^{n}
        \log \frac{\nu_k(i)}{\rho_k(i)} + \log \frac{2s - 1}{n - 1},

    with :math:`\nu_k(i)` the k-th neighbour distance of :math:`x_i` in the pooled sample
    without :math:`x_i`. So that the pool is a sample of the *balanced* mixture M, it
    holds ``s = min(n, m)`` points of each sample (a seeded random subset of the larger
    one); every point of ``x`` and ``y`` still enters the outer averages.

    The estimator is consistent but biased at finite sizes: for two 1-D Gaussians at
    n = m = 2000 and k = 5 its bias is below 0.01 nats with a spread of about 0.01; with
    identical distributions it returns a few thousandths of a nat; with disjoint supports
    each term is :math:`\log((2s-1)/(n-1)) \approx \log 2`. The result is clipped into
    :math:`[0, \log 2]`.

    Args:
        x: sample of P, shape ``(n, d)`` or ``(n,)``, ``n > k``.
        y: sample of Q, shape ``(m, d)``, ``m > k``.
        k: neighbour rank; larger k lowers the variance and raises the bias.
        seed: seed of the subset drawn from the larger sample when ``n != m``.

    Returns:
        The estimate, in nats, in ``[0, log 2]``.

    Raises:
        ValueError: if samples are empty, not finite, of different dimension, too small
            for ``k``, or contain duplicate points.
    """
    k = positive_int(k, "k")
    x_arr, y_arr = points_pair(x, y)
    n, m = x_arr.shape[0], y_arr.shape[0]
    if n < k + 1:
        raise ValueError(f"x must have at least k + 1 = {k + 1} points; got {n}")
    if m < k + 1:
        raise ValueError(f"y must have at least k + 1 = {k + 1} points; got {m}")
    s = min(n, m)
    rng = np.random.default_rng(seed)
    ix = np.arange(n) if n == s else rng.choice(n, size=s, replace=False)
    iy = np.arange(m) if m == s else rng.choice(m, size=s, replace=False)
    z_tree = cKDTree(np.concatenate([x_arr[ix], y_arr[iy]]))  # (2s, d) balanced pool
    in_x, in_y = np.zeros(n, dtype=bool), np.zeros(m, dtype=bool)
    in_x[ix], in_y[iy] = True, True
    kl_p = _kl_to_mixture(x_arr, z_tree, in_x, s, k, "x")
    kl_q = _kl_to_mixture(y_arr, z_tree, in_y, s, k, "y")
    return min(max(0.5 * (kl_p + kl_q), 0.0), LOG2)
