r"""Divergences and distances between probability distributions, and Lipschitz constants.

Everything the GAN / WGAN argument rests on, as pure functions:

* discrete :func:`kl` and :func:`js` (with :math:`0 \log 0 = 0`, ``+inf`` where
  :math:`q = 0 < p`, and JS equal to :math:`\log 2` exactly on disjoint supports);
* closed forms between Gaussians: :func:`kl_gaussian` and the Bures formula
  :func:`w2_gaussian`;
* exact optimal transport between empirical distributions: :func:`wasserstein`
  (network simplex in any dimension, quantile functions in 1-D through
  :func:`wasserstein_1d`) and the Monte Carlo :func:`sliced_wasserstein`;
* sample-based estimators for continuous data: :func:`kl_knn` and :func:`js_samples`;
* what a discriminator's outputs imply (:func:`discriminator_probability`,
  :func:`js_from_discriminator_loss`) and KL / JS between densities on a grid
  (:func:`kl_on_grid`, :func:`js_on_grid`);
* Lipschitz constants of a network: the empirical lower bound
  :func:`lipschitz_estimate` and the layer-wise upper bound :func:`lipschitz_upper_bound`.

Array arguments may be numpy arrays, Python sequences or torch tensors; tensors are
detached and converted to float64. Scalars are returned as Python floats. Invalid
input raises :class:`ValueError` whose message names the argument and the rule.
"""

from .discrete import js, kl
from .estimators import js_samples, kl_knn
from .gaussian import kl_gaussian, w2_gaussian
from .grid import discriminator_probability, js_from_discriminator_loss, js_on_grid, kl_on_grid
from .lipschitz import LipschitzEstimate, lipschitz_estimate, lipschitz_upper_bound
from .transport import sliced_wasserstein, wasserstein, wasserstein_1d

__all__ = [
    "LipschitzEstimate",
    "discriminator_probability",
    "js",
    "js_from_discriminator_loss",
    "js_on_grid",
    "js_samples",
    "kl",
    "kl_gaussian",
    "kl_knn",
    "kl_on_grid",
    "lipschitz_estimate",
    "lipschitz_upper_bound",
    "sliced_wasserstein",
    "w2_gaussian",
    "wasserstein",
    "wasserstein_1d",
]
