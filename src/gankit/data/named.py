"""The named data sets: ``gankit datasets`` lists them, ``load_dataset(name)`` builds them.

Each is a function ``(seed, **options)``: its signature is the list of the
set's options with their defaults, and the first line of its docstring is the
summary ``gankit datasets`` prints. This module imports nothing heavy; a set
imports the machinery that builds it (torch, NumPy, the file readers) when it
is built.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .datasets import Dataset

from .formats import FASHION_MNIST_DIR, FILE_FORMATS  # noqa: F401  (part of this module's API)


def _ring(seed: int, n: int = 100_000, n_modes: int = 8, radius: float = 1.0, std: float = 0.01) -> Dataset:
    """8 Gaussians on a circle (PacGAN: radius 1, std 0.01; VEEGAN: radius 2, std 0.02)."""
    from . import datasets, toy

    return datasets.mixture_set("ring", toy.ring_mixture(n_modes, radius, std), n, seed)


def _grid(seed: int, n: int = 100_000, n_per_side: int = 5, spacing: float = 2.0, std: float = 0.05) -> Dataset:
    """25 Gaussians at {-4,-2,0,2,4}^2, std 0.05 (PacGAN)."""
    from . import datasets, toy

    return datasets.mixture_set("grid", toy.grid_mixture(n_per_side, spacing, std), n, seed)


def _gaussian_1d(seed: int, n: int = 100_000, mean: float = 3.0, std: float = 1.0) -> Dataset:
    """A 1-D Gaussian N(mean, std^2), default N(3, 1)."""
    from . import datasets, toy

    return datasets.mixture_set("gaussian-1d", toy.gaussian_mixture_1d((mean,), (std,)), n, seed)


def _mixture_1d(seed: int, n: int = 100_000, separation: float = 4.0, std: float = 0.5) -> Dataset:
    """Two equal 1-D Gaussians at +-separation/2 with standard deviation std."""
    from . import datasets, toy

    half = separation / 2
    return datasets.mixture_set("mixture-1d", toy.gaussian_mixture_1d((-half, half), (std, std)), n, seed)


def _swiss_roll(seed: int, n: int = 100_000, noise: float = 0.25, scale: float = 0.2) -> Dataset:
    """2-D swiss roll (t cos t, t sin t) * scale, plus noise."""
    from . import datasets, toy

    return datasets.points_set("swiss-roll", toy.swiss_roll, n, seed, noise, scale)


def _moons(seed: int, n: int = 100_000, noise: float = 0.05) -> Dataset:
    """Two interleaved half circles, plus noise."""
    from . import datasets, toy

    return datasets.points_set("moons", toy.two_moons, n, seed, noise)


def _spiral(seed: int, n: int = 100_000, turns: float = 2.0, noise: float = 0.02) -> Dataset:
    """An Archimedean spiral with the given number of turns, plus noise."""
    from . import datasets, toy

    return datasets.points_set("spiral", toy.spiral, n, seed, turns, noise)


def _lines(seed: int, n: int = 100_000, offsets: tuple = (-1.0, 1.0), length: float = 1.0) -> Dataset:
    """Uniform on disjoint vertical segments {a} x U[0, length] ("parallel lines")."""
    from . import datasets, toy

    return datasets.points_set("lines", toy.parallel_lines, n, seed, tuple(offsets), length)


def _fashion_mnist(seed: int, data_dir: str | None = None, split: str = "train") -> Dataset:
    """Fashion-MNIST 28x28 grey images with labels (IDX files; split train, test or all)."""
    from . import datasets

    return datasets.fashion_mnist(data_dir or FASHION_MNIST_DIR, split)


def _digits(seed: int) -> Dataset:
    """scikit-learn's 8x8 handwritten digits (1,797 images, values 0..16), with labels."""
    from . import datasets

    return datasets.digits()


def _stacked_fashion_mnist(seed: int, data_dir: str | None = None, n: int = 50_000, split: str = "train") -> Dataset:
    """Three random Fashion-MNIST images stacked as channels (3, 28, 28): 1000 modes, labels (n, 3)."""
    from . import datasets

    return datasets.stacked("stacked-fashion-mnist", _fashion_mnist(seed, data_dir, split), n, seed)


def _stacked_digits(seed: int, n: int = 50_000) -> Dataset:
    """Three random 8x8 digits stacked as channels (3, 8, 8): 1000 modes, labels (n, 3)."""
    from . import datasets

    return datasets.stacked("stacked-digits", _digits(seed), n, seed)


DATASETS: dict[str, Callable[..., Dataset]] = {
    "ring": _ring,
    "grid": _grid,
    "gaussian-1d": _gaussian_1d,
    "mixture-1d": _mixture_1d,
    "swiss-roll": _swiss_roll,
    "moons": _moons,
    "spiral": _spiral,
    "lines": _lines,
    "fashion-mnist": _fashion_mnist,
    "digits": _digits,
    "stacked-fashion-mnist": _stacked_fashion_mnist,
    "stacked-digits": _stacked_digits,
}


def dataset_options(name: str) -> dict[str, Any]:
    """The options a named data set takes, with their defaults."""
    sig = inspect.signature(DATASETS[name])
    return {
        k: p.default for k, p in sig.parameters.items() if k not in ("seed", "data_dir")
    }


def describe_datasets() -> list[tuple[str, str, dict[str, Any]]]:
    """``(name, one-line summary, options)`` for every named data set."""
    return [
        (name, (fn.__doc__ or "").strip().splitlines()[0], dataset_options(name))
        for name, fn in DATASETS.items()
    ]


__all__ = ["DATASETS", "FASHION_MNIST_DIR", "FILE_FORMATS", "dataset_options", "describe_datasets"]
