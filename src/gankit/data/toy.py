"""Generated toy distributions: the 2-D mode-collapse benchmarks and friends.

Every builder takes the number of samples ``n`` and a ``torch.Generator`` and
returns a float32 tensor of shape ``(n, d)`` in data units; every shape
parameter is a keyword with the published default. Mixtures also return their
means and standard deviations so that evaluation can score mode coverage.

References:
    Lin et al., "PacGAN: The power of two samples in generative adversarial
    networks", NeurIPS 2018 (ring: 8 modes, radius 1, std 0.01; grid: 25 modes at
    {-4,-2,0,2,4}^2, std 0.05; 100,000 training points).
    Srivastava et al., "VEEGAN", NeurIPS 2017 (ring radius 2, std 0.02 variant).
    Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017
    (8 Gaussians at radius 2 scaled by 1/1.414, std 0.02: the WGAN-GP toy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..checks import positive, positive_int


@dataclass(frozen=True)
class Mixture:
    """A Gaussian mixture with known components, in data units.

    Attributes:
        means: component means, shape ``(K, d)``.
        stds: isotropic standard deviation of each component, shape ``(K,)``.
        weights: mixing weights, shape ``(K,)``, summing to one.
    """

    means: np.ndarray
    stds: np.ndarray
    weights: np.ndarray

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """Draw ``n`` points: a component index per point, then Gaussian noise."""
        w = torch.as_tensor(self.weights, dtype=torch.float64)
        k = torch.multinomial(w, n, replacement=True, generator=generator)  # (n,)
        mu = torch.as_tensor(self.means, dtype=torch.float32)[k]  # (n, d)
        sd = torch.as_tensor(self.stds, dtype=torch.float32)[k, None]  # (n, 1)
        return mu + sd * torch.randn(mu.shape, generator=generator)

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        r"""The mixture's exact mean and per-coordinate standard deviation, each of shape ``(d,)``.

        .. math::
            m = \sum_k w_k \mu_k, \qquad
            s_j^2 = \sum_k w_k (\sigma_k^2 + \mu_{kj}^2) - m_j^2
        """
        w = self.weights.astype(np.float64)[:, None]  # (K, 1)
        mu = self.means.astype(np.float64)  # (K, d)
        mean = (w * mu).sum(0)
        var = (w * (self.stds.astype(np.float64)[:, None] ** 2 + mu**2)).sum(0) - mean**2
        return mean, np.sqrt(np.maximum(var, 0.0))

    def distinct_modes(self) -> int:
        r"""The number of modes if every two are told apart by the protocol's 3-standard-deviation discs, else 0.

        Components count as modes when
        :math:`\min_{k \ne l} \lVert \mu_k - \mu_l \rVert > 3 (\sigma_k + \sigma_l)` (no two high-quality
        discs overlap). A kernel density of points drawn by hand, whose components overlap, has no modes to count.
        """
        from scipy.spatial import cKDTree

        stds = np.broadcast_to(np.asarray(self.stds, dtype=np.float64), (len(self.means),))
        pairs = cKDTree(self.means).query_pairs(6 * float(stds.max()) if len(stds) else 0.0, output_type="ndarray")
        i, j = pairs[:, 0], pairs[:, 1]  # the only pairs close enough to overlap
        apart = np.linalg.norm(self.means[i] - self.means[j], axis=1) > 3 * (stds[i] + stds[j])
        return len(self.means) if bool(np.all(apart)) else 0

    def save(self, path: str | Path, x: np.ndarray | Tensor) -> Path:
        """Write a mixture file: an ``.npz`` holding ``x`` (the samples) with ``means``, ``std`` and ``weights``.

        :func:`gankit.data.load_dataset` reads it back as a data set whose mixture
        is known, so training, ``gankit eval`` and ``gankit benchmark`` score it.
        """
        path = Path(path)
        if path.suffix != ".npz":
            raise ValueError(f"{path}: a mixture file must end in .npz")
        x = np.asarray(x.cpu().numpy() if isinstance(x, Tensor) else x)
        if x.ndim != 2 or x.shape[1] != self.means.shape[1]:
            raise ValueError(f"x must have shape (n, {self.means.shape[1]}); got {x.shape}")
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, x=x, means=self.means, std=self.stds, weights=self.weights)
        return path

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """Exact log density at points ``x`` of shape ``(n, d)``, computed stably."""
        x = np.asarray(x, dtype=np.float64)
        d = self.means.shape[1]
        sq = ((x[:, None, :] - self.means[None]) ** 2).sum(-1)  # (n, K)
        var = self.stds.astype(np.float64) ** 2
        log_comp = -0.5 * sq / var - 0.5 * d * np.log(2 * math.pi * var) + np.log(self.weights)
        m = log_comp.max(axis=1, keepdims=True)
        return (m + np.log(np.exp(log_comp - m).sum(axis=1, keepdims=True)))[:, 0]


def mixture_from_arrays(means, std, weights=None, *, source: str = "mixture") -> Mixture:
    """A :class:`Mixture` from raw arrays, checked: ``means (K, d)``, ``std`` a number or ``(K,)``, ``weights (K,)``.

    Weights are normalised to sum to one (None: equal weights). Errors name ``source``.
    """
    means = np.asarray(means, dtype=np.float64)
    if means.ndim == 1:
        means = means[:, None]
    if means.ndim != 2 or len(means) < 1 or not np.isfinite(means).all():
        raise ValueError(f"{source}: means must be a finite (K, d) array; got shape {means.shape}")
    K = len(means)
    stds = np.asarray(std, dtype=np.float64).reshape(-1)
    if stds.size == 1:
        stds = np.full(K, float(stds[0]))
    if stds.shape != (K,) or not np.isfinite(stds).all() or (stds <= 0).any():
        raise ValueError(f"{source}: std must be one number > 0 or {K} numbers > 0 (one per mean); "
                         f"got {np.asarray(std).tolist()}")
    if weights is None:
        w = np.full(K, 1.0 / K)
    else:
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if w.shape != (K,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"{source}: weights must be {K} non-negative numbers, not all zero; "
                             f"got {np.asarray(weights).tolist()}")
        w = w / w.sum()
    return Mixture(means, stds, w)


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
    K = positive_int(n_modes, "n_modes")
    radius = positive(radius, "radius")
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
    n = positive_int(n_per_side, "n_per_side")
    spacing = positive(spacing, "spacing")
    axis = spacing * (np.arange(n) - (n - 1) / 2.0)  # (n,)
    ii, jj = np.meshgrid(axis, axis, indexing="ij")  # (n, n) each
    return np.stack([ii.ravel(), jj.ravel()], axis=1)  # (n * n, 2)


def ring_mixture(n_modes: int = 8, radius: float = 1.0, std: float = 0.01) -> Mixture:
    """The 8-Gaussian ring of PacGAN: radius 1, std 0.01 (VEEGAN: radius 2, std 0.02)."""
    means = ring_means(n_modes, radius)
    std = positive(std, "std")
    k = len(means)
    return Mixture(means, np.full(k, float(std)), np.full(k, 1.0 / k))


def grid_mixture(n_per_side: int = 5, spacing: float = 2.0, std: float = 0.05) -> Mixture:
    """The 25-Gaussian grid of PacGAN: means {-4,-2,0,2,4}^2, std 0.05."""
    means = grid_means(n_per_side, spacing)
    std = positive(std, "std")
    k = len(means)
    return Mixture(means, np.full(k, float(std)), np.full(k, 1.0 / k))


def gaussian_mixture_1d(
    means: tuple[float, ...] = (-2.0, 2.0),
    stds: tuple[float, ...] = (0.5, 0.5),
    weights: tuple[float, ...] | None = None,
) -> Mixture:
    """A 1-D Gaussian mixture; one component (``means=(m,)``) gives a plain Gaussian."""
    means_a = np.asarray(means, dtype=np.float64).reshape(-1, 1)
    stds_a = np.asarray(stds, dtype=np.float64).reshape(-1)
    if len(stds_a) != len(means_a):
        raise ValueError(f"stds must have one entry per mean ({len(means_a)}); got {len(stds_a)}")
    if (stds_a <= 0).any():
        raise ValueError(f"stds must be > 0; got {stds_a.tolist()}")
    w = np.full(len(means_a), 1.0 / len(means_a)) if weights is None else np.asarray(weights, float)
    if len(w) != len(means_a) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be {len(means_a)} non-negative numbers; got {weights!r}")
    return Mixture(means_a, stds_a, w / w.sum())


def swiss_roll(n: int, generator: torch.Generator, noise: float = 0.25, scale: float = 0.2) -> Tensor:
    """2-D swiss roll: t ~ U[1.5 pi, 4.5 pi], (t cos t, t sin t) * scale plus noise."""
    t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator))
    x = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1)
    return scale * (x + noise * torch.randn(n, 2, generator=generator))


def two_moons(n: int, generator: torch.Generator, noise: float = 0.05) -> Tensor:
    """Two interleaved half circles (as scikit-learn's make_moons), plus Gaussian noise."""
    upper = torch.rand(n, generator=generator) < 0.5
    t = math.pi * torch.rand(n, generator=generator)
    x = torch.where(upper, torch.cos(t), 1 - torch.cos(t))
    y = torch.where(upper, torch.sin(t), 0.5 - torch.sin(t))
    return torch.stack([x, y], dim=1) + noise * torch.randn(n, 2, generator=generator)


def spiral(n: int, generator: torch.Generator, turns: float = 2.0, noise: float = 0.02) -> Tensor:
    """An Archimedean spiral r = t / (2 pi turns), t ~ U[0, 2 pi turns], plus noise."""
    t = 2 * math.pi * turns * torch.sqrt(torch.rand(n, generator=generator))
    r = t / (2 * math.pi * turns)
    x = torch.stack([r * torch.cos(t), r * torch.sin(t)], dim=1)
    return x + noise * torch.randn(n, 2, generator=generator)


def parallel_lines(
    n: int, generator: torch.Generator, offsets: tuple[float, ...] = (-1.0, 1.0), length: float = 1.0
) -> Tensor:
    """Uniform on disjoint vertical segments {a} x U[0, length], one per offset ``a``.

    One offset ``(0.0,)`` is the seed's "parallel lines" p_r: {0} x U[0, 1].
    """
    off = torch.as_tensor(offsets, dtype=torch.float32).reshape(-1)
    k = torch.randint(len(off), (n,), generator=generator)
    y = length * torch.rand(n, generator=generator)
    return torch.stack([off[k], y], dim=1)
