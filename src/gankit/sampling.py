r"""Sampling from trained networks, below the training loop: the device, samples of G, scores of D.

Everything that reads a network without training it (evaluation, the CLI's
``sample``, the experiments) imports from here, so nothing above the loop has
to import the loop, and the loop never imports what sits above it.

The noise is :math:`z \sim \mathcal N(0, I)`; at sampling time it may be
truncated (:func:`truncated_noise`, the truncation trick) and walked between
two draws (:func:`lerp`, :func:`slerp`, :func:`latent_paths`, :func:`interpolate`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from .models import eval_mode, pack_size

INTERPOLATIONS = ("slerp", "lerp")
MIN_TRUNCATION = 0.01  # below it, resampling takes more than 1 / (2 Phi(psi) - 1) ~ 125 draws per coordinate


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` is CUDA when available, else the CPU; an unavailable device is refused."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"device {name!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available here; use cpu or auto")
    return device


# --------------------------------------------------------------------------- the noise


def truncated_noise(
    shape: tuple[int, ...], psi: float, *, generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    r"""Standard normal noise truncated to :math:`[-\psi, \psi]` per coordinate (the truncation trick).

    Every coordinate with :math:`|z_i| > \psi` is drawn again from
    :math:`\mathcal N(0, 1)` until it falls inside (Brock et al. 2019, Sec. 3.1),
    so each coordinate is an independent draw of the normal conditioned on the
    interval:

    .. math::
        p(z_i) = \frac{\varphi(z_i)}{2\Phi(\psi) - 1}\, \mathbb 1\{|z_i| \le \psi\}

    with :math:`\varphi, \Phi` the standard normal density and distribution
    function. Each coordinate takes :math:`1 / (2\Phi(\psi) - 1)` draws on
    average: 1.05 at :math:`\psi = 2`, 1.46 at 1, 2.61 at 0.5. Smaller
    :math:`\psi` trades variety for fidelity; :math:`\psi \to \infty` is the
    untruncated noise.

    Args:
        shape: the noise's shape, e.g. ``(n, noise_dim)``.
        psi: the threshold, at least :data:`MIN_TRUNCATION`.
        generator: the random stream (None: torch's global one).
        device: where the noise is drawn.
    Returns:
        Float32 noise of ``shape``, every entry in :math:`[-\psi, \psi]`.

    References:
        Brock, A., Donahue, J. and Simonyan, K. (2019). Large scale GAN training
        for high fidelity natural image synthesis. ICLR.
    """
    psi = float(psi)
    if not (math.isfinite(psi) and psi >= MIN_TRUNCATION):
        raise ValueError(f"truncation psi must be a finite number >= {MIN_TRUNCATION}; got {psi!r}")
    z = torch.randn(shape, device=device, generator=generator)
    out = z.abs() > psi
    while bool(out.any()):
        z[out] = torch.randn(int(out.sum()), device=z.device, generator=generator)  # redraw only the rejected
        out = z.abs() > psi
    return z


def noise(
    n: int, noise_dim: int, *, generator: torch.Generator | None = None, device: torch.device | str | None = None,
    truncation: float | None = None,
) -> Tensor:
    """``n`` noise vectors ``(n, noise_dim)``: z ~ N(0, I), or :func:`truncated_noise` at ``truncation``."""
    if truncation is None:
        return torch.randn(n, noise_dim, device=device, generator=generator)
    return truncated_noise((n, noise_dim), truncation, generator=generator, device=device)


def lerp(z0: Tensor, z1: Tensor, t: Tensor | float) -> Tensor:
    r"""Linear interpolation between latent vectors.

    .. math::
        \mathrm{lerp}(z_0, z_1; t) = (1 - t)\, z_0 + t\, z_1

    Args:
        z0, z1: end points, shape ``(..., d)``.
        t: the position in [0, 1], a number or a tensor broadcasting against ``z0.shape[:-1]``.
    Returns:
        Shape ``(*broadcast(z0.shape[:-1], t.shape), d)``.
    """
    t = torch.as_tensor(t, dtype=z0.dtype, device=z0.device)[..., None]  # (..., 1)
    return (1 - t) * z0 + t * z1


def slerp(z0: Tensor, z1: Tensor, t: Tensor | float, eps: float = 1e-6) -> Tensor:
    r"""Spherical linear interpolation between latent vectors (Shoemake 1985; White 2016).

    .. math::
        \mathrm{slerp}(z_0, z_1; t) = \frac{\sin((1 - t)\,\Omega)}{\sin \Omega}\, z_0
            + \frac{\sin(t\,\Omega)}{\sin \Omega}\, z_1, \qquad
        \cos \Omega = \frac{z_0 \cdot z_1}{\|z_0\|\, \|z_1\|}

    In high dimension Gaussian noise lies near the sphere of radius
    :math:`\sqrt d`; the straight line between two draws passes well inside it
    (its midpoint has norm about :math:`\sqrt{d/2}`), where G was never trained,
    while the arc keeps the norm. Where :math:`\sin \Omega < \epsilon` (parallel
    or opposite end points) it is :func:`lerp`.

    Args:
        z0, z1: end points, shape ``(..., d)``.
        t: the position in [0, 1], a number or a tensor broadcasting against ``z0.shape[:-1]``.
        eps: the smallest :math:`\sin \Omega` treated as an arc.
    Returns:
        Shape ``(*broadcast(z0.shape[:-1], t.shape), d)``.

    References:
        White, T. (2016). Sampling generative networks. arXiv:1609.04468.
    """
    t = torch.as_tensor(t, dtype=z0.dtype, device=z0.device)[..., None]  # (..., 1)
    u0, u1 = nn.functional.normalize(z0, dim=-1), nn.functional.normalize(z1, dim=-1)
    omega = torch.arccos((u0 * u1).sum(-1, keepdim=True).clamp(-1.0, 1.0))  # (..., 1)
    sin = torch.sin(omega)
    arc = sin >= eps
    safe = torch.where(arc, sin, torch.ones_like(sin))
    a = torch.where(arc, torch.sin((1 - t) * omega) / safe, 1 - t)
    b = torch.where(arc, torch.sin(t * omega) / safe, t)
    return a * z0 + b * z1


def latent_paths(
    n: int, steps: int, noise_dim: int, *, method: str = "slerp", truncation: float | None = None,
    generator: torch.Generator | None = None, device: torch.device | str | None = None,
) -> Tensor:
    r"""``n`` paths of ``steps`` latent vectors, each from a draw :math:`z_0` to another :math:`z_1`.

    .. math::
        z_{ik} = \mathrm{interp}\bigl(z_0^{(i)}, z_1^{(i)}; t_k\bigr), \qquad t_k = \frac{k}{\text{steps} - 1}

    with interp :func:`slerp` or :func:`lerp`; the end points are drawn as by
    :func:`noise` (truncated at ``truncation`` if given: then a lerp path stays
    in the box, a slerp path keeps the end points' norm and may leave it).

    Returns:
        Shape ``(n, steps, noise_dim)``.
    """
    if method not in INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {method!r}; choose from {list(INTERPOLATIONS)}")
    if n < 1 or steps < 2:
        raise ValueError(f"need n >= 1 paths of steps >= 2 points; got n={n}, steps={steps}")
    z0 = noise(n, noise_dim, generator=generator, device=device, truncation=truncation)  # (n, d)
    z1 = noise(n, noise_dim, generator=generator, device=device, truncation=truncation)
    t = torch.linspace(0.0, 1.0, steps, device=z0.device)  # (steps,)
    interp = slerp if method == "slerp" else lerp
    return interp(z0[:, None, :], z1[:, None, :], t[None, :])  # (n, steps, d)


# --------------------------------------------------------------------------- the networks


def _noise_source(G: nn.Module, noise_dim: int | None, seed: int | None, generator: torch.Generator | None):
    """G's noise size and device, and the generator to draw from (a fresh one seeded with ``seed`` if none)."""
    noise_dim = noise_dim or getattr(G, "noise_dim", None)
    if noise_dim is None:
        raise ValueError("the generator has no noise_dim attribute; pass noise_dim")
    device = next(G.parameters()).device
    if generator is None and seed is not None:
        generator = torch.Generator(device=device).manual_seed(int(seed))
    return noise_dim, device, generator


def n_classes(G: nn.Module) -> int:
    """The classes of a class-conditional generator (0 for an unconditional one)."""
    return int(getattr(G, "n_classes", 0))


def class_labels(G: nn.Module, n: int, labels: int | Tensor | None = None, *,
                 generator: torch.Generator | None = None) -> Tensor | None:
    """The classes to ask a conditional ``G`` for: class ``labels`` for all ``n`` samples, the given tensor,
    or (None) ``n`` draws from ``G.class_prior`` (the training data's class frequencies).

    Returns None for an unconditional generator (and refuses labels for it).

    Raises:
        ValueError: labels for an unconditional generator, or a class outside 0..C-1.
    """
    C = n_classes(G)
    if not C:
        if labels is not None:
            raise ValueError("this generator is not class-conditional: it takes no class (train with --conditional)")
        return None
    device = next(G.parameters()).device
    if labels is None:
        return torch.multinomial(G.class_prior.float(), n, replacement=True, generator=generator).to(device)
    y = torch.full((n,), int(labels), device=device) if isinstance(labels, int) else torch.as_tensor(labels)
    y = y.to(device).long()
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= C):
        bad = int(y.min()) if int(y.min()) < 0 else int(y.max())
        raise ValueError(f"class {bad} is out of range: this generator knows classes 0..{C - 1}")
    return y


@torch.no_grad()
def _forward(G: nn.Module, z: Tensor, batch_size: int, y: Tensor | None = None) -> Tensor:
    """``G(z)`` (``G(z, y)`` when conditional) in eval mode, ``batch_size`` rows at a time; G keeps its mode."""
    with eval_mode(G):
        if y is None:
            return torch.cat([G(chunk) for chunk in torch.split(z, batch_size)])
        return torch.cat([G(a, b) for a, b in zip(torch.split(z, batch_size), torch.split(y, batch_size),
                                                   strict=True)])


@torch.no_grad()
def generate(
    G: nn.Module, n: int, *, noise_dim: int | None = None, seed: int | None = 0,
    generator: torch.Generator | None = None, batch_size: int = 4096, truncation: float | None = None,
    labels: int | Tensor | None = None, return_labels: bool = False,
) -> Tensor | tuple[Tensor, Tensor | None]:
    """``n`` samples of ``G`` in model units, on ``G``'s device, from z ~ N(0, I), in eval mode.

    The noise comes from ``generator`` if given, else from a fresh generator
    seeded with ``seed`` (``None``: the global one); with ``truncation`` it is
    :func:`truncated_noise` at that threshold. ``G`` is restored to its mode.
    A class-conditional ``G`` is asked for ``labels`` (a class, or one per
    sample), by default classes drawn after the noise from its
    ``class_prior`` (:func:`class_labels`); ``return_labels`` also returns them
    (None for an unconditional ``G``).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}")
    noise_dim, device, generator = _noise_source(G, noise_dim, seed, generator)
    z = torch.cat([noise(min(batch_size, n - s), noise_dim, generator=generator, device=device,
                         truncation=truncation) for s in range(0, n, batch_size)])  # (n, noise_dim)
    y = class_labels(G, n, labels, generator=generator)
    x = _forward(G, z, batch_size, y)  # (n, *sample_shape)
    return (x, y) if return_labels else x


@torch.no_grad()
def interpolate(
    G: nn.Module, n: int, steps: int, *, method: str = "slerp", truncation: float | None = None,
    noise_dim: int | None = None, seed: int | None = 0, generator: torch.Generator | None = None,
    batch_size: int = 4096, labels: int | Tensor | None = None,
) -> Tensor:
    """G along ``n`` latent paths of ``steps`` points (:func:`latent_paths`), in model units, in eval mode.

    A class-conditional ``G`` keeps one class along each path (``labels``: a
    class for every path or one per path; by default drawn from its prior).

    Returns:
        Shape ``(n, steps, *sample_shape)``; row i goes from one sample to another.
    """
    noise_dim, device, generator = _noise_source(G, noise_dim, seed, generator)
    z = latent_paths(n, steps, noise_dim, method=method, truncation=truncation, generator=generator, device=device)
    y = class_labels(G, n, labels, generator=generator)
    y = None if y is None else y.repeat_interleave(steps)  # (n * steps,): one class per path
    x = _forward(G, z.reshape(n * steps, noise_dim), batch_size, y)  # (n * steps, *sample_shape)
    return x.reshape(n, steps, *x.shape[1:])


@torch.no_grad()
def discriminator_scores(D: nn.Module, x: Tensor, batch_size: int = 4096, labels: Tensor | None = None) -> np.ndarray:
    """Raw discriminator/critic outputs on ``x`` (model units), in eval mode, as float64 ``(n,)``.

    A packed discriminator (PacGAN, ``m`` samples per input) scores each sample
    as the pack of ``m`` copies of it, so every sample still gets one score. A
    class-conditional one scores ``D(x, y)`` with the samples' ``labels`` (ignored by an unconditional one).
    """
    device = next(D.parameters()).device
    m = pack_size(D)
    conditional = bool(getattr(D, "n_classes", 0))
    if conditional and labels is None:
        raise ValueError("a class-conditional discriminator scores samples with their labels; give labels")
    parts = torch.split(x, batch_size)
    ys = torch.split(torch.as_tensor(labels).to(device), batch_size) if conditional else [None] * len(parts)
    with eval_mode(D):
        out = [(D(b.to(device).repeat_interleave(m, dim=0)) if y is None else D(b.to(device), y))
               .reshape(-1).double().cpu() for b, y in zip(parts, ys, strict=True)]
    return torch.cat(out).numpy()


__all__ = [
    "INTERPOLATIONS",
    "class_labels",
    "discriminator_scores",
    "generate",
    "interpolate",
    "latent_paths",
    "lerp",
    "n_classes",
    "noise",
    "pick_device",
    "slerp",
    "truncated_noise",
]
