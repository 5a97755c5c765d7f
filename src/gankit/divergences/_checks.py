"""Input conversion and validation shared by the divergence functions."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

_LOG2 = math.log(2.0)


def _to_numpy(value: Any, name: str) -> np.ndarray:
    """Convert ``value`` (array, sequence, scalar or torch tensor) to a float64 array."""
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            raise ValueError(f"{name} must be real; got a complex tensor")
        return value.detach().cpu().to(torch.float64).numpy()
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be convertible to a float array; got {value!r}") from err
    if np.iscomplexobj(arr):
        raise ValueError(f"{name} must be real; got a complex array")
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a numeric array; got dtype {arr.dtype}") from err


def _check_finite(arr: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} must be finite; got {bad} NaN or infinite entries")


def _histogram(value: Any, name: str) -> np.ndarray:
    """Validate a non-negative weight vector and normalise it to sum to one."""
    arr = _to_numpy(value, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must be non-empty; got shape {arr.shape}")
    _check_finite(arr, name)
    if arr.min() < 0:
        raise ValueError(f"{name} must be non-negative; got min {arr.min():g}")
    total = arr.sum()
    if total <= 0:
        raise ValueError(f"{name} must have a positive sum; got all zeros")
    return arr / total


def _pair_of_histograms(p: Any, q: Any) -> tuple[np.ndarray, np.ndarray]:
    p_arr = _histogram(p, "p")
    q_arr = _histogram(q, "q")
    if p_arr.shape != q_arr.shape:
        raise ValueError(f"p and q must have the same shape; got {p_arr.shape} and {q_arr.shape}")
    return p_arr, q_arr


def _log_base(base: float | None) -> float:
    if base is None:
        return 1.0
    if not (math.isfinite(base) and base > 0 and base != 1):
        raise ValueError(f"base must be a positive finite number other than 1; got {base!r}")
    return math.log(base)


def _samples(value: Any, name: str) -> np.ndarray:
    """Validate a point cloud; ``(n,)`` becomes ``(n, 1)``, ``(n, ...)`` becomes ``(n, d)``."""
    arr = _to_numpy(value, name)
    if arr.ndim == 0:
        raise ValueError(f"{name} must have shape (n,) or (n, d); got a scalar")
    if arr.ndim == 1:
        arr = arr[:, None]  # (n,) -> (n, 1)
    elif arr.ndim > 2:
        arr = arr.reshape(arr.shape[0], -1)  # (n, ...) -> (n, d)
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must be non-empty; got shape {arr.shape}")
    _check_finite(arr, name)
    return arr


def _two_samples(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    x_arr = _samples(x, "x")
    y_arr = _samples(y, "y")
    if x_arr.shape[1] != y_arr.shape[1]:
        raise ValueError(
            f"x and y must have the same dimension d; got {x_arr.shape[1]} and {y_arr.shape[1]}"
        )
    return x_arr, y_arr


def _weights(w: Any, n: int, name: str, points: str) -> np.ndarray:
    if w is None:
        return np.full(n, 1.0 / n)
    arr = _histogram(w, name)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one weight per row of {points}; "
                         f"got {arr.shape}")
    return arr


def _order(p: float) -> float:
    p = float(p)
    if not (math.isfinite(p) and p >= 1):
        raise ValueError(f"p must be a finite number >= 1; got {p!r}")
    return p


def _positive_int(value: Any, name: str) -> int:
    try:
        ok = not isinstance(value, bool) and int(value) == value and value >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)
