r"""Divergences that a discriminator's outputs imply, and KL / JS between densities on a grid.

* :func:`discriminator_probability`: the seed's :math:`D = \sigma(l)` from a logit,
  which for the optimal logit :math:`\log p_r - \log p_g` is :math:`p_r / (p_r + p_g)`;
* :func:`js_from_discriminator_loss`: the JS estimate a cross-entropy
  discriminator's loss gives (Goodfellow et al. 2014, Thm. 1);
* :func:`kl_on_grid`, :func:`js_on_grid`: KL and JS between two densities known
  through their logs on a uniform grid, by Riemann sums in log space.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit

from ..checks import positive, to_float64
from .discrete import LOG2


def discriminator_probability(logit: Any) -> np.ndarray:
    r"""The seed's :math:`D(x)`, the probability of "real", from the discriminator's logit.

    .. math::
        D = \sigma(l) = \frac{1}{1 + e^{-l}}, \qquad
        \sigma(\log p_r - \log p_g) = \frac{p_r}{p_r + p_g} = D^*

    (Goodfellow et al. 2014, Prop. 1). In float64, without overflow: exactly 0
    or 1 only in the far tails (:math:`|l| > 745` or :math:`37`).

    Args:
        logit: raw discriminator outputs, any shape (array, sequence or tensor).
    Returns:
        float64 array of the same shape, in [0, 1].

    Example:
        >>> discriminator_probability([0.0, np.log(3.0)]).tolist()
        [0.5, 0.75]
    """
    return expit(to_float64(logit, "logit"))


def js_from_discriminator_loss(d_loss: float) -> float:
    r"""The JS estimate given by a cross-entropy discriminator's loss (Goodfellow et al. 2014, Thm. 1).

    .. math::
        \widehat{\mathrm{JS}} = \log 2 - \frac{L_D}{2}, \qquad
        L_D = -\mathbb{E}_{p_r}\log D - \mathbb{E}_{p_g}\log(1 - D) \ \ge\ 2\log 2 - 2\,\mathrm{JS}(p_r, p_g)

    Equal to JS at the optimal discriminator, a lower bound of it for any other
    (:func:`gankit.objectives.bce_discriminator_loss` computes :math:`L_D`).

    Args:
        d_loss: the discriminator's cross-entropy :math:`L_D`, in nats.
    Returns:
        The estimate in nats (at most :math:`\log 2`; negative for a discriminator worse than chance).

    Example:
        >>> js_from_discriminator_loss(2 * np.log(2.0))  # D = 1/2 everywhere: no evidence of a difference
        0.0
    """
    return LOG2 - float(d_loss) / 2.0


def _log_density(value: Any, name: str) -> np.ndarray:
    arr = to_float64(value, name)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of log densities on the grid; got shape {arr.shape}")
    if np.isnan(arr).any() or (arr == np.inf).any():
        raise ValueError(f"{name} must be log densities: no NaN or +inf; got {int((~(arr < np.inf)).sum())}")
    return arr


def kl_on_grid(log_p: Any, log_q: Any, dx: float) -> float:
    r"""KL between two densities given by their logs on a uniform grid of step :math:`\Delta x`.

    .. math::
        \mathrm{KL}(p \,\|\, q) = \int p \log \frac{p}{q}\, \mathrm dx
        \approx \sum_i p(x_i)\, \bigl(\log p(x_i) - \log q(x_i)\bigr)\, \Delta x

    A Riemann sum in log space: no ratio of two underflowing densities is
    formed; a point with :math:`p(x_i) = 0` adds 0, one with :math:`q(x_i) = 0 < p(x_i)` makes it +inf.

    Args:
        log_p, log_q: log densities at the same grid points, shape ``(G,)`` (``-inf`` for 0).
        dx: the grid step.
    Returns:
        The divergence in nats.

    Example:
        >>> x = np.linspace(-12, 12, 4801)
        >>> round(kl_on_grid(-x**2 / 2 - 0.5 * np.log(2 * np.pi), -(x - 1)**2 / 2 - 0.5 * np.log(2 * np.pi),
        ...                  x[1] - x[0]), 9)  # KL(N(0, 1) || N(1, 1)) = 1/2
        0.5
    """
    lp, lq = _log_density(log_p, "log_p"), _log_density(log_q, "log_q")
    if lp.shape != lq.shape:
        raise ValueError(f"log_p and log_q must have the same shape; got {lp.shape} and {lq.shape}")
    dx = positive(dx, "dx")
    p = np.exp(lp)
    inside = p > 0
    with np.errstate(invalid="ignore"):
        terms = np.where(inside, p * (lp - lq), 0.0)  # 0 log(0 / q) = 0
    return float(np.sum(terms) * dx)


def js_on_grid(log_p: Any, log_q: Any, dx: float) -> float:
    r"""JS between two densities given by their logs on a uniform grid, by :func:`kl_on_grid`.

    .. math::
        \mathrm{JS}(p, q) = \tfrac12 \mathrm{KL}(p \,\|\, m) + \tfrac12 \mathrm{KL}(q \,\|\, m), \qquad
        \log m = \log\bigl(e^{\log p} + e^{\log q}\bigr) - \log 2

    Args:
        log_p, log_q: log densities at the same grid points, shape ``(G,)``.
        dx: the grid step.
    Returns:
        The divergence in nats, clipped into :math:`[0, \log 2]` to remove rounding.
    """
    lp, lq = _log_density(log_p, "log_p"), _log_density(log_q, "log_q")
    log_m = np.logaddexp(lp, lq) - LOG2  # (G,)
    value = 0.5 * kl_on_grid(lp, log_m, dx) + 0.5 * kl_on_grid(lq, log_m, dx)
    return min(max(value, 0.0), LOG2)
