"""Runs RunSpecs on Ray actors (or in-process with serial=True); only driver/extract.py imports Ray too.

A pool of long-lived actors, as many as the cluster's nodes fit (counted per node, in Ray's
fixed-point units), takes runs one after another, so torch is imported once per worker rather
than once per run; each run reseeds every generator at its start, so no state leaks from one run
into the next. A worker is handed a job only once it has answered a probe (Ray placed and started
it). A dead actor's run is queued again, first in line, and continues from its last checkpoint on
the next started worker, up to the run's `checkpoint.max_attempts`; then it is recorded as failed
and the suite goes on. A dead actor is replaced by one that gets jobs once it starts (after a node
is lost, an unplaceable replacement holds no run); the driver, not Ray's `max_restarts`, counts
restarts per run. A set `stop` event stops scheduling and asks runs to checkpoint and return
`interrupted`. A job is one run, or with `vectorize_seeds` a group of runs differing only in
their seed, trained as one batched model (genbench/worker/seed_group.py)."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

from genbench.driver.run_worker import RunWorker, fixed_mmap_threshold  # noqa: F401  (users import both from here)
from genbench.store.result import RunResult
from genbench.suite.config import Resources, RunSpec

ResultFn = Callable[[RunSpec, RunResult], None]
StartFn = Callable[[RunSpec], None]
ProgressFn = Callable[[RunSpec, dict], None]
CheckpointFn = Callable[[RunSpec], str | None]  # where a run keeps its checkpoint (absolute path)
POLL_S = 0.5
STOP_GRACE_S = 60.0  # how long a stop request waits for running runs to checkpoint
TOKEN_NOTICE = "Token authentication is enabled for this Ray cluster"  # Ray logs it at every start
TOKEN_LOGGER = "ray._private.authentication.authentication_token_setup"  # the logger it comes from


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


def _no_token_notice(record: logging.LogRecord) -> bool:
    """Whether to keep a log record: all but Ray's notice that token authentication is on."""
    return not record.getMessage().startswith(TOKEN_NOTICE)


def start_ray(address: str | None, py_modules: list[str] | None = None, verbose: bool = False) -> float:
    """Join the cluster at `address` (or RAY_ADDRESS), or start a local instance sized to this
    machine (with an authentication token of its own, kept in the environment, never on disk,
    and every service listening on 127.0.0.1 only); the dashboard stays off; worker output is
    printed only when `verbose`. A cluster given by `address` is left as it was started.
    `py_modules` (plugin files) are shipped to every worker of the job: Ray uploads them and puts
    each worker's copy on its import path (a job-level runtime_env, the only level at which Ray
    takes local paths). Returns the seconds it took (0 when this process is already connected:
    then workers import plugin files from their recorded paths, which only this machine has)."""
    import ray  # ~1 s to import: only when a suite runs on Ray

    if ray.is_initialized():
        return 0.0
    started = time.perf_counter()
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is None and not {"RAY_AUTH_TOKEN", "RAY_AUTH_MODE"} & set(os.environ):
        # a token of this instance alone, given to its processes through the environment: Ray would
        # otherwise write one to ~/.ray/auth_token, outside anything genbench owns
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    if "RAY_AUTH_TOKEN" in os.environ:  # the token is the user's or genbench's own: no notice of it
        logging.getLogger(TOKEN_LOGGER).addFilter(_no_token_notice)
    with _loopback_only(address is None):
        ray.init(
            runtime_env={"py_modules": py_modules} if py_modules else None,
            address=address or "local",  # never join another cluster on this machine by accident
            include_dashboard=False if address is None else None,
            _node_ip_address="127.0.0.1" if address is None else None,
            log_to_driver=verbose,
            configure_logging=True,
            logging_level="warning",
        )
    return time.perf_counter() - started


@contextlib.contextmanager
def _loopback_only(local: bool) -> Iterator[None]:
    """While inside (when `local`), a new Ray instance takes 127.0.0.1 as its node's address,
    so that its GCS, raylet, agents, driver and workers listen on loopback alone (Ray binds its
    gRPC servers to 127.0.0.1 exactly when the node's address is 127.0.0.1). Ray 2.60's
    `ray.init` replaces a loopback `_node_ip_address` with the machine's address unless
    `ENABLE_RAY_CLUSTER` is off (its single-machine mode, the default on macOS and Windows), so
    it is off for the start only. tests/e2e/driver/test_loopback.py checks the sockets."""
    from ray._private import ray_constants  # slow to import: loaded only with Ray

    before = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = before and not local
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before


