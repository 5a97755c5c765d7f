r"""Experiment ``optimal-discriminator``: a discriminator trained to convergence is D*.

For a fixed generator distribution :math:`p_g`, the discriminator that maximises the
seed's objective

.. math::
    \max_D\ \mathbb{E}_{x \sim p_r}[\log D(x)] + \mathbb{E}_{x \sim p_g}[\log(1 - D(x))]

is :math:`D^*(x) = p_r(x) / (p_r(x) + p_g(x))` (Goodfellow et al. 2014, Prop. 1): the
integrand :math:`p_r \log D + p_g \log(1 - D)` is maximised pointwise there. Here an
MLP discriminator is trained alone on samples of two fixed 1-D distributions with
known densities (two Gaussians; a bimodal :math:`p_r` against a :math:`p_g` sitting
between its modes) and compared with :math:`D^*` on a grid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gankit import viz
from gankit.divergences import discriminator_probability
from gankit.experiments import Result
from gankit.experiments import _theory as th

NAME = "optimal-discriminator"
CLAIM = ("For a fixed generator, the optimal discriminator is D*(x) = p_r(x) / (p_r(x) + p_g(x)): a "
         "discriminator trained to convergence on samples approaches it.")
TOLERANCE = 0.03
CASE_NAMES = ("gaussians", "bimodal")


def compare(name: str, *, quick: bool, seed: int) -> dict:
    """Train (or reuse) the 1-D discriminator of case ``name`` and compare it with D* on the grid.

    Returns:
        ``x``, ``pr``, ``pg`` (densities), ``d_star``, ``d`` (trained, sigmoid of its
        score), ``mask`` (the criterion's region) and the summary numbers.
    """
    pr, pg, description = th.case(name)
    x = np.linspace(*th.GRID[:2], th.GRID[2])  # (n,)
    log_pr, log_pg = th.log_densities(pr, pg, x)
    D = th.fitted_1d_discriminator(name, quick=quick, seed=seed)
    d_star = discriminator_probability(th.optimal_logit(log_pr, log_pg))
    d = discriminator_probability(th.logits_on(D, x))
    mask = th.region_mask(log_pr, log_pg)
    err = np.abs(d - d_star)[mask]
    summary = {
        "description": description,
        "max_abs_error": float(err.max()),
        "mean_abs_error": float(err.mean()),
        "x_at_max_error": float(x[mask][err.argmax()]),
        "region": [float(x[mask].min()), float(x[mask].max())],
    }
    return {"x": x, "pr": np.exp(log_pr), "pg": np.exp(log_pg), "d_star": d_star, "d": d, "mask": mask,
            "summary": summary}


def _plot(curves: dict[str, dict], path: Path, budget: th.Budget) -> None:
    fig = viz.new_figure(5.2 * len(curves), 6.4)
    axes = fig.subplots(2, len(curves), squeeze=False, height_ratios=[2.2, 1])
    for j, (name, c) in enumerate(curves.items()):
        x, m = c["x"], c["mask"]
        top, bottom = axes[0, j], axes[1, j]
        top.fill_between(x, c["pr"], color="black", alpha=0.15, label=r"$p_r$")
        top.fill_between(x, c["pg"], color="tab:orange", alpha=0.25, label=r"$p_g$")
        top.set_ylabel("density")
        twin = top.twinx()
        twin.plot(x, c["d_star"], color="tab:blue", lw=2.5, label=r"$D^* = p_r/(p_r+p_g)$")
        twin.plot(x, c["d"], color="tab:red", lw=1.2, ls="--", label="trained D")
        twin.set_ylim(-0.02, 1.02)
        twin.set_ylabel("D(x)")
        lo, hi = c["summary"]["region"]
        for ax in (top, bottom):
            ax.axvspan(x[0], lo, color="grey", alpha=0.12, lw=0)
            ax.axvspan(hi, x[-1], color="grey", alpha=0.12, lw=0)
            ax.set_xlim(x[0], x[-1])
        top.set_title(f"{name}: {c['summary']['description']}", fontsize=8)
        h1, l1 = top.get_legend_handles_labels()
        h2, l2 = twin.get_legend_handles_labels()
        top.legend(h1 + h2, l1 + l2, fontsize=7, loc="center left")
        err = np.abs(c["d"] - c["d_star"])
        bottom.plot(x, np.where(m, err, np.nan), color="tab:red", lw=1.2, label=r"$|D - D^*|$ (criterion region)")
        bottom.plot(x, np.where(m, np.nan, err), color="tab:red", lw=0.8, alpha=0.3)
        bottom.axhline(TOLERANCE, color="black", ls=":", lw=1, label=f"tolerance {TOLERANCE}")
        bottom.set_ylim(0, max(2 * TOLERANCE, float(err[m].max()) * 1.2))
        bottom.set_xlabel("x")
        bottom.set_ylabel(r"$|D - D^*|$")
        bottom.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"A discriminator trained alone ({budget.steps} Adam steps, {budget.batch_size} samples "
                 f"of each per step) matches $D^*$; grey: $p_r + p_g$ below 1% of its peak", fontsize=10)
    viz.save(fig, path)


def run(out_dir: Path, *, quick: bool, seed: int) -> Result:
    """Train a 1-D discriminator on each case and compare it with D* (see the module docstring)."""
    budget = th.BUDGET_1D[quick]
    curves = {name: compare(name, quick=quick, seed=seed) for name in CASE_NAMES}
    numbers = {name: c["summary"] for name, c in curves.items()}
    worst = max(s["max_abs_error"] for s in numbers.values())
    numbers["max_abs_error"] = worst
    numbers["training"] = {"steps": budget.steps, "batch_size": budget.batch_size, "hidden": list(budget.hidden),
                           "optimizer": f"Adam(lr={budget.lr:g}, cosine decay to 0)", "activation": "relu"}
    _plot(curves, out_dir / "optimal_discriminator.png", budget)
    notes = [
        "D(x) is the sigmoid of the trained network's score; D* is computed from the analytic densities.",
        "The largest errors sit at the edges of the region, where p_r + p_g is near 1% of its peak and only "
        "about 1 sample in 1000 falls: there the estimate is limited by samples, not by the formula.",
    ]
    if quick:
        notes.append("Quick size: fewer and smaller minibatches, so a larger (but still passing) error.")
    return Result(
        name=NAME, claim=CLAIM,
        criterion=f"max |D(x) - D*(x)| <= {TOLERANCE} on the grid where p_r + p_g is above 1% of its peak, "
                  f"for every case ({', '.join(CASE_NAMES)})",
        numbers=numbers, passed=bool(worst <= TOLERANCE), figures=["optimal_discriminator.png"], notes=notes,
    )
