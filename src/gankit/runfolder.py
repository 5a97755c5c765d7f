"""What a run leaves on disk: ``config.json``, ``metrics.jsonl``, TensorBoard and the checkpoint.

A part of the training loop (:class:`gankit.training.Trainer` calls its hooks):
the loop itself never touches a file. Under torchrun only rank 0 has one.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from . import writing
from ._json import from_jsonable, jsonable
from .checkpoint import remove_partial_writes, save_checkpoint
from .runlock import LOCK_FILE, RunLock
from .writing import append_line, write_text

log = logging.getLogger(__name__)

CHECKPOINT = Path("checkpoints") / "latest.pt"
SEEDS_FILE = "seeds.json"  # a folder of stacked seeds (gankit.seeds): one run folder per seed-<k>/


class RunFolder:
    """Writes one run's folder.

    Args:
        run_dir: the folder.
        tensorboard: also log the scalars to ``run_dir/tensorboard``.
    """

    def __init__(self, run_dir: str | Path, tensorboard: bool = False):
        self.run_dir = Path(run_dir)
        self.tensorboard = tensorboard
        self._writer = None
        self._lock: RunLock | None = None

    @property
    def checkpoint(self) -> Path:
        return self.run_dir / CHECKPOINT

    def start(self, trainer: Any) -> None:
        """Lock the folder; refuse to overwrite a finished run; write the config and the metrics kept so far."""
        self._refuse_a_finished_run(trainer)
        self._lock = RunLock.acquire_for(self.run_dir)  # held until close: one trainer per folder
        try:
            self._refuse_a_finished_run(trainer)  # again, now that no other trainer can write it
            remove_partial_writes(self.checkpoint)
            writing.remove_partial_writes(self.run_dir)  # the folder's own files a killed run left half written
            trainer.config.save(self.run_dir / "config.json")
            # a resumed run drops the lines logged after its checkpoint (and a line torn by a kill)
            write_text(self.run_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in trainer.records))
        except BaseException:
            self.release()
            raise

    def _refuse_a_finished_run(self, trainer: Any) -> None:
        if trainer.step == 0 and self.checkpoint.exists():
            raise FileExistsError(f"{self.run_dir} already holds a run; continue it with --resume "
                                  f"{self.run_dir}, or choose another --out (or --overwrite)")

    def _tensorboard(self) -> Any:
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.run_dir / "tensorboard"))
        return self._writer

    def record(self, trainer: Any, record: dict[str, Any]) -> None:
        """Append a metrics line, whole, in one write (and its scalars, evaluation's included, to TensorBoard)."""
        append_line(self.run_dir / "metrics.jsonl", json.dumps(jsonable(record)))  # an infinite KL as "inf"
        if self.tensorboard:
            writer = self._tensorboard()
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    writer.add_scalar(key, value, record["step"])

    def add_image(self, tag: str, grid: Any, step: int) -> None:
        """An image grid (uint8, ``(H, W)`` grey or ``(H, W, 3)``) to TensorBoard, when it is on."""
        if self.tensorboard:
            self._tensorboard().add_image(tag, grid, step, dataformats="HW" if grid.ndim == 2 else "HWC")

    def save(self, trainer: Any, state: dict[str, Any]) -> None:
        save_checkpoint(state, self.checkpoint)

    def kept(self) -> str:
        """What a failure leaves behind, for its message."""
        ckpt = self.checkpoint
        return f"the last good checkpoint {ckpt} is kept" if ckpt.exists() else "no checkpoint was written"

    def close(self, trainer: Any) -> None:
        if self._writer is not None:
            self._writer.flush()
        self.release()

    def release(self) -> None:
        """Let other trainers into the folder."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def read_metrics(path: str | Path, step: int | None = None) -> list[dict[str, Any]]:
    """The metrics lines of ``path`` (up to ``step``); a line torn by a kill is dropped with a warning.

    Non-finite numbers, written as ``"inf"``, ``"-inf"`` or ``"nan"``, come back as floats.

    The file itself is rewritten without it when the run starts again (:meth:`RunFolder.start`).
    """
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = from_jsonable(json.loads(line))
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except ValueError:
            log.warning("%s: line %d is torn or malformed (a write was interrupted); dropping it", path, number)
            continue
        if step is None or record.get("step", 0) <= step:
            records.append(record)
    return records


# --------------------------------------------------------------------------- what --overwrite may replace


def is_run_folder(path: str | Path) -> bool:
    """A gankit run folder: ``config.json`` beside ``checkpoints/``."""
    path = Path(path)
    return (path / "config.json").is_file() and (path / "checkpoints").is_dir()


def is_seeds_folder(path: str | Path) -> bool:
    """A folder of stacked seeds: ``seeds.json`` and run folders ``seed-<k>/``."""
    path = Path(path)
    return (path / SEEDS_FILE).is_file() and all(is_run_folder(p) or not any(p.iterdir())
                                                  for p in path.glob("seed-*") if p.is_dir())


def check_replaceable(path: str | Path, flag: str = "--out") -> None:
    """Raise ``ValueError`` unless ``path`` may be replaced: absent, empty, or a gankit run (or seeds) folder.

    The current folder and the folders above it are never replaced.
    """
    path = Path(path)
    if not path.exists():
        return
    what = f"{flag} {path} --overwrite"
    if not path.is_dir():
        raise ValueError(f"{what}: {path} is a file, not a run folder; nothing was deleted")
    here = Path.cwd().resolve()
    if path.resolve() == here or path.resolve() in here.parents:
        raise ValueError(f"{what}: refusing to replace the current folder or a folder above it; "
                         "nothing was deleted; choose another --out")
    entries = sorted(p.name for p in path.iterdir() if p.name != LOCK_FILE)
    if not entries or is_run_folder(path) or is_seeds_folder(path):
        return
    shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
    raise ValueError(f"{what}: {path} is not a gankit run folder (no config.json beside checkpoints/; it holds "
                     f"{shown}); --overwrite replaces only run folders, so nothing was deleted; choose another --out")


def clear(path: str | Path) -> None:
    """Delete everything in ``path`` but its lock file (which the caller holds); locks of seed folders included."""
    path = Path(path)
    if not path.is_dir():
        return
    for lock in path.glob(f"*/{LOCK_FILE}"):
        with RunLock(lock.parent):  # refuses a seed folder another process trains into
            pass
    for entry in path.iterdir():
        if entry.name == LOCK_FILE:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            os.unlink(entry)


__all__ = ["CHECKPOINT", "SEEDS_FILE", "RunFolder", "check_replaceable", "clear", "is_run_folder",
           "is_seeds_folder", "read_metrics"]
