"""gankit: vanilla GAN and Wasserstein GAN exactly as the theory states them.

The package is organised one concept per module, dependencies pointing one way:
``divergences`` -> ``data`` / ``models`` / ``objectives`` -> ``train`` -> ``metrics``
-> ``experiments`` -> ``cli``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
