"""One trainer per run folder: a lock file (``RUN/.lock``) held while a process trains into it.

The lock is an ``fcntl.flock`` on ``RUN/.lock``, which holds the owner's pid,
host and start time. The kernel drops the lock when its process dies, however it
dies (``kill -9`` included), so a lock file that can be locked again is stale: its
owner is gone, and the new owner reports and replaces it. A lock file written on
another host cannot be checked from here (``flock`` is not shared between hosts
on every network file system), so it is refused with the way to clear it.

Locks are re-entrant within a process: ``--overwrite`` takes the lock before
clearing a folder and the training that follows takes it again. Where ``fcntl``
does not exist (Windows) the lock file is created exclusively instead, and a lock
whose process is no longer running is stale.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

log = logging.getLogger(__name__)

LOCK_FILE = ".lock"


class RunLockedError(RuntimeError):
    """Another live process trains into this run folder."""


_HELD: dict[str, RunLock] = {}  # resolved folder -> this process's lock on it


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read(path: Path) -> dict[str, Any]:
    try:
        owner = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return owner if isinstance(owner, dict) else {}


def _this_owner() -> bytes:
    """What a lock file says of the process that holds it."""
    return json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}).encode()


def _in_use(run_dir: Path, path: Path, owner: dict[str, Any]) -> RunLockedError:
    return RunLockedError(f"{run_dir} is in use: another training ({_describe(owner)}) holds {path}; "
                          "wait for it to end (or stop it), or choose another --out")


def _describe(owner: dict[str, Any]) -> str:
    since = owner.get("started")
    when = time.strftime(", since %Y-%m-%d %H:%M:%S", time.localtime(since)) if isinstance(since, (int, float)) else ""
    return f"pid {owner.get('pid', '?')} on {owner.get('host', '?')}{when}"


class RunLock:
    """The lock of one run folder; :meth:`acquire` creates the folder if needed.

    Args:
        run_dir: the run folder.
    """

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._fd: int | None = None
        self._depth = 0

    @property
    def held(self) -> bool:
        return self._fd is not None

    @classmethod
    def acquire_for(cls, run_dir: str | Path) -> RunLock:
        """This process's lock on ``run_dir``: taken now, or the one it already holds (one level deeper)."""
        key = str(Path(run_dir).resolve())
        lock = _HELD.get(key)
        if lock is None:
            lock = cls(run_dir)
        lock.acquire()
        return lock

    def acquire(self) -> RunLock:
        """Take the lock or raise :class:`RunLockedError` naming its owner; a stale lock is replaced with a warning."""
        if self._fd is not None:
            self._depth += 1
            return self
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if fcntl is None:
            return self._acquire_exclusive()
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                raise _in_use(self.run_dir, self.path, _read(self.path)) from None
            try:  # the file we locked must still be the one at the path (an owner unlinks it on release)
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        owner = _read(self.path)
        host = socket.gethostname()
        if owner:
            if owner.get("host") not in (None, host):
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
                raise RunLockedError(
                    f"{self.run_dir} was locked by a training on another host ({_describe(owner)}); if none runs "
                    f"there any more, remove {self.path} and try again")
            pid = owner.get("pid")
            if pid != os.getpid():
                state = "still running, but not holding the lock" if isinstance(pid, int) and _alive(pid) else "gone"
                log.warning("%s: replacing a stale lock of %s (that process is %s)", self.path, _describe(owner),
                            state)
        os.ftruncate(fd, 0)
        os.pwrite(fd, _this_owner(), 0)
        self._fd, self._depth = fd, 1
        _HELD[str(self.run_dir.resolve())] = self
        return self

    def _acquire_exclusive(self) -> RunLock:
        """The lock without ``flock``: create the file exclusively; replace it if its process is gone."""
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                owner = _read(self.path)
                pid = owner.get("pid")
                if owner.get("host") == socket.gethostname() and isinstance(pid, int) and not _alive(pid):
                    log.warning("%s: replacing a stale lock of %s (that process is gone)", self.path,
                                _describe(owner))
                    self.path.unlink(missing_ok=True)
                    continue
                raise _in_use(self.run_dir, self.path, owner) from None
            os.write(fd, _this_owner())
            self._fd, self._depth = fd, 1
            _HELD[str(self.run_dir.resolve())] = self
            return self
        raise RunLockedError(f"{self.run_dir}: cannot take {self.path}; remove it if no training runs")

    def release(self) -> None:
        """Drop one level; the last one removes the lock file and unlocks it."""
        if self._fd is None:
            return
        self._depth -= 1
        if self._depth > 0:
            return
        _HELD.pop(str(self.run_dir.resolve()), None)
        fd, self._fd = self._fd, None
        if fcntl is None:
            os.close(fd)
            self.path.unlink(missing_ok=True)
            return
        try:
            os.unlink(self.path)  # before unlocking: a waiting process then sees a fresh file
        except FileNotFoundError:
            pass
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def check_unlocked(run_dir: str | Path) -> None:
    """Raise :class:`RunLockedError` if another process holds ``run_dir``'s lock (without taking it)."""
    path = Path(run_dir) / LOCK_FILE
    if not path.exists() or str(Path(run_dir).resolve()) in _HELD:
        return
    if fcntl is None:
        owner = _read(path)
        if isinstance(owner.get("pid"), int) and _alive(owner["pid"]):
            raise RunLockedError(f"{Path(run_dir)} is in use: another training ({_describe(owner)}) holds {path}")
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        raise RunLockedError(f"{Path(run_dir)} is in use: another training ({_describe(_read(path))}) holds "
                             f"{path}; wait for it to end (or stop it)") from None
    finally:
        os.close(fd)


__all__ = ["LOCK_FILE", "RunLock", "RunLockedError", "check_unlocked"]
