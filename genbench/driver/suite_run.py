"""Run a suite: validate, skip finished runs, dispatch the rest (resuming from checkpoints),
store results, leaderboard; one run per results folder (a lock); Ctrl-C, SIGTERM, SIGHUP and a
full disk stop it cleanly."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

from genbench.analysis.figures.runs import write_run_pictures
from genbench.analysis.leaderboard import write_leaderboard
from genbench.analysis.report import write_report
from genbench.driver import runner
from genbench.driver import scheduler as halving
from genbench.driver.lock import RunLock
from genbench.driver.preflight import check_results_root, preflight
from genbench.driver.progress import SuiteProgress
from genbench.driver.stopping import (
    StopSignals,
    StorageFull,
    is_storage_error,
    storage_advice,
    storage_problem,
    worker_problem,
)
from genbench.driver.untrained import untrained_warnings
from genbench.metrics import metric_name
from genbench.registry import DATASETS, METRICS
from genbench.store import runs as store
from genbench.store.result import RunResult, Status
from genbench.suite.config import EXIT_INTERRUPTED, RunSpec, load_suite  # noqa: F401  (tests import it here)
from genbench.worker import checkpoint

LEADERBOARD_EVERY_S = 10.0
EXIT_RUN_FAILED = 1  # a run failed (or the store could not be written: StorageFull)
FAILED_LISTED = 5  # failed runs named in the last line; leaderboard.csv has them all


def toy_test_draw(spec: RunSpec):
    """The held-out draw a toy run's samples are plotted against, rebuilt from the spec (the
    data set's draws are fixed by its parameters); None for other data sets."""
    entry = DATASETS.get(spec.dataset)
    if entry.kind != "toy2d":
        return None
    return entry.build(entry.params(**spec.dataset_params)).test[: spec.eval.samples].numpy()


