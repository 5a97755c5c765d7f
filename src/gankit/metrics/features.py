r"""Sample-quality metrics in a feature space, and class / mode histograms.

The feature-space metrics take arrays of features of shape ``(n, d)``, computed
by any network (an Inception network for the published FID numbers, a small
classifier trained on the data set for digits and Fashion-MNIST). Numbers are
comparable only between runs that use the same feature extractor and the same
sample sizes.

The histogram metrics take class labels predicted by a classifier: class
coverage for labelled data sets and the Stacked MNIST mode count.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gankit.checks import check_finite, points, positive_int, same_dim, to_float64
from gankit.divergences import kl, w2_gaussian
from gankit.metrics.pairwise import cubic_polynomial_kernel, mmd2_unbiased, row_chunk, sq_distances

__all__ = [
    "class_coverage",
    "class_histogram",
    "fid",
    "frechet_distance",
    "kid",
    "precision_recall",
    "stacked_modes",
]


def _as_features(x: Any, name: str, *, min_points: int = 1) -> np.ndarray:
    return points(x, name, flatten=False, min_points=min_points)


# ---------------------------------------------------------------------------
# Frechet distance / FID
# ---------------------------------------------------------------------------


def frechet_distance(mu1: Any, S1: Any, mu2: Any, S2: Any) -> float:
    r"""Frechet distance between two Gaussians: the squared 2-Wasserstein distance.

    .. math::
        d^2 = \|\mu_1 - \mu_2\|^2
        + \operatorname{Tr}\big(\Sigma_1 + \Sigma_2 - 2 (\Sigma_1 \Sigma_2)^{1/2}\big)

    (Dowson & Landau 1982), evaluated as :func:`gankit.divergences.w2_gaussian`
    squared, which computes the trace of the matrix square root as

    .. math::
        \operatorname{Tr}(\Sigma_1 \Sigma_2)^{1/2}
        = \sum_i \sqrt{\lambda_i\big(\Sigma_1^{1/2} \Sigma_2 \Sigma_1^{1/2}\big)}:

    :math:`\Sigma_1 \Sigma_2` is similar to the symmetric positive semi-definite
    :math:`\Sigma_1^{1/2} \Sigma_2 \Sigma_1^{1/2}`, so both square roots come from
    ``eigh`` with tiny negative eigenvalues (rounding) clipped to 0. This avoids
    ``scipy.linalg.sqrtm`` of the non-symmetric product, which for singular or
    ill-conditioned covariances (fewer samples than features) returns complex
    matrices whose imaginary part must then be discarded by hand. Squaring the
    square root changes the value by a relative ``~1e-16`` only.

    Args:
        mu1: mean of the first Gaussian, shape ``(d,)``.
        S1: covariance of the first Gaussian, shape ``(d, d)``, symmetric PSD.
        mu2: mean of the second Gaussian, shape ``(d,)``.
        S2: covariance of the second Gaussian, shape ``(d, d)``, symmetric PSD.

    Returns:
        The Frechet distance (a squared distance, never negative) as a Python float.

    References:
        Dowson, D. C. and Landau, B. V. (1982). The Frechet distance between
        multivariate normal distributions. J. Multivariate Anal. 12(3), 450-455.
    """
    m1, m2 = to_float64(mu1, "mu1"), to_float64(mu2, "mu2")
    for m, name in ((m1, "mu1"), (m2, "mu2")):
        if m.ndim != 1 or m.size == 0:
            raise ValueError(f"{name} must have shape (d,) with d >= 1; got shape {m.shape}")
        check_finite(m, name)
    if m1.shape != m2.shape:
        raise ValueError(
            f"mu1 and mu2 must have the same dimension; got {m1.shape[0]} and {m2.shape[0]}"
        )
    # w2_gaussian checks that S1 and S2 are (d, d), finite, symmetric and PSD.
    return float(w2_gaussian(m1, S1, m2, S2)) ** 2


def fid(f1: Any, f2: Any) -> float:
    r"""Frechet distance between Gaussians fitted to two feature sets (Heusel et al. 2017).

    .. math::
        \mathrm{FID} = \|\hat\mu_1 - \hat\mu_2\|^2 + \operatorname{Tr}\big(\hat\Sigma_1
        + \hat\Sigma_2 - 2 (\hat\Sigma_1 \hat\Sigma_2)^{1/2}\big)

    with sample means and sample covariances (divisor ``n - 1``), evaluated by
    :func:`frechet_distance`. FID is biased upwards at finite ``n``; compare
    values only at equal sample sizes and feature extractors.

    Args:
        f1: features of the first set, shape ``(n1, d)``, ``n1 >= 2``.
        f2: features of the second set, shape ``(n2, d)``, ``n2 >= 2``.

    Returns:
        FID as a Python float.

    References:
        Heusel, M., Ramsauer, H., Unterthiner, T., Nessler, B. and Hochreiter, S.
        (2017). GANs trained by a two time-scale update rule converge to a local
        Nash equilibrium. NeurIPS.
    """
    X = _as_features(f1, "f1", min_points=2)
    Y = _as_features(f2, "f2", min_points=2)
    same_dim(X, Y, "f1", "f2")
    S1 = np.atleast_2d(np.cov(X, rowvar=False, ddof=1))  # (d, d)
    S2 = np.atleast_2d(np.cov(Y, rowvar=False, ddof=1))
    return frechet_distance(X.mean(axis=0), S1, Y.mean(axis=0), S2)


# ---------------------------------------------------------------------------
# KID
# ---------------------------------------------------------------------------


def kid(
    f1: Any, f2: Any, n_subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> dict[str, Any]:
    r"""Kernel inception distance: unbiased MMD^2 with a cubic kernel (Binkowski et al. 2018).

    .. math::
        k(x, y) = \Big(\frac{x^\top y}{d} + 1\Big)^3, \qquad
        \mathrm{KID} = \widehat{\mathrm{MMD}}^2_u(f_1, f_2)

    with the unbiased estimator of :func:`gankit.metrics.mmd2`, computed on
    ``n_subsets`` pairs of random subsets of ``subset_size`` features each
    (drawn without replacement, with ``seed``). When a set has fewer than
    ``subset_size`` features, a subset takes half of the smaller set, so that
    the subsets differ (whole sets would give the same value every time and a
    standard deviation of rounding noise). ``mean`` is the average over
    subsets, an unbiased estimate (it can be negative when the distributions
    are equal), and ``std`` the standard deviation over subsets (divisor
    ``n_subsets``, as in the reference implementation), the spread of the
    estimate at that subset size.

    Args:
        f1: features of the first set, shape ``(n1, d)``, ``n1 >= 2``.
        f2: features of the second set, shape ``(n2, d)``, ``n2 >= 2``.
        n_subsets: number of subset pairs, ``>= 1``.
        subset_size: features per subset, ``>= 2``.
        seed: seed of the subsets.

    Returns:
        dict with ``"mean"``, ``"std"`` and ``"subset_size"`` (after capping).

    References:
        Binkowski, M., Sutherland, D. J., Arbel, M. and Gretton, A. (2018).
        Demystifying MMD GANs. ICLR.
    """
    X = _as_features(f1, "f1", min_points=2)
    Y = _as_features(f2, "f2", min_points=2)
    same_dim(X, Y, "f1", "f2")
    n_subsets = positive_int(n_subsets, "n_subsets")
    m, smaller = positive_int(subset_size, "subset_size", minimum=2), min(len(X), len(Y))
    if m > smaller:  # not a whole set (every subset would be the same): half of it, so that the subsets differ
        m = max(2, smaller // 2)
    rng = np.random.default_rng(seed)
    values = np.empty(n_subsets)
    for s in range(n_subsets):
        Xs = X[rng.choice(len(X), m, replace=False)]  # (m, d)
        Ys = Y[rng.choice(len(Y), m, replace=False)]
        values[s] = mmd2_unbiased(Xs, Ys, cubic_polynomial_kernel)
    return {"mean": float(values.mean()), "std": float(values.std()), "subset_size": m}


# ---------------------------------------------------------------------------
# Improved precision and recall
# ---------------------------------------------------------------------------


def _kth_neighbour_radii(X: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row of ``X`` to its ``k``-th nearest other row, shape ``(n,)``."""
    n = len(X)
    radii = np.empty(n)
    chunk = row_chunk(n)
    for start in range(0, n, chunk):
        D = sq_distances(X[start : start + chunk], X)  # (c, n)
        rows = np.arange(D.shape[0])
        D[rows, start + rows] = np.inf  # a point is not its own neighbour
        radii[start : start + chunk] = np.partition(D, k - 1, axis=1)[:, k - 1]
    return np.sqrt(radii)


