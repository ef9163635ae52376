"""A real two-node Ray cluster on this machine: a suite survives the loss of the worker node.

Both nodes are `ray start --block` processes, each in a session of its own (start_new_session),
with its own --temp-dir in a short directory of its own (a Unix socket path has at most 107 bytes,
too few for pytest's tmp paths), removed afterwards. Ray rewrites 127.0.0.1 given as --node-ip-address to
the machine's routable address (ray._private.services.resolve_ip_for_localhost), so the nodes use
127.0.0.2: still loopback, and Ray keeps it. Ray's servers listen on all interfaces whatever the
node address; nothing here sends traffic off the machine. Authentication is Ray's token mode with a
random token given to every process through RAY_AUTH_TOKEN (nothing read from or written to
~/.ray). Teardown kills every process of the two sessions this test created, and only those.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.e2e,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds session members in /proc"),
]

NODE_IP = "127.0.0.2"
STARTED = "Ray runtime started"  # what `ray start` prints once its node is up
RAY = str(Path(sys.executable).with_name("ray"))
N_RUNS = 6
SUITE = f"""\
name: cluster
seeds: {list(range(N_RUNS))}
budget: {{seconds: 4}}
resources: {{cpus: 1}}
eval: {{samples: 200}}
datasets: [{{name: ring8, train_size: 2000, test_size: 500}}]
models: [{{name: gan, z_dim: 8, hidden: 32, batch_size: 64}}]
metrics: [mode_coverage]
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _session_pids(sid: int) -> list[int]:
    """Every live process of session `sid` (Ray puts its workers in process groups of their own)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getsid(int(entry)) == sid:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def _kill_session(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Send `sig` to every process of the session that `proc` leads."""
    for pid in _session_pids(proc.pid):
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def _alive_nodes(address: str, env: dict) -> int:
    code = (
        f"import ray; ray.init(address={address!r}, logging_level='error', log_to_driver=False); "
        "print('ALIVE', sum(n['Alive'] for n in ray.nodes()))"
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        return 0
    words = proc.stdout.split()
    return int(words[words.index("ALIVE") + 1]) if "ALIVE" in words else 0


@contextlib.contextmanager
def loopback_cluster(logs: Path, nodes: list[list[str]]) -> Iterator[tuple[str, dict, list]]:
    """A cluster of `nodes` (each node's own `ray start` options, the head first) on 127.0.0.2;
    yields (address, env, node processes). Stops exactly the processes it started."""
    port = _free_port()
    address = f"{NODE_IP}:{port}"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32), COLUMNS="200")
    head_env = {**env, "RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "3"}
    common = ["--node-ip-address", NODE_IP, "--object-store-memory", str(80 * 2**20)]
    common += ["--disable-usage-stats", "--block"]
    ray_tmp = Path(tempfile.mkdtemp(prefix="gb-ray-"))
    head_cmd = [RAY, "start", "--head", "--port", str(port), "--include-dashboard", "false"]
    head_cmd += ["--ray-client-server-port", str(_free_port()), "--temp-dir", str(ray_tmp / "head")]
    cmds = [(head_cmd, head_env)]
    for i in range(1, len(nodes)):
        cmds.append(([RAY, "start", "--address", address, "--temp-dir", str(ray_tmp / f"n{i}")], env))
    procs, files = [], [logs / f"node{i}.log" for i in range(len(nodes))]
    try:
        for (cmd, node_env), options, log in zip(cmds, nodes, files, strict=True):
            with open(log, "w") as out:
                procs.append(
                    subprocess.Popen(
                        [*cmd, *options, *common],
                        env=node_env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        _wait_for(lambda: all(STARTED in f.read_text() for f in files), procs, files)
        _wait_for(lambda: _alive_nodes(address, env) >= len(nodes), procs, files)
        yield address, env, procs
    finally:
        for proc in reversed(procs):
            _kill_session(proc, signal.SIGTERM)
        for proc in reversed(procs):
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            _kill_session(proc)
            proc.wait(timeout=10)
        shutil.rmtree(ray_tmp, ignore_errors=True)


def _wait_for(condition, procs: list, logs: list[Path], patience_s: float = 120) -> None:
    deadline = time.monotonic() + patience_s
    while not condition():
        assert time.monotonic() < deadline, f"the cluster did not come up in {patience_s:.0f} s"
        assert all(p.poll() is None for p in procs), "".join(log.read_text()[-2000:] for log in logs)
        time.sleep(1)


@pytest.fixture
def cluster(tmp_path):
    """A head node and a worker node of one CPU each; yields (address, env, worker process)."""
    with loopback_cluster(tmp_path, [["--num-cpus", "1"], ["--num-cpus", "1"]]) as (address, env, procs):
        yield address, env, procs[1]


def test_suite_survives_losing_the_worker_node(cluster, tmp_path):
    address, env, worker_node = cluster
    (tmp_path / "cluster.yaml").write_text(SUITE)
    runs = tmp_path / "results" / "cluster" / "runs"
    cmd = [sys.executable, "-m", "genbench.driver.cli", "run", "cluster.yaml", "--address", address]
    with open(tmp_path / "cli.log", "w") as log:
        cli = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while not list(runs.glob("*/result.json")):  # one run done: the others are mid-run
                assert cli.poll() is None, (tmp_path / "cli.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "no run finished in 120 s"
                time.sleep(0.2)
            _kill_session(worker_node)
            worker_node.wait(timeout=10)
            code = cli.wait(timeout=90)
        finally:
            if cli.poll() is None:
                cli.kill()
                cli.wait()
    output = (tmp_path / "cli.log").read_text()
    assert code == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    board = pd.read_csv(tmp_path / "results" / "cluster" / "leaderboard.csv")
    assert len(board) == N_RUNS and board["run_id"].is_unique
    assert sorted(board["seed"]) == list(range(N_RUNS))
    assert set(board["status"]) <= {"ok", "failed"}, board["status"].tolist()
    # one actor per node, so the dead node held at most one run; every other run finished
    assert (board["status"] == "ok").sum() >= N_RUNS - 1, board[["status", "error"]].to_string()
    for row in board[board["status"] == "failed"].itertuples():
        result = json.loads((runs / row.run_id / "result.json").read_text())
        assert "lost" in result["error"] or "died" in result["error"], result["error"]


@pytest.fixture(scope="module")
def two_by_three(tmp_path_factory):
    """Two nodes of 3 CPUs each, the head with one (counted, not physical) GPU; yields (address, env)."""
    logs = tmp_path_factory.mktemp("two_by_three")
    nodes = [["--num-cpus", "3", "--num-gpus", "1"], ["--num-cpus", "3", "--num-gpus", "0"]]
    with loopback_cluster(logs, nodes) as (address, env, _):
        yield address, env


def test_runs_larger_than_half_a_node_all_finish(two_by_three, tmp_path):
    """6 CPUs in all fit 3 runs of 2 CPUs, but each node fits only one: the pool must be 2."""
    address, env = two_by_three
    suite = SUITE.replace("budget: {seconds: 4}", "budget: {steps: 150}").replace("{cpus: 1}", "{cpus: 2}")
    (tmp_path / "fit.yaml").write_text(suite.replace("name: cluster", "name: fit"))
    cmd = [sys.executable, "-m", "genbench.driver.cli", "run", "fit.yaml", "--address", address]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    board = pd.read_csv(tmp_path / "results" / "fit" / "leaderboard.csv")
    assert sorted(board["seed"]) == list(range(N_RUNS))
    assert (board["status"] == "ok").all(), board[["status", "error"]].to_string()


SLOTS = """
import ray
from genbench.driver import runner
from genbench.suite.config import Resources
runner.start_ray({address!r})
print("SLOTS", runner.slots(Resources(cpus=0.1, gpus=0.1), runner.cluster_nodes()))
@ray.remote(num_cpus=0.1, num_gpus=0.1)
class Tenth:
    def ready(self):
        return True
actors = [Tenth.remote() for _ in range(10)]
print("PLACED", sum(ray.get([a.ready.remote() for a in actors], timeout=120)))
"""


def test_a_tenth_of_a_gpu_gives_ten_slots(two_by_three):
    """`ray start --num-gpus 1` counts a GPU without one: at gpus 0.1 it fits 10 runs (floats say 9),
    and Ray places all ten."""
    address, env = two_by_three
    code = SLOTS.format(address=address)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240)
    words = proc.stdout.split()
    assert "PLACED" in words, (proc.stdout + proc.stderr)[-3000:]
    assert words[words.index("SLOTS") + 1] == "10"
    assert words[words.index("PLACED") + 1] == "10"
