"""``gankit export RUN``: a trained generator as one file that maps noise (and a class) to data units.

The exported module is the run's generator (its EMA when kept, as ``gankit
sample`` uses) with the data's scaler built in:

.. math::
    x = G(z) \\cdot scale + loc \\qquad (x = G(z, y) \\cdot scale + loc \\text{ when class-conditional})

so ``x`` is in the data's own units (pixels 0..255 for image files, the CSV's
units for points), exactly what ``gankit sample`` writes for the same ``z``.
``z`` is ``(n, noise_dim)`` standard normal noise; a class-conditional
generator also takes ``y``, ``(n,)`` int64 classes. Formats:

* ``torchscript`` (``.pt``): ``torch.jit.load(path)(z)``, no gankit needed;
* ``onnx`` (``.onnx``): for ONNX Runtime and other engines, with a dynamic batch axis
  (needs the ``onnx`` package: ``pip install gankit[export]``).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .training import load_generator
from .writing import atomic_path, check_writable

FORMATS = {"torchscript": ".pt", "onnx": ".onnx"}


class InDataUnits(nn.Module):
    """``G`` followed by the scaler's ``x * scale + loc`` (per feature for points, per channel for images)."""

    def __init__(self, G: nn.Module, loc: tuple[float, ...], scale: tuple[float, ...], sample_shape: tuple[int, ...]):
        super().__init__()
        self.G = G
        shape = (1, -1) if len(sample_shape) == 1 else (1, -1) + (1,) * (len(sample_shape) - 1)
        self.register_buffer("loc", torch.tensor(loc, dtype=torch.float32).reshape(shape))
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32).reshape(shape))

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        x = self.G(z) if y is None else self.G(z, y)
        return x * self.scale + self.loc


def exported_module(run_dir: str | Path, *, raw: bool = False) -> tuple[InDataUnits, dict[str, Any]]:
    """The run's generator in data units (CPU, eval mode) and its checkpoint info (``load_generator``'s)."""
    G, info = load_generator(run_dir, device="cpu", raw=raw)
    G = G.to(memory_format=torch.contiguous_format).eval()
    module = InDataUnits(G, info["scaler"].loc, info["scaler"].scale, tuple(info["sample_shape"])).eval()
    module.requires_grad_(False)  # for inference: the file's outputs need no graph
    return module, info


def example_inputs(module: InDataUnits, info: dict[str, Any], n: int = 4) -> tuple[Tensor, ...]:
    """Noise (and classes for a conditional generator) to trace ``module`` with."""
    z = torch.randn(n, info["config"].noise_dim, generator=torch.Generator().manual_seed(0))
    classes = int(info.get("n_classes", 0))
    return (z, torch.arange(n) % classes) if classes else (z,)


def export(run_dir: str | Path, out: str | Path, fmt: str = "torchscript", *,
           raw: bool = False) -> tuple[Path, dict[str, Any]]:
    """Write the run's generator to ``out`` as ``fmt`` (:data:`FORMATS`); returns the path and the checkpoint's
    info (``load_generator``'s, for :func:`describe`).

    Raises ``ValueError`` for an unknown format or a path whose suffix is not the format's, and
    ``ImportError`` (saying what to install) for ONNX without the ``onnx`` package.
    """
    if fmt not in FORMATS:
        raise ValueError(f"--format {fmt}: choose from {', '.join(FORMATS)}")
    out = Path(out)
    if out.suffix != FORMATS[fmt]:
        raise ValueError(f"--out {out}: a {fmt} file ends in {FORMATS[fmt]}")
    check_writable(out, f"--out {out}")
    module, info = exported_module(run_dir, raw=raw)
    inputs = example_inputs(module, info)
    with torch.no_grad(), atomic_path(out) as tmp:
        if fmt == "torchscript":
            traced = torch.jit.trace(module, inputs, check_trace=False)
            traced.save(str(tmp))
        else:
            try:
                import onnx  # noqa: F401  (the exporter needs it)
            except ImportError as e:
                raise ImportError("--format onnx needs the onnx package: pip install onnx (or gankit[export])") from e
            names = ["z", "y"][: len(inputs)]
            with warnings.catch_warnings():  # the TorchScript-based exporter: announced for removal, exact today
                warnings.simplefilter("ignore", DeprecationWarning)
                torch.onnx.export(module, inputs, str(tmp), input_names=names, output_names=["x"],
                                  dynamic_axes={**{k: {0: "n"} for k in names}, "x": {0: "n"}}, dynamo=False)
    return out, info


def describe(info: dict[str, Any]) -> str:
    """What the file maps, for the command's last line."""
    shape = tuple(info["sample_shape"])
    classes = int(info.get("n_classes", 0))
    inputs = f"z: (n, {info['config'].noise_dim}) standard normal" + (
        f", y: (n,) int64 classes 0..{classes - 1}" if classes else "")
    return f"{inputs} -> x: (n, {', '.join(map(str, shape))}) in data units ({math.prod(shape)} values per sample)"
