"""Input conversion and validation, once, for the divergences, the metrics and the data builders.

Every public function of those modules accepts numpy arrays, nested sequences or
torch tensors (detached and converted to float64) and raises :class:`ValueError`
whose message names the argument, the rule and the value it got. The functions
here return the converted array (or number) so that a caller checks and
converts in one line.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = [
    "check_finite",
    "histogram",
    "histogram_pair",
    "points",
    "points_pair",
    "positive",
    "positive_int",
    "same_dim",
    "scores",
    "to_float64",
    "weights",
]


def to_float64(value: Any, name: str) -> np.ndarray:
    """``value`` (array, sequence, scalar or torch tensor, any device or dtype) as a real float64 array."""
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            raise ValueError(f"{name} must be real; got a complex tensor")
        return value.detach().cpu().to(torch.float64).numpy()
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a numeric array or tensor; got {type(value).__name__}") from err
    if np.iscomplexobj(arr):
        raise ValueError(f"{name} must be real; got a complex array")
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a numeric array or tensor; got dtype {arr.dtype}") from err


def check_finite(arr: np.ndarray, name: str) -> None:
    """Refuse NaN and infinite entries, counting them."""
    finite = np.isfinite(arr)
    if not np.all(finite):
        raise ValueError(f"{name} must be finite; got {int(np.size(arr) - np.count_nonzero(finite))} NaN or "
                         "infinite entries")


def histogram(value: Any, name: str) -> np.ndarray:
    """A non-empty, finite, non-negative 1-D weight vector with a positive sum, normalised to sum to one."""
    arr = to_float64(value, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must be non-empty; got shape {arr.shape}")
    check_finite(arr, name)
    if arr.min() < 0:
        raise ValueError(f"{name} must be non-negative; got min {arr.min():g}")
    total = arr.sum()
    if total <= 0:
        raise ValueError(f"{name} must have a positive sum; got all zeros")
    return arr / total


def histogram_pair(p: Any, q: Any) -> tuple[np.ndarray, np.ndarray]:
    """Two :func:`histogram` s ``p`` and ``q`` of the same shape."""
    p_arr, q_arr = histogram(p, "p"), histogram(q, "q")
    if p_arr.shape != q_arr.shape:
        raise ValueError(f"p and q must have the same shape; got {p_arr.shape} and {q_arr.shape}")
    return p_arr, q_arr


def weights(w: Any, n: int, name: str, of: str) -> np.ndarray:
    """Weights of the ``n`` rows of ``of`` as a :func:`histogram` (None: uniform, 1 / n each)."""
    if w is None:
        return np.full(n, 1.0 / n)
    arr = histogram(w, name)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one weight per row of {of}; got {arr.shape}")
    return arr


def points(x: Any, name: str, *, flatten: bool = True, min_points: int = 1) -> np.ndarray:
    """``x`` as a finite float64 point cloud ``(n, d)`` with at least ``min_points`` points.

    A 1-D input of length ``n`` is ``n`` points on the line; with ``flatten``
    an input of shape ``(n, C, H, W)`` (any ``ndim >= 3``) is ``n`` flattened points.
    """
    arr = to_float64(x, name)
    if arr.ndim == 0:
        raise ValueError(f"{name} must have shape (n, d) (or (n,) for points on a line); got a scalar")
    if arr.ndim == 1:
        arr = arr[:, None]  # (n,) -> (n, 1)
    elif arr.ndim > 2:
        if not flatten:
            raise ValueError(f"{name} must have shape (n, d); got shape {arr.shape}")
        arr = arr.reshape(arr.shape[0], -1)  # (n, C, H, W) -> (n, C*H*W)
    if arr.shape[0] < min_points:
        what = "an empty set" if arr.shape[0] == 0 else f"{arr.shape[0]} point(s)"
        raise ValueError(f"{name} must contain at least {min_points} point(s); got {what}")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} must have at least one feature per point; got shape {arr.shape}")
    check_finite(arr, name)
    return arr


def same_dim(x: np.ndarray, y: np.ndarray, x_name: str, y_name: str) -> None:
    """Two point clouds ``(n, d)`` and ``(m, d)`` share the dimension d."""
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"{x_name} and {y_name} must have the same number of features per point (dimension d); "
                         f"got {x.shape[1]} and {y.shape[1]}")


def points_pair(
    x: Any, y: Any, x_name: str = "x", y_name: str = "y", *, flatten: bool = True, min_points: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Two :func:`points` clouds of the same dimension."""
    X = points(x, x_name, flatten=flatten, min_points=min_points)
    Y = points(y, y_name, flatten=flatten, min_points=min_points)
    same_dim(X, Y, x_name, y_name)
    return X, Y


def scores(x: Any, name: str) -> np.ndarray:
    """``x`` as a non-empty, finite 1-D float64 array (``(n, 1)`` is accepted)."""
    arr = to_float64(x, name)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]  # (n, 1) -> (n,)
    if arr.ndim != 1:
        raise ValueError(f"{name} must have shape (n,) or (n, 1); got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must contain at least one value; got an empty array")
    check_finite(arr, name)
    return arr


def positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """``value`` as an int, refusing booleans, fractions and anything below ``minimum``."""
    try:
        ok = not isinstance(value, bool) and int(value) == value and value >= minimum
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        rule = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {rule}; got {value!r}")
    return int(value)


def positive(value: Any, name: str) -> float:
    """``value`` as a float, refusing anything that is not a finite number > 0."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = float("nan")
    if not (np.isfinite(x) and x > 0):
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
    return x
