r"""Experiment ``disjoint-supports``: on disjoint supports JS is stuck at log 2, W1 is not.

The seed's "parallel lines" (Arjovsky, Chintala & Bottou 2017, Example 1): the data
:math:`p_r` is uniform on :math:`\{0\} \times [0, 1]`, the generator's :math:`p_\theta`
uniform on :math:`\{\theta\} \times [0, 1]`. For every :math:`\theta \ne 0`

.. math::
    \mathrm{KL}(p_r \,\|\, p_\theta) = +\infty, \qquad
    \mathrm{JS}(p_r, p_\theta) = \log 2, \qquad
    W_1(p_r, p_\theta) = |\theta|,

so JS gives no gradient in :math:`\theta` while W1 does. Three parts:

1. the exact curves (:func:`gankit.divergence_demo.family_divergences`);
2. the same from samples: :func:`gankit.divergences.js_samples`,
   :func:`gankit.divergences.kl_knn` (whose value grows without bound with the sample
   size when KL is infinite) and :func:`gankit.divergences.wasserstein` (exact optimal
   transport);
3. the consequence for training: the generator :math:`G(u) = (\theta, u)` has one
   learnable parameter. Against a discriminator trained to convergence the minimax
   generator loss :math:`\mathbb{E}\log(1 - D(G(u)))` has
   :math:`\partial/\partial\theta \approx 0` (D saturates on the fake line), while
   against a WGAN-GP critic :math:`-\mathbb{E} f(G(u))` has
   :math:`\partial/\partial\theta \approx \mathrm{sign}(\theta)`: a unit gradient that
   moves :math:`\theta` toward 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gankit import viz
from gankit.data.toy import parallel_lines
from gankit.divergence_demo import default_thetas, family_divergences
from gankit.divergences import discriminator_probability, js_samples, kl_knn, wasserstein
from gankit.experiments import Result
from gankit.experiments import _theory as th
from gankit.models import MLPDiscriminator
from gankit.objectives import (
    GradientPenalty,
    minimax_generator_loss,
    nonsaturating_generator_loss,
    wasserstein_generator_loss,
)
from gankit.sampling import pick_device
from gankit.streams import offset

NAME = "disjoint-supports"
CLAIM = ("For distributions on disjoint supports (parallel lines {0} x U[0,1] and {theta} x U[0,1]) KL = +inf "
         "and JS = log 2 whatever theta, while W1 = |theta|; so a trained discriminator gives the generator no "
         "gradient, while a WGAN critic gives a gradient of size ~1 pointing theta toward 0.")
JS_TOL = 0.05  # sample estimate of JS vs log 2 (or 0 at theta = 0)
W1_TOL = 0.05  # sample estimate of W1 vs |theta|
KL_GROWTH = 1.0  # nats gained per 4x more samples when KL = +inf
KL_ZERO_TOL = 0.25  # |KL estimate| at theta = 0, largest n
GRAD_ZERO = 0.01  # |d/dtheta| of the minimax loss
GRAD_BAND = (0.5, 1.5)  # sign(theta) * d/dtheta of the critic loss
GP_WEIGHT = 10.0
# LeakyReLU, not ReLU: a critic initialised with the wrong slope must flip it, and a ReLU critic
# can get stuck flat (dead units, zero gradient) on the way (seen for theta = 0.2).
ACTIVATION = "leaky_relu"

SIZES = {
    True: {"est_thetas": (-1.0, -0.25, 0.0, 0.25, 1.0), "n": 400, "kl_n": (250, 1000),
           "grad_thetas": (-1.0, 0.5, 1.0), "d_steps": 1000, "critic_steps": 500, "batch": 256},
    False: {"est_thetas": (-2.0, -1.5, -1.0, -0.5, -0.25, -0.1, 0.0, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0), "n": 1000,
            "kl_n": (250, 1000, 4000), "grad_thetas": (-2.0, -1.0, -0.5, -0.2, 0.2, 0.5, 1.0, 2.0),
            "d_steps": 3000, "critic_steps": 1000, "batch": 256},
}


def lines(n: int, theta: float, generator: torch.Generator) -> np.ndarray:
    """``n`` points of :math:`\\{\\theta\\} \\times U[0, 1]` (the ``lines`` data with one offset), float64."""
    return parallel_lines(n, generator, (float(theta),)).double().numpy()


def distinct(x: np.ndarray, avoid: np.ndarray | None = None) -> np.ndarray:
    """The rows of ``x`` without repeats and without rows of ``avoid``.

    Uniform float32 draws repeat now and then (24-bit mantissa); a repeated point
    makes a nearest-neighbour distance zero, which :func:`kl_knn` refuses.
    """
    x = np.unique(x, axis=0)
    if avoid is None:
        return x
    seen = {tuple(row) for row in avoid}
    return x[np.array([tuple(row) not in seen for row in x], dtype=bool)]


def sample_estimates(thetas, n: int, kl_sizes, seed: int) -> dict[str, np.ndarray]:
    """JS, W1 (``n`` samples each) and KL (each size of ``kl_sizes``) estimated from samples."""
    out: dict[str, list] = {"js": [], "w1": [], "kl": []}
    for i, theta in enumerate(thetas):
        g = torch.Generator().manual_seed(seed * 1000 + i)
        x = distinct(lines(n, 0.0, g))
        y = distinct(lines(n, theta, g), avoid=x)
        out["js"].append(js_samples(x, y, k=5, seed=seed))
        out["w1"].append(wasserstein(x, y))
        row = []
        for m in kl_sizes:
            xk = distinct(lines(m, 0.0, g))
            row.append(kl_knn(xk, distinct(lines(m, theta, g), avoid=xk), k=1))
        out["kl"].append(row)
    return {k: np.asarray(v) for k, v in out.items()}


def _train_pair(theta: float, sizes: dict, seed: int, device: torch.device):
    """A minimax discriminator and a WGAN-GP critic trained alone on p_r vs p_theta."""
    G = th.ShiftedLine(theta).to(device)

    def real(n: int, g: torch.Generator) -> torch.Tensor:
        return parallel_lines(n, g, (0.0,))

    def fake(n: int, g: torch.Generator) -> torch.Tensor:
        with torch.no_grad():
            return G(th.uniform_noise(n, g).to(device)).cpu()

    D = th.seeded_network(seed, lambda: MLPDiscriminator((2,), (64, 64), ACTIVATION)).to(device)
    th.train_discriminator(D, real, fake, steps=sizes["d_steps"], batch_size=sizes["batch"], objective="minimax",
                           lr=1e-3, betas=(0.5, 0.999), seed=seed + offset("disjoint-discriminator"),
                           desc=f"D, theta={theta:g}")
    C = th.seeded_network(seed + offset("disjoint-discriminator"),
                          lambda: MLPDiscriminator((2,), (64, 64), ACTIVATION)).to(device)
    th.train_discriminator(C, real, fake, steps=sizes["critic_steps"], batch_size=sizes["batch"],
                           objective="wasserstein", constraint=GradientPenalty(GP_WEIGHT), lr=1e-3, betas=(0.0, 0.9),
                           seed=seed + offset("disjoint-critic"), desc=f"critic, theta={theta:g}")
    return G, D, C


def gradients(thetas, sizes: dict, seed: int):
    """d/dtheta of the minimax, non-saturating and WGAN generator losses, each at its trained D / critic."""
    device = pick_device("auto")
    u = th.uniform_noise(8192, torch.Generator().manual_seed(seed + offset("disjoint-uniform"))).to(device)
    rows, profile = [], None
    for theta in thetas:
        G, D, C = _train_pair(theta, sizes, seed, device)
        with torch.no_grad():
            d_fake = float(torch.sigmoid(D(G(u))).mean())
        rows.append({
            "theta": theta,
            "minimax": th.theta_gradient(G, D, minimax_generator_loss, u),
            "nonsaturating": th.theta_gradient(G, D, nonsaturating_generator_loss, u),
            "wgan_gp": th.theta_gradient(G, C, wasserstein_generator_loss, u),
            "d_on_fake": d_fake,
        })
        if theta == 1.0:  # the networks along the horizontal line y = 1/2, for the figure
            x1 = np.linspace(-1.0, 2.0, 301)
            pts = np.stack([x1, np.full_like(x1, 0.5)], axis=1)  # (301, 2)
            profile = {"x1": x1, "d": discriminator_probability(th.logits_on(D, pts)), "f": th.logits_on(C, pts)}
    return rows, profile


def _plot(thetas, exact, est_thetas, est, kl_sizes, grads, profile, path: Path) -> None:
    fig = viz.new_figure(13, 9.5)
    (a, b), (c, d) = fig.subplots(2, 2)
    a.plot(thetas, exact["js"], "o", color="tab:blue", ms=2.5, label="JS (exact)")  # jumps at 0: no line
    a.plot(thetas, exact["w1"], "-", color="tab:green", lw=2, label=r"$W_1 = |\theta|$ (exact)")
    a.plot(est_thetas, est["js"], "o", color="tab:blue", mfc="none", ms=7, label="JS from samples (kNN)")
    a.plot(est_thetas, est["w1"], "s", color="tab:green", mfc="none", ms=7, label=r"$W_1$ from samples (exact OT)")
    a.axhline(th.LOG2, color="tab:blue", ls=":", lw=1, label="log 2")
    top = float(np.max(np.abs(thetas))) * 1.1
    inf = np.isinf(exact["kl"])
    a.plot(thetas[inf], np.full(inf.sum(), top), "^", color="tab:red", ms=3, label="KL = +inf (exact)")
    a.set_xlabel(r"$\theta$")
    a.set_ylabel("nats / distance")
    a.set_title(r"Parallel lines: JS = log 2 for every $\theta \neq 0$; $W_1 = |\theta|$", fontsize=10)
    a.legend(fontsize=7, loc="lower left")
    a.grid(alpha=0.3)
    for j, theta in enumerate(est_thetas):
        style = "--" if theta == 0 else "-"
        b.plot(kl_sizes, est["kl"][j], style, marker="o", ms=4, label=rf"$\theta = {theta:g}$")
    b.set_xscale("log")
    b.set_xlabel("samples n of each distribution")
    b.set_ylabel("kNN estimate of KL (nats)")
    b.set_title(r"KL = +inf: its sample estimate grows with n ($\approx 2 \log n$) for $\theta \neq 0$", fontsize=10)
    b.legend(fontsize=7, ncols=2, loc="center right")
    b.grid(alpha=0.3)
    gt = np.array([r["theta"] for r in grads])
    curves = (("minimax", "tab:red", r"minimax: $\partial_\theta\, \mathbb{E}\log(1 - D(G))$"),
              ("nonsaturating", "tab:orange", r"non-saturating: $\partial_\theta\,(-\mathbb{E}\log D(G))$"),
              ("wgan_gp", "tab:green", r"WGAN-GP critic: $\partial_\theta\,(-\mathbb{E} f(G))$"))
    for key, color, label in curves:
        c.plot(gt, [abs(r[key]) for r in grads], "o-", color=color, label=label)
    c.axhline(1.0, color="tab:green", ls=":", lw=1)
    c.axhline(GRAD_ZERO, color="tab:red", ls=":", lw=1, label=f"threshold {GRAD_ZERO:g}")
    c.set_yscale("log")
    c.set_xlabel(r"$\theta$")
    c.set_ylabel(r"$|\partial L_G / \partial \theta|$")
    c.set_title("Against a trained D the minimax gradient vanishes; the critic's is ~1", fontsize=10)
    c.legend(fontsize=7)
    c.grid(alpha=0.3, which="both")
    if profile is not None:
        d.plot(profile["x1"], profile["d"], color="tab:red", lw=2, label="D(x) (trained discriminator)")
        twin = d.twinx()
        twin.plot(profile["x1"], profile["f"], color="tab:green", lw=2, label="f(x) (WGAN-GP critic)")
        twin.set_ylabel("critic f(x)")
        d.axvline(0.0, color="black", lw=3, alpha=0.4, label=r"real line $x_1 = 0$")
        d.axvline(1.0, color="tab:orange", lw=3, alpha=0.5, label=r"generated line $x_1 = \theta = 1$")
        d.set_xlabel(r"$x_1$ (at $x_2 = 1/2$)")
        d.set_ylabel("D(x)")
        d.set_title("Why: D is flat (saturated at 0) on the generated line; the critic has slope ~-1", fontsize=10)
        h1, l1 = d.get_legend_handles_labels()
        h2, l2 = twin.get_legend_handles_labels()
        d.legend(h1 + h2, l1 + l2, fontsize=7, loc="center right")
    viz.save(fig, path)


def run(out_dir: Path, *, quick: bool, seed: int) -> Result:
    """Exact and estimated KL/JS/W1 on the parallel lines, and d/dtheta of the generator losses."""
    sizes = SIZES[quick]
    thetas = default_thetas()
    exact_rows = [family_divergences("parallel_lines", t) for t in thetas]
    exact = {k: np.array([r[k] for r in exact_rows]) for k in ("kl", "js", "w1")}
    off = thetas != 0
    exact_ok = bool(np.all(np.isinf(exact["kl"][off])) and np.all(np.abs(exact["js"][off] - th.LOG2) <= 1e-12)
                    and np.all(np.abs(exact["w1"] - np.abs(thetas)) <= 1e-9)
                    and np.all(np.abs([exact[k][~off] for k in ("kl", "js")]) <= 1e-12))
    est_thetas = np.array(sizes["est_thetas"])
    est = sample_estimates(est_thetas, sizes["n"], sizes["kl_n"], seed)
    zero = est_thetas == 0
    js_err = np.abs(est["js"] - np.where(zero, 0.0, th.LOG2))
    w1_err = np.abs(est["w1"] - np.abs(est_thetas))
    kl_growth = np.diff(est["kl"], axis=1)  # (T, len(kl_n) - 1) nats gained per 4x samples
    estimates_ok = bool(js_err.max() <= JS_TOL and w1_err.max() <= W1_TOL
                        and kl_growth[~zero].min() >= KL_GROWTH and np.abs(est["kl"][zero, -1]).max() <= KL_ZERO_TOL)
    grads, profile = gradients(sizes["grad_thetas"], sizes, seed)
    minimax_max = max(abs(r["minimax"]) for r in grads)
    critic_signed = [r["wgan_gp"] * np.sign(r["theta"]) for r in grads]
    gradients_ok = bool(minimax_max <= GRAD_ZERO and min(critic_signed) >= GRAD_BAND[0]
                        and max(critic_signed) <= GRAD_BAND[1])
    numbers = {
        "exact": {"theta": thetas, "kl": exact["kl"], "js": exact["js"], "w1": exact["w1"], "all_hold": exact_ok},
        "estimated": {"theta": est_thetas, "n": sizes["n"], "js_knn": est["js"], "w1_exact_ot": est["w1"],
                      "kl_knn_sizes": list(sizes["kl_n"]), "kl_knn": est["kl"], "js_max_error": float(js_err.max()),
                      "w1_max_error": float(w1_err.max()), "kl_min_growth_per_4x": float(kl_growth[~zero].min()),
                      "kl_at_theta_0": est["kl"][zero, -1], "all_hold": estimates_ok},
        "gradients": {"rows": grads, "minimax_max_abs": minimax_max,
                      "critic_signed_range": [min(critic_signed), max(critic_signed)],
                      "d_steps": sizes["d_steps"], "critic_steps": sizes["critic_steps"], "batch": sizes["batch"],
                      "all_hold": gradients_ok},
    }
    _plot(thetas, exact, est_thetas, est, sizes["kl_n"], grads, profile, out_dir / "disjoint_supports.png")
    notes = [
        f"Critic: WGAN-GP (two-sided gradient penalty, lambda = {GP_WEIGHT:g}; 2-D data, so the unit-slope critics "
        "form a connected set), Adam(1e-3, betas (0, 0.9)), the same MLP; no 1/K rescaling is needed since the "
        "penalty targets slope 1. LeakyReLU because a critic initialised with the wrong slope must turn it "
        "around, and a ReLU critic can get stuck flat (zero gradient) on the way.",
        "Discriminator: minimax (BCE) game, Adam(1e-3, betas (0.5, 0.999)), MLP 64x64 LeakyReLU(0.2), trained "
        "alone; the "
        "minimax gradient keeps shrinking the longer D trains (the better D, the worse the vanishing).",
        "The non-saturating gradient does not vanish, but its size grows with D's steepness instead of "
        "measuring the distance |theta|.",
        "kl_knn treats the samples as 2-D although they lie on a line, so with disjoint lines its estimate "
        "grows like 2 log n; points repeated by float32 sampling are removed first.",
    ]
    return Result(
        name=NAME, claim=CLAIM,
        criterion=(f"exact: KL = inf, JS = log 2 (1e-12), W1 = |theta| (1e-9) for theta != 0; from samples: "
                   f"|JS - log 2| <= {JS_TOL} (0 at theta = 0), |W1 - |theta|| <= {W1_TOL}, the KL estimate grows "
                   f">= {KL_GROWTH:g} nat per 4x samples (stays within {KL_ZERO_TOL} of 0 at theta = 0); after "
                   f"training: |d/dtheta minimax loss| <= {GRAD_ZERO:g} and sign(theta) * d/dtheta critic loss in "
                   f"[{GRAD_BAND[0]}, {GRAD_BAND[1]}]"),
        numbers=numbers, passed=exact_ok and estimates_ok and gradients_ok, figures=["disjoint_supports.png"],
        notes=notes,
    )
