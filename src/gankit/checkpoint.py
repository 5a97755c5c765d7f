"""Checkpoints: atomic writes, safe loads, clear errors on a shape mismatch.

A checkpoint is a plain dictionary of tensors, numbers, strings, lists and
dicts. It is written to a temporary file in the same folder and renamed over
the old one (``os.replace`` is atomic on POSIX and Windows), so a crash while
saving never leaves a truncated checkpoint behind. It is read with
``torch.load(weights_only=True)``, which refuses arbitrary pickled objects.
"""

from __future__ import annotations

import logging
import pickle
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import writing
from .writing import atomic_path

log = logging.getLogger(__name__)


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` to ``path`` atomically and durably (temporary file, ``fsync``, rename)."""
    path = Path(path)
    with atomic_path(path, durable=True) as tmp:
        torch.save(state, tmp)
    return path


def remove_partial_writes(path: str | Path) -> list[Path]:
    """Delete the temporary files a process killed while saving ``path`` left beside it; returns them."""
    stale = writing.remove_partial_writes(path)
    if stale:
        log.info("removed %d partial checkpoint write(s) in %s (a save was interrupted)", len(stale), Path(path).parent)
    return stale


def _reason(e: Exception) -> str:
    """PyTorch's refusal in one line, without its advice to load untrusted files unsafely."""
    text = str(e)
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found:
        return (f"it holds a pickled Python object ({found.group(1)}), which gankit never loads "
                "because loading it could run code")
    if isinstance(e, pickle.UnpicklingError) or "weights_only" in text:
        return "it is not a PyTorch checkpoint (corrupt, truncated or another format)"
    first = text.strip().splitlines()[0] if text.strip() else type(e).__name__
    return first.split(". This is an internal")[0]


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu",
                    keys: Iterable[str] = ()) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, refusing arbitrary pickles.

    Args:
        path: the file.
        map_location: where tensors are loaded.
        keys: entries the checkpoint must hold.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: naming the file, when it cannot be read safely or lacks one of ``keys``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # unpickling errors come in many types
        raise ValueError(f"{path}: not a readable gankit checkpoint: {_reason(e)}") from e
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a gankit checkpoint (it holds a {type(state).__name__}, not a dictionary)")
    missing = [k for k in keys if k not in state]
    if missing:
        raise ValueError(f"{path}: an incomplete gankit checkpoint: it lacks {missing}; it cannot be used")
    return state


def non_finite(tensors: dict[str, Any]) -> list[str]:
    """The names of the floating-point tensors in ``tensors`` that hold a NaN or an infinity."""
    return [k for k, v in tensors.items()
            if torch.is_tensor(v) and v.is_floating_point() and not bool(torch.isfinite(v).all())]


def require_finite(state: dict[str, Any], path: str | Path, parts: Iterable[str]) -> None:
    """Refuse a checkpoint whose weights (the state dicts ``parts``) hold NaN or infinite values."""
    for part in parts:
        if isinstance(state.get(part), dict):
            bad = non_finite(state[part])
            if bad:
                raise ValueError(
                    f"{path}: the {part.replace('_', ' ')} holds NaN or infinite weights ({', '.join(bad[:3])}"
                    f"{' ...' if len(bad) > 3 else ''}), so it cannot be sampled or resumed; the run diverged "
                    "before this checkpoint was written: train it again (e.g. with a lower learning rate)")


def load_weights(module: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """``module.load_state_dict(state)`` with an error that lists what differs."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and hasattr(state[k], "shape") and state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        parts = []
        if shapes:
            parts.append("shapes differ: " + "; ".join(shapes[:6]) + (" ..." if len(shapes) > 6 else ""))
        if missing:
            parts.append(f"missing from the checkpoint: {missing[:6]}")
        if unexpected:
            parts.append(f"not in the model: {unexpected[:6]}")
        raise ValueError(f"the checkpoint's {what} does not fit this model: " + " | ".join(parts))
    module.load_state_dict(state)
