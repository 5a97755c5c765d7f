r"""Shared pieces of the theory experiments (optimal discriminator, minimax value,
disjoint supports, vanishing gradients).

* fixed 1-D distribution pairs with analytic densities (:data:`CASES`) and the
  optimal discriminator :math:`D^* = p_r / (p_r + p_g)` on a grid;
* a discriminator or critic trained *alone* against two fixed samplers, with the
  library's :func:`gankit.training.discriminator_step` (the "generator" is the
  identity applied to samples drawn beforehand);
* the value function :math:`V(D) = \mathbb{E}_{p_r}\log D + \mathbb{E}_{p_g}\log(1 - D)`
  by numerical integration, by adaptive quadrature and by Monte Carlo;
* the parallel-lines "generator" :math:`G(u) = (\theta, u)` with a learnable
  :math:`\theta`, and gradient norms of a generator's parameters.

References:
    Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014 (Prop. 1, Thm. 1).
    Arjovsky & Bottou, "Towards Principled Methods for Training Generative Adversarial
    Networks", ICLR 2017 (Thm. 2.4, Fig. 2).
    Arjovsky, Chintala & Bottou, "Wasserstein GAN", ICML 2017 (Example 1).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import integrate
from torch import Tensor, nn

from gankit.data.toy import Mixture, gaussian_mixture_1d
from gankit.models import MLPDiscriminator, seeded
from gankit.objectives import Constraint, bce_discriminator_loss, get_objective
from gankit.sampling import pick_device
from gankit.streams import offset
from gankit.training import discriminator_step, make_optimizer

LOG2 = math.log(2.0)
Sampler = Callable[[int, torch.Generator], Tensor]  # (n, CPU generator) -> (n, ...) samples

# --------------------------------------------------------------------------- 1-D cases

#: name -> (p_r, p_g, description); every density is analytic (a Gaussian mixture).
CASES: dict[str, tuple[Mixture, Mixture, str]] = {
    "gaussians": (gaussian_mixture_1d((0.0,), (1.0,)), gaussian_mixture_1d((1.5,), (0.7,)),
                  "p_r = N(0, 1), p_g = N(1.5, 0.7^2)"),
    "bimodal": (gaussian_mixture_1d((-2.0, 2.0), (0.5, 0.5)), gaussian_mixture_1d((0.0,), (0.5,)),
                "p_r = N(-2, 0.5^2)/2 + N(2, 0.5^2)/2, p_g = N(0, 0.5^2) (between the modes)"),
    "identical": (gaussian_mixture_1d((0.0,), (1.0,)), gaussian_mixture_1d((0.0,), (1.0,)),
                  "p_r = p_g = N(0, 1)"),
}
GRID = (-6.0, 6.0, 1201)  # x range and points for D against D*
REGION = 0.01  # the criterion's region: p_r + p_g above this fraction of its peak


def case(name: str) -> tuple[Mixture, Mixture, str]:
    """``(p_r, p_g, description)`` of a named 1-D case; the error lists the valid names."""
    if name not in CASES:
        raise ValueError(f"unknown case {name!r}; choose from {sorted(CASES)}")
    return CASES[name]


def log_densities(pr: Mixture, pg: Mixture, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log p_r(x)``, ``log p_g(x)`` at 1-D points ``x (n,)``, float64."""
    pts = np.asarray(x, dtype=np.float64).reshape(-1, 1)  # (n, 1)
    return pr.log_density(pts), pg.log_density(pts)


def optimal_logit(log_pr: np.ndarray, log_pg: np.ndarray) -> np.ndarray:
    r"""The logit of the optimal discriminator (Goodfellow et al. 2014, Prop. 1).

    .. math::
        D^*(x) = \frac{p_r(x)}{p_r(x) + p_g(x)} = \sigma\bigl(\log p_r(x) - \log p_g(x)\bigr)

    Args:
        log_pr: log density of the data at the points.
        log_pg: log density of the generator at the same points.

    Returns:
        :math:`\log p_r - \log p_g`, so that :func:`gankit.divergences.discriminator_probability` of it is :math:`D^*`.
    """
    return np.asarray(log_pr, dtype=np.float64) - np.asarray(log_pg, dtype=np.float64)


