"""End to end: a tiny suite through the real CLI on a real local Ray instance."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

import genbench
from genbench.numerics import NUMERICS_VERSION
from tests.helpers import read_csv_ids, run_cli

pytestmark = pytest.mark.slow

SUITE = """\
name: e2e
seeds: [0, 1]
budget: {steps: 300}
resources: {cpus: 1, gpus: 0}
eval: {every: 100, samples: 1000}
datasets:
  - {name: ring8, train_size: 20000}
models:
  - {name: gan, lr: 1.0e-3, z_dim: 32, hidden: 64}
  - {name: vae, hidden: 64}
  - {name: vae, decoder: bernoulli}   # cannot run on continuous data: recorded as failed
  - {name: wgan, lr: 1.0e+30}          # diverges at once: recorded as diverged
metrics: [mode_coverage, elbo]
"""


def trajectory(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "trajectory.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory):
    """Run the suite once on Ray and once in-process (--serial), in separate results roots."""
    work = tmp_path_factory.mktemp("e2e")
    (work / "e2e.yaml").write_text(SUITE)
    on_ray = run_cli("run", "e2e.yaml", "--results", "ray_results", "--workers", "1", cwd=work)
    serial = run_cli("run", "e2e.yaml", "--results", "serial_results", "--serial", cwd=work)
    return work, on_ray, serial


def test_suite_finishes_and_writes_leaderboard(suite_run):
    work, on_ray, _ = suite_run
    assert on_ray.returncode == 1, on_ray.stderr[-3000:]  # two runs failed: exit 1, leaderboard written
    last = on_ray.stdout.strip().splitlines()[-1]
    assert last.startswith("2 of 8 runs failed") and last.count("result.json") == 2, last
    suite_dir = work / "ray_results" / "e2e"
    board = read_csv_ids(suite_dir / "leaderboard.csv")
    assert len(board) == 8  # 4 models x 1 dataset x 2 seeds, one row each
    for column in [
        "run_id",
        "model",
        "variant",
        "dataset",
        "seed",
        "status",
        "steps",
        "seconds",
        "modes",
        "hq_frac",
        "kl_modes",
        "elbo",
        "hp.lr",
    ]:
        assert column in board.columns, column
    finished = board[board["status"] == "ok"]
    numerics = f"genbench {genbench.__version__}, numerics {NUMERICS_VERSION}, commit"
    assert finished["code"].str.startswith(numerics).all(), finished["code"]  # run from this checkout
    status = board.groupby("variant", dropna=False)["status"].agg(set).to_dict()
    assert status["decoder=bernoulli"] == {"failed"}
    assert status["lr=1e+30"] == {"diverged"}
    ok = board[board["status"] == "ok"]
    assert len(ok) == 4 and set(ok["model"]) == {"gan", "vae"}
    assert (ok["steps"] == 300).all()
    assert ok.loc[ok["model"] == "gan", "elbo"].isna().all()  # elbo skipped for the GAN
    assert ok.loc[ok["model"] == "vae", "elbo"].notna().all()
    summary = (suite_dir / "leaderboard.md").read_text()
    assert "## Summary" in summary and "modes" in summary
    assert "metric 'elbo' skipped for gan runs" in on_ray.stdout
    timing = json.loads((suite_dir / "timing.json").read_text())
    assert timing["runs"] == 8 and timing["workers"] == 1
    assert 0 < timing["ray_start_s"] < timing["setup_s"] < timing["to_leaderboard_s"]
    assert 0 < timing["dispatch_s"] < timing["to_leaderboard_s"]


def test_every_ok_run_has_its_files_and_learned_something(suite_run):
    work, _, _ = suite_run
    suite_dir = work / "ray_results" / "e2e"
    board = read_csv_ids(suite_dir / "leaderboard.csv")
    for row in board[board["status"] == "ok"].itertuples():
        run_dir = suite_dir / "runs" / row.run_id.removeprefix("run-")  # CSV ids carry their kind
        spec = json.loads((run_dir / "spec.json").read_text())
        assert spec["seed"] == row.seed
        assert (run_dir / "samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        steps = [r["step"] for r in trajectory(run_dir)]
        assert steps == [0, 100, 200, 300]
        first, last = trajectory(run_dir)[0], trajectory(run_dir)[-1]
        if row.model == "gan":  # samples move towards the modes
            assert last["mode_dist"] < first["mode_dist"]
        else:  # the VAE's held-out ELBO rises
            assert last["elbo"] > first["elbo"]


def test_failed_and_diverged_runs_record_why(suite_run):
    work, _, _ = suite_run
    suite_dir = work / "ray_results" / "e2e"
    board = read_csv_ids(suite_dir / "leaderboard.csv")
    failed = board[board["status"] == "failed"].iloc[0]
    assert "bernoulli" in failed["error"]
    diverged = json.loads(
        (
            suite_dir
            / "runs"
            / board[board["status"] == "diverged"].iloc[0]["run_id"].removeprefix("run-")
            / "result.json"
        ).read_text()
    )
    assert "non-finite" in diverged["error"] and diverged["steps"] < 300


def test_ray_and_serial_give_the_same_numbers(suite_run):
    """Each run reseeds everything, so where it runs (actor or driver) does not matter."""
    work, _, serial = suite_run
    assert serial.returncode == 1, serial.stderr[-3000:]  # the two failed runs
    on_ray = read_csv_ids(work / "ray_results" / "e2e" / "leaderboard.csv").set_index("run_id")
    local = read_csv_ids(work / "serial_results" / "e2e" / "leaderboard.csv").set_index("run_id")
    metrics = ["modes", "hq_frac", "kl_modes", "mode_dist", "elbo"]
    pd.testing.assert_frame_equal(on_ray.loc[local.index, metrics], local[metrics])


def test_rerun_skips_finished_runs_and_leaderboard_rebuilds(suite_run):
    work, _, _ = suite_run
    again = run_cli("run", "e2e.yaml", "--results", "serial_results", "--serial", cwd=work)
    assert again.returncode == 1  # the failed runs are tried again and fail again
    states = re.findall(r"^\[\d+/\d+\] (\w+) ", again.stdout, flags=re.M)
    assert sorted(states) == ["failed"] * 2 + ["skipped"] * 6  # failed runs are tried again
    board = read_csv_ids(work / "serial_results" / "e2e" / "leaderboard.csv")
    assert len(board) == 8
    rebuilt = run_cli("leaderboard", "serial_results/e2e", cwd=work)
    assert rebuilt.returncode == 0 and "## Runs" in rebuilt.stdout
