r"""S runs' image networks (DCGAN, ResNet) stacked into one by grouped convolutions.

A stacked image network keeps the runs' feature maps side by side along the
channels: the *grouped* layout ``(B, S * C, H, W)``, in which run s owns
channels :math:`sC, \dots, (s + 1)C - 1`. A convolution with ``groups=S``
connects each group of input channels to its own group of output channels
only, so one call computes every run's convolution with its own kernel:

.. math::
    \big[h^{(1)}_l, \dots, h^{(S)}_l\big]
    = \mathrm{conv}_{\mathrm{groups}=S}\Big(\big[h^{(1)}_{l-1}, \dots, h^{(S)}_{l-1}\big];\
      \big[W^{(1)}_l; \dots; W^{(S)}_l\big]\Big),
    \qquad h^{(s)}_l = W^{(s)}_l * h^{(s)}_{l-1}.

The grouped weight ``(S * out, in, k, k)`` is the stacked parameter ``(S, out, in, k, k)``
reshaped (a view; a transposed convolution's ``(S, in, out, k, k)`` as ``(S * in, out, k, k)``),
so the runs' own layers still hold views of its rows (:class:`~gankit.training.stacked_layers.Share`).
Everything else the image networks do is per channel, or per run, and keeps the single runs' values:

* batch norm over the ``S * C`` channels: every statistic is a mean over ``(B, H, W)`` of one channel
  of one run, as the single run's, and the running statistics are views of the runs' own;
* layer norm of the critics, ``GroupNorm(1, C)`` per run, is ``GroupNorm(S, S * C)``, each run's
  affine map side by side;
* activations, nearest upsampling and average pooling act per channel;
* what reads a vector per sample is a linear map per run on the *stacked* layout ``(S, B, F)``
  (:class:`~gankit.training.stacked_layers.StackedLinear`): the generator's projection of z, the
  critic's score, the class embeddings of the projection head and the per-class gains and biases of
  conditional batch norm. ``nn.Unflatten`` and ``nn.Flatten`` of the single networks move between the
  two layouts.

Spectral norm reads each run's conv kernel as the matrix ``(out, in k k)``, as the single layer does
(:class:`~gankit.training.stacked_layers.StackedWeight`).

Why grouped convolutions: batching the runs into the batch axis, ``(S B, C, H, W)``, needs one
kernel per run, and a loop over the runs makes S small calls per layer, the per-call overhead the
stack exists to remove; ``torch.func`` cannot keep the penalties' double backward, the batch-norm
buffers and the power iteration (:mod:`gankit.training.stacked`). A grouped convolution is one
library call (oneDNN on the CPU, cuDNN on CUDA) whose groups never mix, so the runs stay
independent.

Memory order: every tensor is kept in the order the single run's is (the single runs' convolution
weights are channels-last, :data:`~gankit.training.run.CONV_MODELS`, their inputs and the
generator's projected maps ``(B, C, H, W)``), so the kernels reduce in the same order and the
generator's forward pass is bit for bit the single runs'. Channels-last activations throughout
made a stacked DCGAN iteration about 8% faster on one CPU thread (width 32, Fashion-MNIST, S = 3),
but the rounding differences they add were amplified, at one seed of the 8x8 digits, to 1e-3 in
the samples after 20 iterations (this order: 1e-6).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models import DCGANDiscriminator, DCGANGenerator, Packed, ResNetDiscriminator, ResNetGenerator, pack_size
from ..models.conditional import ConditionalBatchNorm2d, need_labels, one_hot
from ..models.resample import conv2d_avgpool, upsample_conv2d
from ..models.resnet import DownBlock, UpBlock
from .stacked_layers import ELEMENTWISE, Share, StackedBatchNorm, StackedLinear, StackedWeight, projection_head


def grouped(x: Tensor) -> Tensor:
    """The runs' images ``(S, B, C, H, W)`` side by side as channels, ``(B, S * C, H, W)``."""
    S, B, C, H, W = x.shape
    return x.transpose(0, 1).reshape(B, S * C, H, W)  # one copy


