"""What a run leaves on disk: ``config.json``, ``metrics.jsonl``, TensorBoard and the checkpoint
(and ``stopped.json`` when a loss became non-finite).

A part of the training loop (:class:`gankit.training.Trainer` calls its hooks):
the loop itself never touches a file. Under torchrun only rank 0 has one.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import re
from pathlib import Path
from typing import Any

from . import writing
from ._json import from_jsonable, jsonable
from .checkpoint import remove_partial_writes, save_checkpoint
from .config import TrainConfig
from .runlock import LOCK_FILE, RunLock
from .writing import append_line, write_text

log = logging.getLogger(__name__)

CHECKPOINT = Path("checkpoints") / "latest.pt"
STOPPED = "stopped.json"  # a run stopped by a non-finite loss: where, which quantity, the last finite metrics
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
        self.warned = False

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
            (self.run_dir / STOPPED).unlink(missing_ok=True)  # a stop of an earlier fit, which this one continues
            # a resumed run drops the lines logged after its checkpoint (and a line torn by a kill)
            write_text(self.run_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in trainer.records))
        except BaseException:
            self.release()
            raise

    def _refuse_a_finished_run(self, trainer: Any) -> None:
        if trainer.step == 0 and self.checkpoint.exists():
            raise FileExistsError(f"{self.run_dir} already holds a run; continue it with --resume "
                                  f"{self.run_dir}, or choose another --out (or --overwrite)")
        if trainer.step == 0 and (self.run_dir / "config.json").exists() and not self.warned:
            self.warned = True  # once: start is called twice (before and after the lock)
            log.warning("%s holds a run stopped before its first checkpoint (a config.json, no %s): nothing to "
                        "resume, so it starts again from iteration 0 in that folder", self.run_dir, CHECKPOINT)

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

    def step(self, trainer: Any) -> None:
        pass

    def finish(self, trainer: Any) -> None:
        pass

    def stopped(self, trainer: Any, error: Exception) -> None:
        """Record a stop on a non-finite loss in ``stopped.json``: the iteration (from 1), the quantity
        (``d_loss``, ``penalty`` or ``g_loss``), the error's message and the last metrics line, all finite."""
        last = trainer.records[-1] if trainer.records else None
        values = {"reason": "non-finite loss", "iteration": getattr(error, "iteration", None),
                  "quantity": getattr(error, "quantity", None), "message": str(error), "last_record": last}
        write_text(self.run_dir / STOPPED, json.dumps(jsonable(values), indent=1) + "\n")

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

# What a run writes into its folder (names and globs, each also as a temporary file of an interrupted write),
# and the folders it fills: --overwrite removes these and nothing else.
RUN_FILES = ("config.json", "metrics.jsonl", STOPPED, "samples.png", "curves.png", "training.gif", "eval.json",
             "eval_*.png", "report.html", "benchmark.json", "data.npz", "data.npy", "data.csv", LOCK_FILE)
RUN_FOLDERS = {"checkpoints": ("latest.pt", "staged-*.pt"), "samples": ("step_*.png",),
               "tensorboard": ("events.out.tfevents.*",)}
SEEDS_FILES = (SEEDS_FILE, "summary.json", "seeds.png", "report.html", LOCK_FILE)  # beside the seed-<k>/ folders
_CONFIG_KEYS = ("data", "objective", "iterations", "seed")  # in every config.json a run has written
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.\w+\.tmp(\.\w+)?")  # writing.atomic_path's name for a file in progress


def _written(name: str, patterns: tuple[str, ...]) -> bool:
    """Whether a file called ``name`` is one of ``patterns`` (or a temporary file of one)."""
    found = _TEMPORARY.fullmatch(name)
    if found:
        name = found.group("name")
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _foreign(path: Path) -> list[str]:
    """What in the run folder ``path`` a run did not write (relative names, sorted)."""
    out = []
    for entry in sorted(path.iterdir()):
        if entry.is_dir() and not entry.is_symlink() and entry.name in RUN_FOLDERS:
            out += [f"{entry.name}/{p.name}" for p in sorted(entry.iterdir())
                    if not (p.is_file() and _written(p.name, RUN_FOLDERS[entry.name]))]
        elif not (entry.is_file() and _written(entry.name, RUN_FILES)):
            out.append(entry.name + ("/" if entry.is_dir() else ""))
    return out


