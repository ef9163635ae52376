"""Runs RunSpecs on Ray actors (or in-process with serial=True). Nothing else imports Ray.

A pool of long-lived actors, one per free slot of the cluster, takes runs one after another, so
torch is imported once per worker rather than once per run; each run reseeds every generator
at its start, so no state leaks from one run into the next. A dead actor's run is queued again,
first in line, and continues from its last checkpoint on the next free worker, up to the run's
`checkpoint.max_attempts`; then it is recorded as failed and the suite goes on. A dead actor is
replaced only once the cluster has a free slot for it (or no worker is left): after a node is
lost, a replacement that can never be placed would otherwise hold its run forever. Restarts are the
driver's doing rather than Ray's actor `max_restarts`, so the driver counts them per run. A set
`stop` event stops scheduling and asks running runs to checkpoint and return `interrupted`.

The unit handed to a worker is a job: one run, or with `vectorize_seeds` a group of runs that
differ only in their seed, trained together as one batched model (genbench/seed_group.py).
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable

from genbench.config import RunSpec

ResultFn = Callable[[RunSpec, dict], None]
StartFn = Callable[[RunSpec], None]
ProgressFn = Callable[[RunSpec, dict], None]
CheckpointFn = Callable[[RunSpec], str | None]  # where a run keeps its checkpoint (absolute path)
POLL_S = 0.5
STOP_GRACE_S = 60.0  # how long a stop request waits for running runs to checkpoint


class RunWorker:
    """Trains runs one at a time in this process; `progress` may be asked from another thread."""

    def __init__(self, cpus: float, gpus: float = 0.0, stop: threading.Event | None = None) -> None:
        import torch

        import genbench.train  # noqa: F401  (the first run should not pay for the imports)

        self.threads = max(1, int(cpus))
        torch.set_num_threads(self.threads)
        self.device = "cuda" if gpus > 0 and torch.cuda.is_available() else "cpu"
        self._progress: dict = {}
        self._lock = threading.Lock()
        self._stop = stop or threading.Event()  # never cleared: a stopped worker takes no more runs

    def run(self, spec: RunSpec, checkpoint_path: str | None = None) -> dict:
        """Train `spec` (resuming from `checkpoint_path` if a checkpoint is there); a raised
        exception becomes a `failed` result, never an error."""
        from genbench.train import train

        self._set_progress({"step": 0})
        try:
            return train(spec, self.device, self._set_progress, checkpoint_path, self._stop)
        except Exception as exc:  # a failing run is recorded; the suite goes on
            return failed_result(f"{type(exc).__name__}: {exc}", traceback.format_exc())

    def run_group(self, specs: list[RunSpec]) -> list[dict]:
        """Train `specs` (seeds of one variant) together; one result per spec, failed ones on error."""
        from genbench.seed_group import train_group

        self._set_progress({"step": 0})
        try:
            return train_group(specs, self.device, self._set_progress, self._stop)
        except Exception as exc:  # a failing group is recorded run by run; the suite goes on
            return [failed_result(f"{type(exc).__name__}: {exc}", traceback.format_exc())] * len(specs)

    def run_job(self, job: tuple[RunSpec, ...], checkpoint_path: str | None = None) -> list[dict]:
        """The results of a job: one run (resuming from `checkpoint_path`) or a seed group; the
        job's plugins are imported first (a plugin that fails here fails the job's runs)."""
        from genbench.plugins import ensure

        try:
            ensure(job[0].plugins)
        except Exception as exc:
            return [failed_result(f"{type(exc).__name__}: {exc}", traceback.format_exc())] * len(job)
        if len(job) == 1:
            return [self.run(job[0], checkpoint_path)]
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


def failed_result(error: str, details: str = "", status: str = "failed") -> dict:
    """The result of a run that raised or whose worker died (or, with status, one cut short)."""
    return {
        "status": status,
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


def run_serial(
    specs: list[RunSpec],
    on_start: StartFn,
    on_result: ResultFn,
    checkpoints: CheckpointFn | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run every spec in this process, one job after another (for debuggers), until `stop` is set."""
    for job in jobs(specs):
        if stop is not None and stop.is_set():
            return
        worker = RunWorker(job[0].resources.cpus, job[0].resources.gpus, stop)
        for spec in job:
            on_start(spec)
        results = worker.run_job(job, checkpoints(job[0]) if checkpoints and len(job) == 1 else None)
        for spec, result in zip(job, results, strict=True):
            on_result(spec, {**result, "restarts": 0})


def jobs(specs: list[RunSpec]) -> list[tuple[RunSpec, ...]]:
    """The specs as jobs: one run each, or where a suite sets `vectorize_seeds`, the seeds of one
    variant together (at most that many per job); jobs in the order of their first run."""
    out: list[list[RunSpec]] = []
    open_groups: dict[str, list[RunSpec]] = {}
    for spec in specs:
        if spec.vectorize_seeds < 2:
            out.append([spec])
            continue
        key = spec.model_dump_json(exclude={"seed"})
        group = open_groups.get(key)
        if group is None or len(group) >= spec.vectorize_seeds:
            group = open_groups[key] = []
            out.append(group)
        group.append(spec)
    return [tuple(job) for job in out]


