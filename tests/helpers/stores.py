"""A hand-made results store with known numbers (leaderboards, statistics, reports) and the
report's tiny suite, run in-process."""

from __future__ import annotations

import io
from pathlib import Path

import yaml
from rich.console import Console

from genbench.driver.suite_run import run_suite
from genbench.store import runs as store
from genbench.store.result import RunResult, Status
from genbench.suite.config import load_suite

# --- a hand-made results store with known numbers (leaderboards, stats, reports) -------------------

VARIANT_A, VARIANT_B = "lr=0.001", "lr=0.0001"  # the two GAN variants of the suite below
# made-up metrics per (model, variant) and seed 0, 1, 2
VALUES = {
    ("gan", VARIANT_A): {"mode_dist": [1.0, 3.0, 2.0], "modes": [8, 6, 7]},  # mean 2.0 / 7, std 1.0 / 1.0
    ("gan", VARIANT_B): {"mode_dist": [0.4, 0.6, 0.5], "modes": [5, 6, 7]},  # mean 0.5 / 6, std 0.1 / 1.0
    ("vae", ""): {"mode_dist": [4.0, 5.0, 6.0], "modes": [2, 3, 4]},  # mean 5.0 / 3, std 1.0 / 1.0
}


def leaderboard_specs(tmp_path: Path) -> list:
    """The runs of a suite `lb`: two GAN variants and a VAE, three seeds each."""
    suite = {
        "name": "lb",
        "seeds": [0, 1, 2],
        "budget": {"steps": 10},
        "eval": {"samples": 100},
        "datasets": [{"name": "ring8"}],
        "models": [{"name": "gan", "lr": [1.0e-3, 1.0e-4]}, {"name": "vae"}],
        "metrics": ["mode_coverage"],
    }
    path = tmp_path / "lb.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return load_suite(path)[1]


def leaderboard_protocol(spec, samples: int = 100) -> dict:
    return {
        "dataset": spec.dataset,
        "dataset_params": spec.dataset_params,
        "split": "test",
        "samples": samples,
        "eval_seed": "seed * 100003 + step",
        "genbench": "0.1.0",
        "torch": "2.x",
        "seed": spec.seed,
    }


def build_store(tmp_path: Path, directions: dict, skip=(), samples=None) -> tuple[Path, list]:
    """Store every run of the suite with VALUES as its metrics, except the runs in `skip`."""
    specs = leaderboard_specs(tmp_path)
    suite_path = store.suite_dir(tmp_path / "results", "lb")
    store.write_manifest(suite_path, specs, "lb.yaml", directions)
    for spec in specs:
        key = (spec.model, spec.variant, spec.seed)
        if key in skip:
            continue
        values = VALUES[(spec.model, spec.variant)]
        metrics = {name: values[name][spec.seed] for name in directions}
        protocol = leaderboard_protocol(spec, (samples or {}).get(key, 100))
        result = RunResult(Status("ok"), steps=10, train_seconds=0.5, metrics=metrics, protocol=protocol)
        store.write_run(suite_path, spec, result)
    return suite_path, specs


# --- the report's tiny suite (run in-process, serially) -----------------------------------------

REPORT_SUITE = """\
name: tiny
seeds: [0, 1, 2]
budget: {steps: 40}
eval: {every: 10, samples: 300}
datasets:
  - {name: ring8, train_size: 2000, test_size: 500}
models:
  - {name: gan, loss: minimax, z_dim: 8, hidden: 16, batch_size: 64}
  - {name: gan, loss: nonsaturating, z_dim: 8, hidden: 16, batch_size: 64}
  - {name: wgan, z_dim: 8, hidden: 16, critic_steps: 2}
  - {name: wgan, z_dim: 8, hidden: 16, lr: 1.0e+30}   # diverges at once
  - {name: vae, hidden: 16}
metrics: [mode_coverage, elbo]
"""
REPORT_VARIANTS = [
    "gan loss=minimax z_dim=8 hidden=16 batch_size=64",
    "gan loss=nonsaturating z_dim=8 hidden=16 batch_size=64",
    "wgan z_dim=8 hidden=16 critic_steps=2",
    "wgan z_dim=8 hidden=16 lr=1e+30",
    "vae hidden=16",
]


def run_report_suite(work: Path) -> Path:
    """Run the tiny suite serially in `work` (`genbench run` writes the report at its end)."""
    (work / "tiny.yaml").write_text(REPORT_SUITE)
    code = run_suite(work / "tiny.yaml", work / "results", Console(file=io.StringIO()), serial=True)
    assert code == 0
    return work / "results" / "tiny"
