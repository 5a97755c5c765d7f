"""gankit: vanilla GAN and Wasserstein GAN exactly as the theory states them.

The package is organised one concept per module, dependencies pointing one way
(``tests/test_layers.py`` checks it), from the bottom:

1. ``checkpoint``, ``viz``, ``parallel``: files, pictures, worker processes;
2. ``divergences``, ``data``: the quantities of the theory and the data;
3. ``models``, ``metrics``, ``objectives``, ``config``: networks, scores, games, runs;
4. ``sampling``, ``ema``, ``distributed``, ``runfolder``, ``pictures``: reading
   networks, averaging them, ranks, and the parts the loop calls (files, pictures);
5. ``training``: the seed's loop; ``seeds`` stacks it; ``classifier``;
6. ``evaluation``, ``benchmark``, ``bench``, ``experiments``, ``demo``, ``report``;
7. ``api`` (``gankit.train``) and ``cli``.
"""

from typing import Any

from .config import TrainConfig
from .training import Trainer, load_generator

__version__ = "0.1.0"

__all__ = ["TrainConfig", "Trainer", "__version__", "load_generator", "train"]


def __getattr__(name: str) -> Any:  # ``gankit.train`` attaches evaluation, which sits above the loop
    if name == "train":
        from .api import train

        return train
    raise AttributeError(f"module 'gankit' has no attribute {name!r}")
