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

from gankit.checks import points, to_float64
from gankit.data.toy import Mixture, grid_means, ring_means
from gankit.divergences import kl
from gankit.metrics.pairwise import row_chunk

__all__ = ["grid_means", "mixture_coverage", "mode_coverage", "ring_means"]


def mode_coverage(
    samples: Any, means: Any, std: Any, threshold: float = 3.0, weights: Any = None
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
    mixture's weights :math:`w` (PacGAN's definition, where :math:`w` is uniform) is

    .. math::
        \mathrm{KL}(\hat p \,\|\, w) = \sum_{k:\,\hat p_k > 0} \hat p_k \log(\hat p_k / w_k),

    in nats with ``0 log 0 = 0``: for equal weights 0 when all modes are equally
    filled, ``log(K / k)`` when ``k`` modes are equally filled and the rest
    empty. When no sample is high quality :math:`\hat p` is undefined and
    ``reverse_kl`` is ``float("inf")``.

    Args:
        samples: generated samples, shape ``(n, d)``, numpy array or torch tensor.
        means: mode means, shape ``(K, d)``.
        std: common standard deviation (a number) or one per mode, shape ``(K,)``; all > 0.
        threshold: high-quality radius in standard deviations, ``> 0``.
        weights: the mixture's weights, shape ``(K,)`` (normalised here); None: equal.

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
    X = points(samples, "samples", flatten=False)
    M = points(means, "means", flatten=False)
    if X.shape[1] != M.shape[1]:
        raise ValueError(
            f"samples and means must have the same dimension; got samples of shape {X.shape} "
            f"and means of shape {M.shape}"
        )
    K = len(M)
    sigma = to_float64(std, "std")
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

    if weights is None:
        w = np.full(K, 1.0 / K)
    else:
        w = to_float64(weights, "weights").reshape(-1)
        if w.shape != (K,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(f"weights must be {K} non-negative numbers, not all zero; got shape {w.shape}")
        w = w / w.sum()

    n = len(X)
    nearest = np.empty(n, dtype=np.int64)
    nearest_r = np.empty(n, dtype=np.float64)
    chunk = row_chunk(K * X.shape[1])
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
        reverse_kl = kl(counts / n_hq, w)
    return {
        "modes": int(np.count_nonzero(counts)),
        "n_modes": K,
        "high_quality": n_hq / n,
        "reverse_kl": reverse_kl,
        "counts": [int(c) for c in counts],
    }


def mixture_coverage(samples: Any, mixture: Mixture, threshold: float = 3.0) -> dict[str, Any]:
    r""":func:`mode_coverage` against a :class:`~gankit.data.Mixture`: its means, standard deviations and weights.

    .. math::
        \mathrm{KL}(\hat p \,\|\, w) = \sum_{k:\,\hat p_k > 0} \hat p_k \log(\hat p_k / w_k)

    with :math:`\hat p` the high-quality samples' histogram over the modes and
    :math:`w` the mixture's weights. ``samples`` are in the mixture's (data) units.
    """
    return mode_coverage(samples, mixture.means, mixture.stds, threshold, mixture.weights)
