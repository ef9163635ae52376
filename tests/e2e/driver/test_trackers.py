"""Trackers through the real CLI on Ray: `genbench run` with `trackers: [tensorboard, {name: mlflow,
uri: ...}]` logs each run from its Ray worker to a real MLflow tracking server started here (SQLite
store) and to TensorBoard event files, read back with MlflowClient and TensorBoard's own reader; a
driver killed mid-run and run again continues the same MLflow run and logs no step twice; a server
that does not answer stops the suite before training, exit 2."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from genbench.store.protocol import protocol_id
from genbench.worker import checkpoint
from tests.helpers import kill_session

MLFLOW = str(Path(sys.executable).with_name("mlflow"))
PATIENCE_S = 180.0
STEPS, EVERY = 1500, 100
GAN = {"name": "gan", "z_dim": 8, "hidden": 16, "batch_size": 64, "d_steps": 5}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real MLflow tracking server on 127.0.0.1 (SQLite store, local artifacts) in a session of its
    own; its URI. Every process of that session is ended at teardown."""
    folder = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    command = [MLFLOW, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    command += ["--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}"]
    command += ["--default-artifact-root", str(folder / "artifacts")]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no job runner processes
    with open(folder / "server.log", "w") as log:
        proc = subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=log, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + PATIENCE_S
        while not answers(uri + "/health"):
            assert proc.poll() is None, (folder / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the MLflow server never answered"
            time.sleep(0.5)
        yield uri
    finally:
        kill_session(proc)
        proc.wait()


def write_suite(work: Path, name: str, uri: str) -> Path:
    suite = {
        "name": name,
        "seeds": [0],
        "budget": {"steps": STEPS},
        "resources": {"cpus": 1, "gpus": 0},
        "eval": {"every": EVERY, "samples": 300},
        "checkpoint": {"every": 300},
        "datasets": [{"name": "ring8", "train_size": 2000, "test_size": 300}],
        "models": [GAN],
        "metrics": ["mode_coverage"],
        "trackers": ["tensorboard", {"name": "mlflow", "uri": uri}],
    }
    path = work / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def mlflow_runs(client, suite: str) -> list:
    experiment = client.get_experiment_by_name(suite)
    return client.search_runs([experiment.experiment_id]) if experiment else []


def logged_steps(client, suite: str) -> list[int]:
    runs = mlflow_runs(client, suite)
    return [m.step for m in client.get_metric_history(runs[0].info.run_id, "modes")] if runs else []


def test_killed_and_rerun_suite_logs_each_step_once_to_mlflow_and_tensorboard(
    tmp_path, start_driver, mlflow_server
):
    from mlflow import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    client = MlflowClient(mlflow_server)
    suite_file = write_suite(tmp_path, "tracked", mlflow_server)
    first = start_driver(str(suite_file), "--results", "results")
    runs = tmp_path / "results" / "tracked" / "runs"
    first.wait_for(
        lambda: (
            any(runs.glob(f"*/{checkpoint.FILENAME}"))
            and max(logged_steps(client, "tracked"), default=0) >= 400  # past the checkpoint of step 300
        ),
        "its worker logged evaluations after a checkpoint",
    )
    kill_session(first.proc)  # the driver, its Ray instance and the worker, at once
    first.proc.wait()
    [unfinished] = mlflow_runs(client, "tracked")
    assert unfinished.info.status == "RUNNING"

    code, out, err = start_driver(str(suite_file), "--results", "results").finish()
    assert code == 0, out[-3000:] + err[-3000:]
    [folder] = list(runs.iterdir())
    result = json.loads((folder / "result.json").read_text())
    assert result["status"] == "ok" and result["resumed_at"] and result["resumed_at"][0] >= 300
    rows = [json.loads(line) for line in (folder / "trajectory.jsonl").read_text().splitlines()]
    steps = [row["step"] for row in rows]
    assert steps == list(range(0, STEPS + 1, EVERY))

    [run] = mlflow_runs(client, "tracked")  # the killed attempt's run, continued
    assert run.info.run_id == unfinished.info.run_id and run.info.status == "FINISHED"
    assert run.data.tags["genbench.run_id"] == folder.name
    assert run.data.tags["genbench.protocol_id"] == protocol_id(result["protocol"])
    params = run.data.params
    chosen = (params["model"], params["seed"], params["budget.steps"], params["hparams.d_steps"])
    assert chosen == ("gan", "0", str(STEPS), "5")
    for key in ("modes", "mode_dist", "train_seconds"):
        assert [m.step for m in client.get_metric_history(run.info.run_id, key)] == steps, key
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train.loss_d")] == steps[1:]
    history = client.get_metric_history(run.info.run_id, "mode_dist")
    assert [m.value for m in history] == pytest.approx([row["mode_dist"] for row in rows], rel=1e-12)
    pictures = client.list_artifacts(run.info.run_id, "samples")
    assert [p.path for p in pictures] == [f"samples/step_{s:07d}.png" for s in steps]

    assert len(list((folder / "tensorboard").glob("events.out.tfevents.*"))) == 2  # one per attempt
    reader = EventAccumulator(str(folder / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    reader.Reload()
    assert [e.step for e in reader.Scalars("eval/modes")] == steps
    assert [e.value for e in reader.Scalars("eval/mode_dist")] == pytest.approx(
        [row["mode_dist"] for row in rows], rel=1e-6
    )
    assert [e.step for e in reader.Scalars("train/loss_d")] == steps[1:]
    assert [i.step for i in reader.Images("samples")] == steps


def test_an_mlflow_server_that_does_not_answer_stops_the_suite_before_training(tmp_path, start_driver):
    port = free_port()  # nothing listens there
    suite_file = write_suite(tmp_path, "unheard", f"http://127.0.0.1:{port}")
    code, out, err = start_driver(str(suite_file), "--results", "results").finish()
    assert code == 2, out + err
    assert f"error: trackers[1]: cannot log to MLflow at http://127.0.0.1:{port}: " in err
    assert "Connection refused" in err and "Traceback" not in out + err
    suite_path = tmp_path / "results" / "unheard"
    assert not (suite_path / "runs").exists() and not (suite_path / "suite.json").exists()


def test_a_missing_tracker_package_is_exit_2_naming_the_extra(tmp_path):
    suite_file = write_suite(tmp_path, "lacking", "http://127.0.0.1:5000")
    blocked = (  # the CLI in a Python where mlflow cannot be imported (as if it were not installed)
        "import sys; sys.modules['mlflow'] = None; from genbench.driver.cli import main; "
        f"sys.exit(main(['run', {str(suite_file)!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", blocked], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "suite.yaml:" in done.stderr
    assert "trackers[1]: the mlflow tracker needs the 'mlflow' package" in done.stderr
    assert "pip install 'genbench[mlflow]'" in done.stderr and "Traceback" not in done.stderr
