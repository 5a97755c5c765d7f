r"""The parts that make a generator or a discriminator class-conditional.

* The generator reads the class through **class-conditional batch norm**
  (de Vries et al. 2017; Miyato and Koyama 2018): every batch norm of the image
  generators normalises without its own affine map and takes a gain and a bias
  per class,

  .. math::
      \mathrm{CBN}(h, y) = \gamma_y \odot \frac{h - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}} + \beta_y,

  initialised to :math:`\gamma_y = 1, \beta_y = 0`. An MLP generator takes the
  one-hot class beside the noise (Mirza and Osindero 2014).
* The discriminator uses the **projection head** (Miyato and Koyama 2018): with
  :math:`\phi(x)` its last features, :math:`\psi` its unconditional score and an
  embedding :math:`v_y` per class,

  .. math::
      D(x, y) = \psi(\phi(x)) + v_y^\top \phi(x).

  With a class loss (``--class-loss``) the class terms of all classes are
  also read as a classifier's logits, :math:`p(c \mid x) \propto \exp(v_c^\top
  \phi(x))`, trained by cross-entropy on real images (D) and asked of the
  generated ones (G): :func:`class_loss` (dual projection, Han et al. 2021).

A class is given as an integer label; every embedding here is a linear map of
the one-hot vector (``nn.Linear(C, d, bias=False)``), so spectral norm and the
stacked seeds treat it as any other linear layer.

References:
    Mirza, M. and Osindero, S. (2014). Conditional Generative Adversarial Nets. arXiv:1411.1784.
    de Vries, H. et al. (2017). Modulating early visual processing by language. NeurIPS.
    Miyato, T. and Koyama, M. (2018). cGANs with Projection Discriminator. ICLR.
    Odena, A., Olah, C. and Shlens, J. (2017). Conditional Image Synthesis with Auxiliary Classifier GANs. ICML.
    Han, L., Min, M. R., Stathopoulos, A., Tian, Y., Gao, R., Kadav, A. and Metaxas, D. (2021).
    Dual Projection Generative Adversarial Networks for Conditional Image Generation. ICCV.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def one_hot(y: Tensor, n_classes: int, like: Tensor) -> Tensor:
    """Integer labels ``(...)`` as one-hot rows ``(..., C)`` in ``like``'s dtype and device."""
    if y.dtype.is_floating_point:
        raise TypeError(f"class labels must be integers; got a tensor of {y.dtype}")
    return F.one_hot(y.to(like.device).long(), n_classes).to(like.dtype)


def need_labels(module: nn.Module, y: Tensor | None) -> Tensor:
    """``y``, or a ``ValueError`` saying the conditional ``module`` needs labels."""
    if y is None:
        raise ValueError(f"this {type(module).__name__} is class-conditional ({module.n_classes} classes): "
                         "give the labels y")
    return y


class ConditionalBatchNorm2d(nn.Module):
    r"""Batch norm with a gain and a bias per class: :math:`\gamma_y \hat h + \beta_y` (see the module).

    Args:
        channels: feature maps.
        n_classes: C.
    """

    def __init__(self, channels: int, n_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Linear(n_classes, channels, bias=False)
        self.bias = nn.Linear(n_classes, channels, bias=False)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, h: Tensor, onehot: Tensor) -> Tensor:
        return self.bn(h) * self.gain(onehot)[:, :, None, None] + self.bias(onehot)[:, :, None, None]


def norm2d(channels: int, n_classes: int) -> nn.Module:
    """Batch norm for an image generator: class-conditional when ``n_classes`` > 0."""
    return ConditionalBatchNorm2d(channels, n_classes) if n_classes else nn.BatchNorm2d(channels)


def run_layers(layers: nn.Sequential, h: Tensor, onehot: Tensor | None) -> Tensor:
    """Apply ``layers`` in order; the class-conditional ones also get the one-hot classes."""
    for layer in layers:
        h = layer(h, onehot) if isinstance(layer, (ConditionalBatchNorm2d, ConditionalBlock)) else layer(h)
    return h


class ConditionalBlock(nn.Module):
    """A block whose ``forward(h, onehot)`` also reads the classes (marks it for :func:`run_layers`)."""


def add_class_prior(G: nn.Module, n_classes: int) -> None:
    """Give a conditional generator ``n_classes`` and a buffer ``class_prior`` (the training data's class
    frequencies, uniform until set): what sampling draws classes from when none is asked."""
    G.n_classes = int(n_classes)
    if n_classes:
        G.register_buffer("class_prior", torch.full((n_classes,), 1.0 / n_classes))


class Projection(nn.Module):
    r"""The projection head's class term :math:`v_y^\top \phi(x)` (added to the unconditional score).

    Args:
        n_classes: C.
        features: the size of :math:`\phi(x)`.
    """

    def __init__(self, n_classes: int, features: int):
        super().__init__()
        self.embed = nn.Linear(n_classes, features, bias=False)
        self.n_classes = n_classes

    def forward(self, phi: Tensor, y: Tensor) -> Tensor:
        return (self.embed(one_hot(y, self.n_classes, phi)) * phi).sum(-1)

    def logits(self, phi: Tensor) -> Tensor:
        r"""The class term of every class, :math:`v_c^\top \phi(x)`, ``(B, C)``: read as the logits of a
        softmax classifier, they are what the class loss trains (:func:`class_loss`)."""
        return phi @ self.embed.weight  # (B, F) @ (F, C)


def head(D: nn.Module, out: Tensor, phi: Tensor, y: Tensor | None, logits: bool) -> Tensor | tuple[Tensor, Tensor]:
    """A discriminator's score ``out`` plus its projection term on features ``phi`` (when class-conditional);
    with ``logits`` also the classes' logits (:meth:`Projection.logits`)."""
    if not D.n_classes:
        if logits:
            raise ValueError(f"this {type(D).__name__} is unconditional: it has no class logits")
        return out
    out = out + D.projection(phi, need_labels(D, y))
    return (out, D.projection.logits(phi)) if logits else out


def class_loss(logits: Tensor, y: Tensor) -> Tensor:
    r"""The cross-entropy of the discriminator's class logits to the classes ``y`` (mean over the batch):

    .. math::
        L_{cls} = -\mathbb{E}\left[\log \frac{\exp(v_y^\top \phi(x))}{\sum_c \exp(v_c^\top \phi(x))}\right],

    the classification term of the dual projection discriminator (Han et al. 2021), which reads the
    projection head's class embeddings as a classifier (as AC-GAN's auxiliary classifier, Odena et al.
    2017). ``logits`` ``(..., B, C)`` and ``y`` ``(..., B)``: a loss per leading index (stacked runs).
    """
    per = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1).long(), reduction="none")
    return per.reshape(y.shape).mean(-1)