def region_mask(log_pr: np.ndarray, log_pg: np.ndarray, fraction: float = REGION) -> np.ndarray:
    """Where :math:`p_r + p_g` is above ``fraction`` of its peak on the grid."""
    total = np.exp(log_pr) + np.exp(log_pg)
    return total >= fraction * total.max()


# --------------------------------------------------------------------------- the value function


def _value_integrand(log_pr: np.ndarray, log_pg: np.ndarray, logit: np.ndarray) -> np.ndarray:
    r""":math:`p_r \log \sigma(l) + p_g \log(1 - \sigma(l))`, with logs from softplus."""
    log_d = -np.logaddexp(0.0, -logit)  # log sigma(l) = -softplus(-l)
    log_1md = -np.logaddexp(0.0, logit)  # log(1 - sigma(l)) = -softplus(l)
    return np.exp(log_pr) * log_d + np.exp(log_pg) * log_1md


def value_on_grid(x: np.ndarray, log_pr: np.ndarray, log_pg: np.ndarray, logit: np.ndarray) -> float:
    r"""The minimax value of a discriminator, integrated on a grid (trapezoid rule).

    .. math::
        V(D) = \int p_r(x) \log D(x) + p_g(x) \log\bigl(1 - D(x)\bigr)\, \mathrm dx,
        \qquad D = \sigma(l)

    Args:
        x: increasing grid, shape ``(n,)``, wide enough to hold both densities.
        log_pr, log_pg: log densities on the grid.
        logit: the discriminator's logit on the grid.
    """
    return float(integrate.trapezoid(_value_integrand(log_pr, log_pg, logit), x))


def optimal_value_quad(pr: Mixture, pg: Mixture, lo: float = -12.0, hi: float = 12.0) -> float:
    r"""The minimax value at the optimal discriminator, by adaptive quadrature (scipy ``quad``).

    .. math::
        V(D^*) = \int p_r \log \frac{p_r}{p_r + p_g} + p_g \log \frac{p_g}{p_r + p_g}\, \mathrm dx
        = 2\,\mathrm{JS}(p_r, p_g) - 2 \log 2

    (Goodfellow et al. 2014, Thm. 1). Computed from the densities alone, independently
    of :func:`gankit.divergences.js`.
    """

    def f(t: float) -> float:
        lr, lg = log_densities(pr, pg, np.array([t]))
        return float(_value_integrand(lr, lg, optimal_logit(lr, lg))[0])

    value, _ = integrate.quad(f, lo, hi, limit=400, epsabs=1e-12, epsrel=1e-10)
    return float(value)


def value_monte_carlo(D: nn.Module, pr: Mixture, pg: Mixture, n: int, seed: int) -> float:
    r"""The empirical minimax value of ``D`` on ``n`` fresh samples of each distribution.

    .. math::
        \hat V(D) = \frac1n \sum_i \log D(x_i) + \frac1n \sum_j \log\bigl(1 - D(\tilde x_j)\bigr)
        = -L_D, \qquad x_i \sim p_r,\ \tilde x_j \sim p_g

    with :math:`L_D` the discriminator's cross-entropy
    (:func:`gankit.objectives.bce_discriminator_loss`).
    """
    g = torch.Generator().manual_seed(seed)
    real, fake = pr.sample(n, g), pg.sample(n, g)
    device = next(D.parameters()).device
    with torch.no_grad():
        loss = bce_discriminator_loss(D(real.to(device)).double(), D(fake.to(device)).double())
    return -float(loss)


# --------------------------------------------------------------------------- a discriminator alone


@dataclass(frozen=True)
class Budget:
    """How a discriminator is trained alone: steps, minibatch, width and Adam's step size.

    With ``anneal`` the step size decays to 0 along a cosine, which averages out
    the minibatch noise at the end of training.
    """

    steps: int
    batch_size: int
    hidden: tuple[int, ...]
    lr: float
    betas: tuple[float, float] = (0.9, 0.999)
    anneal: bool = True


#: Training of the 1-D discriminators of the optimal-discriminator and minimax-value experiments.
BUDGET_1D = {
    True: Budget(steps=1500, batch_size=1024, hidden=(64, 64), lr=1e-2),
    False: Budget(steps=3000, batch_size=2048, hidden=(64, 64), lr=1e-2),
}