class SuiteRun:
    """One invocation of a suite (`genbench run`): skips its finished runs, dispatches the rest
    (resuming from checkpoints), stores each result as it arrives and writes the leaderboard,
    report and `timing.json`; genbench.driver.scheduler runs it rung by rung (a ScheduledSuite)."""

    def __init__(
        self,
        suite_file: Path | dict,
        results_root: Path,
        console: Console,
        address: str | None = None,
        serial: bool = False,
        fresh: bool = False,
        workers: int | None = None,
        base: Path | None = None,
        verbose: bool = False,
    ) -> None:
        """Load and check the suite (raising before anything is written), lock its results folder
        (raising SuiteLocked), start or join Ray when runs are left to do, move earlier results
        aside when `fresh`, and write the manifest. Stop signals are handled from here on."""
        self.started = time.perf_counter()
        self.console, self.serial, self.workers = console, serial, workers
        self.verbose = verbose  # workers' output printed (on Ray; in-process runs print anyway)
        self.stop = threading.Event()  # set by the first stop signal, or a full disk
        self.signals = StopSignals(self.stop)
        self.signals.install()
        self.lock: RunLock | None = None
        self.storage_fault: str | None = None  # what a full (or read-only) disk stopped
        self.failed_runs: list[str] = []  # run ids of the suite's failed runs, after write_outputs
        try:
            self.prepare(suite_file, results_root, address, fresh, base)
        except KeyboardInterrupt:
            self.close()
            raise self.signals.quit_now() from None
        except BaseException:
            self.close()
            raise

    def prepare(
        self, suite_file: Path | dict, results_root: Path, address: str | None, fresh: bool, base: Path | None
    ) -> None:
        """The work of __init__ that needs undoing when it fails (the lock, the signal handlers)."""
        suite, self.specs, notes = load_suite(suite_file, base)
        for note in notes:
            self.console.print(f"note: {note}", highlight=False, soft_wrap=True)
        for warning in untrained_warnings(suite, self.specs):  # the report will refuse such a target
            self.console.print(f"warning: {warning}", highlight=False, soft_wrap=True)
        self.path = check_results_root(results_root, suite.name, len(self.specs))
        self.lock = RunLock(self.path)  # before preflight: a second driver is refused at once
        if self.lock.note:
            self.console.print(f"note: {self.lock.note}", highlight=False, soft_wrap=True)
        # raises PreflightError and writes nothing; starts or joins Ray when runs are left to do
        self.timing = preflight(
            suite, self.specs, results_root, address, self.serial, fresh, self.verbose, self.say
        )
        self.signals.install()  # again: Ray's start put its own handlers in
        if fresh:
            self.move_aside()
        with self.storing(self.path, fatal=True):
            self.write_manifest(suite, suite_file)

    def write_manifest(self, suite, suite_file: Path | dict) -> None:
        """Write the manifest and the runs' specs; note the primary metric and the schedule."""
        # each metric entry's columns under its resolved parameters, in suite order
        entries = [METRICS.get(metric_name(k)).outputs_for(p) for k, p in suite.metric_params.items()]
        outputs = {k: d for entry in entries for k, d in entry.items()}
        source = "<suite dict>" if isinstance(suite_file, dict) else str(suite_file)
        store.write_manifest(self.path, self.specs, source, outputs, suite.target, suite.reference)
        self.primary = next(iter(outputs))
        self.direction = outputs[self.primary]
        self.schedule = halving.schedule_of(self.specs)
        self.last_board = time.perf_counter()  # when the leaderboard was last written

    def move_aside(self) -> None:
        """Move the suite's earlier results aside (`fresh`), saying where."""
        moved = store.move_aside(self.path)
        if moved:
            self.lock = self.lock.moved(moved)  # the lock file went with the folder: lock the new one
            self.console.print(f"note: earlier results moved to {moved}", highlight=False, soft_wrap=True)

    def run(self) -> int:
        """Run the suite's unfinished runs; return the process exit code (see run_suite). Raises
        StorageFull when the store could not be written (after stopping the runs)."""
        try:
            with SuiteProgress(self.specs, self.console, self.primary) as self.progress:
                todo = self.unfinished()
                setup_s = time.perf_counter() - self.started
                self.timing.update(runs=len(todo), workers=self.workers, setup_s=setup_s)
                tick = time.perf_counter()
                if self.stopping():  # a stop signal came during preflight
                    pass
                elif self.schedule:  # rung by rung; finished runs' trajectories still count in each rung
                    halving.run_scheduled(self, self.schedule)
                else:
                    self.dispatch(todo)
                self.timing["dispatch_s"] = time.perf_counter() - tick
            with self.storing(self.path, fatal=True):
                self.write_outputs()
        except KeyboardInterrupt:  # a second stop signal (Ray may have turned it into a plain one)
            raise self.signals.quit_now() from None
        finally:
            self.close()
        if self.stopping():
            self.say(
                f"interrupted ({self.signals.name}): running runs saved checkpoints; the same "
                "`genbench run` resumes them"
            )
            return self.signals.exit_code
        return EXIT_RUN_FAILED if self.failed_runs else 0

    def close(self) -> None:
        """Release the results folder's lock and put the earlier signal handlers back."""
        self.signals.restore()
        if self.lock is not None:
            self.lock.release()

    @contextlib.contextmanager
    def storing(self, folder: Path, fatal: bool = False) -> Iterator[None]:
        """Inside, an OSError that says the store cannot be written (ENOSPC, EROFS, EDQUOT) stops
        the suite: the runs are asked to checkpoint and stop, and the first such problem is kept
        for the final message. `fatal`: raise StorageFull at once (and at the end of the block
        when a problem was kept)."""
        try:
            yield
        except OSError as exc:
            if not is_storage_error(exc):
                raise
            self.storage_failed(storage_problem(exc, folder))
        if fatal and self.storage_fault:
            raise StorageFull(storage_advice(self.storage_fault))

    def storage_failed(self, problem: str) -> None:
        """Keep the first storage problem and stop the suite as a stop signal would."""
        if self.storage_fault is None:
            self.storage_fault = problem
        self.stop.set()

    def unfinished(self) -> list[RunSpec]:
        """The runs left to train; the others are shown as skipped. Under a schedule a run
        stopped at a rung counts as finished (it stays stopped unless promoted)."""
        todo: list[RunSpec] = []
        for spec in self.specs:
            done = store.finished_result(self.path, spec.run_id)
            if self.schedule and not done:
                stored = store.read_result(self.path, spec.run_id)
                done = stored if stored and stored.status == Status.STOPPED else None
            if done:
                self.progress.skipped(spec, done)
            else:
                todo.append(spec)
        resuming = sum(Path(self.checkpoint_path(s)).exists() for s in todo)
        if resuming:
            self.console.print(f"note: {resuming} runs resume from their checkpoints", highlight=False)
        return todo

    def checkpoint_path(self, spec: RunSpec) -> str:
        """Where `spec` keeps its checkpoint: absolute, as workers may run elsewhere (on a
        cluster, on storage shared with the driver)."""
        return str((store.run_dir(self.path, spec.run_id) / checkpoint.FILENAME).resolve())

    def dispatch(self, runs: list[RunSpec], until: int | None = None) -> None:
        """Train `runs` (to step `until` if given) in this process or on Ray."""
        if self.serial:
            runner.run_serial(
                runs, self.progress.start, self.store_result, self.checkpoint_path, self.stop, until
            )
        elif runs:
            runner.run_on_ray(
                runs,
                self.progress.start,
                self.store_result,
                self.on_progress,
                max_workers=self.workers,
                checkpoints=self.checkpoint_path,
                stop=self.stop,
                until=until,
            )

    def on_progress(self, spec: RunSpec, info: dict) -> None:
        """Show a run's progress; quit here after a second stop signal that a Ray call swallowed."""
        self.signals.check()
        self.note_stopping()
        self.progress.progress(spec, info)

    def note_stopping(self) -> None:
        """Say once that a stop signal came and what a second one does."""
        if self.signals.signum is not None and not self.signals.noted:
            self.signals.noted = True
            self.say(
                f"stopping ({self.signals.name}): running runs checkpoint after their current step; "
                "a second signal quits at once"
            )

    def store_result(self, spec: RunSpec, result: RunResult) -> None:
        """Store a run's result and pictures; rewrite the leaderboard every LEADERBOARD_EVERY_S.
        A full disk here (or a worker's checkpoint that could not be written) stops the suite."""
        self.signals.check()
        self.note_stopping()
        problem = worker_problem(result.error, store.run_dir(self.path, spec.run_id))
        if problem:
            self.storage_failed(problem)
        with self.storing(store.run_dir(self.path, spec.run_id)):
            self.store_files(spec, result)
        self.progress.finish(spec, result)
        if self.storage_fault is None and time.perf_counter() - self.last_board > LEADERBOARD_EVERY_S:
            with self.storing(self.path):
                write_leaderboard(self.path)
            self.last_board = time.perf_counter()

    def store_files(self, spec: RunSpec, result: RunResult) -> None:
        """Write a run's trajectory, result and pictures."""
        path = store.write_run(self.path, spec, result)
        real = toy_test_draw(spec) if result.samples is not None else None
        write_run_pictures(path, result, f"{spec.label} | {spec.dataset} seed {spec.seed}", real)
        if result.restarted:  # its checkpoint could not be resumed: which file went where, and why
            self.say(f"warning: run {spec.run_id} ({spec.label}): {result.restarted}")

    def store_stopped(self, spec: RunSpec, result: RunResult) -> None:
        """Record the final result of a run that successive halving did not promote."""
        with self.storing(store.run_dir(self.path, spec.run_id)):
            store.write_result(self.path, spec, result)
        self.progress.finish(spec, result)

    def stopping(self) -> bool:
        """Whether a stop signal or a full disk asked the suite to stop."""
        return self.stop.is_set()

    def write_outputs(self) -> None:
        """Write the leaderboard, `timing.json` and the report, and print where they are."""
        table, _, text = write_leaderboard(self.path)
        self.timing["to_leaderboard_s"] = time.perf_counter() - self.started
        timing = {k: round(v, 3) if isinstance(v, float) else v for k, v in self.timing.items()}
        store.write_json(self.path / "timing.json", timing)
        self.say(text)
        counts = table["status"].value_counts().to_dict()
        self.say(
            f"{len(table)} runs: "
            + ", ".join(f"{v} {k}" for k, v in counts.items())
            + f"; leaderboard in {self.path / 'leaderboard.md'}"
        )
        self.say(f"report in {write_report(self.path)['html']}")
        self.failed_runs = list(table.loc[table["status"] == "failed", "run_id"])
        if self.failed_runs:
            self.say(self.failed_line(len(table)))

    def failed_line(self, total: int) -> str:
        """The last line after failed runs: how many, and the result.json files with their tracebacks."""
        paths = [str(store.run_dir(self.path, r) / "result.json") for r in self.failed_runs[:FAILED_LISTED]]
        more = len(self.failed_runs) - len(paths)
        listed = ", ".join(paths) + (f" and {more} more (leaderboard.csv lists them)" if more else "")
        return f"{len(self.failed_runs)} of {total} runs failed; their tracebacks are in {listed}"

    def say(self, text: str) -> None:
        """Print `text` as it is (no markup, no highlighting, no wrapping)."""
        self.console.print(text, highlight=False, markup=False, soft_wrap=True)


def run_suite(
    suite_file: Path | dict,
    results_root: Path,
    console: Console,
    address: str | None = None,
    serial: bool = False,
    fresh: bool = False,
    workers: int | None = None,
    base: Path | None = None,
    verbose: bool = False,
) -> int:
    """Run every run of `suite_file` not already finished, resuming those with a checkpoint;
    return the process exit code (0 when every run ended ok or diverged, 1 when one failed, 128 +
    the signal after a SIGINT, SIGTERM or SIGHUP: 130, 143, 129). `fresh` moves earlier results
    aside first; `workers` caps the runs trained at once; `verbose` prints what Ray workers print.
    Writes `timing.json` (seconds of this invocation: preflight with Ray's start-up in it, setup
    until the first run is handed out, dispatch from then to the last result, and to the
    leaderboard). `suite_file` may be a dict in the suite schema (relative paths in it taken from
    `base`).

    Raises SuiteError (before anything is written) when the file is invalid, SuiteLocked when
    another `genbench run` holds the results folder, StorageFull when the store could not be
    written (the runs stopped and checkpointed where they could).
    """
    return SuiteRun(suite_file, results_root, console, address, serial, fresh, workers, base, verbose).run()