def start_ray(address: str | None, py_modules: list[str] | None = None) -> float:
    """Join the cluster at `address` (or RAY_ADDRESS), or start a local instance sized to this
    machine; the dashboard stays off and worker output stays out of the progress display.
    `py_modules` (plugin files) are shipped to every worker of the job: Ray uploads them and puts
    each worker's copy on its import path (a job-level runtime_env, the only level at which Ray
    takes local paths). Returns the seconds it took (0 when this process is already connected:
    then workers import plugin files from their recorded paths, which only this machine has)."""
    import ray

    if ray.is_initialized():
        return 0.0
    started = time.perf_counter()
    address = address or os.environ.get("RAY_ADDRESS") or None
    ray.init(
        runtime_env={"py_modules": py_modules} if py_modules else None,
        address=address or "local",  # never join another cluster on this machine by accident
        include_dashboard=False if address is None else None,
        log_to_driver=False,
        configure_logging=True,
        logging_level="warning",
    )
    return time.perf_counter() - started


def run_on_ray(
    specs: list[RunSpec],
    on_start: StartFn,
    on_result: ResultFn,
    on_progress: ProgressFn | None = None,
    max_workers: int | None = None,
    checkpoints: CheckpointFn | None = None,
    stop: threading.Event | None = None,
    stop_grace_s: float = STOP_GRACE_S,
) -> None:
    """Run every spec on a pool of Ray actors sized to the cluster; results arrive as runs end.

    A run whose worker dies is retried on a fresh worker (see the module's docstring); once
    `stop` is set no run starts, running ones are asked to checkpoint and their `interrupted`
    results are awaited for at most `stop_grace_s`.
    """
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
    pending = deque(jobs(specs))
    n_workers = min(slots, len(pending), max_workers or len(pending))
    actor_class = ray.remote(max_concurrency=2)(RunWorker).options(
        num_cpus=resources.cpus, num_gpus=resources.gpus
    )

    def new_worker():
        return actor_class.remote(resources.cpus, resources.gpus)

    attempts: dict[str, int] = {}  # first run id of a job -> times handed to a worker so far
    idle = [new_worker() for _ in range(n_workers)]
    live = n_workers  # workers of the pool not known to be dead
    running: dict = {}  # object ref -> (worker, job)
    stopping_since: float | None = None

    def dispatch() -> None:
        while idle and pending:
            worker, job = idle.pop(), pending.popleft()
            path = checkpoints(job[0]) if checkpoints and len(job) == 1 else None
            running[worker.run_job.remote(job, path)] = (worker, job)
            attempts[job[0].run_id] = attempts.get(job[0].run_id, 0) + 1
            if attempts[job[0].run_id] == 1:
                for spec in job:
                    on_start(spec)

    while pending or running:
        if stop is not None and stop.is_set() and stopping_since is None:
            stopping_since = time.monotonic()
            pending.clear()
            for worker, _ in running.values():
                worker.stop.remote()
        if pending and not idle and (live == 0 or (live < n_workers and _free_slot(resources))):
            idle.append(new_worker())
            live += 1
        dispatch()
        done, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
        finished = []  # (job, results, attempt), reported once the freed workers have new jobs
        for ref in done:
            worker, job = running.pop(ref)
            attempt = attempts[job[0].run_id]
            try:
                finished.append((job, ray.get(ref), attempt))
                idle.append(worker)
            except ray.exceptions.RayError as exc:  # the worker died: maybe retry its job
                ray.kill(worker, no_restart=True)
                live -= 1
                lost = _lost(job[0], attempt, exc, stopping_since is not None)
                if lost is None:
                    pending.appendleft(job)  # next on the fresh worker, from its checkpoint
                    continue
                finished.append((job, [lost] * len(job), attempt))
        if finished and not (stop is not None and stop.is_set()):
            dispatch()  # storing results takes the driver a moment: the workers need not wait
        for job, results, attempt in finished:
            for spec, result in zip(job, results, strict=True):
                on_result(spec, {**result, "restarts": attempt - 1})
        if stopping_since is not None and time.monotonic() - stopping_since > stop_grace_s:
            for ref, (worker, job) in list(running.items()):
                ray.kill(worker, no_restart=True)
                live -= 1
                error = f"did not stop within {stop_grace_s:.0f} s; resumes from its last checkpoint"
                restarts = attempts[job[0].run_id] - 1
                for spec in job:
                    on_result(spec, {**failed_result(error, status="interrupted"), "restarts": restarts})
                del running[ref]
        if on_progress and running:
            _poll_progress(running, on_progress)
    for worker in idle:
        ray.kill(worker, no_restart=True)


def _free_slot(resources) -> bool:
    """Whether the cluster has room for one more worker of `resources` right now."""
    import ray

    free = ray.available_resources()
    return free.get("CPU", 0) >= resources.cpus and free.get("GPU", 0) >= resources.gpus


def _lost(spec: RunSpec, attempt: int, exc: Exception, stopping: bool) -> dict | None:
    """The result of a run whose worker died on its `attempt`-th try; None: try again."""
    reason = f"{type(exc).__name__}: {exc}".strip()[:2000]
    if stopping:
        return failed_result(f"worker lost while stopping: {reason}", status="interrupted")
    if attempt < spec.checkpoint.max_attempts:
        return None
    return failed_result(f"worker lost on each of {attempt} attempts; last: {reason}")


def _poll_progress(running: dict, on_progress: ProgressFn) -> None:
    import ray

    polls = {worker.progress.remote(): job for worker, job in running.values()}
    ready, _ = ray.wait(list(polls), num_returns=len(polls), timeout=POLL_S)
    for ref in ready:
        try:
            info = ray.get(ref)
        except ray.exceptions.RayError:
            continue  # the job's own result will say what happened
        for spec in polls[ref]:
            on_progress(spec, info)
