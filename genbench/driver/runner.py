"""Runs RunSpecs on Ray actors (or in-process with serial=True). Nothing else imports Ray.

A pool of long-lived actors, as many as the cluster's nodes fit (counted per node, in Ray's
fixed-point units), takes runs one after another, so torch is imported once per worker rather
than once per run; each run reseeds every generator at its start, so no state leaks from one run
into the next. A worker is handed a job only once it has answered a probe (Ray placed and started
it). A dead actor's run is queued again, first in line, and continues from its last checkpoint on
the next started worker, up to the run's `checkpoint.max_attempts`; then it is recorded as failed
and the suite goes on. A dead actor is replaced by a new one that gets jobs once it starts: after
a node is lost, a replacement Ray cannot place holds no run, and the survivors share them. Restarts are the
driver's doing rather than Ray's actor `max_restarts`, so the driver counts them per run. A set
`stop` event stops scheduling and asks running runs to checkpoint and return `interrupted`.

The unit handed to a worker is a job: one run, or with `vectorize_seeds` a group of runs that
differ only in their seed, trained together as one batched model (genbench/seed_group.py).
"""

from __future__ import annotations

import os
import secrets
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable

from genbench.store.result import RunResult
from genbench.suite.config import Resources, RunSpec

ResultFn = Callable[[RunSpec, RunResult], None]
StartFn = Callable[[RunSpec], None]
ProgressFn = Callable[[RunSpec, dict], None]
CheckpointFn = Callable[[RunSpec], str | None]  # where a run keeps its checkpoint (absolute path)
POLL_S = 0.5
STOP_GRACE_S = 60.0  # how long a stop request waits for running runs to checkpoint


MMAP_THRESHOLD = 1 << 20


