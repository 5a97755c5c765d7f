r"""Mode collapse on Gaussian mixtures with known means (VEEGAN / PacGAN protocol).

The 2-D benchmarks of Srivastava et al. (2017, VEEGAN) and Lin et al. (2018,
PacGAN) draw real data from a mixture of isotropic Gaussians with known means
and score a generator by three numbers: how many modes it captures, which
fraction of its samples are of high quality (within three standard deviations
of a mode), and the reverse KL divergence between the histogram of its
high-quality samples over the modes and the uniform distribution.

PacGAN's settings are the 2D-ring, ``ring_means()`` with ``std = 0.01``, and
the 2D-grid, ``grid_means()`` with ``std = 0.05``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gankit.divergences import kl
from gankit.metrics.distances import _as_points, _check_positive_int, _row_chunk, _to_numpy

__all__ = ["grid_means", "mode_coverage", "ring_means"]


def ring_means(n_modes: int = 8, radius: float = 1.0) -> np.ndarray:
    r"""Means of the 2D-ring mixture: ``n_modes`` points evenly spaced on a circle.

    .. math::
        \mu_k = r\,(\cos(2\pi k / K),\ \sin(2\pi k / K)), \qquad k = 0, \dots, K - 1

    With the defaults these are PacGAN's eight 2D-ring means (Lin et al. 2018),
    used with standard deviation 0.01.

    Args:
        n_modes: number of modes ``K >= 1``.
        radius: radius ``r > 0`` of the circle.

    Returns:
        float64 array of shape ``(n_modes, 2)``.

    Examples:
        >>> ring_means(4).round(6).tolist()
        [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [-0.0, -1.0]]
    """
    K = _check_positive_int(n_modes, "n_modes")
    radius = float(radius)
    if not np.isfinite(radius) or radius <= 0.0:
        raise ValueError(f"radius must be a finite number > 0; got {radius!r}")
    angles = 2.0 * np.pi * np.arange(K) / K  # (K,)
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)  # (K, 2)


def grid_means(n_per_side: int = 5, spacing: float = 2.0) -> np.ndarray:
    r"""Means of the 2D-grid mixture: a square grid centred at the origin.

    .. math::
        \mu_{ij} = s\,\big(i - \tfrac{n-1}{2},\ j - \tfrac{n-1}{2}\big),
        \qquad i, j = 0, \dots, n - 1

    With the defaults these are PacGAN's 25 2D-grid means
    :math:`\{-4, -2, 0, 2, 4\}^2` (Lin et al. 2018), used with standard
    deviation 0.05. Row ``i * n + j`` holds :math:`\mu_{ij}`.

    Args:
        n_per_side: number of modes ``n >= 1`` along each axis.
        spacing: distance ``s > 0`` between neighbouring modes.

    Returns:
        float64 array of shape ``(n_per_side ** 2, 2)``.

    Examples:
        >>> grid_means(2, 1.0).tolist()
        [[-0.5, -0.5], [-0.5, 0.5], [0.5, -0.5], [0.5, 0.5]]
    """
    n = _check_positive_int(n_per_side, "n_per_side")
    spacing = float(spacing)
    if not np.isfinite(spacing) or spacing <= 0.0:
        raise ValueError(f"spacing must be a finite number > 0; got {spacing!r}")
    axis = spacing * (np.arange(n) - (n - 1) / 2.0)  # (n,)
    ii, jj = np.meshgrid(axis, axis, indexing="ij")  # (n, n) each
    return np.stack([ii.ravel(), jj.ravel()], axis=1)  # (n * n, 2)


def mode_coverage(
    samples: Any, means: Any, std: Any, threshold: float = 3.0
) -> dict[str, Any]:
    r"""Modes captured, high-quality fraction and reverse KL of samples of a mixture.

    Mode ``k`` has mean :math:`\mu_k` and isotropic standard deviation
    :math:`\sigma_k`. For a sample ``x`` the Mahalanobis distance to mode ``k``
    and its nearest mode are

    .. math::
        r_k(x) = \|x - \mu_k\|_2 / \sigma_k, \qquad k^*(x) = \arg\min_k r_k(x).

    A sample is *high quality* when :math:`r_{k^*}(x) < \tau` (``threshold``,
    three standard deviations by default). Mode ``k`` is *captured* when at
    least one high-quality sample has it as nearest mode. With :math:`c_k` the
    number of high-quality samples whose nearest mode is ``k`` and
    :math:`\hat p_k = c_k / \sum_j c_j`, the reverse KL divergence to the
    uniform distribution over the ``K`` modes is (PacGAN's definition)

    .. math::
        \mathrm{KL}(\hat p \,\|\, U_K) = \sum_{k:\,\hat p_k > 0} \hat p_k \log(K \hat p_k),

    in nats with ``0 log 0 = 0``: 0 when all modes are equally filled,
    ``log(K / k)`` when ``k`` modes are equally filled and the rest empty. When
    no sample is high quality :math:`\hat p` is undefined and ``reverse_kl`` is
    ``float("inf")``.

    Args:
        samples: generated samples, shape ``(n, d)``, numpy array or torch tensor.
        means: mode means, shape ``(K, d)``.
        std: common standard deviation (a number) or one per mode, shape ``(K,)``; all > 0.
        threshold: high-quality radius in standard deviations, ``> 0``.

    Returns:
        dict with ``"modes"`` (int, modes captured), ``"n_modes"`` (``K``),
        ``"high_quality"`` (fraction of samples, in [0, 1]), ``"reverse_kl"``
        (float, nats) and ``"counts"`` (list of ``K`` ints, the :math:`c_k`).

    References:
        Srivastava, A. et al. (2017). VEEGAN: Reducing mode collapse in GANs
        using implicit variational learning. NeurIPS.
        Lin, Z., Khetan, A., Fanti, G. and Oh, S. (2018). PacGAN: The power of
        two samples in generative adversarial networks. NeurIPS.
    """
    X = _as_points(samples, "samples", flatten=False)
    M = _as_points(means, "means", flatten=False)
    if X.shape[1] != M.shape[1]:
        raise ValueError(
            f"samples and means must have the same dimension; got samples of shape {X.shape} "
            f"and means of shape {M.shape}"
        )
    K = len(M)
    sigma = _to_numpy(std, "std")
    if sigma.ndim == 0:
        sigma = np.full(K, float(sigma))
    elif sigma.shape != (K,):
        raise ValueError(
            f"std must be a number or have shape (K,) = ({K},); got shape {sigma.shape}"
        )
    if not np.all(np.isfinite(sigma)) or np.any(sigma <= 0.0):
        raise ValueError("std must be finite and > 0")
    tau = float(threshold)
    if not np.isfinite(tau) or tau <= 0.0:
        raise ValueError(f"threshold must be a finite number > 0; got {threshold!r}")

    n = len(X)
    nearest = np.empty(n, dtype=np.int64)
    nearest_r = np.empty(n, dtype=np.float64)
    chunk = _row_chunk(K * X.shape[1])
    for start in range(0, n, chunk):
        diff = X[start : start + chunk, None, :] - M[None, :, :]  # (c, K, d)
        r = np.sqrt(np.einsum("ckd,ckd->ck", diff, diff)) / sigma  # (c, K)
        k_star = r.argmin(axis=1)  # (c,)
        nearest[start : start + chunk] = k_star
        nearest_r[start : start + chunk] = r[np.arange(len(k_star)), k_star]

    high_quality = nearest_r < tau  # (n,)
    counts = np.bincount(nearest[high_quality], minlength=K)  # (K,)
    n_hq = int(counts.sum())
    if n_hq == 0:
        reverse_kl = float("inf")
    else:
        reverse_kl = kl(counts / n_hq, np.full(K, 1.0 / K))
    return {
        "modes": int(np.count_nonzero(counts)),
        "n_modes": K,
        "high_quality": n_hq / n,
        "reverse_kl": reverse_kl,
        "counts": [int(c) for c in counts],
    }
