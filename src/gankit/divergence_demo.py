r"""KL, JS and W1 between distributions that slide apart: the picture behind the WGAN.

Three families, indexed by a shift :math:`\theta`, compare :math:`P_0` with
:math:`P_\theta` (Arjovsky, Chintala & Bottou 2017, Example 1):

* ``point_masses``: :math:`\delta_0` and :math:`\delta_\theta`;
* ``segments``: :math:`U[0, 1]` and :math:`U[\theta, \theta + 1]`;
* ``parallel_lines``: in 2-D, :math:`\{0\} \times U[0, 1]` and
  :math:`\{\theta\} \times U[0, 1]`.

For every :math:`\theta \ne 0` the KL divergence is :math:`+\infty` (the second
distribution misses part of the first one's support). JS is stuck at :math:`\log 2`
whenever the supports are disjoint, whatever their distance, so it gives no gradient
in :math:`\theta`; for the overlapping segments it is
:math:`\min(|\theta|, 1) \log 2`. W1 is :math:`|\theta|` in every family: continuous,
and informative about how far apart the distributions are.

KL and JS are computed exactly. For the segments both densities are constant on the
cells between the breakpoints :math:`0, 1, \theta, \theta + 1`, so the discrete
divergences of the cell masses equal the continuous ones. The point masses, and the
lines discretised on a common vertical grid, are atoms on the union of both supports. W1 comes from
:func:`gankit.divergences.wasserstein` on equal-mass quantile points of the uniform
parts, which is exact for these shifted copies.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gankit.divergences import js, kl, wasserstein
from gankit.writing import atomic_path

__all__ = ["FAMILIES", "default_thetas", "family_divergences", "format_table", "run"]

FAMILIES = ("point_masses", "segments", "parallel_lines")
_TITLES = {
    "point_masses": r"point masses $\delta_0$ vs $\delta_\theta$",
    "segments": r"segments $U[0,1]$ vs $U[\theta,\theta+1]$",
    "parallel_lines": r"parallel lines $\{0\}\times U[0,1]$ vs $\{\theta\}\times U[0,1]$",
}
_N_QUANTILES = 64  # equal-mass points per uniform part for W1


def default_thetas() -> np.ndarray:
    """Shifts -2, -1.95, ..., 2 (81 values, 0 included exactly)."""
    return np.arange(-40, 41) / 20.0


def _segment_masses(theta: float) -> tuple[np.ndarray, np.ndarray]:
    """Masses of U[0, 1] and U[theta, theta + 1] on the cells between their breakpoints."""
    edges = np.unique([0.0, 1.0, theta, theta + 1.0])  # sorted breakpoints
    lo, hi = edges[:-1], edges[1:]
    p = np.clip(np.minimum(hi, 1.0) - np.maximum(lo, 0.0), 0.0, None)
    q = np.clip(np.minimum(hi, theta + 1.0) - np.maximum(lo, theta), 0.0, None)
    return p, q


def _atom_masses(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masses of two uniform distributions of atoms ``xs (n, d)``, ``ys (m, d)`` on their union."""
    atoms, index = np.unique(np.concatenate([xs, ys]), axis=0, return_inverse=True)
    index = index.reshape(-1)  # (n + m,) atom of each point
    n = xs.shape[0]
    p = np.bincount(index[:n], minlength=len(atoms)) / n
    q = np.bincount(index[n:], minlength=len(atoms)) / ys.shape[0]
    return p, q


