r"""Weight clipping vs gradient penalty: what each does to the critic's Lipschitz constant and gradients.

Following Gulrajani et al. (2017, Fig. 1), deep MLP critics are trained alone against a
fixed "generator", the real distribution plus unit-variance Gaussian noise, on the 2-D
swiss roll: with weight clipping at :math:`c \in \{0.001, 0.01, 0.1\}` (RMSProp 5e-5, the
WGAN paper's settings) and with the gradient penalty (:math:`\lambda = 10`, Adam 1e-4,
betas (0, 0.9), the WGAN-GP paper's). Each step is :func:`gankit.training.discriminator_step`
with the Wasserstein critic loss and the constraint from :mod:`gankit.objectives`. After
training we measure

* the Lipschitz constant: the empirical estimate (:func:`gankit.divergences.lipschitz_estimate`,
  a lower bound) and the product of layer spectral norms
  (:func:`gankit.divergences.lipschitz_upper_bound`, an upper bound);
* the weights: clipping piles them at :math:`\pm c`;
* the gradient norm of the critic loss with respect to each layer's weights, averaged over
  fresh batches: with clipping it shrinks (small c) or grows (large c) geometrically
  through the layers, with the penalty it stays of one order;
* the critic's value surface over the data.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from gankit import viz
from gankit.data import Dataset, Sampler, load_dataset
from gankit.divergences import lipschitz_estimate, lipschitz_upper_bound, wasserstein
from gankit.experiments import Result
from gankit.experiments._runs import real_draw, small_config
from gankit.models import seeded
from gankit.objectives import get_objective
from gankit.sampling import discriminator_scores, pick_device
from gankit.streams import offset
from gankit.training import build_networks, discriminator_step, make_optimizer

log = logging.getLogger(__name__)

NAME = "lipschitz-clipping"
CLAIM = (
    "Clipping the critic's weights into [-c, c] keeps it K-Lipschitz with K set by c, but piles the weights at "
    "+-c and makes the gradients vanish or explode through the layers; a gradient penalty keeps the critic near "
    "1-Lipschitz with stable gradients."
)
CLIPS = (0.001, 0.01, 0.1)
DEPTH, WIDTH = 8, 128  # a deep critic: 8 hidden ReLU layers of 128 units (9 linear layers)
NOISE_STD = 1.0  # the fixed "generator": real data plus N(0, 1) noise (Gulrajani et al. 2017, Fig. 1)
PILE_TOL = 0.01  # a weight is "at +-c" when ||w| - c| <= 1% of c


def _critic_name(c: float | None) -> str:
    return "gradient penalty" if c is None else f"clip c={c:g}"


def linear_layers(D: nn.Module) -> list[nn.Linear]:
    """The critic's linear layers, input first."""
    return [m for m in D.modules() if isinstance(m, nn.Linear)]


def fraction_at_bound(weights: Tensor, bound: float, tol: float = PILE_TOL) -> float:
    r"""Fraction of entries within ``tol`` (relative) of :math:`\pm` ``bound``.

    .. math::
        \frac{1}{n} \#\{i : \big||w_i| - c\big| \le \mathrm{tol}\cdot c\}
    """
    w = weights.detach().abs().double()
    return float(((w - bound).abs() <= tol * bound).double().mean())


def layer_gradient_norms(D: nn.Module, objective, real: Tensor, fake: Tensor) -> tuple[list[float], list[float]]:
    r"""Per linear layer, input first: the loss gradient's norm at its output and at its weight.

    .. math::
        \big\|\partial L_f / \partial z_l\big\|_F, \qquad \big\|\partial L_f / \partial W_l\big\|_F,
        \qquad z_l = W_l h_{l-1} + b_l, \quad L_f = \mathbb{E}[f(\tilde x)] - \mathbb{E}[f(x)]

    (the Wasserstein critic loss alone, without any penalty term). The first is the
    signal that backpropagation carries down through the layers, which vanishes or
    explodes geometrically with depth; the second is what the optimiser sees. Parameter
    gradients are computed with :func:`torch.autograd.grad`, never stored in ``.grad``.
    """
    layers = linear_layers(D)
    outputs: list[Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: outputs.append(out)) for m in layers]
    try:
        loss = objective.discriminator_loss(D(real).reshape(len(real)), D(fake).reshape(len(fake)))  # two calls
    finally:
        for h in hooks:
            h.remove()
    grads = torch.autograd.grad(loss, outputs + [m.weight for m in layers])
    n = len(layers)
    signal = [float(torch.sqrt(grads[i].norm() ** 2 + grads[i + n].norm() ** 2)) for i in range(n)]
    weight = [float(g.norm()) for g in grads[2 * n:]]
    return signal, weight


