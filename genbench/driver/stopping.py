"""What stops a suite early and how: SIGINT, SIGTERM and SIGHUP (the first asks the runs to
checkpoint and stop, a second quits at once), and a store that cannot be written (a full disk, a
read-only file system, a quota): the runs stop the same way and the suite ends with one message.
Light to import: Ray workers import it (genbench.driver.run_worker)."""

from __future__ import annotations

import errno
import shutil
import signal
import threading
from pathlib import Path

from genbench.suite.config import EXIT_INTERRUPTED

# Ctrl-C; what systemd, Slurm, Kubernetes and `docker stop` send; a closed terminal
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT})  # storing cannot go on
CHECKPOINT_UNWRITABLE = "could not write its checkpoint"  # how a worker's result says so


class StopNow(KeyboardInterrupt):
    """A second stop signal: quit at once; `exit_code` is 128 + the first signal's number."""

    def __init__(self, exit_code: int) -> None:
        super().__init__(f"interrupted (exit code {exit_code})")
        self.exit_code = exit_code


class StorageFull(Exception):
    """Results could not be stored (ENOSPC, EROFS, EDQUOT); the message names the folder, the
    free space and what to do. Exit code 1."""


class StopSignals:
    """While installed (in the main thread), the first SIGINT, SIGTERM or SIGHUP sets `stop` and
    is remembered; a second raises StopNow. `restore` puts the earlier handlers back."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.signum: int | None = None  # the first stop signal received
        self.quitting = False  # a second one came
        self.noted = False  # whether the driver has said that it is stopping
        self.previous: dict[int, object] = {}  # the handlers before the first install

    def install(self) -> None:
        """Handle the stop signals here; again after Ray's start, whose own handlers replace ours
        (its C++ one prints a stack dump on SIGTERM). Does nothing outside the main thread."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in STOP_SIGNALS:
            previous = signal.signal(signum, self.handle)
            self.previous.setdefault(signum, previous)

    def restore(self) -> None:
        """Put back the handlers that were there before the first `install`."""
        for signum, previous in self.previous.items():
            signal.signal(signum, previous)
        self.previous.clear()

    def handle(self, signum: int, frame) -> None:
        """The first stop signal sets `stop`; a second quits at once (raises StopNow)."""
        if self.signum is not None:
            self.quitting = True
            raise StopNow(self.exit_code)
        self.signum = signum
        self.stop.set()

    def check(self) -> None:
        """Raise StopNow if a second stop signal came: Ray's waits may swallow the one the handler
        raised, so the driver's callbacks ask again."""
        if self.quitting:
            raise StopNow(self.exit_code)

    def quit_now(self) -> KeyboardInterrupt:
        """The exception to quit with after a KeyboardInterrupt: StopNow carrying the first
        signal's exit code (Ray turns a StopNow raised inside its calls into a plain one)."""
        return StopNow(self.exit_code)

    @property
    def exit_code(self) -> int:
        """128 + the signal's number, as shells report it: 130 (SIGINT), 143 (SIGTERM), 129 (SIGHUP)."""
        return EXIT_INTERRUPTED if self.signum is None else 128 + self.signum

    @property
    def name(self) -> str:
        """The first stop signal's name (SIGINT if none came)."""
        return signal.Signals(self.signum or signal.SIGINT).name


def is_storage_error(exc: BaseException) -> bool:
    """Whether `exc` says that the store cannot be written (full, read-only, over quota)."""
    return isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS


def checkpoint_unwritable(path: str | Path | None, exc: OSError) -> str:
    """A worker's `interrupted` error for a checkpoint it could not write (read back by worker_problem)."""
    return f"{CHECKPOINT_UNWRITABLE} {path}: {exc.strerror} ({errno.errorcode.get(exc.errno, exc.errno)})"


def storage_problem(exc: OSError, folder: Path) -> str:
    """What failed while storing in `folder` (or the file the error names), with the free space."""
    where = Path(exc.filename).parent if exc.filename else Path(folder)
    code = errno.errorcode.get(exc.errno, exc.errno)
    return f"cannot store results in {where}: {exc.strerror} ({code}); {free_space(where)}"


def worker_problem(error: str | None, folder: Path) -> str | None:
    """The storage problem a worker's `interrupted` result reports, with the free space; None if none."""
    if not error or not error.startswith(CHECKPOINT_UNWRITABLE):
        return None
    what = error.replace(CHECKPOINT_UNWRITABLE, "could not write the checkpoint", 1)
    return f"a run {what}; {free_space(folder)}"


def free_space(path: Path) -> str:
    """'N MiB free' on the file system of `path` (of its nearest existing folder)."""
    existing = Path(path)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        return f"{shutil.disk_usage(existing).free / 2**20:.1f} MiB free there"
    except OSError:
        return "free space unknown"


def storage_advice(problem: str) -> str:
    """The message a suite stopped by a storage problem ends with."""
    return (
        f"{problem}. The runs stopped; files stored before are unchanged and runs keep their last "
        "checkpoints. Free some space (or use another --results) and run the same `genbench run` "
        "again: it goes on from there."
    )
