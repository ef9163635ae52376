"""Runs RunSpecs on Ray actors (or in-process with serial=True). Nothing else imports Ray.

A pool of long-lived actors, one per free slot of the cluster, takes runs one after another, so
torch is imported once per worker rather than once per run; each run reseeds every generator
at its start, so no state leaks from one run into the next. A dead actor's run is recorded as
failed and the actor is replaced; the suite goes on.
"""

from __future__ import annotations

import os
import threading
import traceback
from collections import deque
from collections.abc import Callable

from genbench.config import RunSpec

ResultFn = Callable[[RunSpec, dict], None]
StartFn = Callable[[RunSpec], None]
ProgressFn = Callable[[RunSpec, dict], None]
POLL_S = 0.5


class RunWorker:
    """Trains runs one at a time in this process; `progress` may be asked from another thread."""

    def __init__(self, cpus: float, gpus: float = 0.0) -> None:
        import torch

        self.threads = max(1, int(cpus))
        torch.set_num_threads(self.threads)
        self.device = "cuda" if gpus > 0 and torch.cuda.is_available() else "cpu"
        self._progress: dict = {}
        self._lock = threading.Lock()

    def run(self, spec: RunSpec) -> dict:
        """Train `spec`; a raised exception becomes a `failed` result, never an error."""
        from genbench.train import train

        with self._lock:
            self._progress = {"step": 0}
        try:
            return train(spec, self.device, progress=self._set_progress)
        except Exception as exc:  # a failing run is recorded; the suite goes on
            return failed_result(f"{type(exc).__name__}: {exc}", traceback.format_exc())

    def _set_progress(self, info: dict) -> None:
        with self._lock:
            self._progress = info

    def progress(self) -> dict:
        """The latest progress report of the run in hand (step, steps/s, latest metrics)."""
        with self._lock:
            return dict(self._progress)

    def pid(self) -> int:
        """The worker's process id."""
        return os.getpid()


def failed_result(error: str, details: str = "") -> dict:
    """The result of a run that raised or whose worker died."""
    return {
        "status": "failed",
        "steps": 0,
        "train_seconds": 0.0,
        "wall_seconds": 0.0,
        "metrics": {},
        "extras": {},
        "error": error,
        "traceback": details,
        "trajectory": [],
        "samples": None,
        "real": None,
    }


def run_serial(specs: list[RunSpec], on_start: StartFn, on_result: ResultFn) -> None:
    """Run every spec in this process, one after another (for debuggers)."""
    for spec in specs:
        worker = RunWorker(spec.resources.cpus, spec.resources.gpus)
        on_start(spec)
        on_result(spec, worker.run(spec))


def start_ray(address: str | None) -> None:
    """Join the cluster at `address` (or RAY_ADDRESS), or start a local instance sized to this
    machine; the dashboard stays off and worker output stays out of the progress display."""
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    ray.init(
        address=address,
        include_dashboard=False if address is None else None,
        log_to_driver=False,
        configure_logging=True,
        logging_level="warning",
    )


def run_on_ray(
    specs: list[RunSpec],
    on_start: StartFn,
    on_result: ResultFn,
    on_progress: ProgressFn | None = None,
    max_workers: int | None = None,
) -> None:
    """Run every spec on a pool of Ray actors sized to the cluster; results arrive as runs end."""
    import ray

    if not specs:
        return
    resources = specs[0].resources
    cluster = ray.cluster_resources()
    slots = int(cluster.get("CPU", 0) // resources.cpus)
    if resources.gpus:
        slots = min(slots, int(cluster.get("GPU", 0) // resources.gpus))
    if slots < 1:
        raise RuntimeError(
            f"the cluster ({cluster.get('CPU', 0)} CPUs, {cluster.get('GPU', 0)} GPUs) cannot fit "
            f"one run of {resources.cpus} CPUs and {resources.gpus} GPUs"
        )
    n_workers = min(slots, len(specs), max_workers or len(specs))
    actor_class = ray.remote(max_concurrency=2)(RunWorker).options(
        num_cpus=resources.cpus, num_gpus=resources.gpus
    )

    def new_worker():
        return actor_class.remote(resources.cpus, resources.gpus)

    pending = deque(specs)
    idle = [new_worker() for _ in range(n_workers)]
    running: dict = {}  # object ref -> (worker, spec)
    while pending or running:
        while idle and pending:
            worker, spec = idle.pop(), pending.popleft()
            running[worker.run.remote(spec)] = (worker, spec)
            on_start(spec)
        done, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
        for ref in done:
            worker, spec = running.pop(ref)
            try:
                result = ray.get(ref)
                idle.append(worker)
            except ray.exceptions.RayError as exc:  # the worker died: record, replace it
                result = failed_result(f"worker lost: {type(exc).__name__}: {exc}".strip()[:2000])
                ray.kill(worker, no_restart=True)
                idle.append(new_worker())
            on_result(spec, result)
        if on_progress and running:
            _poll_progress(running, on_progress)
    for worker in idle:
        ray.kill(worker, no_restart=True)


def _poll_progress(running: dict, on_progress: ProgressFn) -> None:
    import ray

    polls = {worker.progress.remote(): spec for worker, spec in running.values()}
    ready, _ = ray.wait(list(polls), num_returns=len(polls), timeout=POLL_S)
    for ref in ready:
        try:
            on_progress(polls[ref], ray.get(ref))
        except ray.exceptions.RayError:
            pass  # the run's own result will say what happened