RAY_UNIT = 10_000  # Ray counts resource amounts in fixed point, 1/10,000 of a unit
READY_TIMEOUT_S = 600.0  # how long a new worker may take to be placed and started before it is dropped
START_TRIES = 3  # workers that failed to start, none working, before the suite gives up


class WorkersLost(RuntimeError):
    """No Ray worker could be started while runs wait; `genbench run` again resumes them."""


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
    import ray  # ~1 s to import: only when a suite runs on Ray

    return [node["Resources"] for node in ray.nodes() if node.get("Alive")]


class WorkerPool:
    """Ray actors that train jobs, as many at once as the cluster's nodes fit (see the module's
    docstring); `run()` returns once every job has a result."""

    def __init__(
        self,
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
        """Size the pool to the cluster's nodes; raises RuntimeError when no node fits one run."""
        import ray  # slow to import: loaded only once runs go to Ray

        resources = specs[0].resources
        nodes = cluster_nodes()
        n_slots = slots(resources, nodes)
        if n_slots < 1:
            raise RuntimeError(
                f"no node of the cluster ({nodes}) can fit one run of {resources.cpus} CPUs and "
                f"{resources.gpus} GPUs"
            )
        self.resources = resources
        self.on_start, self.on_result, self.on_progress = on_start, on_result, on_progress
        self.checkpoints, self.until, self.stop_grace_s = checkpoints, until, stop_grace_s
        self.stop = stop or threading.Event()
        self.pending = deque(jobs(specs))  # jobs not handed out yet, next on the left
        self.size = min(n_slots, len(self.pending), max_workers or len(self.pending))
        self.actor_class = ray.remote(max_concurrency=2)(RunWorker).options(
            num_cpus=resources.cpus, num_gpus=resources.gpus
        )
        self.starting: dict = {}  # ready-probe ref -> (worker, when created)
        self.start_errors: list[str] = []
        self.idle: list = []  # started workers without a job
        self.running: dict = {}  # object ref -> (worker, job)
        self.live = 0  # workers of the pool (starting or started) not known to be dead
        self.attempts: dict[str, int] = {}  # first run id of a job -> times handed to a worker so far
        self.stopping_since: float | None = None

    def run(self) -> None:
        """Hand out every job and report its results; stop early once `stop` is set."""
        for _ in range(self.size):
            self.start_worker()
        while self.pending or self.running:
            if self.stop.is_set() and self.stopping_since is None:
                self.begin_stop()
            self.keep_workers()
            self.dispatch()
            finished = self.collect()
            if finished and not self.stop.is_set():
                self.dispatch()  # storing results takes the driver a moment: the workers need not wait
            for job, results, attempt in finished:
                for spec, result in zip(job, results, strict=True):
                    self.on_result(spec, result.replace(restarts=attempt - 1))
            if self.stopping_since is not None and time.monotonic() - self.stopping_since > self.stop_grace_s:
                self.end_overdue()
            if self.on_progress and self.running:
                self.poll_progress()
        for worker in self.idle + [worker for worker, _ in self.starting.values()]:
            _kill(worker)

    def start_worker(self) -> None:
        """Create a worker; it joins `idle` once it answers its probe (Ray placed and started it)."""
        worker = self.actor_class.remote(self.resources.cpus, self.resources.gpus)
        self.starting[worker.pid.remote()] = (worker, time.monotonic())
        self.live += 1

    def keep_workers(self) -> None:
        """Replace a dead worker while jobs wait (one starting at a time), move started workers to
        `idle`; raises WorkersLost once START_TRIES workers failed to start and none works."""
        if self.pending and self.live < self.size and not self.starting:
            self.start_worker()  # a replacement: harmless while Ray cannot place it, it gets no job
        self.live -= _check_started(self.starting, self.idle, self.start_errors)
        if (
            self.pending
            and not (self.running or self.starting or self.idle)
            and len(self.start_errors) >= START_TRIES
        ):
            raise WorkersLost(
                "no Ray worker could be started: " + "; ".join(self.start_errors[-START_TRIES:])
            )

    def dispatch(self) -> None:
        """Hand the next jobs to the idle workers; a job's runs are started on its first try."""
        while self.idle and self.pending:
            worker, job = self.idle.pop(), self.pending.popleft()
            path = self.checkpoints(job[0]) if self.checkpoints and len(job) == 1 else None
            self.running[worker.run_job.remote(job, path, self.until)] = (worker, job)
            self.attempts[job[0].run_id] = self.attempts.get(job[0].run_id, 0) + 1
            if self.attempts[job[0].run_id] == 1:
                for spec in job:
                    self.on_start(spec)

    def collect(self) -> list[tuple[tuple[RunSpec, ...], list[RunResult], int]]:
        """Wait up to POLL_S for a job to end (for a worker to start while none runs); return the
        ended jobs with their results and attempt numbers. A lost worker's job goes back first in
        line while it has attempts left; its freed worker goes back to `idle`."""
        import ray  # slow to import: loaded only once runs go to Ray

        done = ray.wait(list(self.running), num_returns=1, timeout=POLL_S)[0] if self.running else []
        if not self.running and self.starting:
            ray.wait(list(self.starting), num_returns=1, timeout=POLL_S)  # until a worker has started
        finished = []  # reported once the freed workers have new jobs
        for ref in done:
            worker, job = self.running.pop(ref)
            attempt = self.attempts[job[0].run_id]
            try:
                finished.append((job, ray.get(ref), attempt))
                self.idle.append(worker)
            except ray.exceptions.RayError as exc:  # the worker died: maybe retry its job
                lost = self.replace_lost(worker, job, attempt, exc)
                if lost is not None:
                    finished.append((job, [lost.replace() for _ in job], attempt))
        return finished

    def replace_lost(
        self, worker, job: tuple[RunSpec, ...], attempt: int, exc: Exception
    ) -> RunResult | None:
        """Drop a dead worker (keep_workers starts its replacement) and queue its job again, first
        in line, to continue from its checkpoint; return the job's result instead (None: queued)
        once stopping or out of attempts."""
        _kill(worker)
        self.live -= 1
        lost = _lost(job[0], attempt, exc, self.stopping_since is not None)
        if lost is None:
            self.pending.appendleft(job)  # next on the fresh worker, from its checkpoint
        return lost

    def begin_stop(self) -> None:
        """Start no more jobs and ask the running ones to checkpoint and return `interrupted`."""
        self.stopping_since = time.monotonic()
        self.pending.clear()
        for worker, _ in self.running.values():
            worker.stop.remote()

    def end_overdue(self) -> None:
        """Kill the workers still running past the stop grace; their runs are `interrupted`."""
        for ref, (worker, job) in list(self.running.items()):
            _kill(worker)
            self.live -= 1
            error = f"did not stop within {self.stop_grace_s:.0f} s; resumes from its last checkpoint"
            restarts = self.attempts[job[0].run_id] - 1
            for spec in job:
                self.on_result(spec, RunResult.interrupted(error, restarts=restarts))
            del self.running[ref]

    def poll_progress(self) -> None:
        """Ask every running worker for its progress (waiting up to POLL_S) and pass it on."""
        import ray  # slow to import: loaded only once runs go to Ray

        polls = {worker.progress.remote(): job for worker, job in self.running.values()}
        ready, _ = ray.wait(list(polls), num_returns=len(polls), timeout=POLL_S)
        for ref in ready:
            try:
                info = ray.get(ref)
            except ray.exceptions.RayError:
                continue  # the job's own result will say what happened
            for spec in polls[ref]:
                self.on_progress(spec, info)


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
    if specs:
        WorkerPool(
            specs, on_start, on_result, on_progress, max_workers, checkpoints, stop, stop_grace_s, until
        ).run()


def _kill(worker) -> None:
    """End a worker for good (Ray restarts none: the pool replaces workers itself)."""
    import ray  # slow to import: loaded only once runs go to Ray

    ray.kill(worker, no_restart=True)


def _check_started(starting: dict, idle: list, errors: list[str]) -> int:
    """Move the workers of `starting` that answered their probe to `idle`; drop those that died
    starting or were not placed within READY_TIMEOUT_S. Returns how many were dropped."""
    import ray  # slow to import: loaded only once runs go to Ray

    ready, _ = ray.wait(list(starting), num_returns=len(starting), timeout=0) if starting else ([], [])
    dropped = 0
    for ref in ready:
        worker, _ = starting.pop(ref)
        try:
            ray.get(ref)
            idle.append(worker)
        except ray.exceptions.RayError as exc:
            errors.append(f"{type(exc).__name__}: {exc}".strip()[:500])
            _kill(worker)
            dropped += 1
    for ref, (worker, since) in list(starting.items()):
        if time.monotonic() - since > READY_TIMEOUT_S:
            errors.append(f"not placed within {READY_TIMEOUT_S:.0f} s")
            _kill(worker)
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
