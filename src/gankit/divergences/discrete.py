"""KL and JS divergences between discrete distributions."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..checks import histogram_pair

LOG2 = math.log(2.0)


def _log_base(base: float | None) -> float:
    """The natural log of a logarithm base (1 for None: nats), refusing bases that are not > 0 and != 1."""
    if base is None:
        return 1.0
    if not (math.isfinite(base) and base > 0 and base != 1):
        raise ValueError(f"base must be a positive finite number other than 1; got {base!r}")
    return math.log(base)


def kl(p: Any, q: Any, base: float | None = None) -> float:
    r"""Kullback-Leibler divergence between two discrete distributions.

    .. math::
        \mathrm{KL}(p \,\|\, q) = \sum_i p_i \log \frac{p_i}{q_i},

    with :math:`0 \log(0 / q) = 0` and :math:`\mathrm{KL} = +\infty` as soon as
    :math:`q_i = 0 < p_i` for some :math:`i`. Both vectors are first divided by their sums.

    Args:
        p: non-negative weights, shape ``(k,)``.
        q: non-negative weights, shape ``(k,)``.
        base: logarithm base; ``None`` for nats, ``2`` for bits.

    Returns:
        The divergence, in ``[0, +inf]``.

    Raises:
        ValueError: if ``p`` or ``q`` is empty, not 1-D, has negative, NaN or infinite
            entries, sums to zero, or the shapes differ.

    Example:
        >>> kl([0.5, 0.5], [0.25, 0.75], base=2) > 0
        True
        >>> kl([1.0, 0.0], [0.0, 1.0])
        inf
    """
    p_arr, q_arr = histogram_pair(p, q)
    scale = _log_base(base)
    support = p_arr > 0
    p_s, q_s = p_arr[support], q_arr[support]
    if np.any(q_s == 0):
        return math.inf
    value = float(np.sum(p_s * np.log(p_s / q_s)))
    return max(value, 0.0) / scale


def js(p: Any, q: Any, base: float | None = None) -> float:
    r"""Jensen-Shannon divergence between two discrete distributions.

    .. math::
        \mathrm{JS}(p, q) = \tfrac12 \mathrm{KL}(p \,\|\, m) + \tfrac12 \mathrm{KL}(q \,\|\, m),
        \qquad m = \tfrac12 (p + q).

    It is computed in the algebraically equal form

    .. math::
        \mathrm{JS}(p, q) = \log 2
            - \tfrac12 \sum_{p_i > 0} p_i \log\Bigl(1 + \frac{q_i}{p_i}\Bigr)
            - \tfrac12 \sum_{q_i > 0} q_i \log\Bigl(1 + \frac{p_i}{q_i}\Bigr),

    whose correction terms vanish exactly when the supports are disjoint, so that the
    result is then exactly :math:`\log 2` (one bit with ``base=2``), whatever the
    distance between the supports. That is the saturation behind the vanishing
    generator gradient of the vanilla GAN (Goodfellow et al. 2014; Arjovsky et al.
    2017, Sec. 2). The result is clipped into :math:`[0, \log 2]` to remove rounding.

    Args:
        p: non-negative weights, shape ``(k,)``; normalised by its sum.
        q: non-negative weights, shape ``(k,)``; normalised by its sum.
        base: logarithm base; ``None`` for nats, ``2`` for bits.

    Returns:
        The divergence, in ``[0, log(2) / log(base)]``.

    Raises:
        ValueError: on the same invalid inputs as :func:`kl`.

    Example:
        >>> js([1.0, 0.0, 0.0], [0.0, 0.0, 1.0], base=2)
        1.0
    """
    p_arr, q_arr = histogram_pair(p, q)
    scale = _log_base(base)
    sp, sq = p_arr > 0, q_arr > 0
    corr_p = np.sum(p_arr[sp] * np.log1p(q_arr[sp] / p_arr[sp]))
    corr_q = np.sum(q_arr[sq] * np.log1p(p_arr[sq] / q_arr[sq]))
    value = LOG2 - 0.5 * (float(corr_p) + float(corr_q))  # exactly symmetric in p, q
    return min(max(value, 0.0), LOG2) / scale
