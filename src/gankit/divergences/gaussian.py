"""Closed forms between Gaussians: KL and the Bures W2."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..checks import check_finite, to_float64


def _gaussian(m: Any, S: Any, m_name: str, S_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate a mean ``(d,)`` and covariance ``(d, d)``; scalars mean d = 1 (a variance)."""
    mean = to_float64(m, m_name)
    if mean.ndim == 0:
        mean = mean[None]  # scalar -> (1,)
    if mean.ndim != 1:
        raise ValueError(f"{m_name} must be a vector of shape (d,); got shape {mean.shape}")
    check_finite(mean, m_name)
    d = mean.shape[0]
    cov = to_float64(S, S_name)
    if cov.ndim == 0:
        if d != 1:
            raise ValueError(f"{S_name} may be a scalar variance only for d = 1; got d = {d}")
        cov = cov.reshape(1, 1)  # variance -> (1, 1)
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError(f"{S_name} must be a square matrix; got shape {cov.shape}")
    if cov.shape != (d, d):
        raise ValueError(f"{S_name} must have shape ({d}, {d}) to match {m_name}; "
                         f"got {cov.shape}")
    check_finite(cov, S_name)
    scale = max(float(np.abs(cov).max()), np.finfo(np.float64).tiny)
    asym = float(np.abs(cov - cov.T).max())
    if asym > 1e-10 * scale:
        raise ValueError(f"{S_name} must be symmetric; got max |S - S^T| = {asym:g}")
    cov = 0.5 * (cov + cov.T)
    min_eig = float(np.linalg.eigvalsh(cov)[0])
    if min_eig < -1e-10 * scale:
        raise ValueError(f"{S_name} must be positive semi-definite; got min eigenvalue "
                         f"{min_eig:g}")
    return mean, cov


def _sqrtm_psd(S: np.ndarray) -> np.ndarray:
    """Symmetric square root of a PSD matrix; tiny negative eigenvalues are clipped to 0."""
    w, V = np.linalg.eigh(S)
    return (V * np.sqrt(np.clip(w, 0.0, None))) @ V.T


def _cholesky(S: np.ndarray, name: str) -> np.ndarray:
    try:
        return np.linalg.cholesky(S)
    except np.linalg.LinAlgError as err:
        raise ValueError(f"{name} must be positive definite for the KL divergence") from err


def kl_gaussian(m1: Any, S1: Any, m2: Any, S2: Any) -> float:
    r"""Closed-form KL divergence between two multivariate Gaussians.

    .. math::
        \mathrm{KL}\bigl(\mathcal N(m_1, \Sigma_1) \,\|\, \mathcal N(m_2, \Sigma_2)\bigr)
        = \tfrac12 \Bigl[\mathrm{Tr}(\Sigma_2^{-1} \Sigma_1)
          + (m_2 - m_1)^\top \Sigma_2^{-1} (m_2 - m_1) - d
          + \log \frac{\det \Sigma_2}{\det \Sigma_1}\Bigr].

    In 1-D this is
    :math:`\log(\sigma_2/\sigma_1) + (\sigma_1^2 + (m_1-m_2)^2)/(2\sigma_2^2) - 1/2`.

    Args:
        m1: mean of the first Gaussian, shape ``(d,)`` or a scalar when d = 1.
        S1: covariance matrix ``(d, d)``; for d = 1 a scalar *variance* is accepted.
        m2: mean of the second Gaussian.
        S2: covariance of the second Gaussian.

    Returns:
        The divergence in nats.

    Raises:
        ValueError: if a covariance is not square, not symmetric, not positive definite,
            not finite, or shapes disagree; the message names the argument.
    """
    mu1, cov1 = _gaussian(m1, S1, "m1", "S1")
    mu2, cov2 = _gaussian(m2, S2, "m2", "S2")
    if mu1.shape != mu2.shape:
        raise ValueError(f"m1 and m2 must have the same dimension; got {mu1.shape[0]} and "
                         f"{mu2.shape[0]}")
    d = mu1.shape[0]
    L1 = _cholesky(cov1, "S1")
    L2 = _cholesky(cov2, "S2")
    A = np.linalg.solve(L2, L1)  # L2^{-1} L1: Tr(S2^{-1} S1) = ||A||_F^2
    delta = np.linalg.solve(L2, mu2 - mu1)  # Mahalanobis term = ||L2^{-1}(m2 - m1)||^2
    logdet = 2.0 * (np.sum(np.log(np.diag(L2))) - np.sum(np.log(np.diag(L1))))
    value = 0.5 * (float(np.sum(A * A)) + float(delta @ delta) - d + float(logdet))
    return max(value, 0.0)


def w2_gaussian(m1: Any, S1: Any, m2: Any, S2: Any) -> float:
    r"""2-Wasserstein distance between two Gaussians (Bures-Wasserstein formula).

    .. math::
        W_2^2 = \|m_1 - m_2\|^2
        + \mathrm{Tr}\Bigl(\Sigma_1 + \Sigma_2
          - 2 \bigl(\Sigma_1^{1/2} \Sigma_2 \Sigma_1^{1/2}\bigr)^{1/2}\Bigr)

    (Dowson & Landau 1982; Givens & Shortt 1984). In 1-D,
    :math:`W_2 = \sqrt{(m_1 - m_2)^2 + (\sigma_1 - \sigma_2)^2}`. Matrix square roots
    are taken by a symmetric eigendecomposition with tiny negative eigenvalues clipped
    to zero, so singular (PSD) covariances are allowed.

    Args:
        m1: mean of the first Gaussian, shape ``(d,)`` or a scalar when d = 1.
        S1: covariance matrix ``(d, d)``; for d = 1 a scalar *variance* is accepted.
        m2: mean of the second Gaussian.
        S2: covariance of the second Gaussian.

    Returns:
        :math:`W_2` (not squared).

    Raises:
        ValueError: if a covariance is not square, symmetric, positive semi-definite and
            finite, or shapes disagree; the message names the argument.
    """
    mu1, cov1 = _gaussian(m1, S1, "m1", "S1")
    mu2, cov2 = _gaussian(m2, S2, "m2", "S2")
    if mu1.shape != mu2.shape:
        raise ValueError(f"m1 and m2 must have the same dimension; got {mu1.shape[0]} and "
                         f"{mu2.shape[0]}")
    root1 = _sqrtm_psd(cov1)
    cross = root1 @ cov2 @ root1
    cross = 0.5 * (cross + cross.T)
    trace_root = float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(cross), 0.0, None))))
    diff = mu1 - mu2
    w2_sq = float(diff @ diff) + float(np.trace(cov1) + np.trace(cov2)) - 2.0 * trace_root
    return math.sqrt(max(w2_sq, 0.0))
