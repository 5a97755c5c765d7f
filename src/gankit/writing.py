"""Outputs written safely: checked before the work, written whole or not at all.

* :func:`check_writable` refuses, before any computation, an output that could
  not be written (a read-only folder, a file standing where a folder must be).
* :func:`atomic_path` hands out a temporary name beside the target and renames
  it over the target only when the writer succeeded, so a failure or a kill
  never leaves a half-written file under the real name.
* :func:`append_line` appends one line with a single ``write`` on a file opened
  ``O_APPEND``: lines never interleave, and a kill can only tear the last one.

Every file is created with the permissions the umask gives (``0o666 & ~umask``),
as the user's other files are: a run folder is readable by others exactly where
the user's files are.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_writable(path: str | Path, what: str, *, folder: bool = False) -> None:
    """Raise ``ValueError`` (naming ``what`` and the reason) unless ``path`` can be written.

    Args:
        path: a file to write (or, with ``folder``, a folder to create or write into).
        what: how the user named it, e.g. ``"--out run"``.
        folder: ``path`` is a folder.
    """
    path = Path(path)
    if path.exists():
        if folder and not path.is_dir():
            raise ValueError(f"{what}: {path} is a file, not a folder")
        if not folder and path.is_dir():
            raise ValueError(f"{what}: {path} is a folder, not a file")
    base = path if folder and path.is_dir() else path.parent
    existing = _nearest_existing(base)
    if not existing.is_dir():
        raise ValueError(f"{what}: cannot write {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{what}: cannot write {path}: {existing} is not writable (read-only?)")
    if not folder and path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{what}: cannot write {path}: the file is read-only")


FILE_MODE = 0o666  # what a new file asks for; the umask takes away the rest


def _temporary_names(path: Path) -> str:
    """The glob of the temporary files :func:`atomic_path` writes beside ``path``."""
    return f".{path.name}.*.tmp{path.suffix}"


def _new_temporary(path: Path) -> Path:
    """Create an empty file with a fresh name beside ``path`` (``O_EXCL``, mode :data:`FILE_MODE` less the umask).

    ``tempfile.mkstemp`` would create it ``0o600`` whatever the umask, and the rename would keep that mode.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp{path.suffix}"
        try:
            fd = os.open(tmp, flags, FILE_MODE)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"{path.parent}: cannot create a temporary file beside {path.name}")


@contextlib.contextmanager
def atomic_path(path: str | Path, *, durable: bool = False) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix) that replaces ``path`` when the block succeeds.

    ``durable`` also flushes the file and then the rename to the disk (``fsync``), so that a power
    cut right after leaves the new file or the old one, whole (checkpoints).

    Example:
        >>> import numpy as np
        >>> with atomic_path(tmp / "x.npy") as p:  # doctest: +SKIP
        ...     np.save(p, np.zeros(3))
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temporary(path)
    try:
        yield Path(tmp)
        if durable:
            _fsync(tmp, os.O_RDONLY)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        _fsync(path.parent, os.O_RDONLY)


def _fsync(path: str | Path, flags: int) -> None:
    """Flush ``path`` (a file, or a folder for a rename in it) to the disk, where the platform allows it."""
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_partial_writes(path: str | Path) -> list[Path]:
    """Delete the temporary files that a process killed inside :func:`atomic_path` left behind; returns them.

    ``path`` a file: its own temporary files, beside it; ``path`` a folder: every one written
    directly in it (not in its sub-folders).
    """
    path = Path(path)
    folder, pattern = (path, ".*.tmp*") if path.is_dir() else (path.parent, _temporary_names(path))
    if not folder.is_dir():
        return []
    stale = sorted(p for p in folder.glob(pattern) if p.is_file())
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return stale


def write_text(path: str | Path, text: str, *, durable: bool = False) -> Path:
    """Write ``text`` to ``path`` atomically (temporary file + rename; ``durable``: flushed to the disk too)."""
    path = Path(path)
    with atomic_path(path, durable=durable) as tmp:
        tmp.write_text(text)
    return path


def append_line(path: str | Path, line: str) -> None:
    """Append ``line`` (a newline is added) to ``path`` in one ``write`` on an ``O_APPEND`` descriptor."""
    data = (line.rstrip("\n") + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    try:
        written = os.write(fd, data)
        while written < len(data):  # a short write (a full disk, a signal): finish the line
            written += os.write(fd, data[written:])
    finally:
        os.close(fd)


__all__ = ["append_line", "atomic_path", "check_writable", "remove_partial_writes", "write_text"]
