"""A damaged checkpoint through the real CLI: the run is redone from step 0 (exit 0, status ok), the
damaged file is kept aside and named in a warning and in result.json; the next run skips it."""

from __future__ import annotations

import json

import pytest

from genbench.worker import checkpoint
from tests.helpers import RING, run_cli, suite_dict, write_suite

GAN = {"name": "gan", "z_dim": 8, "hidden": 16, "batch_size": 64}


@pytest.mark.parametrize("serial", [False, True], ids=["ray", "serial"])
def test_a_truncated_checkpoint_is_set_aside_and_the_run_redone(tmp_path, serial):
    suite = {**suite_dict([GAN], steps=60, ckpt=20), "name": "damage", "datasets": [RING]}
    write_suite(tmp_path, suite)
    args = ["run", "suite.yaml", "--results", "results", *(["--serial"] if serial else ["--workers", "1"])]
    first = run_cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    (run_dir,) = (tmp_path / "results" / "damage" / "runs").iterdir()
    before = json.loads((run_dir / "result.json").read_text())
    (run_dir / "result.json").unlink()  # the run is not done: the next `run` takes it up again
    ckpt = run_dir / checkpoint.FILENAME
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    damaged = ckpt.read_bytes()

    second = run_cli(*args, cwd=tmp_path)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    assert "Traceback" not in second.stdout + second.stderr
    (aside,) = run_dir.glob(f"{checkpoint.FILENAME}.corrupt-*")
    assert aside.read_bytes() == damaged
    assert f"warning: run {run_dir.name}" in second.stdout and str(aside) in second.stdout
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "ok" and result["steps"] == 60 and result["resumed_at"] == []
    assert result["restarted"].startswith("checkpoint unreadable: not a whole checkpoint file")
    assert result["metrics"] == before["metrics"]  # the same numbers as the first, unbroken run
    assert (run_dir / "samples.png").exists()

    third = run_cli(*args, cwd=tmp_path)  # finished now: nothing to redo, nothing moved
    assert third.returncode == 0 and "warning" not in third.stdout
    assert len(list(run_dir.glob(f"{checkpoint.FILENAME}.corrupt-*"))) == 1
