"""gankit: vanilla GAN and Wasserstein GAN exactly as the theory states them.

The package is organised one concept per module, dependencies pointing one way:
``divergences`` -> ``data`` / ``models`` / ``objectives`` -> ``training`` ->
``metrics`` -> ``experiments`` -> ``cli``.
"""

from .config import TrainConfig
from .training import Trainer, load_generator, train

__version__ = "0.1.0"

__all__ = ["TrainConfig", "Trainer", "__version__", "load_generator", "train"]
