"""End to end: a search of 4 trials x 2 seeds per method through the real CLI on a real Ray instance,
with the search analysis in the leaderboard and the report; bad searches through the console
script's entry point (tests/unit/suite/test_search.py: sampling and the grammar in-process)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import BAD_SEARCHES as BAD
from tests.helpers import SEARCH_HEAD as HEAD
from tests.helpers import SEARCH_MODEL as MODEL
from tests.helpers import read_csv_ids, run_cli

SUITE = """\
name: search_e2e
seeds: [0, 1]
budget: {steps: 20}
eval: {every: 10, samples: 300}
datasets: [{name: ring8, train_size: 2000}]
search: {trials: 4, seed: 0, space: {lr: {loguniform: [1.0e-4, 1.0e-2]}}}
models:
  - {name: gan, z_dim: 8, hidden: 16, batch_size: 64, search: {space: {beta1: {choice: [0.0, 0.5]}}}}
  - {name: wgan, z_dim: 8, hidden: 16, search: {space: {clip: {loguniform: [1.0e-3, 1.0e-1]}}}}
metrics: [mode_coverage]
"""

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_search_runs_on_ray_and_reports_distribution_and_best_of_k(tmp_path):
    (tmp_path / "s.yaml").write_text(SUITE)
    done = run_cli("run", "s.yaml", "--results", "out", "--workers", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    suite = tmp_path / "out" / "search_e2e"
    board = read_csv_ids(suite / "leaderboard.csv")
    assert len(board) == 2 * 4 * 2 and (board["status"] == "ok").all()
    gan = board[board["model"] == "gan"]
    assert gan["hp.lr"].between(1e-4, 1e-2).all() and set(gan["hp.beta1"]) <= {0.0, 0.5}
    trials = read_csv_ids(suite / "tuning_trials.csv")
    assert len(trials) == 8 and set(trials["seeds"]) == {2}
    # a trial's value is the mean of its seeds' final modes
    for row in trials.itertuples():
        seeds = board[board["variant"] == row.variant]
        assert row.value == pytest.approx(seeds["modes"].mean())
    curves = read_csv_ids(suite / "tuning_best_of_k.csv")
    assert sorted(curves["k"].unique()) == [1, 2, 3, 4]
    ahead = read_csv_ids(suite / "tuning_ahead.csv")
    assert list(ahead["k"]) == [1, 2, 3, 4]
    report = (suite / "report.md").read_text()
    assert "## Hyper-parameter search" in report
    for name in ("tuning_distribution.png", "tuning_best_of_k.png", "tuning_seeds.png"):
        assert f"report_files/{name}" in report
        assert (suite / "report_files" / name).stat().st_size > 1000
    spec = json.loads(next((suite / "runs").glob("*/spec.json")).read_text())
    assert spec["search"]["of"] == 4 and spec["search"]["sampler"] == "random"


def test_search_with_early_stopping_runs_on_ray_and_reports_it(tmp_path):
    suite_text = SUITE.replace("name: search_e2e", "name: search_sh").replace(
        "search: {trials: 4, seed: 0,", "search: {trials: 4, seed: 0, scheduler: asha, reduction: 2,"
    )
    (tmp_path / "s.yaml").write_text(suite_text)
    done = run_cli("run", "s.yaml", "--results", "out", "--workers", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    suite = tmp_path / "out" / "search_sh"
    board = read_csv_ids(suite / "leaderboard.csv")
    # rungs 10 and 20 (the budget): per method 2 of 4 trials go on, both seeds of each
    assert len(board) == 2 * 4 * 2
    assert (board["status"] == "stopped").sum() == 2 * 2 * 2 and (board["status"] == "ok").sum() == 2 * 2 * 2
    assert set(board[board["status"] == "stopped"]["steps"]) == {10}
    stopping = read_csv_ids(suite / "tuning_stopping.csv")
    assert (
        list(stopping["reached 20"]) == [2, 2]
        and list(stopping["steps_spent"]) == [2 * (2 * 10 + 2 * 20)] * 2
    )
    report = (suite / "report.md").read_text()
    assert "Early stopping: successive halving" in report and "stopped" in report
    for name in ("tuning_distribution.png", "tuning_best_of_k.png"):
        assert (suite / "report_files" / name).stat().st_size > 1000


@pytest.mark.slow
def test_bad_searches_through_the_cli_exit_2_and_write_nothing(tmp_path):
    """Each bad file through `genbench run` (the console script's entry point, one process)."""
    for case, line, *_ in BAD[:4]:
        (tmp_path / f"{case}.yaml").write_text(HEAD + "models:\n" + MODEL + line)
    script = (
        "import json, sys\nfrom genbench.driver.cli import main\n"
        f"cases = {[b[0] for b in BAD[:4]]!r}\n"
        "print(json.dumps({c: main(['run', c + '.yaml', '--results', 'out']) for c in cases}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    codes = json.loads(done.stdout.strip().splitlines()[-1])
    assert codes == {b[0]: 2 for b in BAD[:4]}
    assert "Traceback" not in done.stderr and done.stderr.count("error: invalid suite file") == 4
    assert not (tmp_path / "out").exists()
