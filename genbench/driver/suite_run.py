"""Run a suite: validate, skip finished runs, dispatch the rest (resuming from checkpoints),
store results, leaderboard; Ctrl-C stops it cleanly."""

from __future__ import annotations

import contextlib
import signal
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
from genbench.driver.preflight import preflight
from genbench.driver.progress import SuiteProgress
from genbench.registry import DATASETS, METRICS
from genbench.store import runs as store
from genbench.store.result import RunResult, Status
from genbench.suite.config import EXIT_INTERRUPTED, RunSpec, load_suite
from genbench.worker import checkpoint

LEADERBOARD_EVERY_S = 10.0


def toy_test_draw(spec: RunSpec):
    """The held-out draw a toy run's samples are plotted against, rebuilt from the spec (the
    data set's draws are fixed by its parameters); None for other data sets."""
    entry = DATASETS.get(spec.dataset)
    if entry.kind != "toy2d":
        return None
    return entry.build(entry.params(**spec.dataset_params)).test[: spec.eval.samples].numpy()


@contextlib.contextmanager
def stop_on_sigint(stop: threading.Event) -> Iterator[None]:
    """While inside, the first SIGINT sets `stop`; a second raises KeyboardInterrupt (quit now).
    Outside the main thread, where signals cannot be handled, it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_suite(
    suite_file: Path | dict,
    results_root: Path,
    console: Console,
    address: str | None = None,
    serial: bool = False,
    fresh: bool = False,
    workers: int | None = None,
    base: Path | None = None,
) -> int:
    """Run every run of `suite_file` not already finished, resuming those with a checkpoint;
    return the process exit code (EXIT_INTERRUPTED after a Ctrl-C). `fresh` moves earlier
    results aside first; `workers` caps the runs trained at once. Writes `timing.json` (seconds
    of this invocation: preflight with Ray's start-up in it, setup until the first run is handed
    out, dispatch from then to the last result, and to the leaderboard). `suite_file` may be a
    dict in the suite schema (relative paths in it taken from `base`).

    Raises SuiteError (before anything is written) when the file is invalid.
    """
    started = time.perf_counter()
    suite, specs, notes = load_suite(suite_file, base)
    source = "<suite dict>" if isinstance(suite_file, dict) else str(suite_file)
    for note in notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    # raises PreflightError and writes nothing; starts or joins Ray when runs are left to do
    timing = preflight(suite, specs, results_root, address, serial, fresh)
    suite_path = store.suite_dir(results_root, suite.name)
    moved = store.move_aside(suite_path) if fresh else None
    if moved:
        console.print(f"note: earlier results moved to {moved}", highlight=False, soft_wrap=True)
    outputs = {k: d for m in suite.metric_names for k, d in METRICS.get(m).outputs.items()}
    store.write_manifest(suite_path, specs, source, outputs, suite.target, suite.reference)
    primary = next(iter(outputs))
    todo: list[RunSpec] = []
    last_board = [time.perf_counter()]
    stop = threading.Event()

    def checkpoint_path(spec: RunSpec) -> str:
        # absolute: workers may run elsewhere (on a cluster, on storage shared with the driver)
        return str((store.run_dir(suite_path, spec.run_id) / checkpoint.FILENAME).resolve())

    def on_result(spec: RunSpec, result: RunResult) -> None:
        path = store.write_run(suite_path, spec, result)
        real = toy_test_draw(spec) if result.samples is not None else None
        write_run_pictures(path, result, f"{spec.label} | {spec.dataset} seed {spec.seed}", real)
        progress.finish(spec, result)
        if time.perf_counter() - last_board[0] > LEADERBOARD_EVERY_S:
            write_leaderboard(suite_path)
            last_board[0] = time.perf_counter()

    def dispatch(runs: list[RunSpec], until: int | None = None) -> None:
        if serial:
            runner.run_serial(runs, progress.start, on_result, checkpoint_path, stop, until)
        elif runs:
            runner.run_on_ray(
                runs,
                progress.start,
                on_result,
                progress.progress,
                max_workers=workers,
                checkpoints=checkpoint_path,
                stop=stop,
                until=until,
            )

    def on_stopped(spec: RunSpec, result: RunResult) -> None:
        store.write_result(suite_path, spec, result)
        progress.finish(spec, result)

    schedule = halving.schedule_of(specs)
    with SuiteProgress(specs, console, primary) as progress:
        for spec in specs:
            done = store.finished_result(suite_path, spec.run_id)
            if schedule and not done:  # a run stopped at a rung stays stopped unless promoted
                stored = store.read_result(suite_path, spec.run_id)
                done = stored if stored and stored.status == Status.STOPPED else None
            if done:
                progress.skipped(spec, done)
            else:
                todo.append(spec)
        resuming = sum(Path(checkpoint_path(s)).exists() for s in todo)
        if resuming:
            console.print(f"note: {resuming} runs resume from their checkpoints", highlight=False)
        timing.update(runs=len(todo), workers=workers, setup_s=time.perf_counter() - started)
        tick = time.perf_counter()
        with stop_on_sigint(stop):
            if schedule:  # rung by rung; the finished runs' trajectories still count in each rung
                direction = outputs[primary]
                args = (specs, schedule, suite_path, primary, direction, dispatch, on_stopped, stop.is_set)
                halving.run_scheduled(*args)
            else:
                dispatch(todo)
        timing["dispatch_s"] = time.perf_counter() - tick
    table, _, text = write_leaderboard(suite_path)
    timing["to_leaderboard_s"] = time.perf_counter() - started
    store.write_json(
        suite_path / "timing.json", {k: round(v, 3) if isinstance(v, float) else v for k, v in timing.items()}
    )
    console.print(text, highlight=False, markup=False, soft_wrap=True)
    counts = table["status"].value_counts().to_dict()
    console.print(
        f"{len(table)} runs: "
        + ", ".join(f"{v} {k}" for k, v in counts.items())
        + f"; leaderboard in {suite_path / 'leaderboard.md'}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    console.print(
        f"report in {write_report(suite_path)['html']}", highlight=False, markup=False, soft_wrap=True
    )
    if stop.is_set():
        console.print(
            "interrupted: running runs saved checkpoints; the same `genbench run` resumes them",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        return EXIT_INTERRUPTED
    return 0
