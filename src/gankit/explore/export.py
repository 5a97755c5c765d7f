"""Pictures of a live run for the page's export buttons: the current view as a PNG, the kept frames as a GIF.

Drawn with Pillow alone (fast enough to render a hundred frames on request):
the discriminator's heat map in the page's colours, the real samples in
green and the generated ones in purple. For 1-D data the heat map is a band
of columns along x, under the real and generated densities and the curve of
D(x) (or the critic's f(x) over its range), with the samples in two rows below.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from .run import unpacked
from .views import ViewInputs

SIZE = 400
FAKE_RGB = np.array([124, 58, 237], dtype=np.float64)  # D(x) = 0: judged fake
REAL_RGB = np.array([22, 163, 74], dtype=np.float64)  # D(x) = 1: judged real
WHITE = np.array([255, 255, 255], dtype=np.float64)


def colour_map(values: np.ndarray) -> np.ndarray:
    r"""Bytes 0..255 to RGB: purple (judged fake) through white (undecided) to green (judged real).

    .. math::
        c(v) = \text{white} + |2v - 1| \cdot (\text{end} - \text{white}), \qquad v = \text{byte} / 255,

    with the end colour green for :math:`v > 1/2` and purple below, faded to 45% so the points stay visible.
    """
    v = values.astype(np.float64)[..., None] / 255.0
    t = np.abs(2 * v - 1) * 0.45
    end = np.where(v > 0.5, REAL_RGB, FAKE_RGB)
    return (WHITE + t * (end - WHITE)).clip(0, 255).astype(np.uint8)


def render(frame: dict[str, Any], inputs: ViewInputs, size: int = SIZE) -> Image.Image:
    """One frame (as the page receives it) drawn as an RGB image."""
    render_view = _render_1d if inputs.dim == 1 else _render_2d
    image = render_view(frame, inputs, size)
    ImageDraw.Draw(image).text((6, 4), f"iteration {frame['step']}", fill=(30, 30, 30))
    return image


def _heat(frame: dict[str, Any], inputs: ViewInputs) -> np.ndarray:
    """The frame's D on the mesh, bytes 0..255: ``(n, n)`` (row 0 the lowest y) in 2-D, ``(n,)`` in 1-D."""
    heat = np.frombuffer(base64.b64decode(frame["heat"]), dtype=np.uint8)
    n = inputs.heat_size
    return heat.reshape(n, n) if inputs.dim == 2 else heat.reshape(n)


def _render_1d(frame: dict[str, Any], inputs: ViewInputs, size: int) -> Image.Image:
    """1-D: D as coloured columns and as a curve, the real (green) and generated (purple) densities above, and
    the real and generated samples as two rows of dots under the plot."""
    heat = _heat(frame, inputs)
    image = Image.fromarray(colour_map(heat[None, :]), "RGB").resize((size, size), Image.BILINEAR)
    draw = ImageDraw.Draw(image)
    top, bottom = 0.08 * size, 0.72 * size
    u = np.linspace(0, size, len(heat))
    fake = unpacked(frame["fake"], 1)
    densities = (inputs.density, inputs.fake_density(fake))
    peak = 1.2 * max(float(inputs.density.max()), 1e-12)  # the real density's top at 83% of the plot's height
    for density, colour in zip(densities, ((22, 163, 74), (124, 58, 237)), strict=True):
        v = bottom - np.minimum(density / peak, 1.0) * (bottom - top)
        draw.line(list(zip(u.tolist(), v.tolist(), strict=True)), fill=colour, width=2)
    d = bottom - heat / 255.0 * (bottom - top)
    draw.line(list(zip(u.tolist(), d.tolist(), strict=True)), fill=(30, 58, 138), width=2)
    lo, hi = inputs.bounds[0][0], inputs.bounds[1][0]
    for points, colour, row in ((inputs.real, (22, 163, 74), 0.8), (fake, (124, 58, 237), 0.88)):
        for x in (points[np.isfinite(points[:, 0]), 0] - lo) / (hi - lo) * size:
            draw.ellipse((x - 1.8, row * size - 1.8, x + 1.8, row * size + 1.8), fill=colour)
    return image


def _render_2d(frame: dict[str, Any], inputs: ViewInputs, size: int) -> Image.Image:
    """2-D: the heat map, the real (green) and generated (purple) samples."""
    image = Image.fromarray(colour_map(_heat(frame, inputs)[::-1]), "RGB").resize((size, size), Image.BILINEAR)
    draw = ImageDraw.Draw(image)
    lo, hi = inputs.bounds

    def pixels(points: np.ndarray) -> np.ndarray:
        p = (points - lo) / (hi - lo) * size
        return np.stack([p[:, 0], size - p[:, 1]], axis=1)

    for points, colour in ((inputs.real, (22, 163, 74)), (unpacked(frame["fake"]), (124, 58, 237))):
        for x, y in pixels(points[np.isfinite(points).all(1)]):
            draw.ellipse((x - 1.8, y - 1.8, x + 1.8, y + 1.8), fill=colour)
    return image


def png(frame: dict[str, Any], inputs: ViewInputs) -> bytes:
    out = io.BytesIO()
    render(frame, inputs).save(out, format="PNG")
    return out.getvalue()


def gif(frames: list[dict[str, Any]], inputs: ViewInputs, duration_ms: int = 120) -> bytes:
    images = [render(f, inputs).convert("P", palette=Image.ADAPTIVE) for f in frames]
    out = io.BytesIO()
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
    return out.getvalue()


__all__ = ["colour_map", "gif", "png", "render"]
