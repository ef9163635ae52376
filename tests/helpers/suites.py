"""Small suites the test modules share: the API's suite, data set entries, the resume suite
(`suite_dict`), the seed-group suite, the search grammar's cases and successive halving's suite."""

from __future__ import annotations

from pathlib import Path

import yaml

from genbench.builtins import load_builtins
from genbench.registry import METRICS, MODELS
from genbench.suite.config import load_suite

API_SUITE = {  # the Python API's suite (tests/unit/test_api.py, tests/e2e/test_api.py)
    "name": "api",
    "seeds": [0, 1],
    "budget": {"steps": 40},
    "eval": {"every": 20, "samples": 300},
    "datasets": [{"name": "ring8", "train_size": 2000, "test_size": 500}],
    "models": [{"name": "gan", "z_dim": 2, "hidden": 16, "batch_size": 32}, {"name": "vae", "hidden": 16}],
    "metrics": ["mode_coverage"],
}

RING = {"name": "ring8", "train_size": 2000, "test_size": 500}
DIGITS = {"name": "digits", "size": 28, "test_size": 100}  # the family checks' digits
DCGAN_DIGITS = {"name": "digits", "size": 32}  # the size DCGAN nets take
DCGAN_NETS = {"arch": "dcgan", "width": 0.125, "z_dim": 8, "batch_size": 16}


def metrics_for(models: list[dict], metrics=("mode_coverage", "elbo")) -> list[str]:
    """`metrics` without those that need an ability none of `models` has (`elbo` without a VAE):
    a suite refuses a metric that applies to none of its runs."""
    load_builtins()
    have = {a for m in models for a in MODELS.get(m["name"]).abilities}
    return [m for m in metrics if METRICS.get(m).needs in (None, *have)]


def suite_dict(models: list[dict], steps: int, seeds=(0,), every: int | None = 40, ckpt: int = 25) -> dict:
    """The resume suite: `models` on ring8 with mode coverage (and the ELBO where a model has one)."""
    return {
        "name": "resume",
        "seeds": list(seeds),
        "budget": {"steps": steps},
        "resources": {"cpus": 1, "gpus": 0},
        "eval": {"every": every, "samples": 500},
        "checkpoint": {"every": ckpt},
        "datasets": [RING],
        "models": models,
        "metrics": metrics_for(models),
    }


def write_suite(tmp_path: Path, suite: dict, name: str = "suite.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(suite))
    return path


# --- seeds trained together (tests/*/worker/test_seed_group.py) ---------------------------------

SEED_GROUP_SUITE = """\
name: vs
seeds: [0, 1, 2]
budget: {{steps: {steps}}}
eval: {{every: 50, samples: 500}}
vectorize_seeds: {vectorize}
datasets:
  - {{name: ring8, train_size: 5000}}
models:
  - {{name: gan, z_dim: 16, hidden: 32, batch_size: 64}}
  - {{name: vae, hidden: 32, batch_size: 64}}
metrics: [mode_coverage, elbo]
"""


def seed_group_specs(tmp_path, model: str, steps: int = 100, vectorize: str = "true"):
    """The runs of `model` in the seed-group suite (its seeds trained together unless `vectorize`)."""
    path = tmp_path / "vs.yaml"
    path.write_text(SEED_GROUP_SUITE.format(steps=steps, vectorize=vectorize))
    return [s for s in load_suite(path)[1] if s.model == model]


# --- the search grammar (tests/*/suite/test_search.py) ------------------------------------------

SEARCH_HEAD = """\
name: t
seeds: [0, 1]
budget: {steps: 5}
datasets: [{name: ring8}, {name: grid25}]
metrics: [mode_coverage]
"""
SEARCH_MODEL = "  - name: gan\n    search:\n      trials: 4\n      space:\n"  # the space's key is on line 11
BAD_SEARCHES = [  # (case, line, key, line number, message)
    (
        "unknown_distribution",
        "        lr: {logunifrom: [1.0e-5, 1.0e-2]}\n",
        "lr.logunifrom",
        11,
        "did you mean 'loguniform'",
    ),
    ("empty_choice", "        beta1: {choice: []}\n", "beta1.choice", 11, "non-empty"),
    ("low_above_high", "        lr: {uniform: [0.01, 0.001]}\n", "lr.uniform", 11, "low 0.01 > high 0.001"),
    (
        "unknown_key",
        "        lrr: {loguniform: [1.0e-5, 1.0e-2]}\n",
        "space.lrr",
        11,
        "no hyper-parameter 'lrr'",
    ),
    ("loguniform_at_zero", "        lr: {loguniform: [0, 0.1]}\n", "lr.loguniform", 11, "low > 0"),
    ("outside_the_schema", "        beta1: {uniform: [0.5, 1.0]}\n", "beta1.uniform", 11, "less than 1"),
    (
        "two_distributions",
        "        lr: {uniform: [0.1, 1], choice: [1]}\n",
        "space.lr",
        11,
        "one distribution",
    ),
    ("fractional_integer", "        d_steps: {uniform: [1, 5]}\n", "space.d_steps", 11, "valid integer"),
]


# --- successive halving's search (tests/*/driver/test_scheduler.py) ------------------------------

HALVING_HEAD = """\
name: sh
seeds: [0, 1]
budget: {steps: 40}
eval: {every: 10, samples: 300}
datasets: [{name: ring8, train_size: 2000}]
metrics: [mode_coverage]
"""
HALVING_MODELS = """\
models:
  - {name: gan, z_dim: 8, hidden: 16, batch_size: 64}
  - {name: wgan, z_dim: 8, hidden: 16}
"""
HALVING_SEARCH = (
    "search: {trials: 4, seed: 0, scheduler: asha, reduction: 2,"
    " space: {lr: {loguniform: [1.0e-4, 1.0e-2]}}}\n"
)
