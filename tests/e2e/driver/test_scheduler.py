"""Successive halving through the CLI (`scheduler: asha`): bad schedules exit 2 naming file, key and
line and write nothing; every decision of a search recomputed from the stored trajectories, the
survivors equal to runs trained straight, and a second run training nothing
(tests/unit/driver/test_scheduler.py: the rule and the grammar in-process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import HALVING_HEAD as HEAD
from tests.helpers import HALVING_MODELS as MODELS
from tests.helpers import HALVING_SEARCH as SEARCH
from tests.helpers import read_csv_ids

BAD = [
    ("search: {trials: 2, scheduler: hyperband, space: {lr: {uniform: [0.001, 0.01]}}}\n", 7, "asha"),
    (
        "search: {trials: 2, scheduler: asha, min_steps: 15, space: {lr: {uniform: [0.001, 0.01]}}}\n",
        7,
        "min_steps 15 must be a multiple of eval.every (10)",
    ),
    (
        "search: {trials: 2, scheduler: asha, min_steps: 40, space: {lr: {uniform: [0.001, 0.01]}}}\n",
        7,
        "below the budget (40)",
    ),
    (
        "search: {trials: 2, reduction: 2, space: {lr: {uniform: [0.001, 0.01]}}}\n",
        7,
        "'reduction' belongs to a scheduler",
    ),
    ("search: {trials: 2, scheduler: asha, reduction: 1, space: {lr: {uniform: [0.001, 0.01]}}}\n", 7, "2"),
]


@pytest.mark.parametrize(("search", "line", "message"), BAD)
def test_bad_schedules_are_exit_2_with_file_key_and_line(tmp_path, cli, search, line, message):
    (tmp_path / "s.yaml").write_text(HEAD + search + MODELS)
    done = cli("validate", "s.yaml", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"s.yaml:{line}" in done.stderr and message in done.stderr
    done = cli("run", "s.yaml", "--results", "out", cwd=tmp_path)
    assert done.returncode == 2 and not (tmp_path / "out").exists()


def _trajectory_value(run_dir: Path, step: int, metric: str) -> float:
    for line in (run_dir / "trajectory.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["step"] == step:
            return row[metric]
    raise AssertionError(f"no evaluation at step {step} in {run_dir}")


@pytest.mark.slow
def test_successive_halving_through_the_cli_stops_the_worst_trials_at_each_rung(tmp_path, cli):
    (tmp_path / "s.yaml").write_text(HEAD + SEARCH + MODELS)
    done = cli("run", "s.yaml", "--results", "out", "--serial", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    suite = tmp_path / "out" / "sh"
    board = read_csv_ids(suite / "leaderboard.csv")
    assert len(board) == 2 * 4 * 2  # every trial's runs are stored, stopped ones too
    # rungs 10, 20, 40 with eta 2: 4 trials -> 2 -> 1, per method; seeds stop together
    for model, g in board.groupby("model"):
        per_trial = g.groupby("variant")["steps"].agg(["min", "max"])
        assert (per_trial["min"] == per_trial["max"]).all()
        assert sorted(per_trial["max"]) == [10, 10, 20, 40], model
        assert set(g[g["steps"] < 40]["status"]) == {"stopped"} and set(g[g["steps"] == 40]["status"]) == {
            "ok"
        }
        # the promotions, recomputed from the stored trajectories: at each rung the trials whose
        # seed mean of modes (the primary metric) is highest go on, ties to the first label
        alive = list(per_trial.index)
        for rung in (10, 20):
            value = {
                v: sum(
                    _trajectory_value(suite / "runs" / r, rung, "modes")
                    for r in g[g["variant"] == v]["run_id"]
                )
                / 2
                for v in alive
            }
            keep = len(alive) // 2
            alive = sorted(alive, key=lambda v: (-value[v], v))[:keep]
            assert set(per_trial[per_trial["max"] > rung].index) == set(alive)
    # a stopped run keeps the numbers of its rung's evaluation, under a protocol of its own
    stopped = board[board["status"] == "stopped"]
    for row in stopped.itertuples():
        assert row.modes == _trajectory_value(suite / "runs" / row.run_id, row.steps, "modes")
    assert set(stopped["protocol"]).isdisjoint(set(board[board["status"] == "ok"]["protocol"]))
    stopping = read_csv_ids(suite / "tuning_stopping.csv")
    assert list(stopping["steps_spent"]) == [2 * (10 + 10 + 20 + 40)] * 2
    assert list(stopping["steps_without_stopping"]) == [4 * 2 * 40] * 2
    # the best-of-k analysis compares every trial at the first rung: an equal budget
    trials = read_csv_ids(suite / "tuning_trials.csv")
    assert set(trials["protocol"].str.endswith("@10")) == {True}
    report = (suite / "report.md").read_text()
    assert "Early stopping: successive halving" in report and "tuning_best_of_k.png" in report

    # the survivor went on from its checkpoints: its numbers are those of a run trained straight
    ok = board[board["status"] == "ok"]
    straight = tmp_path / "straight.yaml"
    variants = {m: v for m, v in zip(ok["model"], ok["variant"], strict=True)}
    lrs = {m: float(ok[ok["model"] == m]["hp.lr"].iloc[0]) for m in variants}
    straight.write_text(
        HEAD.replace("name: sh", "name: straight")
        + "models:\n"
        + f"  - {{name: gan, z_dim: 8, hidden: 16, batch_size: 64, lr: {lrs['gan']!r}}}\n"
        + f"  - {{name: wgan, z_dim: 8, hidden: 16, lr: {lrs['wgan']!r}}}\n"
    )
    done = cli("run", "straight.yaml", "--results", "out", "--serial", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    again = read_csv_ids(tmp_path / "out" / "straight" / "leaderboard.csv")
    for metric in ("modes", "hq_frac", "mode_dist"):
        assert sorted(again[metric]) == sorted(ok[metric])
    assert set(again["run_id"]) == set(ok["run_id"])  # the same runs: a scheduler is not in the id

    # a second `genbench run` trains nothing and changes no decision
    stamps = {p: p.stat().st_mtime_ns for p in (suite / "runs").glob("*/result.json")}
    done = cli("run", "s.yaml", "--results", "out", "--serial", cwd=tmp_path)
    assert done.returncode == 0 and "running" not in done.stdout
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
