"""Nothing of the user's is touched: a suite runs through the CLI, on a local Ray instance, with
HOME an empty read-only directory, and leaves it empty (root ignores the mode: the emptiness is
what the test checks)."""

from __future__ import annotations

import os
import stat

import pytest

from tests.helpers import read_csv_ids, run_cli

pytestmark = pytest.mark.slow

SUITE = """\
name: home
seeds: [0, 1]
budget: {steps: 30}
eval: {samples: 200}
datasets: [{name: ring8, train_size: 500, test_size: 200}]
models: [{name: gan, z_dim: 4, hidden: 16, batch_size: 32}]
metrics: [mode_coverage]
"""


def test_suite_runs_with_an_empty_read_only_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "s.yaml").write_text(SUITE)
    home.chmod(stat.S_IRUSR | stat.S_IXUSR)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)  # genbench's own local instance: its own token
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)  # an in-process Ray start earlier may leave it set
    try:
        proc = run_cli("run", "s.yaml", "--results", str(tmp_path / "results"), cwd=tmp_path, timeout=300)
        left = sorted(os.listdir(home))
    finally:
        home.chmod(stat.S_IRWXU)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert left == [], left
    board = read_csv_ids(tmp_path / "results" / "home" / "leaderboard.csv")
    assert list(board["status"]) == ["ok", "ok"]
