"""A real two-node Ray cluster on this machine: a suite survives the loss of the worker node; runs
larger than half a node all finish; a tenth of a GPU gives ten slots.

The clusters (tests/helpers/cluster.py `loopback_cluster`, the `cluster` fixture in tests/e2e/conftest.py):
both nodes are `ray start --block` processes, each in a session of its own (start_new_session),
with its own --temp-dir in a short directory of its own (a Unix socket path has at most 107 bytes,
too few for pytest's tmp paths), removed afterwards. Ray rewrites 127.0.0.1 given as --node-ip-address to
the machine's routable address (ray._private.services.resolve_ip_for_localhost), so the nodes use
127.0.0.2: still loopback, and Ray keeps it. Ray's servers listen on all interfaces whatever the
node address; nothing here sends traffic off the machine. Authentication is Ray's token mode with a
random token given to every process through RAY_AUTH_TOKEN (nothing read from or written to
~/.ray). Teardown kills every process of the sessions the fixture created, and only those.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.helpers import kill_session, loopback_cluster, read_csv_ids

pytestmark = [
    pytest.mark.slow,
    pytest.mark.e2e,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds session members in /proc"),
]

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
            kill_session(worker_node)
            worker_node.wait(timeout=10)
            code = cli.wait(timeout=90)
        finally:
            if cli.poll() is None:
                cli.kill()
                cli.wait()
    output = (tmp_path / "cli.log").read_text()
    assert code == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    board = read_csv_ids(tmp_path / "results" / "cluster" / "leaderboard.csv")
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
    board = read_csv_ids(tmp_path / "results" / "fit" / "leaderboard.csv")
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