def _inside_manifold(Q: np.ndarray, X: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Whether each row of ``Q`` lies in some ball ``B(x_i, radii_i)``, shape ``(len(Q),)``."""
    inside = np.empty(len(Q), dtype=bool)
    r2 = radii**2  # (n,)
    chunk = row_chunk(len(X))
    for start in range(0, len(Q), chunk):
        D = sq_distances(Q[start : start + chunk], X)  # (c, n)
        inside[start : start + chunk] = np.any(D <= r2[None, :], axis=1)
    return inside


def precision_recall(f_real: Any, f_fake: Any, k: int = 3) -> dict[str, float]:
    r"""Improved precision and recall of generated features (Kynkaanniemi et al. 2019).

    The manifold of a feature set :math:`\Phi` is the union of balls around its
    points, each with radius the distance to its ``k``-th nearest neighbour in
    :math:`\Phi` (the point itself excluded):

    .. math::
        \mathcal{M}(\Phi) = \bigcup_{\phi \in \Phi} B\big(\phi, \mathrm{NN}_k(\phi, \Phi)\big),
        \qquad
        \mathrm{precision} = \frac{1}{|\Phi_g|} \sum_{\phi \in \Phi_g}
        \mathbb{1}[\phi \in \mathcal{M}(\Phi_r)],
        \qquad
        \mathrm{recall} = \frac{1}{|\Phi_r|} \sum_{\phi \in \Phi_r}
        \mathbb{1}[\phi \in \mathcal{M}(\Phi_g)],

    with closed balls (distance ``<=`` radius). Precision measures how many
    generated samples look real; recall how much of the real distribution the
    generator covers. Distances are computed in row chunks, so memory stays
    ``O(n)`` per row of the chunk rather than ``O(n^2)``.

    Args:
        f_real: real features, shape ``(n_r, d)``, ``n_r > k``.
        f_fake: generated features, shape ``(n_f, d)``, ``n_f > k``.
        k: neighbourhood size, ``>= 1`` (3 in the paper).

    Returns:
        dict with ``"precision"`` and ``"recall"`` in [0, 1].

    References:
        Kynkaanniemi, T., Karras, T., Laine, S., Lehtinen, J. and Aila, T.
        (2019). Improved precision and recall metric for assessing generative
        models. NeurIPS.
    """
    k = positive_int(k, "k")
    R = _as_features(f_real, "f_real", min_points=k + 1)
    G = _as_features(f_fake, "f_fake", min_points=k + 1)
    same_dim(R, G, "f_real", "f_fake")
    precision = _inside_manifold(G, R, _kth_neighbour_radii(R, k)).mean()
    recall = _inside_manifold(R, G, _kth_neighbour_radii(G, k)).mean()
    return {"precision": float(precision), "recall": float(recall)}


# ---------------------------------------------------------------------------
# Class and mode histograms
# ---------------------------------------------------------------------------


def _as_labels(labels: Any, name: str, n_classes: int, *, ndim: int = 1) -> np.ndarray:
    """Integer class labels in ``[0, n_classes)`` with the given ``ndim``, non-empty."""
    arr = to_float64(labels, name)
    if arr.ndim != ndim:
        shape = "(n,)" if ndim == 1 else "(n, c)"
        raise ValueError(f"{name} must have shape {shape}; got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must contain at least one label; got an empty array")
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
        raise ValueError(f"{name} must hold integer class labels; found NaN, inf or fractions")
    if np.any(arr < 0) or np.any(arr >= n_classes):
        raise ValueError(
            f"{name} must lie in [0, n_classes) = [0, {n_classes}); "
            f"found values in [{arr.min():g}, {arr.max():g}]"
        )
    return arr.astype(np.int64)


def class_histogram(labels: Any, n_classes: int, *, normalize: bool = True) -> np.ndarray:
    r"""Histogram of integer class labels over ``n_classes`` classes.

    .. math::
        h_c = \frac{1}{n} \#\{i : y_i = c\}, \qquad c = 0, \dots, C - 1

    Args:
        labels: integer labels in ``[0, n_classes)``, shape ``(n,)``.
        n_classes: number of classes ``C >= 1``.
        normalize: return frequencies (summing to 1) or raw counts.

    Returns:
        Array of shape ``(n_classes,)``: float64 frequencies or int64 counts.
    """
    n_classes = positive_int(n_classes, "n_classes")
    y = _as_labels(labels, "labels", n_classes)
    counts = np.bincount(y, minlength=n_classes)  # (C,)
    return counts / len(y) if normalize else counts


def class_coverage(
    pred_labels: Any, n_classes: int, reference_labels: Any = None, *, min_count: int = 1
) -> dict[str, Any]:
    r"""Which classes a generator produces, and how far their frequencies are from the data's.

    With :math:`p` the class histogram of the generated samples (labels
    predicted by a classifier) and :math:`q` that of ``reference_labels``
    (uniform over the ``C`` classes when None),

    .. math::
        \mathrm{KL}(p \,\|\, q) = \sum_{c:\,p_c > 0} p_c \log\frac{p_c}{q_c}

    in nats, with ``0 log 0 = 0``; it is ``float("inf")`` when the generator
    produces a class that never occurs in ``reference_labels``
    (:math:`p_c > 0 = q_c`). A class is *covered* when at least ``min_count``
    generated samples carry it.

    Args:
        pred_labels: predicted labels of generated samples, shape ``(n,)``.
        n_classes: number of classes ``C >= 1``.
        reference_labels: labels of real data, shape ``(m,)``; None for uniform.
        min_count: samples a class needs to count as covered, ``>= 1``.

    Returns:
        dict with ``"histogram"`` (``p``, float64 array of shape ``(C,)``),
        ``"classes_covered"`` (int) and ``"kl_to_data"`` (float).
    """
    n_classes = positive_int(n_classes, "n_classes")
    min_count = positive_int(min_count, "min_count")
    y = _as_labels(pred_labels, "pred_labels", n_classes)
    counts = np.bincount(y, minlength=n_classes)  # (C,)
    p = counts / len(y)
    if reference_labels is None:
        q = np.full(n_classes, 1.0 / n_classes)
    else:
        ref = _as_labels(reference_labels, "reference_labels", n_classes)
        q = np.bincount(ref, minlength=n_classes) / len(ref)
    return {
        "histogram": p,
        "classes_covered": int(np.count_nonzero(counts >= min_count)),
        "kl_to_data": kl(p, q),
    }


def stacked_modes(channel_labels: Any, n_classes: int = 10) -> dict[str, Any]:
    r"""Modes captured and reverse KL on Stacked MNIST (Metz et al. 2017; Srivastava et al. 2017).

    Each generated image stacks ``c`` channels (3 on Stacked MNIST), each read
    by a classifier; its mode is the tuple of the ``c`` labels, one of
    :math:`M = C^c` modes (1000 for ten digits), indexed
    :math:`m = \sum_j y_j C^{c-1-j}`. With :math:`p` the histogram of the modes,

    .. math::
        \mathrm{KL}(p \,\|\, U_M) = \sum_{m:\,p_m > 0} p_m \log(M p_m)

    in nats (``0 log 0 = 0``): 0 when all modes are equally frequent and
    ``log(M / k)`` when ``k`` modes are equally frequent and the others absent.
    A mode is captured when at least one sample has it.

    Args:
        channel_labels: integer labels in ``[0, n_classes)``, shape ``(n, c)``.
        n_classes: classes per channel ``C >= 1``.

    Returns:
        dict with ``"modes"`` (int, modes captured), ``"n_modes"`` (``M``) and
        ``"reverse_kl"`` (float).

    References:
        Metz, L., Poole, B., Pfau, D. and Sohl-Dickstein, J. (2017). Unrolled
        generative adversarial networks. ICLR.
        Srivastava, A. et al. (2017). VEEGAN: Reducing mode collapse in GANs
        using implicit variational learning. NeurIPS.
    """
    n_classes = positive_int(n_classes, "n_classes")
    y = _as_labels(channel_labels, "channel_labels", n_classes, ndim=2)
    c = y.shape[1]
    if c == 0:
        raise ValueError("channel_labels must have at least one column (channel)")
    n_modes = n_classes**c
    mode = y @ (n_classes ** np.arange(c - 1, -1, -1, dtype=np.int64))  # (n,)
    result = class_coverage(mode, n_modes)
    return {
        "modes": result["classes_covered"],
        "n_modes": n_modes,
        "reverse_kl": result["kl_to_data"],
    }
