r"""What every frame of runs on the same data and seed shares, for 2-D and 1-D points.

A :class:`ViewInputs` holds the fixed real subset the page draws, the frame
around it (a square in 2-D, an interval in 1-D), the mesh the discriminator
is evaluated on (``HEAT x HEAT`` points in 2-D, ``HEAT_1D`` along x in 1-D)
and the seed of the fixed noise. For 1-D data it also holds the real density
on the mesh: the mixture's own density where the data is a known mixture,
else a Gaussian kernel density estimate of the real subset (:func:`kde`),
the estimate the page also gets of the generated samples every frame.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from ..data import Dataset
from ..streams import offset

N_SHOWN = 500  # real and generated samples drawn, and used for W1 and JS
HEAT = 32  # the 2-D heat map's mesh is HEAT x HEAT (the page smooths it)
HEAT_1D = 200  # points of the 1-D mesh: D(x) and the densities are drawn as curves through them
MANIFOLD = 21  # noise grid per axis (noise dim 2), or points on the line (x 4, noise dim 1)
Z_RANGE = 3.0  # the 1-D noise line runs over [-Z_RANGE, Z_RANGE] (the page draws z -> G(z) over it)
MIN_BANDWIDTH = 0.01  # a kernel density's smallest bandwidth, as a share of the frame's width


def kde(samples: np.ndarray, grid: np.ndarray, floor: float) -> np.ndarray:
    r"""A Gaussian kernel density estimate of 1-D ``samples`` on ``grid``, Scott's bandwidth.

    .. math::
        \hat p(x) = \frac{1}{n h} \sum_i \varphi\!\left(\frac{x - x_i}{h}\right), \qquad
        h = \max(1.06\, \hat\sigma\, n^{-1/5}, \text{floor})

    The floor keeps a collapsed generator (all samples at one point) a narrow peak instead of a
    division by zero. Non-finite samples are left out; none left gives zeros.
    """
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    x = x[np.isfinite(x)]
    grid = np.asarray(grid, dtype=np.float64).reshape(-1)
    if not len(x):
        return np.zeros_like(grid)
    h = max(1.06 * float(x.std()) * len(x) ** -0.2, floor)
    u = (grid[:, None] - x[None, :]) / h
    return np.exp(-0.5 * u**2).sum(1) / (len(x) * h * math.sqrt(2 * math.pi))


class ViewInputs:
    """The real subset, the frame, the mesh and the fixed noise that every frame of runs on the same data and seed
    shares.

    Args:
        dataset: 1-D or 2-D points.
        seed: the session's seed (the subset and the noise are drawn from streams of their own).
    """

    def __init__(self, dataset: Dataset, seed: int):
        if dataset.sample_shape not in ((1,), (2,)):
            raise ValueError(f"explore draws 1-D or 2-D points; got samples of shape {dataset.sample_shape}")
        self.dim = dataset.sample_shape[0]
        g = torch.Generator().manual_seed(seed + offset("explore-real"))
        idx = torch.randperm(len(dataset), generator=g)[:N_SHOWN]
        self.real_model = dataset.x[idx]
        self.real = dataset.scaler.to_data(self.real_model).numpy()
        lo, hi = np.quantile(self.real, 0.002, axis=0), np.quantile(self.real, 0.998, axis=0)
        centre, half = (lo + hi) / 2, (hi - lo).max() / 2 * 1.3 + 1e-3
        self.bounds = (centre - half, centre + half)  # a square frame (an interval in 1-D) around the data
        mesh = self._mesh()
        self.mesh_model = dataset.scaler.to_model(torch.from_numpy(mesh))
        self.grid = mesh[:, 0] if self.dim == 1 else None  # the 1-D mesh in data units
        self.density = self._real_density(dataset) if self.dim == 1 else None
        self.noise_seed = seed + offset("explore-noise")

    def _mesh(self) -> np.ndarray:
        """The points D is drawn on, in data units: ``HEAT x HEAT`` (row i is y = the i-th value), or ``HEAT_1D``."""
        lo, hi = self.bounds
        if self.dim == 1:
            return np.linspace(lo[0], hi[0], HEAT_1D, dtype=np.float32)[:, None]
        axes = [np.linspace(lo[j], hi[j], HEAT) for j in range(2)]
        xx, yy = np.meshgrid(axes[0], axes[1])
        return np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)

    @property
    def heat_size(self) -> int:
        """Points of the mesh per axis."""
        return HEAT_1D if self.dim == 1 else HEAT

    @property
    def bandwidth_floor(self) -> float:
        """The smallest kernel bandwidth of the 1-D densities (a share of the frame's width)."""
        return MIN_BANDWIDTH * float(self.bounds[1][0] - self.bounds[0][0])

    def _real_density(self, dataset: Dataset) -> np.ndarray:
        """The real density on the 1-D mesh: the mixture's own where known, else the real subset's estimate."""
        if dataset.mixture is not None:
            return np.exp(dataset.mixture.log_density(self.grid[:, None].astype(np.float64)))
        return kde(self.real[:, 0], self.grid, self.bandwidth_floor)

    def fake_density(self, fake: np.ndarray) -> np.ndarray:
        """The generated samples' density on the 1-D mesh (:func:`kde`)."""
        return kde(fake[:, 0], self.grid, self.bandwidth_floor)

    def noise(self, noise_dim: int) -> tuple[Tensor, Tensor]:
        """The fixed noise of the shown fakes and the noise grid of the manifold (noise dim 1: a line over
        ``[-Z_RANGE, Z_RANGE]``)."""
        g = torch.Generator().manual_seed(self.noise_seed)
        z = torch.randn(N_SHOWN, noise_dim, generator=g)
        if noise_dim == 1:
            grid = torch.linspace(-Z_RANGE, Z_RANGE, MANIFOLD * 4)[:, None]
        else:
            axis = torch.linspace(-2.5, 2.5, MANIFOLD)
            zz = torch.meshgrid(axis, axis, indexing="ij")
            grid = torch.stack([zz[0].ravel(), zz[1].ravel()], dim=1)
            if noise_dim > 2:
                grid = torch.cat([grid, torch.zeros(len(grid), noise_dim - 2)], dim=1)
        return z, grid


__all__ = ["HEAT", "HEAT_1D", "MANIFOLD", "N_SHOWN", "ViewInputs", "Z_RANGE", "kde"]
