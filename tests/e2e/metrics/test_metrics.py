"""The evaluation layer end to end on real MNIST through the CLI: every metric stored with its
protocol, eval_seconds measured, one protocol group for the VAE's and the GAN's sample metrics."""

from __future__ import annotations

import json
import os
import textwrap

import pytest

from tests.helpers import SHARED, run_cli

pytestmark = pytest.mark.slow

METRICS = [
    "fid",
    "kid",
    "precision_recall",
    "density_coverage",
    "isc",
    "elbo",
    "elbo_bpd",
    "nll",
    "mnist_modes",
    "parzen",
]


def test_mnist_eval_suite_end_to_end(tmp_path, monkeypatch):
    if not (SHARED / "mnist").exists():
        pytest.skip(f"MNIST files not found at {SHARED / 'mnist'}")
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (SHARED / "mnist").glob("*.gz"):
        (raw / f.name).symlink_to(f)
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        textwrap.dedent(f"""
        name: ev
        seeds: [0]
        budget: {{steps: 20}}
        eval: {{every: 10, samples: 500, train_samples: 200, real_samples: 2000, nll_k: 20, nll_k_train: 2,
                nll_examples: 200}}
        datasets: [{{name: mnist}}]
        models:
          - {{name: vae, decoder: bernoulli, latent_dim: 8, batch_size: 64}}
          - {{name: gan, batch_size: 64}}
        metrics: {json.dumps(METRICS)}
        """)
    )
    monkeypatch.setitem(os.environ, "GENBENCH_DATA", str(tmp_path / "data"))
    proc = run_cli(
        "run", str(suite), "--results", str(tmp_path / "res"), "--serial", cwd=tmp_path, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = [json.loads(p.read_text()) for p in (tmp_path / "res" / "ev" / "runs").glob("*/result.json")]
    assert len(results) == 2
    for result in results:
        assert result["status"] == "ok" and 0 < result["eval_seconds"] < result["wall_seconds"]
        fid = result["metric_protocols"]["fid"]
        assert fid["extractor"] == "mnist_classifier" and len(fid["weights_hash"]) == 64
        assert (fid["n_real"], fid["n_generated"], fid["split"]) == (2000, 500, "test")
        assert fid["in_training"] == {"n_generated": 200}  # the trajectory rows' protocol
        isc = result["metric_protocols"]["isc"]
        assert (isc["splits"], isc["logits"]) == (10, "10 classes") and 1 <= result["metrics"]["isc"] <= 10
        assert fid["torch_fidelity"] and fid["feature_layer"].startswith("penultimate")
        assert 0 <= result["metrics"]["coverage"] <= 1 and result["metrics"]["fid"] > 0
        assert result["metrics"]["classes"] >= 1 and "parzen" in result["metrics"]
    vae = next(r for r in results if "nll" in r["metrics"])
    nll = vae["metric_protocols"]["nll"]
    assert (nll["k"], nll["n_examples"], nll["in_training"]) == (20, 200, {"k": 2})
    assert vae["metrics"]["nll"] < -vae["metrics"]["elbo"] + 10  # -log p(x) <= -ELBO (other test subset)
    assert vae["metric_protocols"]["elbo"]["in_training"] == {"n_examples": 500}  # eval.train_examples
    assert vae["metrics"]["elbo_bpd"] is None  # NaN (stored as null): a Bernoulli decoder has no bits/dim
    board = (tmp_path / "res" / "ev" / "leaderboard.md").read_text()
    for column in (
        "fid",
        "kid",
        "precision",
        "recall",
        "density",
        "coverage",
        "isc",
        "elbo",
        "elbo_bpd",
        "nll",
        "parzen",
    ):
        assert f" {column} " in board
    assert len({r["protocol"]["split"] for r in results}) == 1  # VAE and GAN share a protocol group
    assert "### mnist (protocol " in board


def test_eval_keys_change_the_run_id_only_when_set():
    from genbench.metrics.settings import EvalSettings
    from genbench.suite.config import RunSpec

    base = {
        "suite": "s", "model": "vae", "hparams": {}, "variant": "", "dataset": "mnist", "dataset_params": {},
        "dataset_variant": "", "seed": 0, "budget": {"steps": 1}, "metrics": ["nll"], "resources": {},
    }  # fmt: skip
    plain = RunSpec(**base, eval=EvalSettings())
    assert RunSpec(**base, eval=EvalSettings(nll_k=5000)).run_id == plain.run_id  # the default
    assert RunSpec(**base, eval=EvalSettings(nll_k=50)).run_id != plain.run_id
    defaults = EvalSettings(train_samples=1000, train_examples=500)  # the in-training defaults
    assert RunSpec(**base, eval=defaults).run_id == plain.run_id
    assert RunSpec(**base, eval=EvalSettings(train_samples=200)).run_id != plain.run_id