class DiscriminatorAlone:
    r"""Trains a discriminator or critic alone, against two fixed samplers, in stages.

    Every step draws a fresh minibatch of each distribution and takes one step of
    :func:`gankit.training.discriminator_step` (Adam), with the identity as the
    "generator": the fakes are drawn beforehand. For ``minimax`` this is gradient
    ascent on

    .. math::
        \mathbb{E}_{x \sim p_r}[\log D(x)] + \mathbb{E}_{x \sim p_g}[\log(1 - D(x))],

    for ``wasserstein`` on :math:`\mathbb{E}_{p_r} f - \mathbb{E}_{p_g} f` (minus the
    constraint's penalty). The optimiser's state lives across calls of :meth:`train`,
    so training can stop at checkpoints and continue.

    Args:
        D: the network, on its device; trained in place.
        sample_real, sample_fake: ``(n, generator) -> (n, ...)`` samplers drawing from
            a CPU ``torch.Generator``; their output is moved to D's device.
        batch_size: samples of *each* distribution per step.
        objective: a name from :data:`gankit.objectives.OBJECTIVES`.
        constraint: the Lipschitz constraint or penalty (none by default).
        lr, betas: Adam's settings.
        anneal_steps: if given, the step size decays to 0 along a cosine over this
            many steps (it averages out the minibatch noise at the end).
        seed: seeds the samples (and the penalty's interpolation).
    """

    def __init__(
        self,
        D: nn.Module,
        sample_real: Sampler,
        sample_fake: Sampler,
        *,
        batch_size: int,
        objective: str = "minimax",
        constraint: Constraint | None = None,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        anneal_steps: int | None = None,
        seed: int = 0,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}")
        self.D, self.sample_real, self.sample_fake = D, sample_real, sample_fake
        self.batch_size = batch_size
        self.device = next(D.parameters()).device
        self.game = get_objective(objective)
        self.constraint = constraint or Constraint()
        self.opt = make_optimizer(D.parameters(), "adam", lr, betas, 0.0)
        self.schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, anneal_steps)
                         if anneal_steps else None)
        self.generator = torch.Generator().manual_seed(seed)
        self.device_generator = torch.Generator(device=self.device).manual_seed(seed + offset("theory-training"))
        self.joint = not has_batchnorm(D)  # batch norm must see real and fake batches apart
        self.steps = 0

    def train(self, steps: int, desc: str = "discriminator") -> nn.Module:
        """Take ``steps`` more steps; returns D. ``desc`` labels the progress bar (terminals only)."""
        from tqdm.auto import tqdm

        if steps < 0:
            raise ValueError(f"steps must be >= 0; got {steps}")
        identity = nn.Identity()
        g, n = self.generator, self.batch_size
        for _ in tqdm(range(steps), desc=desc, leave=False, disable=None):
            real = self.sample_real(n, g).to(self.device)
            fake = self.sample_fake(n, g).to(self.device)
            discriminator_step(identity, self.D, self.opt, self.game, self.constraint, real, fake,
                               joint=self.joint, generator=self.device_generator)
            if self.schedule is not None:
                self.schedule.step()
        self.steps += steps
        return self.D


def train_discriminator(
    D: nn.Module, sample_real: Sampler, sample_fake: Sampler, *, steps: int, anneal: bool = False,
    desc: str = "discriminator", **options,
) -> nn.Module:
    """Train ``D`` alone for ``steps`` steps (see :class:`DiscriminatorAlone` for the options)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1; got {steps}")
    alone = DiscriminatorAlone(D, sample_real, sample_fake, anneal_steps=steps if anneal else None, **options)
    return alone.train(steps, desc)


def has_batchnorm(module: nn.Module) -> bool:
    """Whether a network holds a batch-norm layer."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def seeded_network(seed: int, build: Callable[[], nn.Module]) -> nn.Module:
    """A network initialised from ``seed`` without touching the global random state."""
    with seeded(seed):
        return build()


@functools.lru_cache(maxsize=16)
def _fit_1d_state(name: str, quick: bool, seed: int, device: str) -> tuple[tuple[str, Tensor], ...]:
    pr, pg, _ = case(name)
    budget = BUDGET_1D[quick]
    D = seeded_network(seed, lambda: MLPDiscriminator((1,), budget.hidden, "relu")).to(device)
    train_discriminator(D, pr.sample, pg.sample, steps=budget.steps, batch_size=budget.batch_size,
                        lr=budget.lr, betas=budget.betas, anneal=budget.anneal, seed=seed + offset("theory-training"),
                        desc=f"D on {name}")
    return tuple((k, v.detach().cpu().clone()) for k, v in D.state_dict().items())


