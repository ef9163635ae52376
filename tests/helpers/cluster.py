"""Loopback Ray clusters (e2e only)."""

from __future__ import annotations

import contextlib
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

# Each node is a `ray start --block` process in a session of its own (start_new_session), with its
# own --temp-dir in a short directory of its own (a Unix socket path has at most 107 bytes, too few
# for pytest's tmp paths), removed afterwards. Ray rewrites 127.0.0.1 given as --node-ip-address to
# the machine's routable address, so the nodes use 127.0.0.2: still loopback, and Ray keeps it.
# Authentication is Ray's token mode with a random token given to every process through
# RAY_AUTH_TOKEN. Teardown kills every process of the sessions it created, and only those.

NODE_IP = "127.0.0.2"
STARTED = "Ray runtime started"  # what `ray start` prints once its node is up
RAY = str(Path(sys.executable).with_name("ray"))


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


def kill_session(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
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
            kill_session(proc, signal.SIGTERM)
        for proc in reversed(procs):
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            kill_session(proc)
            proc.wait(timeout=10)
        shutil.rmtree(ray_tmp, ignore_errors=True)


def _wait_for(condition, procs: list, logs: list[Path], patience_s: float = 120) -> None:
    deadline = time.monotonic() + patience_s
    while not condition():
        assert time.monotonic() < deadline, f"the cluster did not come up in {patience_s:.0f} s"
        assert all(p.poll() is None for p in procs), "".join(log.read_text()[-2000:] for log in logs)
        time.sleep(1)
