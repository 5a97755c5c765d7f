"""Pictures of a live run for the page's export buttons: the current view as a PNG, the kept frames as a GIF.

Drawn with Pillow alone (fast enough to render a hundred frames on request):
the discriminator's heat map in the page's colours, the real samples in
green and the generated ones in purple.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from .run import HEAT, ViewInputs, unpacked

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
    heat = np.frombuffer(base64.b64decode(frame["heat"]), dtype=np.uint8).reshape(HEAT, HEAT)
    image = Image.fromarray(colour_map(heat[::-1]), "RGB").resize((size, size), Image.BILINEAR)
    draw = ImageDraw.Draw(image)
    lo, hi = inputs.bounds

    def pixels(points: np.ndarray) -> np.ndarray:
        p = (points - lo) / (hi - lo) * size
        return np.stack([p[:, 0], size - p[:, 1]], axis=1)

    for points, colour in ((inputs.real, (22, 163, 74)), (unpacked(frame["fake"]), (124, 58, 237))):
        for x, y in pixels(points[np.isfinite(points).all(1)]):
            draw.ellipse((x - 1.8, y - 1.8, x + 1.8, y + 1.8), fill=colour)
    draw.text((6, 4), f"iteration {frame['step']}", fill=(30, 30, 30))
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
