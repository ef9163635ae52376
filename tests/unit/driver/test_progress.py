"""The progress display: one line per finished run off a terminal, a table of every run's state."""

from __future__ import annotations

import io

import yaml
from rich.console import Console

from genbench.driver.progress import STATUS_STYLE, SuiteProgress
from genbench.store.result import RunResult, Status
from genbench.suite.config import load_suite


def specs(tmp_path):
    suite = {
        "name": "p",
        "seeds": [0, 1, 2],
        "budget": {"steps": 10},
        "datasets": [{"name": "ring8"}],
        "models": [{"name": "gan"}],
        "metrics": ["mode_coverage"],
    }
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(suite))
    return load_suite(tmp_path / "p.yaml")[1]


def plain_console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=False, width=200), out


def test_one_line_per_finished_run_with_its_primary_metric_and_error(tmp_path):
    a, b, c = specs(tmp_path)
    console, out = plain_console()
    with SuiteProgress([a, b, c], console, "modes") as progress:
        assert not progress.interactive
        progress.skipped(a, RunResult.ok(steps=10, train_seconds=0.1, metrics={"modes": 8.0}))
        progress.start(b)
        progress.progress(b, {"step": 4, "steps_per_s": 40.0, "latest": {"modes": 3.0}})
        assert progress.rows[b.run_id] | {"spec": None} == {
            "spec": None,
            "status": "running",
            "step": 4,
            "rate": 40.0,
            "latest": 3.0,
        }
        progress.finish(b, RunResult.ok(steps=10, train_seconds=0.5, metrics={"modes": 7.0}))
        progress.finish(c, RunResult.failed("ValueError: boom"))
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("[1/3] skipped ") and "modes=8" in lines[0]
    assert lines[1].startswith(f"[2/3] ok       {b.run_id} ") and "steps=10 modes=7" in lines[1]
    assert lines[2].startswith("[3/3] failed") and lines[2].endswith("error: ValueError: boom")
    assert progress.rows[b.run_id]["rate"] == 20.0  # steps / train_seconds of the result


def test_table_counts_runs_by_state_including_interrupted(tmp_path):
    a, b, c = specs(tmp_path)
    console, _ = plain_console()
    progress = SuiteProgress([a, b, c], console, "modes")
    progress.start(a)
    progress.finish(b, RunResult.interrupted("interrupted at step 3", steps=3))
    table = progress.render()
    assert table.row_count == 3
    assert "interrupted: 1" in str(table.title) and "queued: 1" in str(table.title)
    assert "running: 1" in str(table.title)
    render, out = plain_console()
    render.print(table)
    assert "3/10" in out.getvalue()  # step of the budget
    assert set(STATUS_STYLE) >= {s.value for s in Status if s != Status.PENDING}
