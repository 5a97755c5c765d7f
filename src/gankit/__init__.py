"""gankit: vanilla GAN and Wasserstein GAN exactly as the theory states them.

The package is organised one concept per module, dependencies pointing one way
(``tests/test_layers.py`` checks it), from the bottom:

1. ``checkpoint``, ``viz``, ``parallel``, ``progress``: files, pictures, worker processes, progress output;
   ``presets``: the names a config chooses from and the named presets (no torch);
2. ``divergences``, ``data``: the quantities of the theory and the data;
3. ``models``, ``metrics``, ``objectives``, ``config``: networks, scores, games, runs;
4. ``sampling``, ``ema``, ``distributed``, ``runfolder``, ``pictures``: reading
   networks, averaging them, ranks, and the parts the loop calls (files, pictures);
5. ``training``: the seed's loop; ``seeds`` stacks it; ``classifier``;
6. ``evaluation``, ``benchmark``, ``bench``, ``experiments``, ``demo``, ``explore``, ``report``;
7. ``api`` (``gankit.train``) and ``cli`` (the command's parsers import no torch).

Importing ``gankit`` imports nothing heavy: the names below load their module
(and torch) when first used, so that ``gankit --help`` answers at once.
"""

from importlib import import_module
from typing import Any

# name -> the module that defines it; ``gankit.train`` attaches evaluation, which sits above the loop.
_LAZY = {"TrainConfig": "config", "Trainer": "training", "load_generator": "training", "train": "api"}

__all__ = ["TrainConfig", "Trainer", "__version__", "load_generator", "train"]


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