def train_critic(
    c: float | None, dataset: Dataset, *, steps: int, seed: int, device: torch.device
) -> dict[str, Any]:
    """Train one critic (clipping at ``c``, or the gradient penalty when None) against real + noise."""
    objective_name = "wgan" if c is not None else "wgan-gp"
    extra = {"clip": c} if c is not None else {"gp_weight": 10.0}  # the paper's lambda: a 1-Lipschitz target
    config = small_config(objective_name, "swiss-roll", seed=seed, iterations=steps, width=WIDTH, depth=DEPTH,
                          **extra).resolved(dataset.kind, dataset.sample_shape)
    with seeded(seed):
        _, D, constraint = build_networks(config, dataset.sample_shape, dataset.kind)
    D = D.to(device)
    constraint.after_step(D)  # clipping acts from the start (a no-op for the penalty)
    objective = get_objective("wasserstein")
    opt = make_optimizer(D.parameters(), config.optimizer, config.d_lr, config.betas, config.momentum)
    real_sampler = Sampler(dataset.x, config.batch_size, device, seed=seed + offset("clipping-real"))
    fake_sampler = Sampler(dataset.x, config.batch_size, device, seed=seed + offset("clipping-fake"))
    g = torch.Generator(device=device).manual_seed(seed + offset("clipping-penalty"))
    identity = nn.Identity()  # the "generator" receives its samples ready-made

    def fake_batch() -> Tensor:
        x = fake_sampler()
        return x + NOISE_STD * torch.randn(x.shape, device=device, generator=g)

    for _ in range(steps):
        discriminator_step(identity, D, opt, objective, constraint, real_sampler(), fake_batch(), generator=g)

    norms = np.array([layer_gradient_norms(D, objective, real_sampler(), fake_batch()) for _ in range(20)])
    params = torch.cat([p.detach().reshape(-1) for p in D.parameters()]).cpu()
    weights = torch.cat([m.weight.detach().reshape(-1) for m in linear_layers(D)]).cpu()
    bound = c if c is not None else float(params.abs().max())
    return {"D": D, "objective": config.objective, "constraint": constraint.describe(),
            "optimizer": f"{config.optimizer} lr {config.d_lr:g}", "signal_norms": norms[:, 0].mean(0).tolist(),
            "weight_grad_norms": norms[:, 1].mean(0).tolist(),
            "weights": weights.numpy(), "fraction_at_bound": fraction_at_bound(params, bound), "bound": bound}