def fitted_1d_discriminator(name: str, *, quick: bool, seed: int) -> MLPDiscriminator:
    r"""A 1-D discriminator trained alone to convergence on the case ``name`` (:data:`CASES`).

    Trained with :data:`BUDGET_1D` for the size; the weights are cached for the life of
    the process, so experiments run one after the other share the training, and each
    call returns a fresh copy (eval mode, on the automatically picked device).
    """
    device = pick_device("auto")
    state = dict(_fit_1d_state(name, quick, seed, str(device)))
    budget = BUDGET_1D[quick]
    D = MLPDiscriminator((1,), budget.hidden, "relu")
    D.load_state_dict(state)
    return D.to(device).eval()


def logits_on(D: nn.Module, x: np.ndarray) -> np.ndarray:
    """The network's raw scores at points ``x`` (``(n,)`` for 1-D, else ``(n, d)``), float64."""
    device = next(D.parameters()).device
    pts = torch.as_tensor(np.asarray(x, dtype=np.float32)).reshape(len(x), -1).to(device)  # (n, d)
    with torch.no_grad():
        return D(pts).double().cpu().numpy()


# --------------------------------------------------------------------------- parallel lines


class ShiftedLine(nn.Module):
    r"""The parallel-lines generator :math:`G_\theta(u) = (\theta, u)`, :math:`u \sim U[0, 1]`.

    Its one parameter :math:`\theta` is the horizontal offset of the generated line
    (Arjovsky et al. 2017, Example 1).
    """

    def __init__(self, theta: float):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor(float(theta)))

    def forward(self, u: Tensor) -> Tensor:
        u = u.reshape(len(u), 1)  # (B, 1)
        return torch.cat([self.theta.expand(len(u), 1).to(u.dtype), u], dim=1)  # (B, 2)


def uniform_noise(n: int, generator: torch.Generator) -> Tensor:
    """u ~ U[0, 1], shape ``(n, 1)``: the noise of :class:`ShiftedLine`."""
    return torch.rand(n, 1, generator=generator)


def theta_gradient(G: ShiftedLine, D: nn.Module, loss: Callable[[Tensor], Tensor], u: Tensor) -> float:
    r""":math:`\partial L_G / \partial \theta` of a generator loss ``loss(D(G(u)))`` at fixed D."""
    value = loss(D(G(u.to(G.theta.device))))
    (grad,) = torch.autograd.grad(value, G.theta)
    return float(grad)


# --------------------------------------------------------------------------- generator gradients


def generator_gradient_norms(
    G: nn.Module, D: nn.Module, loss: Callable[[Tensor], Tensor], noises: Sequence[Tensor]
) -> np.ndarray:
    r"""The norm of the generator's parameter gradient, one minibatch of noise at a time.

    .. math::
        \bigl\|\nabla_\theta L_G\bigr\|_2, \qquad L_G = \mathrm{loss}\bigl(D(G(z; \theta))\bigr)

    D is held fixed (its weights get no gradient); nothing is updated.

    Returns:
        Shape ``(len(noises),)``.
    """
    params = [p for p in G.parameters() if p.requires_grad]
    out = []
    D.requires_grad_(False)
    try:
        for z in noises:
            grads = torch.autograd.grad(loss(D(G(z))), params, allow_unused=True)
            norms = [g.norm() for g in grads if g is not None]
            out.append(float(torch.linalg.vector_norm(torch.stack(norms))) if norms else 0.0)
    finally:
        D.requires_grad_(True)
    return np.asarray(out)


def log_checkpoints(max_steps: int) -> list[int]:
    """1, 3, 10, 30, 100, ... up to ``max_steps`` (always included)."""
    marks, k = [], 0
    while True:
        for m in (10**k, 3 * 10**k):
            if m < max_steps:
                marks.append(m)
        if 10 ** (k + 1) >= max_steps:
            break
        k += 1
    return sorted(set(marks) | {int(max_steps)})

