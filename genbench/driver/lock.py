"""One `genbench run` per results folder: an exclusive lock (fcntl.flock) on `<suite>/.genbench.lock`,
held for the whole run, whose file records its holder (pid, host, start time). The kernel drops
the lock when its process ends however it ends, so a file left by a killed driver is a stale
lock: the next run takes it over and says so. `leaderboard` and `report` read without it."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from pathlib import Path

LOCK_NAME = ".genbench.lock"


class SuiteLocked(Exception):
    """Another `genbench run` holds the suite's results folder; the message names it (exit code 2)."""


def describe(holder: dict | None) -> str:
    """'pid P on host H since T' of a lock file's record ('an unknown process' if unreadable)."""
    if not holder:
        return "an unknown process"
    return f"pid {holder.get('pid')} on host {holder.get('host')} since {holder.get('started')}"


def _record(fd: int) -> dict | None:
    """The holder a lock file records, None if empty or unreadable."""
    try:
        data = os.pread(fd, 4096, 0)
        holder = json.loads(data) if data else None
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def _made_folders(folder: Path) -> list[Path]:
    """Create `folder` and its missing parents; return those created, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
    return missing


class RunLock:
    """The lock of one suite folder, held by this process from `acquire` to `release`."""

    def __init__(self, folder: Path) -> None:
        """Take the lock of `folder` (created if missing); raise SuiteLocked if another process
        holds it. `note` says when a stale lock was taken over."""
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.created = _made_folders(self.folder)
        self.note: str | None = None
        try:
            self.fd = self._lock()
        except BaseException:
            self._remove_created()
            raise
        previous = _record(self.fd)
        if previous:
            self.note = f"took over the lock {self.path} of {describe(previous)}, which has ended"
        self._write_record()

    def _lock(self) -> int:
        """An open descriptor of the lock file, locked; retried if its holder removed it meanwhile."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _record(fd)
                os.close(fd)
                raise SuiteLocked(
                    f"{self.folder} is in use by another `genbench run` ({describe(holder)}; lock "
                    f"{self.path}); wait for it to end or stop it, or use another --results"
                ) from None
            with contextlib.suppress(FileNotFoundError):
                if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                    return fd
            os.close(fd)  # the holder released (removed) the file between our open and flock

    def _write_record(self) -> None:
        """Record this process as the holder (best effort: a full disk does not stop the lock)."""
        started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": started})
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, record.encode() + b"\n", 0)

    def moved(self, new_place: Path) -> RunLock:
        """After the folder was renamed to `new_place` (`--fresh`): the lock of a new folder at
        the old path; this one is released and its file removed from `new_place`."""
        fresh = RunLock(self.folder)
        with contextlib.suppress(OSError):
            (Path(new_place) / LOCK_NAME).unlink()
        os.close(self.fd)
        self.fd = -1
        return fresh

    def release(self) -> None:
        """Remove the lock file, unlock, and remove the folders made for it if they stayed empty."""
        if self.fd < 0:
            return
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == os.fstat(self.fd).st_ino:
                self.path.unlink()
        os.close(self.fd)
        self.fd = -1
        self._remove_created()

    def _remove_created(self) -> None:
        """Remove the folders this lock created, if empty (a preflight that fails leaves none)."""
        for folder in self.created:
            with contextlib.suppress(OSError):
                folder.rmdir()