def run(out_dir: Path, *, quick: bool = False, seed: int = 0) -> Result:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    steps = 150 if quick else 2000
    n_eval = 500 if quick else 1000
    device = pick_device("auto")
    dataset = load_dataset("swiss-roll", options={"n": 20000}, seed=seed)
    gen = torch.Generator().manual_seed(seed + offset("clipping-eval"))
    real = dataset.scaler.to_model(real_draw(dataset, n_eval, seed + offset("clipping-eval-real")))
    fake = dataset.scaler.to_model(real_draw(dataset, n_eval, seed + offset("clipping-eval-fake")))
    fake = fake + NOISE_STD * torch.randn(fake.shape, generator=gen)
    w1 = wasserstein(real.numpy(), fake.numpy())

    critics: dict[str, dict[str, Any]] = {}
    for c in (*CLIPS, None):
        name = _critic_name(c)
        res = train_critic(c, dataset, steps=steps, seed=seed, device=device)
        D = res["D"].eval()
        pts = torch.cat([real, fake]).to(device)
        res["k_estimate"] = lipschitz_estimate(D, pts, n_pairs=1024, seed=seed).estimate
        res["k_upper"] = lipschitz_upper_bound(D)
        gap = float(discriminator_scores(D, real).mean() - discriminator_scores(D, fake).mean())
        res["critic_gap"] = gap
        res["w1_by_k_estimate"] = gap / res["k_estimate"] if res["k_estimate"] > 0 else math.nan
        critics[name] = res

    names = list(critics)
    k_est = {n: critics[n]["k_estimate"] for n in names}
    norms = {n: critics[n]["signal_norms"] for n in names}
    ratio = {n: norms[n][0] / norms[n][-1] for n in names}  # first layer / last layer (last: dL/df, never 0)
    spread = {n: max(norms[n]) / min(norms[n]) if min(norms[n]) > 0 else math.inf for n in names}
    clip_names = [_critic_name(c) for c in CLIPS]
    gp = _critic_name(None)
    checks: dict[str, bool | None] = {
        "estimate_below_upper_bound": all(critics[n]["k_estimate"] <= critics[n]["k_upper"] * (1 + 1e-6)
                                          for n in names),
        "k_grows_with_c": all(k_est[a] < k_est[b] for a, b in zip(clip_names, clip_names[1:], strict=False)),
        "gp_near_1_lipschitz": 0.5 <= k_est[gp] <= 2.0,
        "weights_pile_at_c": all(critics[_critic_name(c)]["fraction_at_bound"] >= 0.5 for c in (0.001, 0.01)),
        "small_c_gradients_vanish": all(ratio[_critic_name(c)] <= 0.1 for c in (0.001, 0.01)),
        "large_c_gradients_explode": ratio[_critic_name(0.1)] >= 10.0,
        "gp_gradients_stable": spread[gp] <= 10.0,
    }  # values: True / False, or None where not meaningful at this size
    _plot_surfaces(critics, dataset, real, fake, out_dir / "value_surfaces.png", device)
    _plot_weights(critics, out_dir / "weight_histograms.png")
    _plot_grad_norms(critics, out_dir / "gradient_norms.png")
    _plot_lipschitz(critics, out_dir / "lipschitz.png")

    numbers = {
        "steps": steps, "depth": DEPTH, "width": WIDTH, "n_eval": n_eval, "w1_exact": w1,
        "critics": {n: {k: v for k, v in critics[n].items() if k not in ("D", "weights")} for n in names},
        "gradient_ratio_first_to_last": ratio, "gradient_spread_max_to_min": spread,
        "checks": checks,
    }
    criterion = (
        "For every critic the estimated Lipschitz constant is <= the upper bound; with clipping it grows with c "
        "(0.001 < 0.01 < 0.1); the GP critic's estimate is in [0.5, 2]; with c <= 0.01 at least 50% of the "
        "parameters sit within 1% of +-c; the backpropagated gradient norm at the first layer relative to the "
        "last is <= 0.1 (vanishing) for c in {0.001, 0.01} and >= 10 (exploding) for c = 0.1, while the GP "
        "critic's layer gradient norms stay within a factor 10 of each other."
    )
    notes = [
        f"Critics: MLPs with {DEPTH} hidden ReLU layers of {WIDTH} units, trained alone for {steps} steps "
        f"(batch 64) against a fixed generator (real swiss-roll data plus N(0, {NOISE_STD:g}^2) noise, as in "
        "Gulrajani et al. 2017, Fig. 1); clipping critics with the WGAN paper's RMSProp 5e-5, the GP critic with "
        "the WGAN-GP paper's Adam 1e-4, betas (0, 0.9), lambda 10.",
        "PyTorch's default initialisation draws weights wider than c = 0.01 and 0.001, so the pile at +-c forms at "
        "the first clip and training keeps it there; with c = 0.1 most initial weights lie inside [-c, c] and "
        "the slow RMSProp steps move few of them to the bound.",
        f"critic_gap / k_estimate compares with the exact W1 = {w1:.3f} between the two evaluation samples.",
        "The gradient checks use the gradient backpropagated to each linear layer's output (dL/dz_l), the signal "
        "that vanishes or explodes geometrically with depth; the gradient with respect to the weights "
        "(dL/dW_l = dL/dz_l h_{l-1}^T) is also reported and drawn, but it mixes in the forward activations, and "
        "for a nearly constant critic (c = 0.001) its last layers cancel to exactly 0 in float32.",
    ]
    if quick:
        checks["large_c_gradients_explode"] = None
        notes.append(f"Quick run: {steps} critic steps. With c = 0.1 the gradients explode only once training has "
                     "aligned the weights (thousands of RMSProp steps; at initialisation the layer gains are "
                     "below 1), so that check is meaningful only at full size and is left out (None) here; "
                     "the other checks are evaluated as at full size.")
    passed: bool | None = all(v for v in checks.values() if v is not None)
    return Result(NAME, CLAIM, criterion, numbers, passed,
                  figures=["value_surfaces.png", "weight_histograms.png", "gradient_norms.png", "lipschitz.png"],
                  notes=notes)


