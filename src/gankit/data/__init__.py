"""Data: generated toy distributions, file readers, named sets and the device sampler.

The names below load their module when first used: the list of named sets
(:mod:`gankit.data.named`) needs no torch, so ``gankit datasets`` answers at once.
"""

from importlib import import_module
from typing import Any

# name -> the module of this package that defines it
_WHERE = {
    "DATASETS": "named", "FASHION_MNIST_DIR": "named", "FILE_FORMATS": "named", "describe_datasets": "named",
    "dataset_options": "named",
    "Dataset": "datasets", "Scaler": "datasets", "load_dataset": "loading",
    "read_array": "files", "read_csv": "files", "read_idx": "files", "read_image_folder": "files",
    "Sampler": "sampler",
    "Mixture": "toy", "grid_means": "toy", "grid_mixture": "toy", "ring_means": "toy", "ring_mixture": "toy",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        globals()[name] = value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