def _config_problem(path: Path) -> str | None:
    """Why ``path`` is not a config.json that gankit wrote (None when it is)."""
    try:
        values = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        return f"{path.name} is not JSON ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
    if not isinstance(values, dict):
        return f"{path.name} holds a {type(values).__name__}, not a gankit config"
    missing = [k for k in _CONFIG_KEYS if k not in values]
    if missing:
        return f"{path.name} is not a config gankit wrote (no {', '.join(missing)})"
    try:
        TrainConfig.from_dict(values, source=path.name)
    except (ValueError, TypeError) as e:
        return f"{path.name} is not a gankit config ({str(e).splitlines()[0][:160]})"
    return None


def _checkpoint_problem(path: Path) -> str | None:
    """Why ``path`` is not a checkpoint gankit wrote (None when it is); its tensors are mapped, not read."""
    import torch

    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # not a zip archive, so not mappable: the plain reader says what it is
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - unpickling errors come in many types; any of them means "not ours"
        return f"{path.parent.name}/{path.name} is not a gankit checkpoint"
    if not isinstance(state, dict) or not {"step", "config", "generator"} <= set(state):
        return f"{path.parent.name}/{path.name} is not a gankit checkpoint (no step, config and generator)"
    return None


def run_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be proved a gankit run folder, or None when it can.

    A run folder holds a ``config.json`` gankit wrote (its fields, valid) and either a checkpoint
    gankit wrote (``checkpoints/latest.pt``, or a staged checkpoint of stacked seeds) or, for a run
    stopped before its first checkpoint, its ``metrics.jsonl`` and nothing a run does not write.
    """
    path = Path(path)
    if not (path / "config.json").is_file():
        return "no config.json"
    problem = _config_problem(path / "config.json")
    if problem:
        return problem
    checkpoints = [p for p in (path / "checkpoints").glob("*.pt") if _written(p.name, RUN_FOLDERS["checkpoints"])]
    if checkpoints:
        return _checkpoint_problem(max(checkpoints, key=lambda p: p.name == "latest.pt"))
    if not (path / "metrics.jsonl").is_file():
        return "no checkpoint (checkpoints/latest.pt) and no metrics.jsonl"
    foreign = _foreign(path)
    if foreign:
        return f"no checkpoint, and files a run does not write ({', '.join(foreign[:3])})"
    return None


def is_run_folder(path: str | Path) -> bool:
    """A folder gankit can prove is one of its runs (:func:`run_problem`)."""
    return Path(path).is_dir() and run_problem(path) is None


def _seeds_of(path: Path) -> list[int]:
    values = json.loads((path / SEEDS_FILE).read_text())
    seeds = values["seeds"]
    if not isinstance(seeds, list) or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ValueError("seeds is not a list of integers")
    TrainConfig.from_dict(values["config"], source=SEEDS_FILE)
    return seeds


def seeds_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be proved a folder of stacked seeds, or None: a valid ``seeds.json`` and, for each of
    its seeds, a run folder ``seed-<k>/`` (or none yet, or an empty one)."""
    path = Path(path)
    try:
        seeds = _seeds_of(path)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        return f"{SEEDS_FILE} is not one gankit wrote ({str(e).splitlines()[0][:120] if str(e) else type(e).__name__})"
    for s in seeds:
        folder = path / f"seed-{s}"
        if folder.is_dir() and any(p.name != LOCK_FILE for p in folder.iterdir()):
            problem = run_problem(folder)
            if problem:
                return f"seed-{s}/: {problem}"
    return None


def is_seeds_folder(path: str | Path) -> bool:
    """A folder of stacked seeds gankit can prove it wrote (:func:`seeds_problem`)."""
    path = Path(path)
    return (path / SEEDS_FILE).is_file() and seeds_problem(path) is None