# --------------------------------------------------------------------------- figures


def _plot_surfaces(critics, dataset, real: Tensor, fake: Tensor, path: Path, device) -> None:
    scaler = dataset.scaler
    real_d, fake_d = scaler.to_data(real).numpy(), scaler.to_data(fake).numpy()
    lo, hi = real_d.min(0) - 1.0, real_d.max(0) + 1.0
    xs, ys = np.linspace(lo[0], hi[0], 120), np.linspace(lo[1], hi[1], 120)
    gx, gy = np.meshgrid(xs, ys)  # (len(ys), len(xs))
    pts = scaler.to_model(torch.as_tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32))
    fig = viz.new_figure(11, 9.5)
    axes = fig.subplots(2, 2).ravel()
    for ax, (name, res) in zip(axes, critics.items(), strict=True):
        surface = discriminator_scores(res["D"], pts.to(device)).reshape(gx.shape)
        span = float(surface.max() - surface.min())
        viz.draw_points_snapshot(ax, real_d[:300], fake_d[:300], (xs, ys, surface), probabilistic=False,
                                 title=f"critic value surface, {name}\n(K estimate {res['k_estimate']:.3g}; "
                                       f"f spans {span:.2g} over this window)")
    fig.suptitle("Clipped critics learn overly simple functions; the GP critic follows the data", fontsize=10)
    viz.save(fig, path)


def _plot_weights(critics, path: Path) -> None:
    fig = viz.new_figure(12, 3.2)
    axes = fig.subplots(1, len(critics))
    for ax, (name, res) in zip(axes, critics.items(), strict=True):
        w = res["weights"]
        ax.hist(w, bins=80, color="#1f77b4")
        if name != "gradient penalty":
            for s in (-1, 1):
                ax.axvline(s * res["bound"], color="#d62728", ls="--", lw=1)
        ax.set_yscale("log")
        ax.set_title(f"{name}\n{100 * res['fraction_at_bound']:.0f}% of parameters at +-"
                     f"{'max|w|' if name == 'gradient penalty' else 'c'}", fontsize=8)
        ax.set_xlabel("weight value")
    axes[0].set_ylabel("count (log scale)")
    fig.suptitle("Weight histograms: clipping piles the weights at +-c", fontsize=10)
    viz.save(fig, path)


def _plot_grad_norms(critics, path: Path) -> None:
    fig = viz.new_figure(11, 4.2)
    axes = fig.subplots(1, 2)
    for ax, key, ylabel, title in (
        (axes[0], "signal_norms", "||dL / dz_l|| (log scale)", "Backpropagated gradient at each layer's output"),
        (axes[1], "weight_grad_norms", "||dL / dW_l|| (log scale)", "Gradient with respect to each layer's weights"),
    ):
        for name, res in critics.items():
            values = np.maximum(np.asarray(res[key]), 1e-30)  # an exact 0 (float32 underflow) drawn at 1e-30
            ax.plot(np.arange(1, len(values) + 1), values, "o-", label=name)
        ax.set_yscale("log")
        ax.set_xlabel("critic layer (1 = input side)")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=7)
    fig.suptitle("Gradient norms per layer: they vanish (small c) or explode (large c) with clipping, "
                 "and stay stable with the gradient penalty", fontsize=10)
    viz.save(fig, path)


def _plot_lipschitz(critics, path: Path) -> None:
    names = list(critics)
    fig = viz.new_figure(6.5, 3.8)
    ax = fig.add_subplot()
    x = np.arange(len(names))
    ax.bar(x - 0.2, [critics[n]["k_estimate"] for n in names], 0.4, label="estimate (lower bound)")
    ax.bar(x + 0.2, [critics[n]["k_upper"] for n in names], 0.4, label="product of spectral norms (upper bound)")
    ax.axhline(1.0, color="0.4", ls=":", lw=1)
    ax.set_xticks(x, names, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("Lipschitz constant K (log scale)")
    ax.set_title("The critic's Lipschitz constant: set by c with clipping, near 1 with GP", fontsize=9)
    ax.legend(fontsize=7)
    viz.save(fig, path)
