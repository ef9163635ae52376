"""The training loop (genbench.worker.train.train) in-process: seeding, budgets, evaluation, divergence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from genbench.driver.suite_run import toy_test_draw
from genbench.suite.config import RunSpec, load_suite
from genbench.worker.train import Trainer, train
from tests.helpers import metrics_for

GAN = {"name": "gan", "z_dim": 8, "hidden": 16, "batch_size": 64}
VAE = {"name": "vae", "hidden": 16, "batch_size": 64}
RING = {"name": "ring8", "train_size": 2000, "test_size": 500}

pytestmark = pytest.mark.usefixtures("one_thread")


def make_specs(
    tmp_path: Path,
    models: list[dict],
    budget: dict,
    every: int | None = 10,
    seeds: tuple[int, ...] = (0,),
    samples: int = 500,
    metrics: tuple[str, ...] = ("mode_coverage", "elbo"),
) -> list[RunSpec]:
    """Write a small suite file and return its runs, as the CLI would load them (without the
    metrics that need an ability none of `models` has: the suite would refuse them)."""
    suite = {
        "name": "t",
        "seeds": list(seeds),
        "budget": budget,
        "resources": {"cpus": 1, "gpus": 0},
        "eval": {"every": every, "samples": samples},
        "datasets": [RING],
        "models": models,
        "metrics": metrics_for(models, metrics),
    }
    path = tmp_path / f"suite_{len(list(tmp_path.glob('suite_*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(suite))
    _, specs, _ = load_suite(path)
    return specs


def canon(obj) -> str:
    """Exact, NaN-safe comparison key (NaN != NaN would make dict equality useless)."""
    return json.dumps(obj, sort_keys=True)


def numbers(trajectory: list[dict]) -> list[dict]:
    """Trajectory rows without their wall-clock column."""
    return [{k: v for k, v in row.items() if k != "train_seconds"} for row in trajectory]


@pytest.mark.parametrize("model", [GAN, VAE], ids=["gan", "vae"])
def test_same_spec_gives_identical_numbers(tmp_path, model):
    (spec,) = make_specs(tmp_path, [model], {"steps": 60}, every=20)
    first, second = train(spec), train(spec)
    assert first.status == second.status == "ok"
    assert first.metrics and canon(first.metrics) == canon(second.metrics)
    assert len(first.trajectory) == 4
    assert canon(numbers(first.trajectory)) == canon(numbers(second.trajectory))
    assert canon(first.last_losses) == canon(second.last_losses)
    np.testing.assert_array_equal(first.samples, second.samples)


@pytest.mark.parametrize("model", [GAN, VAE], ids=["gan", "vae"])
def test_different_seed_gives_different_numbers(tmp_path, model):
    spec0, spec1 = make_specs(tmp_path, [model], {"steps": 60}, every=None, seeds=(0, 1))
    assert (spec0.seed, spec1.seed) == (0, 1)
    r0, r1 = train(spec0), train(spec1)
    assert r0.status == r1.status == "ok"
    assert r0.metrics["mode_dist"] != r1.metrics["mode_dist"]
    assert canon(r0.last_losses) != canon(r1.last_losses)
    assert not np.array_equal(r0.samples, r1.samples)


@pytest.mark.parametrize("model", [GAN, VAE], ids=["gan", "vae"])
def test_evaluating_often_does_not_change_training(tmp_path, model):
    """Evaluation draws from its own generators, so the final numbers do not depend on `every`."""
    (often,) = make_specs(tmp_path, [model], {"steps": 60}, every=10)
    (never,) = make_specs(tmp_path, [model], {"steps": 60}, every=None)
    assert often.run_id != never.run_id
    r_often, r_never = train(often), train(never)
    assert len(r_often.trajectory) == 7 and len(r_never.trajectory) == 1
    assert canon(r_often.metrics) == canon(r_never.metrics)
    assert canon(r_often.last_losses) == canon(r_never.last_losses)
    np.testing.assert_array_equal(r_often.samples, r_never.samples)
    if model is VAE:
        assert "elbo" in r_often.metrics


@pytest.mark.parametrize(
    ("steps", "every", "rows"),
    [
        (40, 10, [0, 10, 20, 30, 40]),  # the final row is not duplicated
        (45, 10, [0, 10, 20, 30, 40, 45]),
        (25, None, [25]),  # no anytime curve: only the final evaluation
    ],
)
def test_steps_budget_is_exact_and_trajectory_rows(tmp_path, steps, every, rows):
    (spec,) = make_specs(tmp_path, [GAN], {"steps": steps}, every=every)
    result = train(spec)
    assert result.status == "ok"
    assert result.steps == steps
    assert [row["step"] for row in result.trajectory] == rows
    final = result.trajectory[-1]
    assert {k: final[k] for k in result.metrics} == result.metrics
    assert set(result.metrics) == {"modes", "hq_frac", "kl_modes", "mode_dist"}  # no elbo for a GAN
    assert result.extras["mode_counts"] == final["mode_counts"] and len(final["mode_counts"]) == 8
    seconds = [row["train_seconds"] for row in result.trajectory]
    assert seconds == sorted(seconds)


def test_seconds_budget_stops_at_first_step_after_deadline(tmp_path):
    (spec,) = make_specs(tmp_path, [GAN], {"seconds": 0.5}, every=50)
    result = train(spec)
    assert result.status == "ok"
    assert result.steps > 0
    assert result.train_seconds >= 0.5
    assert result.trajectory[-1]["step"] == result.steps
    assert result.trajectory[-1]["train_seconds"] == round(result.train_seconds, 4)
    # in-loop evaluations happen only before the deadline
    assert all(row["train_seconds"] <= 0.5 for row in result.trajectory[:-1])
    assert result.protocol["budget"] == {"seconds": 0.5}


@pytest.mark.parametrize("every", [5, None])
def test_divergence_is_a_result_not_an_exception(tmp_path, every):
    (spec,) = make_specs(tmp_path, [{**GAN, "lr": 1e12}], {"steps": 200}, every=every)
    result = train(spec)
    assert result.status == "diverged"
    assert 0 < result.steps < 200
    assert "non-finite" in result.error
    assert result.metrics == {}
    assert result.extras == {}
    assert result.samples is None


def test_ok_run_has_no_error(tmp_path):
    (spec,) = make_specs(tmp_path, [VAE], {"steps": 20}, every=None)
    result = train(spec)
    assert result.status == "ok" and result.error is None
    assert np.isfinite(result.metrics["elbo"])
    assert result.samples.shape == (500, 2)
    real = toy_test_draw(spec)  # the driver's own copy of the draw the samples are plotted against
    assert real.shape == (500, 2) and np.array_equal(real, Trainer(spec).dataset.test[:500].numpy())


def test_result_records_the_protocol(tmp_path):
    (spec,) = make_specs(tmp_path, [VAE], {"steps": 20}, every=None, seeds=(7,), samples=300)
    result = train(spec)
    protocol = result.protocol
    assert protocol["samples"] == 300
    assert protocol["dataset"] == "ring8"
    assert protocol["dataset_params"] == spec.dataset_params
    assert protocol["dataset_params"]["train_size"] == 2000
    assert protocol["torch"] == torch.__version__
    assert protocol["seed"] == 7
    assert protocol["budget"] == {"steps": 20}
    json.dumps(protocol)  # stored as JSON as it is
