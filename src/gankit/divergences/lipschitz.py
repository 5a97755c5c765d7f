"""Lipschitz constants of a network: an empirical lower bound and a layer-wise upper bound."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..checks import positive_int, to_float64


@dataclass(frozen=True)
class LipschitzEstimate:
    """Empirical lower bounds of a Lipschitz constant.

    Attributes:
        pairs: largest difference quotient over the sampled pairs.
        gradient: largest input-gradient norm over the sampled points.
        estimate: ``max(pairs, gradient)``.
    """

    pairs: float
    gradient: float
    estimate: float


def _module_placement(f: Callable[..., Any]) -> tuple[torch.dtype | None, torch.device | None]:
    if isinstance(f, nn.Module):
        for param in f.parameters():
            return param.dtype, param.device
    return None, None


def _scalar_outputs(out: torch.Tensor, n: int) -> torch.Tensor:
    if not isinstance(out, torch.Tensor) or out.numel() != n:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"f must return one scalar per sample, shape ({n},) or ({n}, 1); "
                         f"got {shape}")
    return out.reshape(n)


def lipschitz_estimate(
    f: Callable[[torch.Tensor], torch.Tensor],
    x: Any,
    n_pairs: int = 1024,
    seed: int = 0,
    batch_size: int = 1024,
) -> LipschitzEstimate:
    r"""Empirical lower bounds of the Lipschitz constant of a scalar function.

    .. math::
        K \ge \max_{(u, v)} \frac{|f(u) - f(v)|}{\|u - v\|_2}, \qquad
        K \ge \max_{u} \|\nabla_u f(u)\|_2,

    over sampled points: ``n_pairs`` random pairs of rows of ``x``, ``n_pairs`` close
    pairs on random segments between rows (local slopes), and for the gradient every row
    of ``x`` plus ``n_pairs`` random interpolates (the points where WGAN-GP evaluates its
    penalty; Gulrajani et al. 2017). Both are *lower bounds* of the true constant
    :math:`K = \sup |f(u) - f(v)| / \|u - v\|`; compare with
    :func:`lipschitz_upper_bound`. Norms are over each sample flattened.

    ``f`` is called in its current mode (train or eval), without touching its parameters:
    gradients are taken with respect to the inputs only and no ``.grad`` is accumulated.
    The gradient of the summed outputs is the per-sample gradient only if ``f`` treats
    samples independently (e.g. no batch normalisation in training mode).

    Args:
        f: callable on a torch tensor of shape ``(b, ...)`` returning ``(b,)`` or
            ``(b, 1)``, e.g. a critic ``nn.Module``.
        x: sample points, shape ``(n, ...)`` with ``n >= 2``; numpy or torch. When ``f``
            is a module, ``x`` is moved to its parameters' device, and both are taken
            to float64 (a copy of the module): a slope over a close pair in float32 is
            dominated by rounding and could exceed the true constant.
        n_pairs: number of random pairs, of segment pairs and of interpolates.
        seed: seed of the pairs and interpolation weights.
        batch_size: number of points per call of ``f``.

    Returns:
        A :class:`LipschitzEstimate` with fields ``pairs``, ``gradient`` and ``estimate``.

    Raises:
        ValueError: if ``x`` has fewer than two rows or is not finite, ``f`` does not
            return one scalar per sample, or its output does not depend differentiably
            on its input.
    """
    n_pairs = positive_int(n_pairs, "n_pairs")
    batch_size = positive_int(batch_size, "batch_size")
    dtype, device = _module_placement(f)
    if isinstance(f, nn.Module) and dtype is not None and dtype != torch.float64:
        f, dtype = copy.deepcopy(f).double(), torch.float64
    xt = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(to_float64(x, "x"))
    if xt.ndim == 0 or xt.shape[0] < 2:
        raise ValueError(f"x must have shape (n, ...) with n >= 2; got {tuple(xt.shape)}")
    if not torch.is_floating_point(xt):
        xt = xt.to(torch.get_default_dtype())
    xt = xt.to(dtype=xt.dtype if dtype is None else dtype,
               device=xt.device if device is None else device)
    if not bool(torch.isfinite(xt).all()):
        raise ValueError("x must be finite; got NaN or infinite entries")
    n = xt.shape[0]
    view = (-1,) + (1,) * (xt.ndim - 1)  # broadcast per-sample scalars over (n, ...)

    gen = torch.Generator().manual_seed(seed)
    i = torch.randint(0, n, (n_pairs,), generator=gen)
    j = (i + torch.randint(1, n, (n_pairs,), generator=gen)) % n  # j != i
    t = torch.rand(n_pairs, generator=gen, dtype=torch.float64)
    h = (torch.rand(n_pairs, generator=gen, dtype=torch.float64) - 0.5) * 0.1
    i, j = i.to(xt.device), j.to(xt.device)
    t = t.to(device=xt.device, dtype=xt.dtype).reshape(view)
    h = h.to(device=xt.device, dtype=xt.dtype).reshape(view)

    def batches(pts: torch.Tensor):
        return torch.split(pts, batch_size)

    def slopes(u: torch.Tensor, v: torch.Tensor) -> float:
        best = 0.0
        with torch.no_grad():
            for ub, vb in zip(batches(u), batches(v), strict=True):
                dist = (ub - vb).flatten(1).norm(dim=1)
                rise = (_scalar_outputs(f(ub), ub.shape[0])
                        - _scalar_outputs(f(vb), vb.shape[0])).abs()
                keep = dist > 0
                if bool(keep.any()):
                    best = max(best, float((rise[keep] / dist[keep]).max()))
        return best

    xi, xj = xt[i], xt[j]
    u = xi + t * (xj - xi)  # points on random segments
    pairs = max(slopes(xi, xj), slopes(u, u + h * (xj - xi)))

    gradient = 0.0
    with torch.enable_grad():
        for pts in batches(torch.cat([xt, u])):
            inp = pts.detach().clone().requires_grad_(True)
            out = _scalar_outputs(f(inp), inp.shape[0])
            if not out.requires_grad:
                raise ValueError("f must be differentiable in its input; its output does "
                                 "not require grad")
            (grad,) = torch.autograd.grad(out.sum(), inp, allow_unused=True)
            if grad is not None:
                gradient = max(gradient, float(grad.flatten(1).norm(dim=1).max()))
    return LipschitzEstimate(pairs=pairs, gradient=gradient, estimate=max(pairs, gradient))


_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_T = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_ONE_LIPSCHITZ = (
    nn.ReLU, nn.ReLU6, nn.Tanh, nn.Hardtanh, nn.Softsign, nn.Softplus, nn.LogSigmoid,
    nn.CELU, nn.Identity, nn.Flatten, nn.Unflatten,
)
_CONSTANT = {nn.Sigmoid: 0.25, nn.Hardsigmoid: 1.0 / 6.0, nn.Hardswish: 1.5,
             nn.SiLU: 1.1, nn.GELU: 1.13}  # sup |derivative|, rounded up


def _tuple(value: Any, dims: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, Sequence) else (int(value),) * dims


def _conv_norm_bound(layer: nn.Module, spatial: Sequence[int]) -> float:
    r"""Operator-norm bound of the linear part of a (transposed) convolution.

    ``spatial`` is the spatial size on which the underlying correlation acts: the input
    of a convolution, the *output* of a transposed convolution (which is the adjoint of
    the convolution with the same weight, stride, padding and dilation, hence has the
    same norm). A strided, dilated, zero-padded correlation is rewritten, by its
    polyphase decomposition, as a stride-1 correlation of the ``prod(stride)`` phases of
    the input stacked as channels (an isometric rearrangement). That correlation is a
    selection of the outputs of a circular correlation on a grid large enough to avoid
    wrap-around, whose norm is exactly the largest singular value of the Fourier
    transform of its kernel over the grid frequencies (Sedghi, Gupta & Long 2019,
    Thm. 6). The result is therefore an upper bound, tight up to boundary effects.
    """
    if layer.padding_mode != "zeros":
        raise ValueError(f"layer {layer!r} uses padding_mode={layer.padding_mode!r}; only "
                         f"'zeros' padding has a supported Lipschitz bound")
    W = layer.weight.detach().to(device="cpu", dtype=torch.float64)  # (C_out, C_in / g, k...)
    dims = W.ndim - 2
    kernel = tuple(W.shape[2:])
    stride = _tuple(layer.stride, dims)
    dilation = _tuple(layer.dilation, dims)
    groups = layer.groups
    c_out, c_in = W.shape[0], W.shape[1] * groups
    go, gi = c_out // groups, c_in // groups
    dense = W.new_zeros(c_out, c_in, *kernel)  # block-diagonal over groups
    for g in range(groups):
        dense[g * go : (g + 1) * go, g * gi : (g + 1) * gi] = W[g * go : (g + 1) * go]
    # tap k reads input position s * (i + q) + r with (q, r) = divmod(dilation * k, s)
    taps = [(dl * (k - 1)) // s + 1 for dl, k, s in zip(dilation, kernel, stride, strict=True)]
    poly = W.new_zeros(c_out, c_in, *stride, *taps)  # (C_out, C_in, phases..., taps...)
    for k in np.ndindex(*kernel):
        qr = [divmod(dl * ki, s) for dl, ki, s in zip(dilation, k, stride, strict=True)]
        index = tuple(r for _, r in qr) + tuple(q for q, _ in qr)
        poly[(slice(None), slice(None)) + index] += dense[(slice(None), slice(None)) + k]
    poly = poly.reshape(c_out, c_in * math.prod(stride), *taps)  # phases stacked as channels
    # each phase has at most ceil(n / s) + 1 non-zero positions
    grid = [-(-n // s) + 1 + t - 1 for n, s, t in zip(spatial, stride, taps, strict=True)]
    spectrum = torch.fft.fftn(poly, s=grid, dim=tuple(range(2, 2 + dims)))
    spectrum = spectrum.permute(*range(2, 2 + dims), 0, 1)  # (grid..., C_out, C_in * S)
    return float(torch.linalg.matrix_norm(spectrum, ord=2).max())


def _pool_bound(layer: nn.Module, dims: int) -> float:
    kernel = _tuple(layer.kernel_size, dims)
    stride = _tuple(layer.stride if layer.stride is not None else layer.kernel_size, dims)
    overlap = math.prod(math.ceil(k / s) for k, s in zip(kernel, stride, strict=True))
    if isinstance(layer, nn.modules.pooling._MaxPoolNd):
        if any(dl != 1 for dl in _tuple(layer.dilation, dims)):
            overlap = math.prod(kernel)
        return math.sqrt(overlap)  # each input lies in at most `overlap` windows
    if layer.divisor_override is not None:
        raise ValueError(f"layer {layer!r} uses divisor_override; its Lipschitz bound is "
                         f"not supported")
    padded = any(pd != 0 for pd in _tuple(layer.padding, dims))
    if padded and not layer.count_include_pad:
        return math.sqrt(overlap)
    # rows sum to 1, columns to at most overlap / prod(kernel): ||A|| <= sqrt(||A||_1 ||A||_inf)
    return math.sqrt(overlap / math.prod(kernel))


def _layer_bound(name: str, layer: nn.Module, shapes: dict[str, Sequence[int]]) -> float:
    if isinstance(layer, nn.Linear):
        return float(torch.linalg.matrix_norm(layer.weight.detach().double(), ord=2))
    if isinstance(layer, _CONV + _CONV_T):
        return _conv_norm_bound(layer, shapes[name])
    if isinstance(layer, _ONE_LIPSCHITZ):
        return 1.0
    if isinstance(layer, nn.LeakyReLU):
        return max(1.0, abs(layer.negative_slope))
    if isinstance(layer, nn.ELU):
        return max(1.0, abs(layer.alpha))
    if isinstance(layer, nn.PReLU):
        return max(1.0, float(layer.weight.detach().abs().max()))
    if type(layer) in _CONSTANT:
        return _CONSTANT[type(layer)]
    if isinstance(layer, nn.modules.dropout._DropoutNd):
        return 1.0 / (1.0 - layer.p) if layer.training and layer.p < 1 else 1.0
    if isinstance(layer, nn.modules.pooling._MaxPoolNd | nn.modules.pooling._AvgPoolNd):
        return _pool_bound(layer, int(type(layer).__name__[-2]))
    if isinstance(layer, nn.modules.batchnorm._BatchNorm):
        if layer.training or layer.running_var is None:
            raise ValueError(f"layer {name!r} ({type(layer).__name__}) normalises with batch "
                             f"statistics (training mode or no running stats): its Lipschitz "
                             f"constant is unknown; call module.eval()")
        scale = torch.rsqrt(layer.running_var.detach().double() + layer.eps)
        if layer.weight is not None:
            scale = scale * layer.weight.detach().double().abs()
        return float(scale.max())
    raise ValueError(f"layer {name!r} ({type(layer).__name__}) has no known Lipschitz "
                     f"constant")


def _leaf_layers(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """Layers in registration order; Linear / Conv are leaves even with parametrizations."""
    found: list[tuple[str, nn.Module]] = []

    def walk(prefix: str, mod: nn.Module) -> None:
        children = list(mod.named_children())
        if isinstance(mod, (nn.Linear, *_CONV, *_CONV_T)) or not children:
            found.append((prefix or type(mod).__name__, mod))
            return
        for child_name, child in children:
            walk(f"{prefix}.{child_name}" if prefix else child_name, child)

    walk("", module)
    return found


def _conv_input_shapes(
    module: nn.Module, layers: list[tuple[str, nn.Module]], input_shape: Sequence[int]
) -> dict[str, Sequence[int]]:
    """Spatial size on which each convolution's correlation acts, from one forward pass."""
    shapes: dict[str, Sequence[int]] = {}
    handles = []
    for name, layer in layers:
        if isinstance(layer, _CONV + _CONV_T):

            def hook(
                mod: nn.Module, args: tuple[Any, ...], out: torch.Tensor, name: str = name
            ) -> None:
                # the correlation acts on the input of a convolution and on the output of a
                # transposed convolution (its adjoint)
                acted_on = out if isinstance(mod, _CONV_T) else args[0]
                shapes[name] = tuple(acted_on.shape[2:])

            handles.append(layer.register_forward_hook(hook))
    dtype, device = _module_placement(module)
    try:
        with torch.no_grad():
            module(torch.zeros((1, *input_shape), dtype=dtype, device=device))
    except (RuntimeError, TypeError, ValueError) as err:
        raise ValueError(f"input_shape {tuple(input_shape)} does not fit the module (one "
                         f"sample, without the batch dimension): {err}") from err
    finally:
        for handle in handles:
            handle.remove()
    return shapes


