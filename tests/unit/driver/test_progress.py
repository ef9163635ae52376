"""The progress display: one line per finished run off a terminal; on one, an overall bar over the
running runs and the last few finished ones that fits the terminal (300 runs on 80 × 24)."""

from __future__ import annotations

import io
import re

import yaml
from rich.console import Console

from genbench.driver.progress import FINISHED_ROWS, STATUS_STYLE, SuiteProgress
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


def many_specs(tmp_path, seeds: int = 300):
    """`seeds` runs of one gan variant on ring8, 3,000 steps each."""
    suite = {
        "name": "many",
        "seeds": list(range(seeds)),
        "budget": {"steps": 3000},
        "datasets": [{"name": "ring8"}],
        "models": [{"name": "gan"}],
        "metrics": ["mode_coverage"],
    }
    (tmp_path / "many.yaml").write_text(yaml.safe_dump(suite))
    return load_suite(tmp_path / "many.yaml")[1]


def terminal(width: int = 80, height: int = 24) -> Console:
    """A terminal of `width` × `height` that records what is printed."""
    return Console(file=io.StringIO(), force_terminal=True, width=width, height=height, record=True)


def screen(progress: SuiteProgress, console: Console) -> list[str]:
    """The lines the live display shows now, as plain text."""
    console.print(progress.render())
    return console.export_text(clear=True).splitlines()


def busy_suite(tmp_path, console: Console) -> tuple[SuiteProgress, list]:
    """300 runs: 30 skipped, 40 started (12 of them finished: one interrupted, one failed), the
    rest queued; the running ones at step 1,200 of 3,000."""
    specs = many_specs(tmp_path)
    progress = SuiteProgress(specs, console, "modes")
    for spec in specs[:30]:
        progress.skipped(spec, RunResult.ok(steps=3000, train_seconds=3.0, metrics={"modes": 8.0}))
    for spec in specs[30:70]:
        progress.start(spec)
        progress.progress(spec, {"step": 1200, "steps_per_s": 400.0, "latest": {"modes": 5.0}})
    for spec in specs[30:40]:
        progress.finish(spec, RunResult.ok(steps=3000, train_seconds=7.5, metrics={"modes": 7.0}))
    progress.finish(specs[40], RunResult.interrupted("interrupted at step 1200", steps=1200))
    progress.finish(specs[41], RunResult.failed("ValueError: boom"))
    return progress, specs


def test_300_runs_fit_a_24_line_terminal_with_the_overall_bar_running_and_last_finished(tmp_path):
    console = terminal()
    progress, specs = busy_suite(tmp_path, console)
    assert progress.interactive
    printed = console.export_text(clear=True).splitlines()  # above the live display: the failure only
    assert (
        len(printed) == 1
        and printed[0].startswith("[42/300] failed")
        and "error: ValueError: boom" in printed[0]
    )
    lines = screen(progress, console)
    assert len(lines) <= 23 and max(map(len, lines)) <= 80  # a line is kept for the cursor; nothing wraps
    assert lines[0].startswith("runs ") and "42/300" in lines[0] and "elapsed" in lines[0]
    assert re.search(r"ETA \d+:\d\d:\d\d", lines[0])  # running runs have done 40 % of their steps
    assert lines[1].split() == "running 28 queued 230 ok 10 failed 1 interrupted 1 skipped 30".split()
    running = [line for line in lines if "1200/3000" in line]
    (more,) = [line for line in lines if "more running" in line]
    assert running and int(re.search(r"(\d+) more running", more)[1]) == 28 - len(running)
    assert all("400 steps/s modes=5" in line for line in running)
    assert running[0].startswith(f"ring8 s{specs[42].seed} gan")  # the oldest running run first
    finished = [line for line in lines if re.match(r"(ok|interrupted|failed) ", line)]
    assert len(finished) == FINISHED_ROWS  # the last five, the last finished last
    assert [line.split()[1] for line in finished] == [s.run_id for s in specs[37:42]]
    assert finished[-1] == f"failed   {specs[41].run_id} ring8 s41 steps=0 modes=5 | gan"


def test_every_running_run_shows_when_the_terminal_is_tall_enough(tmp_path):
    console = terminal(width=120, height=60)
    progress, _ = busy_suite(tmp_path, console)
    console.export_text(clear=True)  # the failed run's line, printed above the live display
    lines = screen(progress, console)
    assert len([line for line in lines if "1200/3000" in line]) == 28
    assert not [line for line in lines if "more running" in line] and len(lines) <= 59


def test_a_short_terminal_keeps_the_bar_and_counts_the_running_runs(tmp_path):
    console = terminal(width=60, height=6)
    progress, _ = busy_suite(tmp_path, console)
    console.export_text(clear=True)  # the failed run's line, printed above the live display
    lines = screen(progress, console)
    assert len(lines) <= 5 and "42/300" in lines[0] and "running 28" in lines[1]
    assert re.search(r"\d+ more running", "\n".join(lines))


def test_the_eta_waits_for_this_invocation_to_make_progress(tmp_path):
    specs = many_specs(tmp_path, seeds=4)
    progress = SuiteProgress(specs, terminal(), "modes")
    progress.skipped(specs[0], RunResult.ok(steps=3000, train_seconds=3.0, metrics={"modes": 8.0}))
    assert progress.eta_seconds() is None  # skipped runs say nothing of the pace
    progress.start(specs[1])
    assert progress.eta_seconds() is None and "ETA –" in screen(progress, terminal())[0]
    progress.progress(specs[1], {"step": 300, "steps_per_s": 100.0, "latest": {}})
    assert progress.eta_seconds() > 0  # 300 of the 9,000 steps left to do are done


def test_a_promoted_run_leaves_the_finished_rows_while_it_runs_again(tmp_path):
    specs = many_specs(tmp_path, seeds=2)
    console = terminal()
    progress = SuiteProgress(specs, console, "modes")
    progress.start(specs[0])
    progress.finish(specs[0], RunResult(Status.PAUSED, steps=1000, train_seconds=1.0, metrics={"modes": 6.0}))
    assert any(line.startswith("paused ") for line in screen(progress, console))
    assert "0/2" in screen(progress, console)[0]  # a paused run has not ended
    progress.start(specs[0])
    lines = screen(progress, console)
    assert not any(line.startswith("paused ") for line in lines)
    assert any("1000/3000" in line for line in lines)


def test_plain_output_of_many_runs_is_one_line_per_finished_run(tmp_path):
    console, out = plain_console()
    specs = many_specs(tmp_path, seeds=40)
    with SuiteProgress(specs, console, "modes") as progress:
        for spec in specs:
            progress.start(spec)
            progress.progress(spec, {"step": 10, "steps_per_s": 1.0, "latest": {"modes": 1.0}})
        for spec in specs[:25]:
            progress.finish(spec, RunResult.ok(steps=3000, train_seconds=1.0, metrics={"modes": 2.0}))
    lines = out.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == [f"[{i}/40]" for i in range(1, 26)]
    assert set(STATUS_STYLE) >= {s.value for s in Status if s != Status.PENDING}