def check_replaceable(path: str | Path, flag: str = "--out", what: str | None = None) -> None:
    """Raise ``ValueError`` unless ``path`` may be replaced: absent, empty, or a gankit run (or seeds) folder.

    The current folder and the folders above it are never replaced. The error names what was found;
    it starts with ``what`` (default: ``"<flag> <path> --overwrite"``).
    """
    path = Path(path)
    if not path.exists():
        return
    what = what or f"{flag} {path} --overwrite"
    if not path.is_dir():
        raise ValueError(f"{what}: {path} is a file, not a run folder; nothing was deleted")
    here = Path.cwd().resolve()
    if path.resolve() == here or path.resolve() in here.parents:
        raise ValueError(f"{what}: refusing to replace the current folder or a folder above it; "
                         "nothing was deleted; choose another --out")
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir() if p.name != LOCK_FILE)
    if not entries:
        return
    problem = seeds_problem(path) if (path / SEEDS_FILE).is_file() else run_problem(path)
    if problem is None:
        return
    shown = ", ".join(entries[:6]) + (", ..." if len(entries) > 6 else "")
    raise ValueError(f"{what}: {path} is not a gankit run folder ({problem}; it holds {shown}); only a gankit run "
                     "is replaced, so nothing was deleted; choose another --out")


def _clear_run(path: Path) -> list[str]:
    """Delete what a run writes in ``path`` (its lock file aside); returns what is left, relative to ``path``."""
    for entry in path.iterdir():
        if entry.is_dir() and not entry.is_symlink() and entry.name in RUN_FOLDERS:
            for p in entry.iterdir():
                if p.is_file() and _written(p.name, RUN_FOLDERS[entry.name]):
                    p.unlink()
            if not any(entry.iterdir()):
                entry.rmdir()
        elif entry.is_file() and entry.name != LOCK_FILE and _written(entry.name, RUN_FILES):
            entry.unlink()
    return [p.name + ("/" if p.is_dir() else "") for p in sorted(path.iterdir()) if p.name != LOCK_FILE]


def replace_run(path: str | Path, what: str) -> list[str]:
    """Make way for a new run in ``path``: refuse a folder that is not a gankit run (:func:`check_replaceable`),
    else remove what a run wrote there (:func:`clear`) under its lock; returns what was kept."""
    path = Path(path)
    check_replaceable(path, what=what)
    if not path.is_dir():
        return []
    with RunLock(path):
        return clear(path, what=what)


def clear(path: str | Path, flag: str = "--out", what: str | None = None) -> list[str]:
    """Delete the files a run (or a folder of stacked seeds) wrote in ``path``, and nothing else.

    The folder is checked again first (:func:`check_replaceable`); seed folders another process trains
    into are refused. The lock file of ``path`` (which the caller holds) stays.

    Returns:
        What is left: the entries gankit did not write, relative to ``path``.
    """
    path = Path(path)
    if not path.is_dir():
        return []
    check_replaceable(path, flag, what)
    for lock in path.glob(f"*/{LOCK_FILE}"):
        with RunLock(lock.parent):  # refuses a seed folder another process trains into
            pass
    if not (path / SEEDS_FILE).is_file():
        return _clear_run(path)
    kept, partly = [], set()
    for s in _seeds_of(path):
        folder = path / f"seed-{s}"
        if folder.is_dir():
            left = _clear_run(folder)
            if left:
                kept += [f"{folder.name}/{name}" for name in left]
                partly.add(folder.name)
            else:
                folder.rmdir()
    for entry in path.iterdir():
        if entry.is_file() and entry.name != LOCK_FILE and _written(entry.name, SEEDS_FILES):
            entry.unlink()
    return kept + [p.name + ("/" if p.is_dir() else "") for p in sorted(path.iterdir())
                   if p.name != LOCK_FILE and p.name not in partly]


__all__ = ["CHECKPOINT", "RUN_FILES", "RUN_FOLDERS", "SEEDS_FILE", "STOPPED", "RunFolder", "check_replaceable", "clear",
           "is_run_folder", "is_seeds_folder", "read_metrics", "replace_run", "run_problem", "seeds_problem"]