def ungrouped(h: Tensor, runs: int) -> Tensor:
    """The grouped layout ``(B, S * C, H, W)`` back to the runs', ``(S, B, C, H, W)`` (a view)."""
    B, SC, H, W = h.shape
    return h.reshape(B, runs, SC // runs, H, W).transpose(0, 1)


# --------------------------------------------------------------------------- layers on the grouped layout


class StackedConv(StackedWeight):
    """S ``Conv2d`` or ``ConvTranspose2d`` layers as one convolution with ``groups=S`` on ``(B, S * C, H, W)``."""

    def __init__(self, layers: list[nn.Conv2d | nn.ConvTranspose2d], share: Share):
        first = layers[0]
        if first.groups != 1 or first.padding_mode != "zeros":
            raise TypeError(f"cannot stack a {type(first).__name__} with groups {first.groups} and padding mode "
                            f"{first.padding_mode!r} (stacked convolutions: groups 1, zero padding)")
        super().__init__(layers, share)  # weights (S, out, in, k, k), or (S, in, out, k, k) transposed
        self.runs, self.transposed = len(layers), isinstance(first, nn.ConvTranspose2d)
        self.stride, self.padding, self.dilation = first.stride, first.padding, first.dilation
        self.output_padding = first.output_padding

    def _grouped(self) -> tuple[Tensor, Tensor | None]:
        W = self.effective_weight()
        W = W.reshape(-1, *W.shape[2:]).contiguous(memory_format=torch.channels_last)  # (S * out, in, k, k)
        return W, None if self.bias is None else self.bias.reshape(-1)  # (S * out,)

    def upsampled(self, h: Tensor) -> Tensor:
        """Every run's 3x3 conv of its maps upsampled by 2: :func:`~gankit.models.resample.upsample_conv2d`."""
        return upsample_conv2d(h, *self._grouped(), groups=self.runs)

    def pooled(self, h: Tensor) -> Tensor:
        """Every run's 3x3 conv then average pooling by 2: :func:`~gankit.models.resample.conv2d_avgpool`."""
        return conv2d_avgpool(h, *self._grouped(), groups=self.runs)

    def forward(self, h: Tensor) -> Tensor:
        W, b = self._grouped()
        if self.transposed:
            return F.conv_transpose2d(h, W, b, self.stride, self.padding, self.output_padding, self.runs,
                                      self.dilation)
        return F.conv2d(h, W, b, self.stride, self.padding, self.dilation, self.runs)


class StackedBatchNorm2d(StackedBatchNorm):
    """S ``BatchNorm2d`` layers as one over the ``S * C`` channels of ``(B, S * C, H, W)``: statistics per run
    and channel."""

    def forward(self, h: Tensor) -> Tensor:
        return self.normalise(h)


class StackedGroupNorm(nn.Module):
    """S ``GroupNorm(g, C)`` layers as ``GroupNorm(S g, S C)`` on ``(B, S * C, H, W)``: each run's groups lie in
    its own channels, each with the run's own affine map."""

    def __init__(self, layers: list[nn.GroupNorm], share: Share):
        super().__init__()
        first = layers[0]
        self.groups, self.eps = first.num_groups * len(layers), first.eps
        self.weight = share.stack(layers, "weight") if first.affine else None  # (S, C)
        self.bias = share.stack(layers, "bias") if first.affine else None

    def forward(self, h: Tensor) -> Tensor:
        return F.group_norm(h, self.groups, None if self.weight is None else self.weight.reshape(-1),
                            None if self.bias is None else self.bias.reshape(-1), self.eps)


def _per_channel(t: Tensor) -> Tensor:
    """A vector per run and sample, ``(S, B, C)``, as per-channel factors of the grouped layout ``(B, S C, 1, 1)``."""
    S, B, C = t.shape
    return t.transpose(0, 1).reshape(B, S * C)[:, :, None, None]


class StackedConditionalBatchNorm2d(nn.Module):
    r"""S class-conditional batch norms, :math:`\gamma^{(s)}_y \hat h^{(s)} + \beta^{(s)}_y`: the statistics as
    :class:`StackedBatchNorm2d`, each run's gains and biases a :class:`StackedLinear` of the one-hot classes."""

    def __init__(self, layers: list[ConditionalBatchNorm2d], share: Share):
        super().__init__()
        self.bn = StackedBatchNorm2d([m.bn for m in layers], share)
        self.gain = StackedLinear([m.gain for m in layers], share)
        self.bias = StackedLinear([m.bias for m in layers], share)

    def forward(self, h: Tensor, onehot: Tensor) -> Tensor:
        return self.bn(h) * _per_channel(self.gain(onehot)) + _per_channel(self.bias(onehot))


class ToGrouped(nn.Module):
    """``nn.Unflatten(1, (C, H, W))`` of every run: ``(S, B, C H W) -> (B, S * C, H, W)``."""

    def __init__(self, layer: nn.Unflatten):
        super().__init__()
        self.shape = tuple(layer.unflattened_size)

    def forward(self, x: Tensor) -> Tensor:
        S, B = x.shape[:2]
        return grouped(x.reshape(S, B, *self.shape))


class ToStacked(nn.Module):
    """``nn.Flatten()`` of every run: ``(B, S * C, H, W) -> (S, B, C H W)``."""

    def __init__(self, runs: int):
        super().__init__()
        self.runs = runs

    def forward(self, h: Tensor) -> Tensor:
        return ungrouped(h, self.runs).flatten(2)


def _norm(layers: list[nn.Module], share: Share) -> nn.Module:
    """A batch norm of the residual blocks (class-conditional or not), stacked."""
    if isinstance(layers[0], ConditionalBatchNorm2d):
        return StackedConditionalBatchNorm2d(layers, share)
    return StackedBatchNorm2d(layers, share)


class StackedUpBlock(nn.Module):
    """S ResNet generator blocks (:class:`~gankit.models.resnet.UpBlock`) on the grouped layout."""

    def __init__(self, blocks: list[UpBlock], share: Share):
        super().__init__()
        self.bn1, self.conv1 = _norm([b.bn1 for b in blocks], share), StackedConv([b.conv1 for b in blocks], share)
        self.bn2, self.conv2 = _norm([b.bn2 for b in blocks], share), StackedConv([b.conv2 for b in blocks], share)
        self.shortcut = StackedConv([b.shortcut for b in blocks], share)
        self.conditional = blocks[0].conditional

    # the single block's wiring on the stacked layers (nearest upsampling acts per channel: (B, S C, 2H, 2W))
    _bn, forward = UpBlock._bn, UpBlock.forward

    @staticmethod
    def _up_conv3(conv: StackedConv, h: Tensor) -> Tensor:
        return conv.upsampled(h)


class StackedDownBlock(nn.Module):
    """S ResNet critic blocks (:class:`~gankit.models.resnet.DownBlock`) on the grouped layout."""

    def __init__(self, blocks: list[DownBlock], share: Share):
        super().__init__()
        self.conv1, self.conv2 = (StackedConv([b.conv1 for b in blocks], share),
                                  StackedConv([b.conv2 for b in blocks], share))
        self.down, self.first = blocks[0].down, blocks[0].first
        self.shortcut = None if blocks[0].shortcut is None else StackedConv([b.shortcut for b in blocks], share)
        self.relu = blocks[0].relu

    forward = DownBlock.forward  # the single block's wiring on the stacked layers (pooling acts per channel)

    @staticmethod
    def _conv3_pool(conv: StackedConv, h: Tensor) -> Tensor:
        return conv.pooled(h)


_CONDITIONAL = (StackedConditionalBatchNorm2d, StackedUpBlock)  # layers that also read the classes


def stack_image_layer(layers: list[nn.Module], share: Share) -> nn.Module:
    """S runs' layer at one place of an image network, stacked (a ``TypeError`` for a kind no class stacks)."""
    first = layers[0]
    kinds = [(nn.Conv2d, StackedConv), (nn.ConvTranspose2d, StackedConv), (nn.BatchNorm2d, StackedBatchNorm2d),
             (nn.GroupNorm, StackedGroupNorm), (ConditionalBatchNorm2d, StackedConditionalBatchNorm2d),
             (nn.Linear, StackedLinear), (UpBlock, StackedUpBlock), (DownBlock, StackedDownBlock)]
    for kind, stacked in kinds:
        if isinstance(first, kind):
            return stacked(layers, share)
    if isinstance(first, nn.Unflatten):
        return ToGrouped(first)
    if isinstance(first, nn.Flatten) and (first.start_dim, first.end_dim) == (1, -1):
        return ToStacked(len(layers))
    if isinstance(first, ELEMENTWISE):
        return first
    raise TypeError(f"cannot stack a {type(first).__name__} layer of an image network")


class StackedLayers(nn.Sequential):
    """S runs' layers in order, each stacked; the class-conditional ones also get the one-hot classes
    ``(S, B, classes)``."""

    def __init__(self, nets: list[list[nn.Module]], share: Share):
        super().__init__(*[stack_image_layer([net[i] for net in nets], share) for i in range(len(nets[0]))])

    def forward(self, h: Tensor, onehot: Tensor | None = None) -> Tensor:
        for layer in self:
            h = layer(h, onehot) if isinstance(layer, _CONDITIONAL) else layer(h)
        return h


# --------------------------------------------------------------------------- the networks


class StackedImageGenerator(nn.Module):
    """S runs' DCGAN or ResNet generators as one: ``z (S, B, noise_dim)`` [, ``y (S, B)``] ``-> (S, B, C, H, W)``.

    The layers in the single network's order (projection of z, then the stages or blocks and the output);
    the classes of a conditional one reach every conditional batch norm.
    """

    def __init__(self, modules: list[DCGANGenerator | ResNetGenerator], share: Share):
        super().__init__()
        first = modules[0]
        self.runs, self.noise_dim, self.sample_shape = len(modules), first.noise_dim, tuple(first.sample_shape)
        self.n_classes = first.n_classes
        if isinstance(first, DCGANGenerator):
            layers = [[*m.project, *m.stages] for m in modules]
        else:
            layers = [[*m.project, *m.blocks, *m.out] for m in modules]
        self.body = StackedLayers(layers, share)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        onehot = one_hot(need_labels(self, y), self.n_classes, z) if self.n_classes else None  # (S, B, classes)
        return ungrouped(self.body(z, onehot), self.runs)  # (S, B, C, H, W)


class StackedImageDiscriminator(nn.Module):
    r"""S runs' DCGAN or ResNet critics as one: ``x (S, B, C, H, W)`` [, ``y (S, B)``] ``-> (S, B / m)``.

    Packs of ``m`` samples (PacGAN) are formed per run as the single critic forms them; the features
    :math:`\phi` (flattened for DCGAN, ReLU and summed over positions for ResNet) go to each run's score
    and, for a conditional critic, its projection head :math:`v^{(s)\top}_y \phi`.
    """

    def __init__(self, modules: list[nn.Module], share: Share):
        super().__init__()
        self.runs, self.pack, self.sample_shape = len(modules), pack_size(modules[0]), tuple(modules[0].sample_shape)
        inner = [m.inner if isinstance(m, Packed) else m for m in modules]
        self.resnet = isinstance(inner[0], ResNetDiscriminator)
        self.relu = inner[0].relu if self.resnet else None
        self.body = StackedLayers([list(m.blocks if self.resnet else m.features) for m in inner], share)
        self.score = StackedLinear([m.score for m in inner], share)
        self.n_classes = inner[0].n_classes
        if self.n_classes:
            self.embed = StackedLinear([m.projection.embed for m in inner], share)

    def forward(self, x: Tensor, y: Tensor | None = None, *, logits: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Scores ``(S, B / m)``; with ``logits``, also the projection head's class logits ``(S, B, C)``."""
        S, B = x.shape[:2]
        c, *rest = self.sample_shape
        h = self.body(grouped(x.reshape(S, B // self.pack, self.pack * c, *rest)))  # m consecutive samples a pack
        phi = ungrouped(self.relu(h), S).sum(dim=(3, 4)) if self.resnet else h  # (S, B / m, features)
        return projection_head(self, self.score(phi).squeeze(-1), phi, y, logits)


def stack_image_network(modules: list[nn.Module], share: Share) -> nn.Module:
    """S runs' DCGAN or ResNet generators or critics as one network (a ``TypeError`` for another kind)."""
    first = modules[0].inner if isinstance(modules[0], Packed) else modules[0]
    if isinstance(first, (DCGANGenerator, ResNetGenerator)):
        return StackedImageGenerator(modules, share)
    if isinstance(first, (DCGANDiscriminator, ResNetDiscriminator)):
        return StackedImageDiscriminator(modules, share)
    raise TypeError(f"cannot stack a {type(first).__name__}: gankit stacks its MLP, DCGAN and ResNet networks")
