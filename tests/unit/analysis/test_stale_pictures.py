"""A stored result that is not ok leaves no earlier result's samples.png in its run folder, so the
leaderboard links no picture of another training to its row (e.g. a run restarted from step 0
after an unreadable checkpoint, then interrupted)."""

from __future__ import annotations

import numpy as np
import pytest

from genbench.analysis.figures.runs import write_run_pictures
from genbench.store.result import RunResult


@pytest.mark.parametrize(
    "result",
    [RunResult.interrupted("stopped"), RunResult.failed("boom"), RunResult.diverged(steps=3)],
    ids=["interrupted", "failed", "diverged"],
)
def test_a_result_that_is_not_ok_removes_an_earlier_samples_picture(tmp_path, result):
    (tmp_path / "samples.png").write_bytes(b"an earlier result's picture")
    write_run_pictures(tmp_path, result, "gan | ring8 seed 0")
    assert not (tmp_path / "samples.png").exists()


def test_an_ok_result_writes_its_own_samples_picture(tmp_path):
    (tmp_path / "samples.png").write_bytes(b"an earlier result's picture")
    points = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    write_run_pictures(tmp_path, RunResult.ok(samples=points), "gan | ring8 seed 0", points)
    assert (tmp_path / "samples.png").read_bytes().startswith(b"\x89PNG")
