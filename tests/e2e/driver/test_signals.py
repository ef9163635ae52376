"""SIGTERM and SIGHUP to a `genbench run` on its own local Ray instance, as systemd, Slurm,
Kubernetes, `docker stop` or a closed terminal send them: the runs checkpoint and are recorded
`interrupted`, the partial leaderboard is written, the exit code is 128 + the signal, and no
traceback or Ray stack dump is shown; a second signal quits at once."""

from __future__ import annotations

import json
import signal

import pytest

from genbench.worker import checkpoint
from tests.helpers import RING, read_csv_ids, suite_dict, write_suite

SLOW_GAN = {"name": "gan", "z_dim": 8, "hidden": 16, "batch_size": 64, "d_steps": 10}
CRAWLING_GAN = {**SLOW_GAN, "d_steps": 5000}  # a step takes seconds: a stop waits for it
RAY_DUMP = "SIGTERM received"  # how Ray's C++ handler starts its stack dump


def two_run_suite(tmp_path, model: dict, ckpt: int) -> str:
    """Two runs (seeds 0 and 1) that train for minutes, checkpointing every `ckpt` steps."""
    suite = {**suite_dict([model], steps=100_000, seeds=(0, 1), ckpt=ckpt), "name": "sig"}
    suite["datasets"], suite["metrics"] = [RING], ["mode_coverage"]
    write_suite(tmp_path, suite)
    return "suite.yaml"


def checkpoints(runs) -> list:
    return sorted(runs.glob(f"*/{checkpoint.FILENAME}"))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stop_signal_checkpoints_records_interrupted_and_writes_a_leaderboard(tmp_path, start_driver, sig):
    runs = tmp_path / "results" / "sig" / "runs"
    driver = start_driver(two_run_suite(tmp_path, SLOW_GAN, ckpt=25), "--results", "results")
    driver.wait_for(lambda: len(checkpoints(runs)) == 2, "both runs were training")
    driver.proc.send_signal(sig)  # to the driver only, as `kill -TERM PID`
    code, out, err = driver.finish()

    assert code == 128 + sig, out[-3000:] + err[-3000:]
    assert f"stopping ({sig.name}): running runs checkpoint" in out
    assert f"interrupted ({sig.name}): running runs saved checkpoints" in out
    assert "Traceback" not in out + err and RAY_DUMP not in out + err
    results = [json.loads(p.read_text()) for p in sorted(runs.glob("*/result.json"))]
    assert [r["status"] for r in results] == ["interrupted", "interrupted"]
    assert all(r["steps"] >= 25 for r in results)
    board = read_csv_ids(tmp_path / "results" / "sig" / "leaderboard.csv")
    assert sorted(board["status"]) == ["interrupted", "interrupted"]
    assert len(checkpoints(runs)) == 2
    assert not (tmp_path / "results" / "sig" / ".genbench.lock").exists()


def test_a_second_sigterm_quits_at_once(tmp_path, start_driver):
    runs = tmp_path / "results" / "sig" / "runs"
    driver = start_driver(two_run_suite(tmp_path, CRAWLING_GAN, ckpt=1), "--results", "results")
    driver.wait_for(lambda: len(checkpoints(runs)) == 2, "both runs were training")
    driver.proc.send_signal(signal.SIGTERM)  # the runs finish their step of seconds first...
    driver.wait_for(lambda: "stopping (SIGTERM)" in driver.output()[0], "said it was stopping")
    driver.proc.send_signal(signal.SIGTERM)  # ...which the second one does not wait for
    code, out, err = driver.finish()

    assert code == 143, out[-3000:] + err[-3000:]
    assert "interrupted" in err and "Traceback" not in out + err and RAY_DUMP not in out + err
    assert not list(runs.glob("*/result.json"))  # quit before any run was recorded
    assert len(checkpoints(runs)) == 2  # the checkpoints written before stay