def fixed_mmap_threshold(nbytes: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold (mallopt M_MMAP_THRESHOLD), so that buffers above it go back to
    the system when freed. glibc raises the threshold to the size of each large block freed, after
    which evaluation loops that allocate and free tens of MB per iteration (the final NLL: 10,000
    examples x 5,000 importance samples) fragment the heap: a run's memory grew by ~1 GB a minute,
    until Ray's memory monitor killed it. Returns whether it was set (False off glibc)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(-3, nbytes))  # M_MMAP_THRESHOLD = -3 (malloc.h)
    except (OSError, AttributeError):
        return False


class RunWorker:
    """Trains runs one at a time in this process; `progress` may be asked from another thread."""

    def __init__(self, cpus: float, gpus: float = 0.0, stop: threading.Event | None = None) -> None:
        import torch

        import genbench.worker.train  # noqa: F401  (the first run should not pay for the imports)

        self.threads = max(1, int(cpus))
        torch.set_num_threads(self.threads)
        fixed_mmap_threshold()
        self.device = "cuda" if gpus > 0 and torch.cuda.is_available() else "cpu"
        self._progress: dict = {}
        self._lock = threading.Lock()
        self._stop = stop or threading.Event()  # never cleared: a stopped worker takes no more runs

    def run(self, spec: RunSpec, checkpoint_path: str | None = None, until: int | None = None) -> RunResult:
        """Train `spec` (resuming from `checkpoint_path` if a checkpoint is there; to step `until`
        if given); a raised exception becomes a `failed` result, never an error."""
        from genbench.worker.train import train

        self._set_progress({"step": 0})
        try:
            return train(spec, self.device, self._set_progress, checkpoint_path, self._stop, until)
        except Exception as exc:  # a failing run is recorded; the suite goes on
            return RunResult.failed(f"{type(exc).__name__}: {exc}", traceback.format_exc())

    def run_group(self, specs: list[RunSpec]) -> list[RunResult]:
        """Train `specs` (seeds of one variant) together; one result per spec, failed ones on error."""
        from genbench.worker.seed_group import train_group

        self._set_progress({"step": 0})
        try:
            return train_group(specs, self.device, self._set_progress, self._stop)
        except Exception as exc:  # a failing group is recorded run by run; the suite goes on
            failed = RunResult.failed(f"{type(exc).__name__}: {exc}", traceback.format_exc())
            return [failed.replace() for _ in specs]

    def run_job(
        self, job: tuple[RunSpec, ...], checkpoint_path: str | None = None, until: int | None = None
    ) -> list[RunResult]:
        """The results of a job: one run (resuming from `checkpoint_path`, to step `until` if
        given) or a seed group; the job's plugins are imported first (a plugin that fails here
        fails the job's runs)."""
        from genbench.suite.plugins import ensure

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


def run_serial(
    specs: list[RunSpec],
    on_start: StartFn,
    on_result: ResultFn,
    checkpoints: CheckpointFn | None = None,
    stop: threading.Event | None = None,
    until: int | None = None,
) -> None:
    """Run every spec in this process, one job after another (for debuggers), until `stop` is set
    (each to step `until` if given)."""
    for job in jobs(specs):
        if stop is not None and stop.is_set():
            return
        worker = RunWorker(job[0].resources.cpus, job[0].resources.gpus, stop)
        for spec in job:
            on_start(spec)
        results = worker.run_job(job, checkpoints(job[0]) if checkpoints and len(job) == 1 else None, until)
        for spec, result in zip(job, results, strict=True):
            on_result(spec, result)


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
    machine (with an authentication token of its own, kept in the environment, never on disk); the
    dashboard stays off and worker output stays out of the progress display.
    `py_modules` (plugin files) are shipped to every worker of the job: Ray uploads them and puts
    each worker's copy on its import path (a job-level runtime_env, the only level at which Ray
    takes local paths). Returns the seconds it took (0 when this process is already connected:
    then workers import plugin files from their recorded paths, which only this machine has)."""
    import ray

    if ray.is_initialized():
        return 0.0
    started = time.perf_counter()
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is None and not {"RAY_AUTH_TOKEN", "RAY_AUTH_MODE"} & set(os.environ):
        # a token of this instance alone, given to its processes through the environment: Ray would
        # otherwise write one to ~/.ray/auth_token, outside anything genbench owns
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    ray.init(
        runtime_env={"py_modules": py_modules} if py_modules else None,
        address=address or "local",  # never join another cluster on this machine by accident
        include_dashboard=False if address is None else None,
        log_to_driver=False,
        configure_logging=True,
        logging_level="warning",
    )
    return time.perf_counter() - started


RAY_UNIT = 10_000  # Ray counts resource amounts in fixed point, 1/10,000 of a unit
READY_TIMEOUT_S = 600.0  # how long a new worker may take to be placed and started before it is dropped
START_TRIES = 3  # workers that failed to start, none working, before the suite gives up


def _units(amount: float) -> int:
    return round(amount * RAY_UNIT)


def slots(resources: Resources, nodes: list[dict[str, float]]) -> int:
    """How many runs of `resources` fit at once on nodes with these total resources.

    Counted per node (a run cannot span two nodes) and in Ray's fixed-point units, so that
    e.g. gpus: 0.1 gives 10 runs per GPU where float floor division (1 // 0.1) gives 9.
    """
    total = 0
    for node in nodes:
        fit = _units(node.get("CPU", 0)) // _units(resources.cpus)
        if resources.gpus > 0:
            fit = min(fit, _units(node.get("GPU", 0)) // _units(resources.gpus))
        total += fit
    return total


def cluster_nodes() -> list[dict[str, float]]:
    """Total resources of each alive node of the Ray cluster this process is connected to."""
    import ray

    return [node["Resources"] for node in ray.nodes() if node.get("Alive")]


def run_on_ray(
    specs: list[RunSpec],
    on_start: StartFn,
    on_result: ResultFn,
    on_progress: ProgressFn | None = None,
    max_workers: int | None = None,
    checkpoints: CheckpointFn | None = None,
    stop: threading.Event | None = None,
    stop_grace_s: float = STOP_GRACE_S,
    until: int | None = None,
) -> None:
    """Run every spec on a pool of Ray actors sized to the cluster's nodes; results arrive as runs end.

    A worker gets a job only once it has answered a first call (it is placed on a node and
    started), so a job never waits on an actor that Ray cannot place. A run whose worker dies is
    retried on a fresh worker (see the module's docstring); once `stop` is set no run starts,
    running ones are asked to checkpoint and their `interrupted` results are awaited for at most
    `stop_grace_s`. With `until`, every run trains to that step only (a rung of successive halving).
    """
    import ray

    if not specs:
        return
    resources = specs[0].resources
    nodes = cluster_nodes()
    n_slots = slots(resources, nodes)
    if n_slots < 1:
        raise RuntimeError(
            f"no node of the cluster ({nodes}) can fit one run of {resources.cpus} CPUs and "
            f"{resources.gpus} GPUs"
        )
    pending = deque(jobs(specs))
    n_workers = min(n_slots, len(pending), max_workers or len(pending))
    actor_class = ray.remote(max_concurrency=2)(RunWorker).options(
        num_cpus=resources.cpus, num_gpus=resources.gpus
    )
    starting: dict = {}  # ready-probe ref -> (worker, when created)
    start_errors: list[str] = []

    def new_worker() -> None:
        worker = actor_class.remote(resources.cpus, resources.gpus)
        starting[worker.pid.remote()] = (worker, time.monotonic())

    attempts: dict[str, int] = {}  # first run id of a job -> times handed to a worker so far
    for _ in range(n_workers):
        new_worker()
    idle: list = []  # started workers without a job
    live = n_workers  # workers of the pool (starting or started) not known to be dead
    running: dict = {}  # object ref -> (worker, job)
    stopping_since: float | None = None

    def dispatch() -> None:
        while idle and pending:
            worker, job = idle.pop(), pending.popleft()
            path = checkpoints(job[0]) if checkpoints and len(job) == 1 else None
            running[worker.run_job.remote(job, path, until)] = (worker, job)
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
        if pending and live < n_workers and not starting:
            new_worker()  # a replacement: harmless while Ray cannot place it, it gets no job
            live += 1
        live -= _check_started(starting, idle, start_errors)
        if pending and not (running or starting or idle) and len(start_errors) >= START_TRIES:
            raise RuntimeError("no Ray worker could be started: " + "; ".join(start_errors[-START_TRIES:]))
        dispatch()
        done = ray.wait(list(running), num_returns=1, timeout=POLL_S)[0] if running else []
        if not running and starting:
            ray.wait(list(starting), num_returns=1, timeout=POLL_S)  # until a worker has started
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
                finished.append((job, [lost.replace() for _ in job], attempt))
        if finished and not (stop is not None and stop.is_set()):
            dispatch()  # storing results takes the driver a moment: the workers need not wait
        for job, results, attempt in finished:
            for spec, result in zip(job, results, strict=True):
                on_result(spec, result.replace(restarts=attempt - 1))
        if stopping_since is not None and time.monotonic() - stopping_since > stop_grace_s:
            for ref, (worker, job) in list(running.items()):
                ray.kill(worker, no_restart=True)
                live -= 1
                error = f"did not stop within {stop_grace_s:.0f} s; resumes from its last checkpoint"
                restarts = attempts[job[0].run_id] - 1
                for spec in job:
                    on_result(spec, RunResult.interrupted(error, restarts=restarts))
                del running[ref]
        if on_progress and running:
            _poll_progress(running, on_progress)
    for worker in idle + [worker for worker, _ in starting.values()]:
        ray.kill(worker, no_restart=True)


def _check_started(starting: dict, idle: list, errors: list[str]) -> int:
    """Move the workers of `starting` that answered their probe to `idle`; drop those that died
    starting or were not placed within READY_TIMEOUT_S. Returns how many were dropped."""
    import ray

    ready, _ = ray.wait(list(starting), num_returns=len(starting), timeout=0) if starting else ([], [])
    dropped = 0
    for ref in ready:
        worker, _ = starting.pop(ref)
        try:
            ray.get(ref)
            idle.append(worker)
        except ray.exceptions.RayError as exc:
            errors.append(f"{type(exc).__name__}: {exc}".strip()[:500])
            ray.kill(worker, no_restart=True)
            dropped += 1
    for ref, (worker, since) in list(starting.items()):
        if time.monotonic() - since > READY_TIMEOUT_S:
            errors.append(f"not placed within {READY_TIMEOUT_S:.0f} s")
            ray.kill(worker, no_restart=True)
            del starting[ref]
            dropped += 1
    return dropped


def _lost(spec: RunSpec, attempt: int, exc: Exception, stopping: bool) -> RunResult | None:
    """The result of a run whose worker died on its `attempt`-th try; None: try again."""
    reason = f"{type(exc).__name__}: {exc}".strip()[:2000]
    if stopping:
        return RunResult.interrupted(f"worker lost while stopping: {reason}")
    if attempt < spec.checkpoint.max_attempts:
        return None
    return RunResult.failed(f"worker lost on each of {attempt} attempts; last: {reason}")


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
