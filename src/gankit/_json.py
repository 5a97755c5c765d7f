"""Plain JSON values from numpy, torch and dataclass results, and back.

JSON has no infinity or NaN (Python's ``json`` would write ``Infinity``, which
strict readers refuse), so every file gankit writes holds a non-finite number
as the string ``"inf"``, ``"-inf"`` or ``"nan"``, and :func:`from_jsonable`
reads it back as the float.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch


def jsonable(value: Any) -> Any:
    """numpy / torch values and tuples to plain JSON types; non-finite floats become "inf", "-inf", "nan"."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return jsonable(value.detach().cpu().numpy())
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


_NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def from_jsonable(value: Any) -> Any:
    """The inverse of :func:`jsonable` for numbers: ``"inf"``, ``"-inf"`` and ``"nan"`` become floats again."""
    if isinstance(value, dict):
        return {k: from_jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_jsonable(v) for v in value]
    if isinstance(value, str):
        return _NON_FINITE.get(value, value)
    return value
