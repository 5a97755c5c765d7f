r"""The layers stacked networks are built of, and the stacked MLP.

A stacked layer is S layers of one kind (one per run) as one module whose
parameters have a leading axis of S (:class:`Share` builds them from the runs'
own layers and turns the runs' parameters into views of their rows). On the
stacked layout ``(S, B, features)`` a linear layer is one batched product:

.. math::
    h^{(s)}_{l} = \phi\big(h^{(s)}_{l-1} W^{(s)\top}_l + b^{(s)}_l\big),
    \qquad s = 1, \dots, S \quad \text{(one } \mathtt{baddbmm} \text{)}.

Batch norm keeps statistics per run (the runs' channels side by side), layer
norm normalises each sample as it is, and a layer under spectral norm runs one
power iteration per run. :mod:`gankit.training.stacked_conv` adds the image
layers (grouped convolutions); :mod:`gankit.training.stacked` steps the runs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

from ..models import MLPDiscriminator, MLPGenerator, Packed, pack_size
from ..models.conditional import need_labels, one_hot


class Share:
    """Stacks the runs' tensors, then turns each run's tensor into a view of its row of the stacked one.

    ``params`` pairs each stacked parameter with the runs' own parameters: the
    originals until :meth:`make_views`, the views after it.
    """

    def __init__(self) -> None:
        self.params: list[tuple[nn.Parameter, list[Tensor]]] = []
        self._owners: list[tuple[Tensor, list[nn.Module], str, bool]] = []

    def stack(self, owners: list[nn.Module], name: str, parameter: bool = True) -> Tensor:
        singles = [getattr(m, name) for m in owners]
        data = torch.stack([t.detach() for t in singles]).clone(memory_format=torch.contiguous_format)  # (S, ...)
        stacked: Tensor = nn.Parameter(data) if parameter else data
        if parameter:
            self.params.append((stacked, singles))
        self._owners.append((stacked, owners, name, parameter))
        return stacked

    def make_views(self) -> None:
        views: dict[int, list[Tensor]] = {}
        for stacked, owners, name, parameter in self._owners:
            rows = []
            for s, module in enumerate(owners):
                if parameter:
                    old = module._parameters[name]
                    module._parameters[name] = nn.Parameter(stacked.data[s], requires_grad=old.requires_grad)
                    rows.append(module._parameters[name])
                else:
                    module._buffers[name] = stacked[s]
            if parameter:
                views[id(stacked)] = rows
        self.params = [(P, views[id(P)]) for P, _ in self.params]


class StackedWeight(nn.Module):
    r"""S layers' weights ``(S, out, ...)`` and biases ``(S, out)`` stacked, under spectral norm where theirs are.

    A layer under spectral norm (``torch.nn.utils.parametrizations.spectral_norm``, over the
    output axis) keeps it: each run's weight is read as the matrix :math:`W^{(s)}` of shape
    ``(out, in * ...)`` (a convolution's kernel flattened, as the single layer reads it); in
    training mode every call runs one power iteration per run, as the single layer does,

    .. math::
        u^{(s)} \leftarrow \frac{W^{(s)} v^{(s)}}{\|W^{(s)} v^{(s)}\|}, \quad
        v^{(s)} \leftarrow \frac{W^{(s)\top} u^{(s)}}{\|W^{(s)\top} u^{(s)}\|}, \quad
        \sigma^{(s)} = u^{(s)\top} W^{(s)} v^{(s)},

    and the weight used is :math:`W^{(s)} / \sigma^{(s)}`.
    """

    def __init__(self, layers: list[nn.Module], share: Share):
        super().__init__()
        self.spectral = parametrize.is_parametrized(layers[0], "weight")
        if self.spectral:
            norms = [layer.parametrizations.weight[0] for layer in layers]
            if norms[0].dim != 0:
                raise TypeError(f"cannot stack a {type(layers[0]).__name__} under spectral norm over its axis "
                                f"{norms[0].dim} (stacked spectral norm reads the output axis, 0)")
            originals = [layer.parametrizations.weight for layer in layers]
            self.weight = share.stack(originals, "original")
            self.register_buffer("u", share.stack(norms, "_u", parameter=False))
            self.register_buffer("v", share.stack(norms, "_v", parameter=False))
            self.eps, self.n_power_iterations = norms[0].eps, norms[0].n_power_iterations
        else:
            self.weight = share.stack(layers, "weight")
        self.bias = share.stack(layers, "bias") if layers[0].bias is not None else None

    def effective_weight(self) -> Tensor:
        W = self.weight  # (S, out, ...)
        if not self.spectral:
            return W
        M = W.flatten(2)  # (S, out, in * ...): each run's weight as the single layer's matrix
        if self.training:
            with torch.no_grad():
                for _ in range(self.n_power_iterations):  # in place: the runs' buffers are views
                    self.u.copy_(F.normalize(torch.bmm(M, self.v.unsqueeze(-1)).squeeze(-1), dim=-1, eps=self.eps))
                    self.v.copy_(F.normalize(torch.bmm(M.transpose(1, 2), self.u.unsqueeze(-1)).squeeze(-1),
                                             dim=-1, eps=self.eps))
        u, v = self.u.clone(), self.v.clone()
        sigma = torch.einsum("so,soi,si->s", u, M, v)  # (S,)
        return W / sigma.view(-1, *[1] * (W.ndim - 1))


class StackedLinear(StackedWeight):
    """S linear layers as one: ``x (S, B, in) -> x W^T + b``, weights ``(S, out, in)`` (spectral norm kept:
    :class:`StackedWeight`)."""

    def forward(self, x: Tensor) -> Tensor:
        W = self.effective_weight().transpose(1, 2)  # (S, in, out)
        if self.bias is None:
            return torch.bmm(x, W)
        return torch.baddbmm(self.bias.unsqueeze(1), x, W)  # (S, B, out)


class StackedBatchNorm(nn.Module):
    """S ``BatchNorm1d`` layers with statistics per run: ``(S, B, C)`` normalised as ``(B, S * C)``."""

    def __init__(self, layers: list[nn.BatchNorm1d], share: Share):
        super().__init__()
        first = layers[0]
        self.eps, self.momentum = first.eps, first.momentum
        self.weight = share.stack(layers, "weight") if first.affine else None
        self.bias = share.stack(layers, "bias") if first.affine else None
        self.register_buffer("running_mean", share.stack(layers, "running_mean", parameter=False))
        self.register_buffer("running_var", share.stack(layers, "running_var", parameter=False))
        self.register_buffer("num_batches_tracked", share.stack(layers, "num_batches_tracked", parameter=False))

    def normalise(self, flat: Tensor) -> Tensor:
        """Batch norm of the runs' channels side by side, ``(B, S * C, ...)``: statistics per run and channel."""
        if self.training:
            self.num_batches_tracked.add_(1)
        momentum = self.momentum
        if momentum is None:  # cumulative average, as BatchNorm1d(momentum=None)
            momentum = 1.0 / float(self.num_batches_tracked[0])
        return F.batch_norm(flat, self.running_mean.view(-1), self.running_var.view(-1),
                            None if self.weight is None else self.weight.reshape(-1),
                            None if self.bias is None else self.bias.reshape(-1),
                            self.training, momentum, self.eps)

    def forward(self, x: Tensor) -> Tensor:
        S, B, C = x.shape
        flat = x.transpose(0, 1).reshape(B, S * C)  # channels of all runs side by side
        return self.normalise(flat).reshape(B, S, C).transpose(0, 1)  # (S, B, C)


class StackedLayerNorm(nn.Module):
    """S ``LayerNorm`` layers over the last axis, each with its own affine parameters."""

    def __init__(self, layers: list[nn.LayerNorm], share: Share):
        super().__init__()
        self.shape, self.eps = layers[0].normalized_shape, layers[0].eps
        self.weight = share.stack(layers, "weight") if layers[0].weight is not None else None
        self.bias = share.stack(layers, "bias") if layers[0].bias is not None else None

    def forward(self, x: Tensor) -> Tensor:
        out = F.layer_norm(x, self.shape, None, None, self.eps)
        if self.weight is not None:
            out = out * self.weight.unsqueeze(1)
        if self.bias is not None:
            out = out + self.bias.unsqueeze(1)
        return out


ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.ELU, nn.Identity, nn.Sigmoid)


