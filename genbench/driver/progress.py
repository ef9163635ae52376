"""The progress of a suite. On a terminal: an overall bar (runs done of all, elapsed, ETA, runs by
state) over one row per running run and the last few finished runs, sized to fit the terminal
however many runs the suite has. Elsewhere (a pipe, a log file, CI): one line per finished run."""

from __future__ import annotations

import threading
import time
from collections import deque

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Column
from rich.text import Text

from genbench.store.result import RunResult
from genbench.suite.config import RunSpec

STATUS_STYLE = {
    "queued": "dim",
    "running": "cyan",
    "ok": "green",
    "diverged": "yellow",
    "failed": "red",
    "interrupted": "magenta",
    "paused": "blue",
    "stopped": "dim yellow",
    "skipped": "dim green",
}
FINISHED_ROWS = 5  # finished runs shown under the running ones
ENDED = ("ok", "diverged", "failed", "interrupted", "stopped", "skipped")  # states a run leaves no more
COUNT_ORDER = ("running", "queued", "ok", "diverged", "failed", "interrupted", "paused", "stopped", "skipped")


def _clock(seconds: float) -> str:
    """`seconds` as H:MM:SS."""
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _one_line(text: str, style: str = "") -> Text:
    """`text` as one line, cut with an ellipsis where the terminal is narrower."""
    return Text(text, style=style, no_wrap=True, overflow="ellipsis")


