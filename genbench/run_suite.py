"""Run a suite: validate, skip finished runs, dispatch the rest, store results, leaderboard."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console

from genbench import runner, store
from genbench.config import RunSpec, load_suite
from genbench.leaderboard import write_leaderboard
from genbench.plots import write_scatter
from genbench.progress import SuiteProgress
from genbench.registry import METRICS

LEADERBOARD_EVERY_S = 10.0


def run_suite(
    suite_file: Path,
    results_root: Path,
    console: Console,
    address: str | None = None,
    serial: bool = False,
) -> int:
    """Run every run of `suite_file` not already finished; return the process exit code.

    Raises SuiteError (before anything is written) when the file is invalid.
    """
    suite, specs, notes = load_suite(suite_file)
    for note in notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    suite_path = store.suite_dir(results_root, suite.name)
    outputs = {k: d for m in suite.metrics for k, d in METRICS.get(m).outputs.items()}
    store.write_manifest(suite_path, specs, str(suite_file), outputs)
    primary = next(iter(outputs))
    todo: list[RunSpec] = []
    last_board = [time.perf_counter()]

    def on_result(spec: RunSpec, result: dict) -> None:
        path = store.write_run(suite_path, spec, result)
        if result.get("samples") is not None and result.get("real") is not None:
            title = f"{spec.label} | {spec.dataset} seed {spec.seed} | step {result['steps']}"
            write_scatter(path / "samples.png", result["samples"], result["real"], title)
        progress.finish(spec, result)
        if time.perf_counter() - last_board[0] > LEADERBOARD_EVERY_S:
            write_leaderboard(suite_path)
            last_board[0] = time.perf_counter()

    with SuiteProgress(specs, console, primary) as progress:
        for spec in specs:
            done = store.finished_result(suite_path, spec.run_id)
            if done:
                progress.skipped(spec, done)
            else:
                todo.append(spec)
        if serial:
            runner.run_serial(todo, progress.start, on_result)
        elif todo:
            runner.start_ray(address)
            runner.run_on_ray(todo, progress.start, on_result, progress.progress)
    table, _, text = write_leaderboard(suite_path)
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
    return 0