def _stack_layer(layers: list[nn.Module], share: Share) -> nn.Module:
    first = layers[0]
    if isinstance(first, nn.Linear):
        return StackedLinear(layers, share)
    if isinstance(first, nn.BatchNorm1d):
        return StackedBatchNorm(layers, share)
    if isinstance(first, nn.LayerNorm):
        return StackedLayerNorm(layers, share)
    if isinstance(first, ELEMENTWISE):
        return first
    raise TypeError(f"cannot stack a {type(first).__name__} layer")


class StackedMLP(nn.Module):
    """S runs' MLP generators or discriminators as one network.

    A generator maps ``(S, B, noise_dim) -> (S, B, *sample_shape)``, a
    discriminator ``(S, B, *sample_shape) -> (S, B / m)``.

    Attributes:
        seeds: S, the number of stacked runs.
        pack: samples per discriminator input (PacGAN), 1 for generators.
        sample_shape: the shape of one sample.
    """

    def __init__(self, modules: list[nn.Module], share: Share):
        super().__init__()
        self.seeds = len(modules)
        self.pack = pack_size(modules[0])
        inner = [m.inner if isinstance(m, Packed) else m for m in modules]
        if not all(isinstance(m, (MLPGenerator, MLPDiscriminator)) for m in inner):
            raise TypeError(f"only MLP models can be stacked; got {type(inner[0]).__name__}")
        self.generator = isinstance(inner[0], MLPGenerator)
        self.sample_shape = tuple(modules[0].sample_shape)
        self.n_classes = inner[0].n_classes
        if self.generator:
            self.noise_dim = inner[0].noise_dim
            self.out = inner[0].out
        elif self.n_classes:  # the projection head's class embeddings, one per run
            self.embed = StackedLinear([m.projection.embed for m in inner], share)
        n_layers = len(inner[0].net)
        self.net = nn.Sequential(*[_stack_layer([m.net[i] for m in inner], share) for i in range(n_layers)])

    def forward(self, x: Tensor, y: Tensor | None = None, *, logits: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        S, B = x.shape[:2]
        if self.generator:
            if self.n_classes:
                x = torch.cat([x, one_hot(need_labels(self, y), self.n_classes, x)], dim=-1)  # (S, B, noise + C)
            return self.out(self.net(x)).reshape(S, B, *self.sample_shape)
        x = x.reshape(S, B // self.pack, -1)  # m consecutive samples form a pack
        if not self.n_classes and not logits:
            return self.net(x).squeeze(-1)
        phi = self.net[:-1](x)  # (S, B, last hidden width)
        return projection_head(self, self.net[-1](phi).squeeze(-1), phi, y, logits)


def projection_head(D: nn.Module, out: Tensor, phi: Tensor, y: Tensor | None,
                    logits: bool) -> Tensor | tuple[Tensor, Tensor]:
    r"""Each run's score ``out`` ``(S, B)`` plus its projection term :math:`v^{(s)\top}_y \phi^{(s)}` (for a
    class-conditional stacked critic ``D``, whose ``embed`` stacks the runs' class embeddings); with ``logits``
    also every class's term, ``(S, B, C)``: per run as :func:`gankit.models.conditional.head`."""
    if not D.n_classes:
        if logits:
            raise ValueError("these stacked critics are unconditional: they have no class logits")
        return out
    out = out + (D.embed(one_hot(need_labels(D, y), D.n_classes, phi)) * phi).sum(-1)
    return (out, torch.bmm(phi, D.embed.effective_weight())) if logits else out  # (S, B, F) @ (S, F, C)