def lipschitz_upper_bound(module: nn.Module, input_shape: Sequence[int] | None = None) -> float:
    r"""Upper bound of a network's Lipschitz constant: the product of layer bounds.

    .. math::
        \mathrm{Lip}(f_L \circ \dots \circ f_1) \le \prod_{l=1}^{L} \mathrm{Lip}(f_l),
        \qquad \mathrm{Lip}(x \mapsto W x + b) = \sigma_{\max}(W)

    (Szegedy et al. 2014, Sec. 4.3; Miyato et al. 2018). The bound assumes that the
    module computes the sequential composition of its layers in registration order (as
    ``nn.Sequential`` does); residual connections or layers used twice break that
    assumption. Per layer:

    * ``nn.Linear``: the largest singular value of the weight;
    * ``nn.Conv{1,2,3}d`` / ``nn.ConvTranspose{1,2,3}d`` (zero padding): the operator
      norm of the convolution on its actual input size, bounded by the exact norm of the
      circular convolution that contains it (largest singular value of the kernel's
      discrete Fourier transform; Sedghi, Gupta & Long 2019). Not the norm of the
      reshaped kernel, which is not a bound;
    * 1-Lipschitz activations (ReLU, LeakyReLU with slope at most 1, tanh, softplus, ...)
      count 1, sigmoid 1/4; pooling and dropout their exact bounds; batch normalisation
      in eval mode :math:`\max |\gamma| / \sqrt{\mathrm{var} + \epsilon}`.

    Args:
        module: the network.
        input_shape: shape of one input sample without the batch dimension, e.g.
            ``(3, 32, 32)``; required when the module contains a convolution (a forward
            pass on zeros records each convolution's input size).

    Returns:
        The bound (a float); biases do not enter.

    Raises:
        ValueError: if a layer has no known Lipschitz constant (e.g. batch normalisation
            in training mode, layer normalisation, or an unknown module type), if a
            convolution is present without ``input_shape``, or if ``input_shape`` does
            not fit the module. The message names the layer.
    """
    if not isinstance(module, nn.Module):
        raise ValueError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    layers = _leaf_layers(module)
    shapes: dict[str, Sequence[int]] = {}
    convs = [name for name, layer in layers if isinstance(layer, _CONV + _CONV_T)]
    if convs:
        if input_shape is None:
            raise ValueError(f"input_shape is required: the module contains convolution "
                             f"layer {convs[0]!r}, whose operator norm depends on its input "
                             f"size")
        for name, layer in layers:  # fail on unknown layers before running a forward pass
            if not isinstance(layer, _CONV + _CONV_T):
                _layer_bound(name, layer, shapes)
        shapes = _conv_input_shapes(module, layers, input_shape)
        missing = [name for name in convs if name not in shapes]
        if missing:
            raise ValueError(f"convolution layer {missing[0]!r} was not called in the forward "
                             f"pass; the sequential-composition bound does not apply")
    bound = 1.0
    for name, layer in layers:
        bound *= _layer_bound(name, layer, shapes)
    return bound
