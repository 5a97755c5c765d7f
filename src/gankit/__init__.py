"""gankit: vanilla GAN and Wasserstein GAN exactly as the theory states them.

The package is organised one concept per module, dependencies pointing one way.
The layers are declared once, in :data:`gankit._layers.LAYERS` (``tests/test_layers.py``
checks every import against them, lazy ones included), from the bottom:
files and progress output; the divergences, the data and checkpoints; networks
and metrics; objectives, sampling, EMA and ranks; configs, the classifier and
pictures; the run folder; ``training`` (steps, runs, stacked runs, hooks,
resume, the Trainer); seeds, evaluation, the demo and the explorer; bench,
benchmarks and ``api`` (``gankit.train``); experiments; the report; ``cli``
(the command's parsers import no torch).

Importing ``gankit`` imports nothing heavy: the names below load their module
(and torch) when first used, so that ``gankit --help`` answers at once.
"""

from importlib import import_module
from typing import Any

# name -> the module that defines it; ``gankit.train`` attaches evaluation, which sits above the loop.
_LAZY = {"Objective": "objectives", "TrainConfig": "config", "Trainer": "training", "load_generator": "training",
         "register_objective": "objectives", "train": "api"}

__all__ = ["Objective", "TrainConfig", "Trainer", "__version__", "load_generator", "register_objective", "train"]


def _version() -> str:
    """The installed distribution's version, else (an uninstalled source tree) "0+unknown"."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gankit")
    except PackageNotFoundError:
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        globals()[name] = value = _version()
        return value
    if name in _LAZY:
        globals()[name] = value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        return value
    raise AttributeError(f"module 'gankit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "__version__"})
