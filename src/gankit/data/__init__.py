"""Data: generated toy distributions, file readers, named sets and the device sampler."""

from .datasets import (
    DATASETS,
    FASHION_MNIST_DIR,
    Dataset,
    Scaler,
    describe_datasets,
    load_dataset,
)
from .files import read_array, read_csv, read_idx, read_image_folder
from .sampler import Sampler
from .toy import Mixture, grid_means, grid_mixture, ring_means, ring_mixture

__all__ = [
    "DATASETS",
    "FASHION_MNIST_DIR",
    "Dataset",
    "Mixture",
    "Sampler",
    "Scaler",
    "describe_datasets",
    "grid_means",
    "grid_mixture",
    "load_dataset",
    "read_array",
    "read_csv",
    "read_idx",
    "read_image_folder",
    "ring_means",
    "ring_mixture",
]
