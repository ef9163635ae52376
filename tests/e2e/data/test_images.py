"""Image runs end to end: a tiny DCGAN and VAEs on digits through the CLI on Ray; an MNIST VAE."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from genbench.suite.config import load_suite
from genbench.worker.train import train
from tests.helpers import SHARED, data_root_with, read_csv_ids, run_cli

pytestmark = pytest.mark.slow

SUITE = """\
name: digits_e2e
seeds: [0]
budget: {steps: 120}
eval: {every: 60, samples: 64}
datasets:
  - {name: digits}
models:
  - {name: dcgan, width: 0.0625, batch_size: 16}
  - {name: vae, decoder: bernoulli, latent_dim: 2, hidden: 64, depth: 1, batch_size: 64}
  - {name: vae, decoder: bernoulli, arch: conv, latent_dim: 4, width: 0.0625, batch_size: 32}
metrics: [elbo]
"""

PNG = b"\x89PNG\r\n\x1a\n"


def trajectory(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "trajectory.jsonl").read_text().splitlines()]


def test_digits_suite_writes_grids_and_manifold_figures(tmp_path):
    (tmp_path / "digits.yaml").write_text(SUITE)
    done = run_cli("run", "digits.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    suite_dir = tmp_path / "results" / "digits_e2e"
    board = read_csv_ids(suite_dir / "leaderboard.csv")
    assert list(board["status"]) == ["ok"] * 3
    for row in board.itertuples():
        run_dir = suite_dir / "runs" / row.run_id
        for step in (0, 60, 120):  # a grid at each evaluation and at the end
            assert (run_dir / f"samples_step{step:07d}.png").read_bytes()[:8] == PNG
        assert (run_dir / "samples.png").read_bytes()[:8] == PNG
        spec = json.loads((run_dir / "spec.json").read_text())
        if row.model == "vae":
            assert (run_dir / "reconstructions.png").read_bytes()[:8] == PNG
            two_d = spec["hparams"]["latent_dim"] == 2
            assert (run_dir / "manifold.png").exists() == two_d  # fig. 13.5 (b)
            assert (run_dir / "latent_means.png").exists() == two_d  # fig. 13.5 (a)
            elbos = [r["elbo"] for r in trajectory(run_dir)]
            assert elbos[-1] > elbos[0] + 20  # nats per image
    assert "samples.png" in (suite_dir / "leaderboard.md").read_text()


@pytest.mark.skipif(not (SHARED / "mnist").exists(), reason="MNIST files not found beside the project")
def test_mnist_vae_elbo_improves(tmp_path):
    """The Kingma-Welling MLP VAE on binarized MNIST: the test ELBO rises by a clear margin."""
    root = data_root_with(tmp_path, "mnist", "MNIST")
    suite = tmp_path / "mnist.yaml"
    suite.write_text(
        "name: m\nseeds: [0]\nbudget: {steps: 300}\neval: {every: 150, samples: 16}\n"
        f"datasets: [{{name: binarized_mnist, data_dir: {root}}}]\n"
        "models: [{name: vae, decoder: bernoulli, hidden: 500, depth: 1, latent_dim: 20, batch_size: 100}]\n"
        "metrics: [elbo]\n"
    )
    _, (spec,), _ = load_suite(suite)
    torch.set_num_threads(1)
    result = train(spec)
    elbos = [row["elbo"] for row in result.trajectory]
    assert result.status == "ok" and [r["step"] for r in result.trajectory] == [0, 150, 300]
    assert elbos[0] < -500  # untrained: about 784 * log 2 = 543 nats and worse
    assert elbos[-1] > elbos[0] + 200


def test_missing_data_stops_before_training(tmp_path):
    """Offline and without the files, the suite stops with exit 2, says what to put where, and
    writes no results."""
    (tmp_path / "m.yaml").write_text(
        "name: m\nseeds: [0]\nbudget: {steps: 10}\ndata_dir: data\n"
        "datasets: [{name: fashion_mnist}]\nmodels: [{name: vae, decoder: bernoulli}]\nmetrics: [elbo]\n"
    )
    done = run_cli("run", "m.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert str(tmp_path / "data" / "FashionMNIST" / "raw") in done.stderr
    assert "t10k-labels-idx1-ubyte.gz" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "results").exists()
