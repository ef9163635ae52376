"""The bit-for-bit resume checks every family and option passes (on ring8 and digits), and
the divergence check."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml

from genbench.suite.config import load_suite
from genbench.worker.train import train
from tests.helpers.suites import metrics_for, suite_dict, write_suite


def canon(result) -> str:
    """Exact, NaN-safe key of everything a run's numbers are (not its wall-clock times)."""
    rows = [{k: v for k, v in row.items() if k != "train_seconds"} for row in result.trajectory]
    keys = ("status", "steps", "metrics", "extras", "last_losses")
    return json.dumps({"rows": rows, **{k: getattr(result, k) for k in keys}}, sort_keys=True)


class StopAfter:
    """A stop flag that turns on after `n` checks: the trainer checks once before each step."""

    def __init__(self, n: int) -> None:
        self.n, self.checks = n, 0

    def is_set(self) -> bool:
        self.checks += 1
        return self.checks > self.n


def _family_spec(tmp_path: Path, model: dict, steps: int, dataset: dict | None):
    suite = suite_dict([model], steps=steps, every=10, ckpt=10)
    if dataset is not None:
        suite["datasets"], suite["metrics"] = [dataset], metrics_for([model], ["elbo"]) or ["parzen"]
    (spec,) = load_suite(write_suite(tmp_path, suite))[1]
    return spec


def check_resume(
    tmp_path: Path, model: dict, dataset: dict | None = None, steps: int = 24, stop_at: int = 13
):
    """Train `model` uninterrupted and stopped at `stop_at` then resumed: the same numbers (every
    new family and option passes this, on ring8 and digits)."""
    torch.set_num_threads(1)
    spec = _family_spec(tmp_path, model, steps, dataset)
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
    result = train(_family_spec(tmp_path, model, 200, None))
    assert result.status == "diverged" and result.steps < 200
    assert "non-finite" in result.error


def write_option_suite(tmp_path, model: dict, dataset: dict, steps: int, **extra) -> Path:
    """A one-run suite of `model` on `dataset` (an adversarial family's options), checkpointing often."""
    suite = {
        "name": "opts",
        "seeds": [0],
        "budget": {"steps": steps},
        "eval": {"every": 5, "samples": 200},
        "checkpoint": {"every": 4},
        "datasets": [dataset],
        "models": [model],
        "metrics": ["mode_coverage"]
        if dataset["name"] == "ring8"
        else metrics_for([model], ["elbo"]) or ["parzen"],
        **extra,
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, default_flow_style=None, sort_keys=False))
    return path


def option_spec(tmp_path, model: dict, dataset: dict, steps: int):
    (spec,) = load_suite(write_option_suite(tmp_path, model, dataset, steps))[1]
    return spec


def check_trains_samples_and_resumes(tmp_path, model: dict, dataset: dict, steps: int, stop_at: int):
    """Train `model`; a run stopped at `stop_at` and resumed from its checkpoint equals it bit for bit."""
    spec = option_spec(tmp_path, model, dataset, steps)
    plain = train(spec)
    assert plain.status == "ok", plain.error
    final = plain.samples if plain.samples is not None else plain.pictures["grids"][steps]  # toy or image
    assert torch.isfinite(torch.as_tensor(final)).all()
    path = tmp_path / "checkpoint.pt"
    assert train(spec, checkpoint_path=path, stop=StopAfter(stop_at)).status == "interrupted"
    rest = train(spec, checkpoint_path=path)
    assert rest.resumed_at == [stop_at]
    assert canon(rest) == canon(plain)
    again = rest.samples if rest.samples is not None else rest.pictures["grids"][steps]
    assert (again == final).all()
    return plain