class SuiteProgress:
    """Tracks every run's state; shows it live on a terminal, as one line per finished run elsewhere."""

    def __init__(self, specs: list[RunSpec], console: Console, primary: str | None) -> None:
        self.console = console
        self.primary = primary
        self.rows = {
            s.run_id: {"spec": s, "status": "queued", "step": 0, "rate": 0.0, "latest": None} for s in specs
        }
        self.interactive = console.is_terminal
        self.skipped_ids: set[str] = set()  # finished in an earlier invocation: not in the ETA
        self.first_start: float | None = None  # when this invocation handed out its first run
        self.recent: deque[str] = deque(maxlen=FINISHED_ROWS)  # run ids, the last finished last
        self.overall_bar = Progress(
            TextColumn("runs"),
            BarColumn(bar_width=None),
            TextColumn("{task.completed:.0f}/{task.total:.0f}"),
            TextColumn("elapsed"),
            TimeElapsedColumn(),
            TextColumn("ETA {task.fields[eta]}"),
            console=console,
            auto_refresh=False,
            expand=True,
        )
        self.overall = self.overall_bar.add_task("runs", total=len(specs), eta="–")
        self.run_bars = Progress(  # one task per running run
            TextColumn("{task.description}", table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
            BarColumn(bar_width=12),
            TextColumn("{task.fields[steps]}", table_column=Column(no_wrap=True, justify="right")),
            TimeElapsedColumn(),
            TextColumn("{task.fields[info]}", table_column=Column(no_wrap=True, overflow="ellipsis")),
            console=console,
            auto_refresh=False,
            expand=True,
        )
        self.tasks: dict[str, TaskID] = {}
        # the live display renders from its own thread: state changes and rendering take turns
        self.lock = threading.RLock()
        # redrawn 4 times a second from the live display's thread, not at every event
        self.live = Live(console=console, refresh_per_second=4, transient=False, get_renderable=self.render)

    def __enter__(self) -> SuiteProgress:
        if self.interactive:
            self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.interactive:
            self.live.refresh()
            self.live.__exit__(*exc)

    def skipped(self, spec: RunSpec, result: RunResult) -> None:
        """A run finished in an earlier invocation; it is kept, not re-run."""
        self.skipped_ids.add(spec.run_id)
        self._finish(spec, result, "skipped")

    def start(self, spec: RunSpec) -> None:
        """A run was handed to a worker."""
        with self.lock:
            row = self.rows[spec.run_id]
            row["status"] = "running"
            if self.first_start is None:
                self.first_start = time.perf_counter()
            if spec.run_id in self.recent:  # promoted at a rung of successive halving: running again
                self.recent.remove(spec.run_id)
            self.tasks[spec.run_id] = self.run_bars.add_task(
                f"{spec.dataset} s{spec.seed} {spec.label}",  # what tells runs apart first: cut at the end
                total=spec.budget.steps,
                completed=row["step"],
                steps=self._steps_text(spec, row["step"]),
                info="",
            )

    def progress(self, spec: RunSpec, info: dict) -> None:
        """A running run's latest progress report."""
        with self.lock:
            row = self.rows[spec.run_id]
            row["step"] = info.get("step", row["step"])
            row["rate"] = info.get("steps_per_s", row["rate"])
            latest = info.get("latest", {})
            if self.primary in latest:
                row["latest"] = latest[self.primary]
            task = self.tasks.get(spec.run_id)
            if task is not None:
                steps = self._steps_text(spec, row["step"])
                self.run_bars.update(task, completed=row["step"], steps=steps, info=self._info(row))

    def finish(self, spec: RunSpec, result: RunResult) -> None:
        """A run ended (ok, diverged, failed or interrupted)."""
        self._finish(spec, result, result.status.value)

    def _finish(self, spec: RunSpec, result: RunResult, status: str) -> None:
        with self.lock:
            row = self.rows[spec.run_id]
            row.update(status=status, step=result.steps)
            if result.train_seconds:
                row["rate"] = result.steps / result.train_seconds
            row["latest"] = result.metrics.get(self.primary, row["latest"])
            task = self.tasks.pop(spec.run_id, None)
            if task is not None:
                self.run_bars.remove_task(task)
            self.recent.append(spec.run_id)
        # off a terminal every finished run is a line; on one, failures stay above the live rows
        if not self.interactive or status == "failed":
            self.console.print(self.line(spec, result), highlight=False, markup=False, soft_wrap=True)

    def line(self, spec: RunSpec, result: RunResult) -> str:
        """The one line of a finished run: `[done/total] state run_id label | data set seed steps`."""
        done = sum(r["status"] not in ("queued", "running") for r in self.rows.values())
        extra = f" error: {result.error}" if result.error else ""
        status = self.rows[spec.run_id]["status"]
        return f"[{done}/{len(self.rows)}] {status:8s} {self._summary(spec.run_id)}{extra}"

    def ended(self) -> int:
        """How many runs have ended (a run paused at a rung of successive halving has not)."""
        return sum(r["status"] in ENDED for r in self.rows.values())

    def counts(self) -> dict[str, int]:
        """How many runs are in each state, in a fixed order, states with none left out."""
        counts = {state: 0 for state in COUNT_ORDER}
        for row in self.rows.values():
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        return {state: n for state, n in counts.items() if n}

    def eta_seconds(self) -> float | None:
        """Seconds left by the pace of this invocation so far (each run's share of its budget
        done, runs skipped as finished left out); None before any work was measured."""
        todo = [r for run_id, r in self.rows.items() if run_id not in self.skipped_ids]
        if self.first_start is None or not todo:
            return None
        done = sum(self._share_done(r) for r in todo) / len(todo)
        if done <= 0:
            return None
        return (time.perf_counter() - self.first_start) * (1 - done) / done

    def _share_done(self, row: dict) -> float:
        """What share of its budget a run has done: 1 once it ended, else steps done of its steps
        (0 under a budget in seconds, until it ends)."""
        if row["status"] in ENDED:
            return 1.0
        steps = row["spec"].budget.steps
        return min(row["step"] / steps, 1.0) if steps else 0.0

    def render(self, height: int | None = None) -> Group:
        """What the terminal shows: the overall bar, the runs by state, as many running runs as fit
        in `height` lines (the console's height by default; one line is left for the cursor) with
        a line counting the rest, then the last few finished runs."""
        height = height or self.console.size.height
        with self.lock:
            eta = self.eta_seconds()
            eta_text = "–" if eta is None else _clock(eta)
            self.overall_bar.update(self.overall, completed=self.ended(), eta=eta_text)
            counts = "  ".join(f"{state} {n}" for state, n in self.counts().items())
            parts: list = [self.overall_bar.make_tasks_table(self.overall_bar.tasks), _one_line(counts)]
            running, hidden, finished = self._fit(self.run_bars.tasks, max(height - 1 - len(parts), 2))
            if running:
                parts.append(self.run_bars.make_tasks_table(running))
            if hidden:
                parts.append(_one_line(f"… and {hidden} more running", "cyan"))
            parts.extend(self._finished_row(run_id) for run_id in finished)
        return Group(*parts)

    def _fit(self, running: list, room: int) -> tuple[list, int, list[str]]:
        """Which running tasks and finished run ids fit in `room` lines, and how many running runs
        are left out (they take one line more, counting them)."""
        n_finished = min(len(self.recent), FINISHED_ROWS, room // 3)
        finished = list(self.recent)[len(self.recent) - n_finished :]
        fits = room - n_finished
        if len(running) <= fits:
            return running, 0, finished
        return running[: fits - 1], len(running) - (fits - 1), finished

    def _finished_row(self, run_id: str) -> Text:
        """One line of a finished run, coloured by its state."""
        row = self.rows[run_id]
        spec, status = row["spec"], row["status"]
        metric = f" {self.primary}={row['latest']:.4g}" if row["latest"] is not None else ""
        text = f"{status:8s} {run_id} {spec.dataset} s{spec.seed} steps={row['step']}{metric} | {spec.label}"
        return _one_line(text, STATUS_STYLE.get(status, ""))  # the label last: it is the one cut

    def _summary(self, run_id: str) -> str:
        """`run_id label | data set seed steps` and the primary metric's latest value."""
        row = self.rows[run_id]
        spec = row["spec"]
        metric = f" {self.primary}={row['latest']:.4g}" if row["latest"] is not None else ""
        return f"{run_id} {spec.label} | {spec.dataset} seed={spec.seed} steps={row['step']}{metric}"

    def _steps_text(self, spec: RunSpec, step: int) -> str:
        """A running run's steps, of its budget where that is in steps."""
        return f"{step}/{spec.budget.steps}" if spec.budget.steps else f"{step}"

    def _info(self, row: dict) -> str:
        """A running run's speed and latest value of the primary metric."""
        metric = f" {self.primary}={row['latest']:.4g}" if row["latest"] is not None else ""
        return f"{row['rate']:.0f} steps/s{metric}"
