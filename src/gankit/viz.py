"""Pictures: 2-D snapshots over the discriminator's heat map, image grids, GIFs, curves.

Figures are drawn with matplotlib's object API on the Agg canvas, so nothing
here needs a display or touches pyplot's global state. Every picture is written
atomically (a temporary file renamed over the target), so a killed run leaves
the previous picture or none, never a truncated file.

The two pictures a training run draws over and over, the snapshot and the
curves, place their axes by hand: a figure with a layout engine is drawn once
to lay it out and once more to render it, and the layout pass (tick labels
measured on every axis) is most of the cost.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .writing import atomic_path


def new_figure(width: float = 6.0, height: float = 5.0, layout: str | None = "constrained") -> Figure:
    """A figure on the Agg canvas; ``layout=None`` for axes the caller places (see :func:`inches`)."""
    fig = Figure(figsize=(width, height), dpi=100, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def inches(fig: Figure, left: float, bottom: float, width: float, height: float) -> list[float]:
    """An axes rectangle given in inches from the figure's lower left corner, as ``fig.add_axes`` takes it."""
    w, h = fig.get_size_inches()
    return [left / w, bottom / h, width / w, height / h]


def save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` (format from the suffix) atomically.

    A figure with a layout engine is cropped to what it draws (``bbox_inches="tight"``);
    a figure whose axes were placed by hand is written as it stands, in one render.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, bbox_inches="tight" if fig.get_layout_engine() is not None else None)
    return path


def draw_points_snapshot(
    ax,
    real: np.ndarray,
    fake: np.ndarray,
    grid: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    *,
    probabilistic: bool,
    title: str = "",
    cax=None,
) -> None:
    """Real vs generated points over a heat map of D(x) (or the critic's score).

    Args:
        ax: a matplotlib axes.
        real, fake: points of shape ``(n, 2)`` (or ``(n, 1)``: drawn as histograms).
        grid: ``(xs, ys, scores)`` with scores of shape ``(len(ys), len(xs))``;
            for 1-D data ``(xs, None, scores)`` with scores ``(len(xs),)``.
        probabilistic: scores are D(x) in [0, 1] (else an unbounded critic).
        cax: the axes of the colour bar (default: space taken from ``ax``).
    """
    if real.shape[1] == 1:
        _draw_1d(ax, real[:, 0], fake[:, 0], grid, probabilistic)
    else:
        if grid is not None:
            xs, ys, s = grid
            kw = {"vmin": 0.0, "vmax": 1.0} if probabilistic else {}
            mesh = ax.pcolormesh(xs, ys, s, shading="auto", cmap="coolwarm", alpha=0.75, **kw)
            where = {"cax": cax} if cax is not None else {"ax": ax, "fraction": 0.046, "pad": 0.04}
            ax.figure.colorbar(mesh, label="D(x)" if probabilistic else "critic f(x)", **where)
        ax.scatter(real[:, 0], real[:, 1], s=3, c="black", alpha=0.35, label="real")
        ax.scatter(fake[:, 0], fake[:, 1], s=3, c="#ff7f0e", alpha=0.6, label="generated")
        if grid is not None:  # a fixed frame: the heat map's extent (points outside are off-frame)
            ax.set_xlim(grid[0][0], grid[0][-1])
            ax.set_ylim(grid[1][0], grid[1][-1])
        ax.set_aspect("equal", adjustable="box")
        ax.legend(loc="upper right", fontsize=7, markerscale=3)
    ax.set_title(title, fontsize=9)


def points_snapshot(
    real: np.ndarray,
    fake: np.ndarray,
    grid: tuple[np.ndarray, np.ndarray | None, np.ndarray] | None,
    *,
    probabilistic: bool,
    title: str = "",
) -> Figure:
    """The figure of one training snapshot (:func:`draw_points_snapshot`).

    2-D points get a plot of the data's aspect ratio (at most 3.95 in a side) and its colour
    bar at fixed places, so the figure is written in one render; 1-D points, with a second
    y axis, keep the constrained layout (5.6 x 4.6 in).
    """
    if real.shape[1] != 2:
        fig = new_figure(5.6, 4.6)
        draw_points_snapshot(fig.add_subplot(), real, fake, grid, probabilistic=probabilistic, title=title)
        return fig
    if grid is not None:
        span = np.array([grid[0][-1] - grid[0][0], grid[1][-1] - grid[1][0]], dtype=float)
    else:
        span = np.ptp(real, axis=0).astype(float)
    span = np.maximum(span, 1e-9)
    w, h = 3.95 * span / span.max()  # equal aspect: the plot's box has the data's proportions
    left, bottom, top, bar, right = 0.6, 0.3, 0.3, 0.18, 0.9  # inches, for tick labels, title and the bar's label
    fig = new_figure(left + w + 0.1 + (bar + right if grid is not None else 0.2), bottom + h + top, layout=None)
    ax = fig.add_axes(inches(fig, left, bottom, w, h))
    cax = fig.add_axes(inches(fig, left + w + 0.1, bottom, bar, h)) if grid is not None else None
    draw_points_snapshot(ax, real, fake, grid, probabilistic=probabilistic, title=title, cax=cax)
    return fig


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
    with atomic_path(path) as tmp:
        im.save(tmp)  # the temporary name keeps the suffix, which names the format
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
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
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
    n = max(len(present), 1)
    height, gap = 2.2 * n, 0.15  # inches; margins: 0.85 left, 0.15 right, 0.35 top, 0.5 bottom
    fig = new_figure(7, height, layout=None)
    each = (height - 0.85 - gap * (n - 1)) / n
    fig.subplots_adjust(left=0.85 / 7, right=1 - 0.15 / 7, top=1 - 0.35 / height, bottom=0.5 / height,
                        hspace=gap / each)
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
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
