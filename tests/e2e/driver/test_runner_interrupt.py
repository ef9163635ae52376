"""Interruptions on a real Ray instance: a killed worker, a run out of attempts, a SIGKILLed
driver and a Ctrl-C'd driver (the CLI in a subprocess). One Ray instance serves the module: the
subprocess drivers join it with --address, which saves a Ray start-up (~10 s) per run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import ray
import torch
import yaml

from genbench.analysis.csvfiles import strip_id_prefixes
from genbench.driver.runner import run_on_ray
from genbench.driver.suite_run import EXIT_INTERRUPTED
from genbench.store import runs as store
from genbench.store.result import RunResult
from genbench.suite.config import RunSpec, load_suite
from genbench.worker import checkpoint
from genbench.worker.train import train
from tests.helpers import read_csv_ids

pytestmark = pytest.mark.slow

GAN = {"name": "gan", "z_dim": 8, "hidden": 16, "batch_size": 64}
SLOW_GAN = {**GAN, "d_steps": 10}  # ten times the work per step: the runs still going when we strike
RING = {"name": "ring8", "train_size": 2000, "test_size": 500}
PATIENCE_S = 120.0


def suite_dict(models: list[dict], budget: dict, seeds=(0,), ckpt: int = 50, max_attempts: int = 3) -> dict:
    return {
        "name": "intr",
        "seeds": list(seeds),
        "budget": budget,
        "resources": {"cpus": 1, "gpus": 0},
        "eval": {"every": 200, "samples": 500},
        "checkpoint": {"every": ckpt, "max_attempts": max_attempts},
        "datasets": [RING],
        "models": models,
        "metrics": ["mode_coverage"],
    }


def write_suite(tmp_path: Path, suite: dict) -> Path:
    path = tmp_path / f"suite_{len(list(tmp_path.glob('suite_*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def canon(result: RunResult) -> str:
    """Exact, NaN-safe key of a run's numbers (not its wall-clock times)."""
    rows = [{k: v for k, v in row.items() if k != "train_seconds"} for row in result.trajectory]
    return json.dumps({"rows": rows, "metrics": result.metrics, "steps": result.steps}, sort_keys=True)


def uninterrupted(spec: RunSpec) -> RunResult:
    """The run trained in this process with one thread, as a one-CPU worker trains it."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train(spec)
    finally:
        torch.set_num_threads(before)


def worker_pids(state: str | None = None) -> dict[str, int]:
    """Actor id -> pid of the RunWorker actors of this module's Ray instance (GCS actor table)."""
    actors = ray._private.state.actors(actor_state_name=state)
    return {aid: info["Pid"] for aid, info in actors.items() if info["ActorClassName"] == "RunWorker"}


