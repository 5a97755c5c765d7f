"""Evaluation metrics for generators: mode coverage, sample distances, tests, features.

* :mod:`~gankit.metrics.mixture`: modes captured, high-quality fraction and
  reverse KL on Gaussian mixtures (VEEGAN / PacGAN protocol).
* :mod:`~gankit.metrics.distances`: Wasserstein, energy distance and MMD between
  sample sets, each next to its real-vs-real baseline.
* :mod:`~gankit.metrics.hypothesis`: the discriminator as a test of H0 "x is
  real" (Type I / II errors, ROC, power at a level) and the classifier
  two-sample test.
* :mod:`~gankit.metrics.features`: FID, KID, improved precision / recall on
  feature arrays; class coverage and Stacked MNIST modes on predicted labels.

Every function accepts numpy arrays or torch tensors, computes in float64 and
returns Python floats, numpy arrays or dicts of them.
"""

from gankit.metrics.distances import (
    SAMPLE_METRICS,
    energy_distance,
    median_bandwidth,
    mmd2,
    sample_distances,
)
from gankit.metrics.features import (
    class_coverage,
    class_histogram,
    fid,
    frechet_distance,
    kid,
    precision_recall,
    stacked_modes,
)
from gankit.metrics.hypothesis import c2st, hypothesis_test, roc_auc, roc_curve
from gankit.metrics.mixture import grid_means, mixture_coverage, mode_coverage, ring_means

__all__ = [
    "SAMPLE_METRICS",
    "c2st",
    "class_coverage",
    "class_histogram",
    "energy_distance",
    "fid",
    "frechet_distance",
    "grid_means",
    "hypothesis_test",
    "kid",
    "median_bandwidth",
    "mmd2",
    "mixture_coverage",
    "mode_coverage",
    "precision_recall",
    "ring_means",
    "roc_auc",
    "roc_curve",
    "sample_distances",
    "stacked_modes",
]
