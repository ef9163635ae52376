"""The live progress display of a suite: queued / running / done runs, steps/s, latest metric."""

from __future__ import annotations

import time

from rich.console import Console
from rich.live import Live
from rich.table import Table

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


class SuiteProgress:
    """Tracks every run's state; renders a live table on a terminal, one line per event elsewhere."""

    def __init__(self, specs: list[RunSpec], console: Console, primary: str | None) -> None:
        self.console = console
        self.primary = primary
        self.rows = {
            s.run_id: {"spec": s, "status": "queued", "step": 0, "rate": 0.0, "latest": None} for s in specs
        }
        self.started = time.perf_counter()
        self.live = Live(self.render(), console=console, refresh_per_second=4, transient=False)
        self.interactive = console.is_terminal

    def __enter__(self) -> SuiteProgress:
        if self.interactive:
            self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.interactive:
            self.live.update(self.render())
            self.live.__exit__(*exc)

    def skipped(self, spec: RunSpec, result: RunResult) -> None:
        """A run finished in an earlier invocation; it is kept, not re-run."""
        self._finish(spec, result, "skipped")

    def start(self, spec: RunSpec) -> None:
        """A run was handed to a worker."""
        self.rows[spec.run_id]["status"] = "running"
        self._refresh()

    def progress(self, spec: RunSpec, info: dict) -> None:
        """A running run's latest progress report."""
        row = self.rows[spec.run_id]
        row["step"] = info.get("step", row["step"])
        row["rate"] = info.get("steps_per_s", row["rate"])
        latest = info.get("latest", {})
        if self.primary in latest:
            row["latest"] = latest[self.primary]
        self._refresh()

    def finish(self, spec: RunSpec, result: RunResult) -> None:
        """A run ended (ok, diverged, failed or interrupted)."""
        self._finish(spec, result, result.status.value)

    def _finish(self, spec: RunSpec, result: RunResult, status: str) -> None:
        row = self.rows[spec.run_id]
        row.update(status=status, step=result.steps)
        if result.train_seconds:
            row["rate"] = result.steps / result.train_seconds
        row["latest"] = result.metrics.get(self.primary, row["latest"])
        if self.interactive:
            self._refresh()
        else:
            done = sum(r["status"] not in ("queued", "running") for r in self.rows.values())
            extra = f" error: {result.error}" if result.error else ""
            self.console.print(
                f"[{done}/{len(self.rows)}] {status:8s} {spec.run_id} {spec.label} | "
                f"{spec.dataset} seed={spec.seed} steps={row['step']}"
                + (f" {self.primary}={row['latest']:.4g}" if row["latest"] is not None else "")
                + extra,
                highlight=False,
                markup=False,
                soft_wrap=True,
            )

    def _refresh(self) -> None:
        if self.interactive:
            self.live.update(self.render())

    def render(self) -> Table:
        """The table of all runs, with a title counting them by state."""
        counts: dict[str, int] = {}
        for row in self.rows.values():
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        elapsed = time.perf_counter() - self.started
        title = f"{elapsed:5.0f} s  " + "  ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
        table = Table(title=title, title_justify="left", expand=False)
        for col in ("run", "model", "dataset", "seed", "state", "step", "steps/s", self.primary or "metric"):
            table.add_column(col, justify="right" if col in ("seed", "step", "steps/s") else "left")
        for run_id, row in self.rows.items():
            spec = row["spec"]
            total = f"/{spec.budget.steps}" if spec.budget.steps else ""
            status = row["status"]
            table.add_row(
                run_id,
                spec.label,
                f"{spec.dataset} {spec.dataset_variant}".strip(),
                str(spec.seed),
                f"[{STATUS_STYLE.get(status, '')}]{status}[/]",
                f"{row['step']}{total}",
                f"{row['rate']:.0f}",
                "" if row["latest"] is None else f"{row['latest']:.4g}",
            )
        return table