def family_divergences(family: str, theta: float) -> dict[str, float]:
    r"""KL, JS (nats) and W1 between the family's :math:`P_0` and :math:`P_\theta`.

    .. math::
        \mathrm{KL}(P_0 \,\|\, P_\theta), \qquad \mathrm{JS}(P_0, P_\theta), \qquad
        W_1(P_0, P_\theta) = |\theta|.

    Args:
        family: one of :data:`FAMILIES`.
        theta: the shift.

    Returns:
        ``{"kl": ..., "js": ..., "w1": ...}``.

    Raises:
        ValueError: if ``family`` is unknown or ``theta`` is not finite.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose from {list(FAMILIES)}")
    theta = float(theta)
    if not math.isfinite(theta):
        raise ValueError(f"theta must be finite; got {theta!r}")
    u = (np.arange(_N_QUANTILES) + 0.5) / _N_QUANTILES  # (N,) equal-mass points of U[0, 1]
    if family == "point_masses":
        x0, x1 = np.zeros((1, 1)), np.full((1, 1), theta)  # (1, 1) atoms at 0 and theta
        p, q = _atom_masses(x0, x1)
        w1 = wasserstein(x0, x1)
    elif family == "segments":
        p, q = _segment_masses(theta)
        w1 = wasserstein(u, u + theta)
    else:
        line0 = np.stack([np.zeros_like(u), u], axis=1)  # (N, 2) points of {0} x U[0, 1]
        line1 = np.stack([np.full_like(u, theta), u], axis=1)  # (N, 2) of {theta} x U[0, 1]
        p, q = _atom_masses(line0, line1)
        w1 = wasserstein(line0, line1)
    return {"kl": kl(p, q), "js": js(p, q), "w1": w1}


def format_table(curves: dict[str, dict[str, np.ndarray]], thetas: np.ndarray,
                 rows: np.ndarray | None = None) -> str:
    """Plain-text table with columns family, theta, KL, JS, JS/log2, W1.

    Args:
        curves: ``{family: {"kl": (T,), "js": (T,), "w1": (T,)}}``.
        thetas: the shifts, shape ``(T,)``.
        rows: indices of the shifts to show; by default all when ``T <= 9``, otherwise
            seven evenly spaced ones plus the shift closest to 0.

    Returns:
        The table, one line per family and shift.
    """
    T = len(thetas)
    if rows is None:
        rows = np.arange(T) if T <= 9 else np.unique(
            np.r_[np.linspace(0, T - 1, 7).round().astype(int), np.argmin(np.abs(thetas))])
    header = f"{'family':<15} {'theta':>7} {'KL':>9} {'JS':>9} {'JS/log2':>8} {'W1':>8}"
    lines = [header, "-" * len(header)]
    for family, c in curves.items():
        for i in rows:
            kl_txt = "+inf" if math.isinf(c["kl"][i]) else f"{c['kl'][i]:.4f}"
            lines.append(f"{family:<15} {thetas[i]:>7.3f} {kl_txt:>9} {c['js'][i]:>9.4f} "
                         f"{c['js'][i] / math.log(2):>8.4f} {c['w1'][i]:>8.4f}")
    return "\n".join(lines)


def _plot(curves: dict[str, dict[str, np.ndarray]], thetas: np.ndarray, path: Path) -> None:
    fig = Figure(figsize=(15, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(1, len(curves), sharey=True))
    top = math.ceil(max(2.0, float(np.max(np.abs(thetas)))) * 1.15 / 0.5) * 0.5  # +inf level
    for ax, (family, c) in zip(axes, curves.items(), strict=True):
        inf = np.isinf(c["kl"])
        ax.plot(thetas[~inf], c["kl"][~inf], "s", color="tab:red", ms=6, label="KL (finite)")
        ax.plot(thetas[inf], np.full(inf.sum(), top), "^", color="tab:red", ms=4,
                label="KL = +inf")
        ax.axhline(math.log(2), color="tab:blue", ls=":", lw=1, label="log 2")
        # markers, not a line: JS jumps at theta = 0 where the supports become disjoint
        ax.plot(thetas, c["js"], "o", color="tab:blue", ms=3, label="JS")
        ax.plot(thetas, c["w1"], "-", color="tab:green", lw=2, label=r"$W_1 = |\theta|$")
        ax.set_title(_TITLES[family], fontsize=10)
        ax.set_xlabel(r"$\theta$")
        ax.grid(alpha=0.3)
    ticks = np.arange(0.0, top, 0.5)
    axes[0].set_yticks(np.r_[ticks, top], [f"{t:g}" for t in ticks] + ["+inf"])
    axes[0].set_ylim(-0.05, top * 1.05)
    axes[0].set_ylabel("divergence / distance (nats)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=9)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)


def run(out_dir: Path, thetas: Any = None) -> dict[str, Any]:
    r"""Compute KL, JS and W1 against the shift for the three families; save a figure.

    .. math::
        \mathrm{KL} = +\infty, \quad
        \mathrm{JS} = \log 2 \ (\text{disjoint supports}), \quad
        W_1 = |\theta| \qquad (\theta \ne 0).

    Args:
        out_dir: folder for ``divergences.png`` (created if missing).
        thetas: shifts, 1-D; :func:`default_thetas` by default.

    Returns:
        ``{"thetas": (T,), "point_masses": {"kl", "js", "w1"}, "segments": {...},
        "parallel_lines": {...}, "table": str, "figure": Path}``; each curve is an array
        of shape ``(T,)`` with KL in nats (``inf`` where infinite) and JS in nats.

    Raises:
        ValueError: if ``thetas`` is empty, not 1-D or not finite.
    """
    grid = default_thetas() if thetas is None else np.asarray(thetas, dtype=np.float64)
    if grid.ndim != 1 or grid.size == 0 or not np.all(np.isfinite(grid)):
        raise ValueError(f"thetas must be a non-empty finite 1-D sequence; got shape "
                         f"{grid.shape}")
    curves: dict[str, dict[str, np.ndarray]] = {}
    for family in FAMILIES:
        values = [family_divergences(family, t) for t in grid]
        curves[family] = {key: np.array([v[key] for v in values]) for key in ("kl", "js", "w1")}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figure = out / "divergences.png"
    _plot(curves, grid, figure)
    return {"thetas": grid, **curves, "table": format_table(curves, grid), "figure": figure}
