r"""The games (pairs of losses) and the Lipschitz constraints, each by name.

Two separate, composable choices:

* an :class:`Objective` is the game: a discriminator/critic loss and a
  generator loss, both pure functions of raw scores (logits), both minimised;
  each is a mean over the last axis, so scores of shape ``(B,)`` give a scalar
  and scores of S stacked runs, ``(S, B)``, give one loss per run;
* a :class:`Constraint` keeps the critic (K-)Lipschitz or regularises it: it
  may wrap the network once (spectral norm), add a penalty to the
  discriminator loss (gradient penalty, R1) and/or act after every
  discriminator step (weight clipping).

Log-probabilities are computed from logits with softplus, never as the log of
a sigmoid:

.. math::
    \log D = \log \sigma(l) = -\mathrm{softplus}(-l), \qquad
    \log (1 - D) = -\mathrm{softplus}(l).

The least-squares game (``least-squares``, LSGAN) regresses the raw scores
onto the labels 0 and 1. The relativistic average game (``relativistic-average``,
RaGAN) asks how much more real a real sample looks than the average fake, and
its generator loss sees the real scores too (:attr:`Objective.generator_sees_real`).
A game of one's own is an :class:`Objective` registered by name
(:func:`register_objective`), or passed in Python (``gankit.train(config, objective=...)``).

The seed's vanilla GAN is ``nonsaturating`` (or ``minimax``) with no
constraint; its WGAN is ``wasserstein`` + ``clip(c=0.01)``; WGAN-GP is
``wasserstein`` + ``gradient-penalty(10)``. :data:`PRESETS` names these pairs
with the optimiser settings of their papers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .models import pack_size
from .models.slopes import freeze_slopes, held_slopes
from .presets import (  # the named presets and the names a config takes: data, kept torch-free
    CUSTOM,
    OBJECTIVE_NAMES,
    PRESET_SETTINGS,
    PRESETS,
    REGISTERED_OBJECTIVES,
    Preset,
    resolve,
)

# --------------------------------------------------------------------------- losses


def bce_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    r"""The vanilla GAN discriminator loss: binary cross-entropy, real = 1, fake = 0.

    Minimising it is gradient *ascent* on the seed's discriminator objective
    (Goodfellow et al. 2014, Eq. 1):

    .. math::
        L_D = -\mathbb{E}_{x \sim p_r}[\log D(x)] - \mathbb{E}_z[\log(1 - D(G(z)))]
            = \mathbb{E}[\mathrm{softplus}(-l_{real})] + \mathbb{E}[\mathrm{softplus}(l_{fake})]

    Its minimum over D is :math:`2 \log 2 - 2\,\mathrm{JS}(p_r, p_g)`, reached at
    :math:`D^* = p_r / (p_r + p_g)`.

    Args:
        real_logits: scores on real samples, shape ``(B,)``.
        fake_logits: scores on generated samples, shape ``(B,)``.
    Returns:
        Scalar mean over each batch.
    """
    return F.softplus(-real_logits).mean(-1) + F.softplus(fake_logits).mean(-1)


def minimax_generator_loss(fake_logits: Tensor) -> Tensor:
    r"""The minimax (saturating) generator loss, minimised by G.

    .. math::
        L_G = \mathbb{E}_z[\log(1 - D(G(z)))] = -\mathbb{E}_z[\mathrm{softplus}(l_{fake})]

    Its gradient vanishes where D confidently rejects the fakes: d L_G / d l =
    -sigmoid(l) -> 0 as l -> -inf.
    """
    return -F.softplus(fake_logits).mean(-1)


def nonsaturating_generator_loss(fake_logits: Tensor) -> Tensor:
    r"""The non-saturating generator loss (Goodfellow et al. 2014, Sec. 3), minimised by G.

    .. math::
        L_G = -\mathbb{E}_z[\log D(G(z))] = \mathbb{E}_z[\mathrm{softplus}(-l_{fake})]

    The same as the discriminator's cross-entropy with the fakes labelled 1
    (the seed's label-swap trick). Its gradient d L_G / d l = sigmoid(l) - 1
    tends to -1, not 0, as D rejects the fakes.
    """
    return F.softplus(-fake_logits).mean(-1)


def wasserstein_critic_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    r"""The WGAN critic loss, the negated Kantorovich-Rubinstein dual (Arjovsky et al. 2017).

    .. math::
        L_f = -\left(\mathbb{E}_{x \sim p_r}[f(x)] - \mathbb{E}_z[f(G(z))]\right)

    With a K-Lipschitz critic, :math:`-L_f / K` estimates a lower bound of W1.
    """
    return fake_scores.mean(-1) - real_scores.mean(-1)


def wasserstein_generator_loss(fake_scores: Tensor) -> Tensor:
    r"""The WGAN generator loss: G maximises the critic's score on its samples.

    .. math::
        L_G = -\mathbb{E}_z[f(G(z))]
    """
    return -fake_scores.mean(-1)


def hinge_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    r"""The hinge discriminator loss (Lim & Ye 2017; Miyato et al. 2018).

    .. math::
        L_D = \mathbb{E}[\max(0, 1 - D(x))] + \mathbb{E}[\max(0, 1 + D(G(z)))]
    """
    return F.relu(1 - real_logits).mean(-1) + F.relu(1 + fake_logits).mean(-1)


def least_squares_discriminator_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    r"""The least-squares (LSGAN) discriminator loss, 0-1-1 coding (Mao et al. 2017, Eq. 2 and 9).

    D regresses its raw score onto the label b = 1 for real samples and a = 0 for fakes:

    .. math::
        L_D = \tfrac12\, \mathbb{E}_{x \sim p_r}\left[(D(x) - 1)^2\right]
            + \tfrac12\, \mathbb{E}_z\left[D(G(z))^2\right]

    Its minimiser is :math:`D^* = p_r / (p_r + p_g)` (Mao et al. 2017, Prop. 1 with a, b = 0, 1).

    Args:
        real_scores: raw scores on real samples, shape ``(B,)`` (no sigmoid).
        fake_scores: raw scores on generated samples, shape ``(B,)``.
    Returns:
        Scalar mean over each batch.

    References:
        Mao, X. et al. (2017). Least squares generative adversarial networks. ICCV.
    """
    return 0.5 * ((real_scores - 1) ** 2).mean(-1) + 0.5 * (fake_scores**2).mean(-1)


def least_squares_generator_loss(fake_scores: Tensor) -> Tensor:
    r"""The least-squares (LSGAN) generator loss: G pulls D's score on its samples to c = 1 (Mao et al. 2017).

    .. math::
        L_G = \tfrac12\, \mathbb{E}_z\left[(D(G(z)) - 1)^2\right]

    Its gradient :math:`d L_G / d s = s - 1` grows with the distance of the score
    from the real label, so fakes far on the wrong side of the boundary still move.
    """
    return 0.5 * ((fake_scores - 1) ** 2).mean(-1)


def relativistic_average_discriminator_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    r"""The relativistic average discriminator loss, non-saturating form (RaSGAN; Jolicoeur-Martineau 2018).

    The critic C judges each sample against the average of the other kind,
    :math:`\tilde D(x_r) = \sigma(C(x_r) - \mathbb{E}_{x_f} C(x_f))` and
    :math:`\tilde D(x_f) = \sigma(C(x_f) - \mathbb{E}_{x_r} C(x_r))`, with the
    binary cross-entropy of the vanilla GAN (real = 1, fake = 0):

    .. math::
        L_D = \mathbb{E}_{x_r}\left[\mathrm{softplus}\big(-(C(x_r) - \overline{C(x_f)})\big)\right]
            + \mathbb{E}_{x_f}\left[\mathrm{softplus}\big(C(x_f) - \overline{C(x_r)}\big)\right]

    where the bars are means over the minibatch.

    Args:
        real_scores: raw scores C on real samples, shape ``(B,)`` (or ``(S, B)``).
        fake_scores: raw scores C on generated samples, shape ``(B,)`` (or ``(S, B)``).
    Returns:
        Scalar (or one per stacked run).

    References:
        Jolicoeur-Martineau, A. (2018). The relativistic discriminator: a key element missing from
        standard GAN. arXiv:1807.00734 (ICLR 2019).
    """
    real_rel = real_scores - fake_scores.mean(-1, keepdim=True)  # (B,): how much more real than the mean fake
    fake_rel = fake_scores - real_scores.mean(-1, keepdim=True)
    return F.softplus(-real_rel).mean(-1) + F.softplus(fake_rel).mean(-1)


def relativistic_average_generator_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    r"""The relativistic average generator loss (RaSGAN; Jolicoeur-Martineau 2018): the discriminator's
    with the roles of real and fake swapped, so that G also pulls the real samples' relative scores down.

    .. math::
        L_G = \mathbb{E}_{x_f}\left[\mathrm{softplus}\big(-(C(x_f) - \overline{C(x_r)})\big)\right]
            + \mathbb{E}_{x_r}\left[\mathrm{softplus}\big(C(x_r) - \overline{C(x_f)}\big)\right]

    Both terms depend on G (through :math:`C(x_f)` and :math:`\overline{C(x_f)}`), which is why this
    loss sees the real scores.

    Args:
        real_scores: raw scores C on a real minibatch, shape ``(B,)`` (or ``(S, B)``).
        fake_scores: raw scores C on generated samples, shape ``(B,)`` (or ``(S, B)``).
    Returns:
        Scalar (or one per stacked run).

    References:
        Jolicoeur-Martineau, A. (2018). The relativistic discriminator: a key element missing from
        standard GAN. arXiv:1807.00734 (ICLR 2019).
    """
    return relativistic_average_discriminator_loss(fake_scores, real_scores)


class Objective(NamedTuple):
    """A game: two pure losses of raw scores, both minimised.

    Attributes:
        discriminator_loss: ``(real_scores, fake_scores) -> scalar``.
        generator_loss: ``fake_scores -> scalar``; ``(real_scores, fake_scores) -> scalar`` when
            ``generator_sees_real``.
        probabilistic: scores are logits of P(real | x), so ``sigmoid`` of a
            score is the seed's D(x); False for critics.
        generator_sees_real: the generator loss also takes the scores of a real minibatch (a relativistic
            game); the generator step then scores one, and only then.
    """

    discriminator_loss: Callable[[Tensor, Tensor], Tensor]
    generator_loss: Callable[..., Tensor]
    probabilistic: bool
    generator_sees_real: bool = False


OBJECTIVES: dict[str, Objective] = {
    "minimax": Objective(bce_discriminator_loss, minimax_generator_loss, True),
    "nonsaturating": Objective(bce_discriminator_loss, nonsaturating_generator_loss, True),
    "wasserstein": Objective(wasserstein_critic_loss, wasserstein_generator_loss, False),
    # The hinge game's generator term is the Wasserstein one: G maximises E D(G(z)).
    "hinge": Objective(hinge_discriminator_loss, wasserstein_generator_loss, False),
    # Scores are regressed onto the labels 0 and 1: raw scores, not logits.
    "least-squares": Objective(least_squares_discriminator_loss, least_squares_generator_loss, False),
    # The critic's raw score C is not a probability: D~ compares it with the other kind's mean.
    "relativistic-average": Objective(relativistic_average_discriminator_loss, relativistic_average_generator_loss,
                                      False, generator_sees_real=True),
}
# The games registered by the user's code (register_objective), by name.
REGISTERED: dict[str, Objective] = {}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def register_objective(name: str, objective: Objective, *, settings: str = "gan", replace: bool = False) -> None:
    """Make ``objective`` a game a config can name: ``TrainConfig(objective=name)``.

    A run records the name, so a process that resumes or evaluates the run registers it again first.

    Args:
        name: letters, digits, ``_``, ``.`` and ``-``; not a built-in game's or a preset's name, nor ``custom``.
        objective: the game (:class:`Objective`).
        settings: the preset whose optimiser and training settings a config naming the game takes
            (a config's own values win); ``wgan-gp`` suits a critic's game (K = 5, Adam(1e-4, 0, 0.9)).
        replace: register another objective under a name already taken (the same one again is allowed).

    Raises:
        ValueError: a name that is taken or malformed, an unknown ``settings`` preset.
        TypeError: ``objective`` is not an :class:`Objective`.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"register_objective: name must be letters, digits, _, . or - (starting with a letter "
                         f"or digit); got {name!r}")
    if name in OBJECTIVES or name in PRESETS or name == CUSTOM:
        raise ValueError(f"register_objective: {name!r} is taken by gankit (built-in games {list(OBJECTIVE_NAMES)}, "
                         f"presets {list(PRESETS)}, and {CUSTOM!r}); choose another name")
    if not isinstance(objective, Objective):
        raise TypeError(f"register_objective: objective must be a gankit.objectives.Objective(discriminator_loss, "
                        f"generator_loss, probabilistic); got {type(objective).__name__}")
    if settings not in PRESETS:
        raise ValueError(f"register_objective: settings must be a preset from {list(PRESETS)}; got {settings!r}")
    if name in REGISTERED and REGISTERED[name] != objective and not replace:
        raise ValueError(f"register_objective: {name!r} names another objective already; pass replace=True to "
                         "replace it (a run trained under the name then resumes with the new one)")
    REGISTERED[name] = objective
    REGISTERED_OBJECTIVES[name] = settings


def get_objective(name: str) -> Objective:
    """Look an objective up by name (a built-in or a registered game); the error lists the valid names."""
    if name in OBJECTIVES:
        return OBJECTIVES[name]
    if name in REGISTERED:
        return REGISTERED[name]
    if name == CUSTOM:
        raise ValueError(f"objective {CUSTOM!r} was an Objective passed in Python (objective=), which has no name "
                         "to look up: pass the same Objective again as objective=, or register it "
                         "(gankit.register_objective(name, objective)) and name it in the config")
    raise ValueError(f"unknown objective {name!r}; choose from {sorted([*OBJECTIVES, *REGISTERED])} or register "
                     "your own: gankit.register_objective(name, objective)")


# --------------------------------------------------------------------------- constraints


class Constraint:
    """How the discriminator/critic is kept Lipschitz or regularised (no-op by default)."""

    name = "none"

    def prepare(self, D: nn.Module) -> nn.Module:
        """Wrap the network once, before its optimiser is built."""
        return D

    def penalty(self, D: nn.Module, real: Tensor, fake: Tensor, generator: torch.Generator | None) -> Tensor | None:
        """A term added to the discriminator loss, or None."""
        return None

    def due(self, d_step: int) -> bool:
        """Whether discriminator step number ``d_step`` (from 0) adds the penalty (every step by default)."""
        return True

    @torch.no_grad()
    def after_step(self, D: nn.Module) -> None:
        """Called after every discriminator step."""

    def describe(self) -> str:
        return self.name


@dataclass
class WeightClip(Constraint):
    r"""Clip every critic parameter into [-c, c] after each critic step (WGAN, Algorithm 1).

    .. math::
        \phi \leftarrow \mathrm{clip}(\phi, -c, c)

    Args:
        c: the clipping bound, 0.01 in the WGAN paper.
    """

    c: float = 0.01
    name = "clip"

    def __post_init__(self) -> None:
        if not self.c > 0:
            raise ValueError(f"clip must be > 0; got {self.c}")

    @torch.no_grad()
    def after_step(self, D: nn.Module) -> None:
        params = [p for p in D.parameters()]
        torch._foreach_clamp_min_(params, -self.c)  # one fused call over all tensors
        torch._foreach_clamp_max_(params, self.c)

    def describe(self) -> str:
        return f"clip(c={self.c:g})"


def uniform(shape: tuple[int, ...], generator, like: Tensor) -> Tensor:
    """U[0, 1) draws of ``shape`` from ``generator``, on ``like``'s device and dtype.

    ``generator`` may be a list of S generators, one per stacked run: the
    result is then ``(S, *shape)``, row s drawn from generator s exactly as a
    single run would draw it.
    """
    if isinstance(generator, (list, tuple)):
        return torch.stack([torch.rand(shape, device=like.device, dtype=like.dtype, generator=g) for g in generator])
    return torch.rand(shape, device=like.device, dtype=like.dtype, generator=generator)


def _input_gradient(D: nn.Module, x: Tensor) -> Tensor:
    """d sum(D(x)) / dx per input of D, flattened, with a graph for double backward (float32 under autocast).

    An input is one sample, or one pack of ``m`` samples for a packed
    discriminator: the result has one row per score, ``(B / m, m * prod(sample_shape))``.
    """
    x = x.detach()
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    x.requires_grad_(True)
    with torch.autocast(x.device.type, enabled=False), held_slopes():  # float32 under mixed precision: no underflow
        scores = D(x)  # (B / m,), or (S, B / m) for S stacked runs
        (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    return grad.reshape(*scores.shape, -1)


class Lazy:
    """A penalty applied on one discriminator step in ``every`` (N, from the first), scaled by N, so the
    regularisation per step is the same on average at 1/N of its cost (StyleGAN2's lazy regularisation,
    Karras et al. 2020, section 3.1)."""

    every: int

    def _check_every(self, flag: str) -> None:
        if isinstance(self.every, bool) or int(self.every) != self.every or self.every < 1:
            raise ValueError(f"{flag} must be an integer >= 1; got {self.every!r}")

    def due(self, d_step: int) -> bool:
        return d_step % self.every == 0

    def _every_text(self) -> str:
        return f", every {self.every} steps)" if self.every > 1 else ")"


class InputGradientPenalty(Lazy, Constraint):
    """A penalty on D's gradient with respect to its input, whose gradient is a double backward through D.

    :meth:`prepare` holds the slopes of D's ReLU and LeakyReLU modules constant under differentiation
    (:func:`gankit.models.slopes.freeze_slopes`): the same numbers, without the matrix products of zeros
    that PyTorch's second derivative of those activations sends through every layer below them.
    """

    def prepare(self, D: nn.Module) -> nn.Module:
        freeze_slopes(D)
        return D


@dataclass
class GradientPenalty(InputGradientPenalty):
    r"""WGAN-GP's two-sided gradient penalty on random interpolates (Gulrajani et al. 2017), optionally lazy.

    .. math::
        N \lambda\, \mathbb{E}_{\hat x}\left[(\|\nabla_{\hat x} f(\hat x)\|_2 - 1)^2\right],
        \quad \hat x = \epsilon x + (1 - \epsilon) \tilde x,\ \epsilon \sim U[0, 1]
        \quad \text{on every } N\text{-th critic step}

    One :math:`\epsilon` per input of the critic (a sample, or a pack of ``m``
    samples for a packed critic), broadcast over any sample shape (points, grey
    or colour images). ``every = N = 1`` (the paper) penalises every step; a
    larger N is the lazy penalty (:class:`Lazy`).

    Args:
        weight: lambda, 10 in the paper.
        every: N, the critic steps between penalties.
    """

    weight: float = 10.0
    every: int = 1
    name = "gradient-penalty"

    def __post_init__(self) -> None:
        if not self.weight > 0:
            raise ValueError(f"gp_weight must be > 0; got {self.weight}")
        self._check_every("gp_every")

    def penalty(self, D: nn.Module, real: Tensor, fake: Tensor, generator: torch.Generator | None) -> Tensor:
        m, k = pack_size(D), len(getattr(D, "sample_shape", real.shape[1:]))
        B = real.shape[-k - 1]
        eps = uniform((B // m,) + (1,) * k, generator, real)  # (B / m, 1, ..., 1), or (S, B / m, 1, ...)
        if m > 1:
            eps = eps.repeat_interleave(m, dim=-k - 1)  # one epsilon per pack
        x_hat = eps * real.detach() + (1 - eps) * fake.detach()
        grad = _input_gradient(D, x_hat)
        return self.weight * self.every * ((grad.norm(dim=-1) - 1) ** 2).mean(-1)

    def describe(self) -> str:
        return f"gradient-penalty(lambda={self.weight:g}" + self._every_text()


@dataclass
class R1Penalty(InputGradientPenalty):
    r"""R1 regulariser on real data (Mescheder et al. 2018), optionally lazy (Karras et al. 2020).

    .. math::
        N\, \frac{\gamma}{2}\, \mathbb{E}_{x \sim p_r}\left[\|\nabla_x D(x)\|_2^2\right]
        \quad \text{on every } N\text{-th discriminator step}

    With ``every = N = 1`` it is the plain R1 on every step; a larger N is
    StyleGAN2's lazy R1 (:class:`Lazy`).

    Args:
        gamma: the penalty weight.
        every: N, the discriminator steps between penalties.
    """

    gamma: float = 10.0
    every: int = 1
    name = "r1"

    def __post_init__(self) -> None:
        if not self.gamma > 0:
            raise ValueError(f"r1_gamma must be > 0; got {self.gamma}")
        self._check_every("r1_every")

    def penalty(self, D: nn.Module, real: Tensor, fake: Tensor, generator: torch.Generator | None) -> Tensor:
        grad = _input_gradient(D, real)
        return 0.5 * self.gamma * self.every * (grad**2).sum(dim=-1).mean(-1)

    def describe(self) -> str:
        return f"r1(gamma={self.gamma:g}" + self._every_text()


class SpectralNorm(Constraint):
    r"""Spectral normalisation of every linear and conv layer (Miyato et al. 2018).

    .. math::
        W \leftarrow W / \sigma(W), \quad \sigma(W) \text{ by one power iteration per step}
    """

    name = "spectral-norm"

    def prepare(self, D: nn.Module) -> nn.Module:
        for m in list(D.modules()):
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.utils.parametrizations.spectral_norm(m)
        return D


CONSTRAINTS: dict[str, Callable[..., Constraint]] = {
    "none": lambda **_: Constraint(),
    "clip": lambda clip=0.01, **_: WeightClip(clip),
    "gradient-penalty": lambda gp_weight=10.0, gp_every=1, **_: GradientPenalty(gp_weight, gp_every),
    "r1": lambda r1_gamma=10.0, r1_every=1, **_: R1Penalty(r1_gamma, r1_every),
    "spectral-norm": lambda **_: SpectralNorm(),
}


def make_constraint(name: str, **params: Any) -> Constraint:
    """Build a constraint by name from ``clip``, ``gp_weight``, ``gp_every``, ``r1_gamma`` and ``r1_every``."""
    if name not in CONSTRAINTS:
        raise ValueError(f"unknown constraint {name!r}; choose from {sorted(CONSTRAINTS)}")
    return CONSTRAINTS[name](**params)


__all__ = [
    "CONSTRAINTS",
    "OBJECTIVES",
    "PRESETS",
    "REGISTERED",
    "PRESET_SETTINGS",
    "Constraint",
    "GradientPenalty",
    "InputGradientPenalty",
    "Lazy",
    "Objective",
    "Preset",
    "R1Penalty",
    "SpectralNorm",
    "WeightClip",
    "bce_discriminator_loss",
    "get_objective",
    "hinge_discriminator_loss",
    "least_squares_discriminator_loss",
    "least_squares_generator_loss",
    "make_constraint",
    "minimax_generator_loss",
    "nonsaturating_generator_loss",
    "register_objective",
    "relativistic_average_discriminator_loss",
    "relativistic_average_generator_loss",
    "resolve",
    "wasserstein_critic_loss",
    "wasserstein_generator_loss",
]
