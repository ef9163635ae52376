"""Checks every new family and option passes: it trains on ring8 (and digits), samples, survives a
checkpoint and resume bit for bit, and a diverging run is recorded `diverged`."""

from __future__ import annotations

from pathlib import Path

import torch

from genbench.suite.config import load_suite
from genbench.worker.train import train
from tests.test_resume import StopAfter, canon, suite_dict, write_suite

DIGITS = {"name": "digits", "size": 28, "test_size": 100}


def _spec(tmp_path: Path, model: dict, steps: int, dataset: dict | None):
    suite = suite_dict([model], steps=steps, every=10, ckpt=10)
    if dataset is not None:
        suite["datasets"], suite["metrics"] = [dataset], ["elbo"]  # skipped where it does not apply
    (spec,) = load_suite(write_suite(tmp_path, suite))[1]
    return spec


def check_resume(
    tmp_path: Path, model: dict, dataset: dict | None = None, steps: int = 24, stop_at: int = 13
):
    """Train `model` uninterrupted and stopped at `stop_at` then resumed: the same numbers."""
    torch.set_num_threads(1)
    spec = _spec(tmp_path, model, steps, dataset)
    plain = train(spec)
    assert plain.status == "ok" and plain.steps == steps, plain.error
    path = tmp_path / "checkpoint.pt"
    part = train(spec, checkpoint_path=path, stop=StopAfter(stop_at))
    assert part.status == "interrupted" and part.steps == stop_at
    rest = train(spec, checkpoint_path=path)
    assert rest.resumed_at == [stop_at]
    assert canon(rest) == canon(plain)
    if dataset is None:  # toy runs send their final samples back
        assert torch.isfinite(torch.as_tensor(plain.samples)).all()
        assert (rest.samples == plain.samples).all()
    else:
        grids = rest.pictures["grids"]
        assert sorted(grids) == sorted(plain.pictures["grids"])
        assert all((grids[k] == plain.pictures["grids"][k]).all() for k in grids)
    return plain


def check_diverges(tmp_path: Path, model: dict) -> None:
    """A run with an absurd learning rate is recorded `diverged` with a non-finite loss."""
    result = train(_spec(tmp_path, model, 200, None))
    assert result.status == "diverged" and result.steps < 200
    assert "non-finite" in result.error
