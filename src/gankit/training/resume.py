"""The resume policy: what a continued run may change, and the checks that it continues on its own data.

A run continues exactly where its checkpoint stopped, so a resume may change
only what does not alter the run's past (:data:`gankit.config.RESUMABLE`: T,
logging, devices and the like). :func:`prepare` reads the checkpoint, refuses
any other change (:class:`ResumeChangeError`), an iteration budget below the
run's step, and data that is gone; it warns when a linear learning-rate
schedule would jump. :func:`check_data` compares the data the run is resumed
on with the fingerprint of the data it trained on (shape, size, a hash of
sampled rows); ``data=NEW_PATH`` points a run at data that moved.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..checkpoint import load_checkpoint, require_finite
from ..config import RESUMABLE, TrainConfig
from ..data import Dataset
from ..data.fingerprint import differences
from ..runfolder import CHECKPOINT
from ..runlock import check_unlocked
from .run import RESUME_KEYS, is_path
from .steps import lr_factor

log = logging.getLogger(__name__)


class ResumeChangeError(ValueError):
    """A resume asked to change what a run keeps: ``changed`` maps each field to (the run's value, the asked one).

    ``str(e)`` names the fields; :meth:`message` names them as the caller's words for them
    (the command line's flags).
    """

    def __init__(self, run_dir: Path, changed: dict[str, tuple[Any, Any]]):
        self.run_dir, self.changed = run_dir, changed
        super().__init__(self.message(str))

    def message(self, name: Callable[[str], str]) -> str:
        what = "; ".join(f"{name(k)}: run has {a!r}, asked {b!r}" for k, (a, b) in self.changed.items())
        return (f"cannot resume {self.run_dir}: {what}. Only {', '.join(sorted(map(name, RESUMABLE)))} may change; "
                "start a new run for anything else")


#: Fields added after runs were saved without them, with the value those runs trained with (a missing field
#: would otherwise resolve to today's recipe and change the game mid-run).
ADDED_LATER: dict[str, Any] = {"class_loss": 0.0}


def prepare(run_dir: str | Path, overrides: dict[str, Any],
            dataset: Dataset | None = None) -> tuple[TrainConfig, dict[str, Any]]:
    """The config to continue ``run_dir`` with (the run's, with the allowed ``overrides``) and its checkpoint.

    Raises ``FileNotFoundError`` for a missing folder or checkpoint, :class:`ResumeChangeError` for a change
    outside RESUMABLE, ``ValueError`` for an iteration budget below the run's step or data that moved or is gone.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"--resume {run_dir}: no such run folder")
    check_unlocked(run_dir)
    path = run_dir / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(f"--resume {run_dir}: no checkpoint ({CHECKPOINT}) here; is it a gankit run "
                                "folder? (a run stopped before its first checkpoint starts again with --overwrite)")
    state = load_checkpoint(path, keys=RESUME_KEYS)
    require_finite(state, path, ("generator", "discriminator", "generator_ema"))
    saved = TrainConfig.from_dict({**ADDED_LATER, **state["config"]}, source=str(path))
    overrides = dict(overrides)
    moved = overrides.pop("data", None)
    wanted = TrainConfig.from_dict({**saved.to_dict(), **overrides})
    changed = {k: v for k, v in saved.differences(wanted).items() if k not in RESUMABLE}
    if changed:
        raise ResumeChangeError(run_dir, changed)
    step = int(state["step"])
    if wanted.iterations is not None and wanted.iterations < step:
        raise ValueError(f"cannot resume {run_dir}: it stands at iteration {step}, and --iterations "
                         f"{wanted.iterations} is below that; give --iterations {step} or more")
    if wanted.lr_schedule == "linear" and wanted.iterations != saved.iterations:
        log.warning("the linear learning-rate schedule now decays to 0 at iteration %d, not %d: at iteration %d "
                    "the rate jumps from %.3g to %.3g of lr", wanted.iterations, saved.iterations, step,
                    lr_factor("linear", step, saved.iterations), lr_factor("linear", step, wanted.iterations))
    return _resumed_data(run_dir, saved, wanted, moved, dataset), state


def _resumed_data(run_dir: Path, saved: TrainConfig, wanted: TrainConfig, moved: str | None,
                  dataset: Dataset | None) -> TrainConfig:
    """The config to resume with, pointed at moved data (``moved``) or refusing data that is gone."""
    if moved is not None and moved != saved.data:
        if not is_path(saved.data):
            raise ValueError(f"cannot resume {run_dir}: it trained on the named set {saved.data!r}; "
                             f"--data {moved} cannot change it")
        if not Path(moved).exists():
            raise ValueError(f"cannot resume {run_dir}: --data {moved}: no such file or folder")
        return dataclasses.replace(wanted, data=moved)
    if dataset is None and is_path(saved.data) and not Path(saved.data).exists():
        raise ValueError(f"cannot resume {run_dir}: its data {saved.data} is gone; if it moved, point at it "
                         "with --data NEW_PATH (checked against the data the run trained on)")
    return wanted


def check_data(run_dir: str | Path, state: dict[str, Any], now: dict[str, Any], data: str) -> None:
    """Refuse to resume on data whose fingerprint ``now`` differs from the one in the checkpoint ``state``."""
    then = state["data"].get("fingerprint") if isinstance(state["data"], dict) else None
    if not then:  # checkpoints written before fingerprints were kept
        return
    diff = differences(then, now)
    if diff:
        where = now["path"] or repr(data)
        raise ValueError(f"cannot resume {run_dir}: the data {where} differ from the data it trained on "
                         f"({'; '.join(diff)}); resume it on its own data, or start a new run")
