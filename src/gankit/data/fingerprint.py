"""A fingerprint of a training set, so that a resumed run trains on the data it started with.

It records the resolved path of a file or folder (None for a named set), its
size in bytes (a folder: the sum over its files), the shape of the training
tensor, and a hash of a sample of its rows (up to 256 rows spread evenly over
the set, in the model's units). Replacing a file by other values of the same
shape changes the hash; moving it changes only the path.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .datasets import Dataset

SAMPLE_ROWS = 256


def _source_bytes(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def fingerprint(dataset: Dataset, path: str | Path | None = None) -> dict[str, Any]:
    """The fingerprint of ``dataset``, loaded from ``path`` (None for a named set).

    Returns:
        ``{"path": str | None, "bytes": int | None, "shape": [N, ...], "rows": hex digest}``.
    """
    n = dataset.rows  # a streamed set's rows are read from its file: the same rows as in memory
    shape = (n, *dataset.sample_shape)
    idx = np.unique(np.linspace(0, n - 1, min(n, SAMPLE_ROWS)).round().astype(np.int64))
    rows = dataset.rows_at(idx).detach().cpu().to(torch.float32).contiguous()
    digest = hashlib.sha256(str(shape).encode() + rows.numpy().tobytes()).hexdigest()
    source = Path(path).resolve() if path is not None else None
    return {"path": None if source is None else str(source),
            "bytes": None if source is None or not source.exists() else _source_bytes(source),
            "shape": list(shape), "rows": digest}


def differences(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What differs between two fingerprints, in words (the path aside: data may move); empty if the same."""
    out = []
    if list(saved.get("shape", [])) != list(now["shape"]):
        out.append(f"shape {tuple(saved.get('shape', []))} then, {tuple(now['shape'])} now")
    if saved.get("bytes") is not None and now["bytes"] is not None and saved["bytes"] != now["bytes"]:
        out.append(f"{saved['bytes']} bytes then, {now['bytes']} now")
    if saved.get("rows") != now["rows"]:
        out.append("other values in the sampled rows")
    return out


__all__ = ["differences", "fingerprint"]
