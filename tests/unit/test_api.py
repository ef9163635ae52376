"""The Python API: run_suite returns the leaderboard's per-run table, load_results /
load_trajectories read the store, and load_run rebuilds a model whose samples for the final
evaluation's seed are those the final evaluation scored (tests/e2e/test_api.py: a light import, a
dict suite's typo raises the CLI's message)."""

from __future__ import annotations

import pytest
import torch

import genbench
from genbench.metrics.mog import mode_coverage
from tests.helpers import API_SUITE as SUITE


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """The suite run once from Python, in-process (serial): (results root, returned table)."""
    root = tmp_path_factory.mktemp("api") / "results"
    return root, genbench.run_suite(SUITE, results=root, serial=True, quiet=True)


def test_run_suite_returns_one_row_per_run_with_metrics_and_hyperparameters(results):
    root, table = results
    assert len(table) == 4 and table["run_id"].is_unique
    assert sorted(zip(table["model"], table["seed"], strict=True)) == [
        ("gan", 0),
        ("gan", 1),
        ("vae", 0),
        ("vae", 1),
    ]
    assert set(table["status"]) == {"ok"} and (table["steps"] == 40).all()
    for column in (
        "run_id",
        "variant",
        "dataset",
        "protocol",
        "modes",
        "hq_frac",
        "kl_modes",
        "hp.hidden",
        "hp.lr",
    ):
        assert column in table.columns, column
    assert table["modes"].between(0, 8).all()
    again = genbench.load_results(root / "api")
    assert again.equals(table)  # the same table from the store alone
    stamp = {p: p.stat().st_mtime_ns for p in (root / "api" / "runs").glob("*/result.json")}
    assert genbench.run_suite(SUITE, results=root, serial=True, quiet=True).equals(table)
    assert {p: p.stat().st_mtime_ns for p in stamp} == stamp  # finished runs are not run again


def test_load_trajectories_has_every_evaluation_with_the_runs_identity(results):
    root, table = results
    traj = genbench.load_trajectories(root / "api")
    assert len(traj) == 4 * 3  # steps 0, 20 and the final 40
    assert sorted(set(traj["step"])) == [0, 20, 40]
    assert {"model", "seed", "dataset", "modes", "train.loss_d"} <= set(traj.columns)
    final = traj[traj["step"] == 40].set_index("run_id")["modes"]
    assert final.to_dict() == table.set_index("run_id")["modes"].to_dict()


def test_load_run_samples_are_those_the_final_evaluation_scored(results):
    root, table = results
    for row in table[table["model"] == "gan"].itertuples():
        run = genbench.load_run(root / "api" / "runs" / row.run_id)
        assert run.spec.run_id == row.run_id and not run.model.training
        assert run.final_eval_seed == row.seed * 100003 + 40
        samples = run.sample()
        assert samples.shape == (300, 2)
        scored = mode_coverage(samples, run.dataset.modes, run.dataset.std)
        stored = run.result.metrics
        assert "mode_dist" in stored  # a float of every sample: equal only for the very same draw
        # exactly what the run's final evaluation got (NaN where it got NaN)
        assert {k: scored[k] for k in stored} == pytest.approx(stored, rel=0, abs=0, nan_ok=True)
        assert not torch.equal(run.sample(seed=run.final_eval_seed + 1), samples)


def test_load_run_refuses_runs_without_a_trained_model(tmp_path, results):
    root, table = results
    with pytest.raises(FileNotFoundError):
        genbench.load_run(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="no suite results here"):
        genbench.load_results(tmp_path)
