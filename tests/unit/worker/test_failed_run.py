"""A run whose model raises records where it failed: its step, its trajectory up to there and the
traceback (through the worker's real path, RunWorker.run, in this process)."""

from __future__ import annotations

import pytest
import torch
from pydantic import BaseModel, Field
from torch import nn

import genbench
from genbench.driver.run_worker import RunWorker
from genbench.registry import MODELS
from genbench.suite.config import load_suite


class FailingParams(BaseModel):
    fail_at: int = Field(10, ge=0)
    batch_size: int = Field(32, ge=1)


class FailsAtStep(genbench.GenerativeModel):
    """A linear generator whose `train_step` raises at step `fail_at`."""

    def __init__(self, hp: FailingParams, dataset) -> None:
        super().__init__()
        self.hp, self.batch_size = hp, hp.batch_size
        self.g = nn.Linear(2, dataset.dim)
        self.opt = torch.optim.SGD(self.g.parameters(), lr=1e-2)

    def train_step(self, next_batch, step):
        if step == self.hp.fail_at:
            raise RuntimeError(f"plugin failure at step {step}")
        x = next_batch()
        loss = ((self.g(self.noise(len(x), 2)) - x) ** 2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"loss": loss.item()}

    @torch.no_grad()
    def sample(self, n, generator):
        return self.g(self.noise(n, 2, generator)).cpu()


@pytest.fixture
def failing_family():
    genbench.register_model(
        "fails_at_step", FailingParams, lambda hp, ds, device: FailsAtStep(hp, ds).to(device)
    )
    yield "fails_at_step"
    MODELS.unregister("fails_at_step")


def spec_of(model: dict, steps: int = 30):
    suite = {
        "name": "failing",
        "seeds": [0],
        "budget": {"steps": steps},
        "eval": {"every": 5, "samples": 100},
        "datasets": [{"name": "ring8", "train_size": 256, "test_size": 128}],
        "models": [model],
        "metrics": ["mode_coverage"],
    }
    return load_suite(suite)[1][0]


def test_a_failed_run_keeps_its_step_trajectory_and_traceback(failing_family, tmp_path):
    spec = spec_of({"name": failing_family, "fail_at": 10})
    result = RunWorker(cpus=1).run(spec, str(tmp_path / "checkpoint.pt"))
    assert result.status == "failed" and result.steps == 10
    assert result.error == "RuntimeError: plugin failure at step 10 (at step 10)"
    assert [row["step"] for row in result.trajectory] == [0, 5, 10]  # evaluations up to the failure
    assert all("modes" in row for row in result.trajectory)
    assert 'raise RuntimeError(f"plugin failure at step {step}")' in result.traceback
    assert result.metrics == {} and result.last_losses["loss"] > 0


def test_a_run_failing_before_its_first_step_has_step_0(failing_family, tmp_path):
    spec = spec_of({"name": failing_family, "fail_at": 0})
    result = RunWorker(cpus=1).run(spec)
    assert (result.status, result.steps) == ("failed", 0)
    assert [row["step"] for row in result.trajectory] == [0]  # the untrained model's evaluation
