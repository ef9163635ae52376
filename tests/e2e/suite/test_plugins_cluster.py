"""Plugins on a real two-node Ray cluster on this machine (the `cluster` fixture of
tests/e2e/conftest.py): the plugin files live in the test's temporary directory, on no node's
import path; the driver ships them with the job's runtime_env and each worker imports the copy
Ray unpacked for it.

The plugin model records the `__file__` of the module that trained it and the plugin metric
reports it, so the store shows where the code each run used came from."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import PLUGIN_MODEL, read_csv_ids, write_plugins

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the cluster fixture reads /proc"),
]
SHIPPED = "/runtime_resources/py_modules_files/"  # where Ray unpacks a job's py_modules on a node


def test_workers_import_the_plugin_files_ray_shipped(cluster, tmp_path):
    address, env, _ = cluster
    path = write_plugins(tmp_path)
    path.write_text(path.read_text().replace("seeds: [0]", "seeds: [0, 1]"))
    for entry in env.get("PYTHONPATH", "").split(":"):
        assert not entry or not Path(entry).resolve().is_relative_to(tmp_path), entry
    cmd = [sys.executable, "-m", "genbench.driver.cli", "run", path.name, "--address", address]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    suite_path = tmp_path / "results" / "plug"
    board = read_csv_ids(suite_path / "leaderboard.csv")
    assert len(board) == 8 and set(board["status"]) == {"ok"}, board[["model", "status", "error"]]
    assert set(board["model"]) == {"gan", "tiny_lsgan"} and "line" in set(board["dataset"])
    assert board["spread"].notna().all() and "hp.hidden" in board
    files, pids = set(), set()
    for run_id in board.loc[board["model"] == "tiny_lsgan", "run_id"]:
        result = json.loads((suite_path / "runs" / run_id / "result.json").read_text())
        file, pid = result["extras"]["where"]
        files.add(file)
        pids.add(pid)
        assert SHIPPED in file and "gb-ray-" in file, file  # a node's copy, in the cluster's temp dir
        assert Path(file).name == "tiny_lsgan.py" and not Path(file).is_relative_to(tmp_path)
        assert Path(file).read_text() == PLUGIN_MODEL  # the user's source, as shipped
    assert files and pids  # the copies and the worker processes that trained the plugin's runs
