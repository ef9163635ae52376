"""The worker side of the runner: a RunWorker trains runs one after another in its process (a Ray
actor, or the driver's own process with `--serial`), with the process set up for training once."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
import traceback

import torch

from genbench.driver.stopping import checkpoint_unwritable, is_storage_error
from genbench.store.result import RunResult
from genbench.suite.config import RunSpec
from genbench.suite.plugins import ensure
from genbench.worker import seed_group
from genbench.worker import train as training

MMAP_THRESHOLD = 1 << 20


def fixed_mmap_threshold(nbytes: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold (mallopt M_MMAP_THRESHOLD), so that buffers above it go back to
    the system when freed. glibc raises the threshold to the size of each large block freed, after
    which evaluation loops that allocate and free tens of MB per iteration (the final NLL: 10,000
    examples x 5,000 importance samples) fragment the heap: a run's memory grew by ~1 GB a minute,
    until Ray's memory monitor killed it. Returns whether it was set (False off glibc)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(-3, nbytes))  # M_MMAP_THRESHOLD = -3 (malloc.h)
    except (OSError, AttributeError):
        return False


class RunWorker:
    """Trains runs one at a time in this process; `progress` may be asked from another thread."""

    def __init__(self, cpus: float, gpus: float = 0.0, stop: threading.Event | None = None) -> None:
        self.threads = max(1, int(cpus))
        torch.set_num_threads(self.threads)
        fixed_mmap_threshold()
        self.device = "cuda" if gpus > 0 and torch.cuda.is_available() else "cpu"
        self._progress: dict = {}
        self._lock = threading.Lock()
        self._stop = stop or threading.Event()  # never cleared: a stopped worker takes no more runs

    def run(self, spec: RunSpec, checkpoint_path: str | None = None, until: int | None = None) -> RunResult:
        """Train `spec` (resuming from `checkpoint_path` if a checkpoint is there; to step `until`
        if given); a raised exception becomes a `failed` result, never an error, except a
        checkpoint that cannot be written (a full disk): `interrupted`, which stops the suite."""
        self._set_progress({"step": 0})
        try:
            return training.train(spec, self.device, self._set_progress, checkpoint_path, self._stop, until)
        except Exception as exc:  # a failing run is recorded; the suite goes on
            cause = exc.__cause__ if isinstance(exc, training.RunFailed) else exc
            if is_storage_error(cause):  # its last good checkpoint stays: the next run resumes from it
                return RunResult.interrupted(checkpoint_unwritable(checkpoint_path, cause))
            if isinstance(exc, training.RunFailed):  # its step and trajectory up to the failure
                return exc.partial
            return RunResult.failed(f"{type(exc).__name__}: {exc}", traceback.format_exc())

    def run_group(self, specs: list[RunSpec]) -> list[RunResult]:
        """Train `specs` (seeds of one variant) together; one result per spec, failed ones on error."""
        self._set_progress({"step": 0})
        try:
            return seed_group.train_group(specs, self.device, self._set_progress, self._stop)
        except Exception as exc:  # a failing group is recorded run by run; the suite goes on
            failed = RunResult.failed(f"{type(exc).__name__}: {exc}", traceback.format_exc())
            return [failed.replace() for _ in specs]

    def run_job(
        self, job: tuple[RunSpec, ...], checkpoint_path: str | None = None, until: int | None = None
    ) -> list[RunResult]:
        """The results of a job: one run (resuming from `checkpoint_path`, to step `until` if
        given) or a seed group; the job's plugins are imported first (a plugin that fails here
        fails the job's runs)."""
        try:
            ensure(job[0].plugins)
        except Exception as exc:
            failed = RunResult.failed(f"{type(exc).__name__}: {exc}", traceback.format_exc())
            return [failed.replace() for _ in job]
        if len(job) == 1:
            return [self.run(job[0], checkpoint_path, until)]
        return self.run_group(list(job))

    def stop(self) -> None:
        """Ask the run in hand to checkpoint and return `interrupted` after its current step."""
        self._stop.set()

    def _set_progress(self, info: dict) -> None:
        with self._lock:
            self._progress = {**info, "pid": os.getpid()}

    def progress(self) -> dict:
        """The latest progress report of the run in hand (step, steps/s, latest metrics)."""
        with self._lock:
            return dict(self._progress)

    def pid(self) -> int:
        """The worker's process id."""
        return os.getpid()