@pytest.fixture(scope="module")
def address():
    """A private local Ray instance with two CPUs; its address, for subprocess drivers."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(autouse=True)
def no_workers_left(address):
    """Every test leaves no RunWorker alive; one still alive after 30 s is killed and reported."""
    yield
    deadline = time.monotonic() + 30
    while worker_pids("ALIVE") and time.monotonic() < deadline:
        time.sleep(0.2)
    left = worker_pids("ALIVE")
    for pid in left.values():
        os.kill(pid, signal.SIGKILL)
    assert not left, f"RunWorker actors left alive: {left}"


class Recorder:
    def __init__(self) -> None:
        self.results: dict[str, dict] = {}
        self.starts: list[str] = []

    def on_start(self, spec: RunSpec) -> None:
        self.starts.append(spec.run_id)

    def on_result(self, spec: RunSpec, result: dict) -> None:
        assert spec.run_id not in self.results, "a second result for one run"
        self.results[spec.run_id] = result


def test_killed_worker_restarts_from_its_checkpoint_with_equal_numbers(tmp_path):
    (spec,) = load_suite(write_suite(tmp_path, suite_dict([GAN], {"steps": 1500})))[1]
    path = tmp_path / checkpoint.FILENAME
    killed: list[int] = []
    rec = Recorder()

    def kill_once(spec_: RunSpec, info: dict) -> None:
        if not killed and info.get("step", 0) >= 300:  # checkpoints at 50, 100, ... exist by now
            assert info["pid"] != os.getpid()
            os.kill(info["pid"], signal.SIGKILL)  # the pid this run reported, no other process
            killed.append(info["pid"])

    run_on_ray([spec], rec.on_start, rec.on_result, kill_once, checkpoints=lambda s: str(path))

    result = rec.results[spec.run_id]
    assert killed and rec.starts == [spec.run_id]
    assert result.status == "ok" and result.restarts == 1 and result.steps == 1500
    assert len(result.resumed_at) == 1 and 50 <= result.resumed_at[0] < 1500
    assert canon(result) == canon(uninterrupted(spec))


def test_run_out_of_attempts_fails_and_the_others_finish(tmp_path):
    (doomed,) = load_suite(write_suite(tmp_path, suite_dict([SLOW_GAN], {"seconds": 60}, max_attempts=2)))[1]
    others = load_suite(write_suite(tmp_path, suite_dict([GAN], {"steps": 50}, seeds=(0, 1))))[1]
    killed: list[int] = []
    rec = Recorder()

    def kill_every_attempt(spec: RunSpec, info: dict) -> None:
        if spec == doomed and info.get("step", 0) > 0 and info["pid"] not in killed:
            os.kill(info["pid"], signal.SIGKILL)
            killed.append(info["pid"])

    run_on_ray(
        [doomed, *others],
        rec.on_start,
        rec.on_result,
        kill_every_attempt,
        checkpoints=lambda s: str(tmp_path / s.run_id / checkpoint.FILENAME),
    )

    assert len(killed) == 2
    lost = rec.results[doomed.run_id]
    assert lost.status == "failed" and lost.restarts == 1
    assert "worker lost on each of 2 attempts" in lost.error
    assert all(rec.results[s.run_id].status == "ok" for s in others)


def start_cli(work: Path, suite_file: Path, address: str) -> subprocess.Popen:
    """`genbench run` as a subprocess joining this module's Ray instance; output to a file."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    log_path = work / f"{suite_file.stem}.{time.monotonic_ns()}.log"
    cmd = [sys.executable, "-m", "genbench.driver.cli", "run", str(suite_file), "--results", "results"]
    with open(log_path, "w") as log:
        proc = subprocess.Popen([*cmd, "--address", address], cwd=work, env=env, stdout=log, stderr=log)
    proc.log_path = log_path
    return proc


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    """Wait for the CLI (killing it if it runs past PATIENCE_S); its exit code and output."""
    try:
        code = proc.wait(timeout=PATIENCE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, proc.log_path.read_text()


def wait_for(condition, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while not condition():
        assert proc.poll() is None, f"the driver ended first:\n{proc.log_path.read_text()[-3000:]}"
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.1)


def states(out: str) -> dict[str, str]:
    """Run id -> state, from `genbench run`'s one line per run (not on a terminal)."""
    return dict((run_id, state) for state, run_id in re.findall(r"^\[\d+/\d+\] (\w+) +(\w+) ", out, re.M))


def mixed_suite(tmp_path: Path, seeds: tuple[int, ...]) -> tuple[Path, list[RunSpec], list[RunSpec]]:
    """Quick runs first, then slow ones; both sets of specs."""
    path = write_suite(tmp_path, suite_dict([GAN, SLOW_GAN], {"steps": 300}, seeds=seeds, ckpt=25))
    specs = load_suite(path)[1]
    return path, specs[: len(seeds)], specs[len(seeds) :]


def status_of(suite_path: Path, spec: RunSpec) -> str | None:
    path = store.run_dir(suite_path, spec.run_id) / "result.json"
    return store.read_json(path)["status"] if path.exists() else None


def has_checkpoint(suite_path: Path, spec: RunSpec) -> bool:
    return (store.run_dir(suite_path, spec.run_id) / checkpoint.FILENAME).exists()


def test_sigkilled_driver_rerun_completes_only_the_missing_runs(tmp_path, address):
    suite_file, quick, slow = mixed_suite(tmp_path, (0, 1))
    suite_path = tmp_path / "results" / "intr"
    proc = start_cli(tmp_path, suite_file, address)
    try:
        wait_for(
            lambda: (
                all(status_of(suite_path, s) == "ok" for s in quick)
                and any(has_checkpoint(suite_path, s) and status_of(suite_path, s) is None for s in slow)
            ),
            proc,
        )
        workers = set(worker_pids("ALIVE"))
        proc.send_signal(signal.SIGKILL)  # the driver's pid only; Ray ends its job's actors
    finally:
        finish(proc)
    deadline = time.monotonic() + 30
    while set(worker_pids("ALIVE")) & workers and time.monotonic() < deadline:
        time.sleep(0.2)  # Ray ends the dead driver's actors
    assert not set(worker_pids("ALIVE")) & workers
    kept = {s.run_id: (store.run_dir(suite_path, s.run_id) / "result.json").read_bytes() for s in quick}
    resumable = [s for s in slow if has_checkpoint(suite_path, s) and status_of(suite_path, s) is None]

    code, out = finish(start_cli(tmp_path, suite_file, address))
    assert code == 0, out[-3000:]
    assert states(out) == {**{s.run_id: "skipped" for s in quick}, **{s.run_id: "ok" for s in slow}}
    assert all((store.run_dir(suite_path, r) / "result.json").read_bytes() == b for r, b in kept.items())
    board = read_csv_ids(suite_path / "leaderboard.csv")
    assert sorted(board["run_id"]) == sorted(s.run_id for s in quick + slow)
    assert (board["status"] == "ok").all()
    spec = resumable[0]
    result = store.read_json(store.run_dir(suite_path, spec.run_id) / "result.json")
    assert result["resumed_at"] and result["resumed_at"][0] >= 25 and result["restarts"] == 0
    rows = store.read_trajectory(suite_path, spec.run_id)  # null (a stored NaN) read back as NaN
    assert canon(RunResult.from_json(result).replace(trajectory=rows)) == canon(uninterrupted(spec))


def test_sigint_interrupts_writes_partial_leaderboard_and_rerun_completes(tmp_path, address):
    suite_file, quick, slow = mixed_suite(tmp_path, (0, 1))
    suite_path = tmp_path / "results" / "intr"
    proc = start_cli(tmp_path, suite_file, address)
    try:
        wait_for(
            lambda: (
                all(status_of(suite_path, s) == "ok" for s in quick)
                and any(has_checkpoint(suite_path, s) for s in slow)
            ),
            proc,
        )
        proc.send_signal(signal.SIGINT)  # to the driver only, as `kill -INT`
    finally:
        code, out = finish(proc)
    assert code == EXIT_INTERRUPTED, out[-3000:]
    assert "interrupted" in out
    board = strip_id_prefixes(pd.read_csv(suite_path / "leaderboard.csv")).set_index("run_id")["status"]
    assert len(board) == 4 and all(board[s.run_id] == "ok" for s in quick)
    cut = [s for s in slow if board[s.run_id] == "interrupted"]
    assert cut and all(board[s.run_id] in ("interrupted", "pending") for s in slow)
    assert all(has_checkpoint(suite_path, s) for s in cut)  # each wrote one on the way out

    code, out = finish(start_cli(tmp_path, suite_file, address))
    assert code == 0, out[-3000:]
    assert states(out) == {**{s.run_id: "skipped" for s in quick}, **{s.run_id: "ok" for s in slow}}
    board = read_csv_ids(suite_path / "leaderboard.csv")
    assert len(board) == 4 and (board["status"] == "ok").all()
    for spec in cut:
        assert store.read_json(store.run_dir(suite_path, spec.run_id) / "result.json")["resumed_at"]
