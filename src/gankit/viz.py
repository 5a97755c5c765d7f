"""Pictures: 2-D snapshots over the discriminator's heat map, image grids, GIFs, curves.

Figures are drawn with matplotlib's object API on the Agg canvas, so nothing
here needs a display or touches pyplot's global state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def new_figure(width: float = 6.0, height: float = 5.0) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    return path


def draw_points_snapshot(
    ax,
    real: np.ndarray,
    fake: np.ndarray,
    grid: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    *,
    probabilistic: bool,
    title: str = "",
) -> None:
    """Real vs generated points over a heat map of D(x) (or the critic's score).

    Args:
        ax: a matplotlib axes.
        real, fake: points of shape ``(n, 2)`` (or ``(n, 1)``: drawn as histograms).
        grid: ``(xs, ys, scores)`` with scores of shape ``(len(ys), len(xs))``;
            for 1-D data ``(xs, None, scores)`` with scores ``(len(xs),)``.
        probabilistic: scores are D(x) in [0, 1] (else an unbounded critic).
    """
    if real.shape[1] == 1:
        _draw_1d(ax, real[:, 0], fake[:, 0], grid, probabilistic)
    else:
        if grid is not None:
            xs, ys, s = grid
            kw = {"vmin": 0.0, "vmax": 1.0} if probabilistic else {}
            mesh = ax.pcolormesh(xs, ys, s, shading="auto", cmap="coolwarm", alpha=0.75, **kw)
            ax.figure.colorbar(mesh, ax=ax, fraction=0.046, pad=0.04,
                               label="D(x)" if probabilistic else "critic f(x)")
        ax.scatter(real[:, 0], real[:, 1], s=3, c="black", alpha=0.35, label="real")
        ax.scatter(fake[:, 0], fake[:, 1], s=3, c="#ff7f0e", alpha=0.6, label="generated")
        if grid is not None:  # a fixed frame: the heat map's extent (points outside are off-frame)
            ax.set_xlim(grid[0][0], grid[0][-1])
            ax.set_ylim(grid[1][0], grid[1][-1])
        ax.set_aspect("equal", adjustable="box")
        ax.legend(loc="upper right", fontsize=7, markerscale=3)
    ax.set_title(title, fontsize=9)


def _draw_1d(ax, real, fake, grid, probabilistic) -> None:
    lo, hi = np.percentile(np.concatenate([real, fake]), [0.5, 99.5])
    bins = np.linspace(lo, hi, 60)
    ax.hist(real, bins=bins, density=True, alpha=0.45, color="black", label="real")
    ax.hist(fake, bins=bins, density=True, alpha=0.45, color="#ff7f0e", label="generated")
    if grid is not None:
        xs, _, s = grid
        twin = ax.twinx()
        twin.plot(xs, s, color="#1f77b4", label="D(x)" if probabilistic else "f(x)")
        twin.set_ylabel("D(x)" if probabilistic else "critic f(x)")
        if probabilistic:
            twin.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=7)


def image_grid(images: np.ndarray, nrow: int | None = None, pad: int = 2) -> np.ndarray:
    """Tile images ``(N, C, H, W)`` with values in [0, 1] into one uint8 array ``(H', W', C)``."""
    n, c, h, w = images.shape
    nrow = nrow or int(math.ceil(math.sqrt(n)))
    ncol = int(math.ceil(n / nrow))
    out = np.ones((c, ncol * (h + pad) + pad, nrow * (w + pad) + pad), dtype=np.float64)
    for i in range(n):
        r, q = divmod(i, nrow)
        out[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = images[i]
    out = (np.clip(out, 0, 1) * 255).round().astype(np.uint8).transpose(1, 2, 0)  # (H', W', C)
    return out[..., 0] if c == 1 else out


def save_image_grid(images: np.ndarray, path: str | Path, nrow: int | None = None, scale: int = 1) -> Path:
    """Write a PNG grid of images ``(N, C, H, W)`` in [0, 1], enlarged ``scale`` times."""
    from PIL import Image

    grid = image_grid(images, nrow)
    im = Image.fromarray(grid)
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)
    return path


def make_gif(frames: Sequence[str | Path | np.ndarray], path: str | Path, duration_ms: int = 250) -> Path | None:
    """Animate frames (PNG files or uint8 arrays) into a looping GIF (the last frame is held longer)."""
    from PIL import Image

    if not frames:
        return None
    images = [(Image.fromarray(f) if isinstance(f, np.ndarray) else Image.open(f)).convert("RGB") for f in frames]
    size = images[0].size
    images = [im if im.size == size else im.resize(size) for im in images]
    durations = [duration_ms] * (len(images) - 1) + [duration_ms * 6]
    path = Path(path)
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0)
    return path


def save_image_paths(images: np.ndarray, path: str | Path, scale: int = 2) -> Path:
    """Latent paths of images ``(N, K, C, H, W)`` in [0, 1]: a PNG grid (one path a row) or a GIF.

    The GIF's frame k is the grid of the N images at step k; it plays the paths
    forth and back, so the loop has no jump.
    """
    from PIL import Image

    n, k = images.shape[:2]
    path = Path(path)
    if path.suffix != ".gif":
        return save_image_grid(images.reshape(n * k, *images.shape[2:]), path, nrow=k, scale=scale)
    frames = [image_grid(images[:, j]) for j in [*range(k), *range(k - 2, 0, -1)]]  # there and back
    if scale > 1:
        frames = [np.asarray(Image.fromarray(f).resize((f.shape[1] * scale, f.shape[0] * scale), Image.NEAREST))
                  for f in frames]
    path.parent.mkdir(parents=True, exist_ok=True)
    return make_gif(frames, path, duration_ms=120)


def plot_point_paths(paths: np.ndarray, path: str | Path, title: str = "") -> Path:
    """Latent paths of points ``(N, K, d)``: a line a path, from its start (o) to its end (s).

    Drawn in the first two coordinates; for d = 1 the horizontal axis is the step along the path.
    """
    n, k, d = paths.shape
    fig = new_figure(5, 5)
    ax = fig.add_subplot()
    for i in range(n):
        xs, ys = (np.arange(k), paths[i, :, 0]) if d == 1 else (paths[i, :, 0], paths[i, :, 1])
        line = ax.plot(xs, ys, ".-", lw=1, ms=3)[0]
        ax.plot(xs[0], ys[0], "o", color=line.get_color(), ms=6)
        ax.plot(xs[-1], ys[-1], "s", color=line.get_color(), ms=6)
    if d == 1:
        ax.set_xlabel("step along the path")
    else:
        ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title, fontsize=9)
    return save(fig, path)


def plot_curves(records: list[dict], keys: Sequence[str], path: str | Path, title: str = "") -> Path:
    """Plot the logged series ``keys`` of ``metrics.jsonl`` records against the iteration."""
    present = [k for k in keys if any(k in r for r in records)]
    fig = new_figure(7, 2.2 * max(len(present), 1))
    axes = fig.subplots(max(len(present), 1), 1, sharex=True, squeeze=False)[:, 0]
    for ax, key in zip(axes, present, strict=False):
        pts = [(r["step"], r[key]) for r in records if key in r and r[key] is not None]
        if pts:
            x, y = zip(*pts, strict=True)
            ax.plot(x, y, lw=1.2)
        ax.set_ylabel(key, fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("generator iteration")
    if title:
        axes[0].set_title(title, fontsize=10)
    return save(fig, path)
