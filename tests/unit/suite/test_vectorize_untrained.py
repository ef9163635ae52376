"""`vectorize_seeds` beside families that do not train (`samples`, `generator`): the suite is
accepted, their runs are evaluated one seed at a time while the trainable families' seeds are
still grouped; a trainable family that cannot batch seeds is still refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genbench.data import toys
from genbench.driver.runner import jobs, run_serial
from genbench.suite.config import SuiteError, load_suite

SUITE = """\
name: mixed
seeds: [0, 1, 2]
budget: {budget}
vectorize_seeds: true
eval: {{samples: 100}}
datasets:
  - {{name: ring8, train_size: 2000}}
models:
  - {{name: {trained}, z_dim: 4, hidden: 16, batch_size: 32}}
  - {{name: samples, path: points.npy}}
  - {{name: generator, path: "gen.py:make", z_dim: 4}}
metrics: [mode_coverage]
"""

GENERATOR = """\
import torch


def make():
    torch.manual_seed(0)
    return torch.nn.Linear(4, 2)
"""


def write_suite(tmp_path, trained: str = "gan", budget: str = "{steps: 20}"):
    """The mixed suite in tmp_path with its files: 200 points on the ring's modes, a generator."""
    points = toys.ring_modes(8, 1.0).repeat(25, 1) + 0.001 * torch.randn(200, 2)
    np.save(tmp_path / "points.npy", points.numpy())
    (tmp_path / "gen.py").write_text(GENERATOR)
    path = tmp_path / "mixed.yaml"
    path.write_text(SUITE.format(trained=trained, budget=budget))
    return path


def test_the_mixed_suite_is_accepted_and_only_the_trainable_family_is_grouped(tmp_path):
    specs = load_suite(write_suite(tmp_path))[1]
    assert {s.model: s.vectorize_seeds for s in specs} == {"gan": 3, "samples": 0, "generator": 0}
    assert [(job[0].model, [s.seed for s in job]) for job in jobs(specs)] == [
        ("gan", [0, 1, 2]),
        ("samples", [0]),
        ("samples", [1]),
        ("samples", [2]),
        ("generator", [0]),
        ("generator", [1]),
        ("generator", [2]),
    ]
    (tmp_path / "mixed.yaml").write_text((tmp_path / "mixed.yaml").read_text().replace("true", "false"))
    plain = load_suite(tmp_path / "mixed.yaml")[1]
    assert [s.run_id for s in plain] == [s.run_id for s in specs]  # the option is in no run id


def test_without_a_trainable_family_a_seconds_budget_is_no_problem(tmp_path):
    path = write_suite(tmp_path, budget="{seconds: 5}")
    path.write_text(path.read_text().replace("  - {name: gan, z_dim: 4, hidden: 16, batch_size: 32}\n", ""))
    assert {s.vectorize_seeds for s in load_suite(path)[1]} == {0}


@pytest.mark.parametrize(
    ("trained", "budget", "message"),
    [
        ("dcgan", "{steps: 20}", "dcgan z_dim=4 hidden=16 batch_size=32 cannot train seeds together: "
         "only MLP networks can (arch: dcgan)"),
        ("veegan", "{steps: 20}", "veegan z_dim=4 hidden=16 batch_size=32 cannot train seeds together: "
         "only MLP networks can, and this family does not batch its networks over seeds"),
        ("gan", "{seconds: 5}", "needs a steps budget: seeds trained together share their seconds"),
    ],
)  # fmt: skip
def test_a_trainable_family_is_still_refused_as_before(tmp_path, trained, budget, message):
    with pytest.raises(SuiteError) as err:
        load_suite(write_suite(tmp_path, trained, budget))
    assert message in str(err.value) and "mixed.yaml:4" in str(err.value)  # the vectorize_seeds line
    assert "samples" not in str(err.value) and "generator" not in str(err.value)


def test_the_mixed_suite_runs_the_group_together_and_the_others_one_seed_at_a_time(tmp_path):
    specs = load_suite(write_suite(tmp_path))[1]
    results = {}
    run_serial(
        specs, lambda spec: None, lambda spec, result: results.__setitem__((spec.model, spec.seed), result)
    )
    assert sorted(results) == sorted((m, s) for m in ("gan", "samples", "generator") for s in (0, 1, 2))
    assert {r.status for r in results.values()} == {"ok"}
    for seed in (0, 1, 2):
        assert results[("gan", seed)].vectorized["seeds"] == [0, 1, 2] and results[("gan", seed)].steps == 20
        for made_elsewhere in ("samples", "generator"):
            result = results[(made_elsewhere, seed)]
            assert result.vectorized is None and result.steps == 0
    assert results[("samples", 0)].metrics["modes"] == 8  # 100 of the 200 points: every mode hit
