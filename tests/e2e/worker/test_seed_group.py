"""Seeds trained together through the CLI on a local Ray instance: each seed of a group is stored
as its own run, under the run id it has without the option (tests/unit/worker/test_seed_group.py:
the batched model and the group in-process)."""

from __future__ import annotations

import json

import pytest

from tests.helpers import SEED_GROUP_SUITE as SUITE
from tests.helpers import read_csv_ids, run_cli
from tests.helpers import seed_group_specs as specs_of


@pytest.mark.slow
def test_cli_stores_each_seed_of_a_group_as_its_own_run(tmp_path):
    (tmp_path / "vs.yaml").write_text(SUITE.format(steps=100, vectorize="true"))
    proc = run_cli("run", "vs.yaml", "--results", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    board = read_csv_ids(tmp_path / "out" / "vs" / "leaderboard.csv")
    assert len(board) == 6 and set(board["status"]) == {"ok"}
    assert set(board["run_id"]) == {s.run_id for m in ("gan", "vae") for s in specs_of(tmp_path, m)}
    vae = board[board["model"] == "vae"]
    assert vae["elbo"].nunique() == 3 and (vae["elbo"] > -10).all()
    for run_id in board["run_id"]:
        result = json.loads((tmp_path / "out" / "vs" / "runs" / run_id / "result.json").read_text())
        assert result["vectorized"]["seeds"] == [0, 1, 2]
