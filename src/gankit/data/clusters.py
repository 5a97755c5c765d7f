r"""k-means clusters of a data set, as classes for a class-conditional GAN on data with or without labels.

A class-conditional GAN is much better than an unconditional one on the same
images in the same minutes (docs/images.md), but most data have no labels.
Clustering the data gives classes that need none (Sage et al. 2018, "Logo
Synthesis and Manipulation with Clustered Generative Adversarial Networks";
Liu et al. 2020, "Diverse Image Generation via Self-Conditioned GANs", who
cluster the discriminator's features as it trains). gankit clusters once,
before training, in the space of the data's first principal components:

.. math::
    u_i = (x_i - \bar x)\, V_p, \qquad
    \min_{\mu_1..\mu_K} \sum_i \min_k \lVert u_i - \mu_k \rVert^2

(k-means++ seeding, Lloyd's iterations, the best of a few restarts). The
generator is asked for cluster k as often as the data fall in it, so sampling
it draws the data's mixture of clusters. :class:`Clusters` keeps the
projection and the centroids, so any sample (a held-out one, a generated one)
can be given its cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

#: Principal components the clusters are found in (fewer when the data have fewer dimensions).
COMPONENTS = 50
#: k-means restarts; the clustering of least inertia is kept.
RESTARTS = 3
#: Lloyd's iterations at most per restart (they stop when no sample changes cluster).
ITERATIONS = 100
#: Samples the principal components are estimated from.
PCA_SAMPLES = 20_000
#: Samples k-means is fitted on at most (a random subset of larger data); every sample is then assigned.
FIT_SAMPLES = 100_000
#: Largest sample size (values per sample) whose components come from an exact SVD; above, a randomised one.
EXACT_SVD = 4096


@dataclass(frozen=True)
class Clusters:
    """A projection onto principal components and K centroids there: :meth:`assign` gives a sample's cluster.

    Attributes:
        mean: ``(d,)`` the data's mean (flattened samples, model units).
        components: ``(d, p)`` the first p principal directions.
        centroids: ``(K, p)`` the clusters' centres in those coordinates.
    """

    mean: Tensor
    components: Tensor
    centroids: Tensor

    @property
    def k(self) -> int:
        return len(self.centroids)

    def project(self, x: Tensor, batch: int = 8192) -> Tensor:
        """Flattened samples ``(N, ...)`` -> their principal coordinates ``(N, p)`` (``batch`` rows at a time:
        no centred copy of the whole data)."""
        flat = x.reshape(len(x), -1)
        parts = [(part.float() - self.mean) @ self.components for part in torch.split(flat, batch)]
        return torch.cat(parts) if parts else flat.new_zeros((0, self.components.shape[1]))

    def assign(self, x: Tensor, batch: int = 8192) -> Tensor:
        """The nearest centroid of each sample, ``(N,)`` int64."""
        out = [torch.cdist(self.project(part, batch), self.centroids).argmin(1) for part in torch.split(x.cpu(), batch)]
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)

    def state_dict(self) -> dict[str, Tensor]:
        return {"mean": self.mean, "components": self.components, "centroids": self.centroids}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Clusters:
        return cls(*(torch.as_tensor(state[k]).float() for k in ("mean", "components", "centroids")))


def _kmeans_pp(u: Tensor, k: int, g: torch.Generator) -> Tensor:
    """k-means++ seeding (Arthur and Vassilvitskii 2007): each next centre drawn with probability ~ D(u)^2."""
    centres = [u[torch.randint(len(u), (1,), generator=g)].squeeze(0)]
    d2 = ((u - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        p = d2 / d2.sum() if d2.sum() > 0 else torch.full_like(d2, 1 / len(d2))
        c = u[torch.multinomial(p, 1, generator=g)].squeeze(0)
        centres.append(c)
        d2 = torch.minimum(d2, ((u - c) ** 2).sum(1))
    return torch.stack(centres)


def _lloyd(u: Tensor, centres: Tensor) -> tuple[Tensor, Tensor, float]:
    """Lloyd's iterations from ``centres`` until no sample changes cluster: (centres, labels, inertia)."""
    labels = torch.cdist(u, centres).argmin(1)
    for _ in range(ITERATIONS):
        sums = torch.zeros_like(centres).index_add_(0, labels, u)
        counts = torch.bincount(labels, minlength=len(centres)).unsqueeze(1)
        centres = torch.where(counts > 0, sums / counts.clamp(min=1), centres)  # an empty cluster keeps its centre
        new = torch.cdist(u, centres).argmin(1)
        if torch.equal(new, labels):
            break
        labels = new
    inertia = float(((u - centres[labels]) ** 2).sum())
    return centres, labels, inertia


def fit_clusters(x: Tensor, k: int, seed: int = 0) -> tuple[Clusters, Tensor]:
    """K k-means clusters of the samples ``x`` in their principal components; the clusters and each sample's.

    k-means (k-means++ seeding, :data:`RESTARTS` restarts) is fitted on at most :data:`FIT_SAMPLES`
    samples, a random subset of larger data, and every sample is then given its nearest centre.
    Deterministic for a seed. Raises ``ValueError`` when ``k`` is below 2 or above the number of samples.
    """
    n = len(x)
    if not 2 <= k <= n:
        raise ValueError(f"clusters: K must be between 2 and the {n} samples of the data; got {k}")
    g = torch.Generator().manual_seed(seed)
    flat = x.reshape(n, -1).float().cpu()
    mean = flat.mean(0)
    sub = flat[torch.randperm(n, generator=g)[:PCA_SAMPLES]] - mean
    p = min(COMPONENTS, sub.shape[1], len(sub))
    if sub.shape[1] <= EXACT_SVD:
        _, _, vh = torch.linalg.svd(sub, full_matrices=False)
        components = vh[:p].T.contiguous()  # (d, p)
    else:  # large images: a randomised SVD (Halko et al. 2011), its random projections seeded too
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            _, _, v = torch.pca_lowrank(sub, q=min(p + 10, *sub.shape), center=False, niter=4)
        components = v[:, :p].contiguous()
    u = Clusters(mean, components, torch.zeros(0, p)).project(flat)
    fit = u if n <= FIT_SAMPLES else u[torch.randperm(n, generator=g)[:FIT_SAMPLES]]
    best = None
    for _ in range(RESTARTS):
        centres, labels, inertia = _lloyd(fit, _kmeans_pp(fit, k, g))
        if best is None or inertia < best[2]:
            best = (centres, labels, inertia)
    centres, labels, _ = best
    if n > FIT_SAMPLES:
        labels = torch.cat([torch.cdist(part, centres).argmin(1) for part in torch.split(u, 8192)])
    return Clusters(mean, components, centres), labels
