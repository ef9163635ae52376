"""Feature metrics in a named space through the CLI: a weights file with another sha256 than the
one pinned, or a missing one, stops `genbench run` with exit code 2 and one message naming the
file and key before anything trains; pinned (random) DINOv2 weights give `fd_<space>` columns in
the results, the manifest and the leaderboard, with the space in the protocol."""

from __future__ import annotations

import hashlib
import json
import textwrap

import pytest
import torch

from genbench.metrics import backbones
from tests.helpers import read_csv_ids

SPACE = "dinov2_vits14"


def _suite(tmp_path, weights, sha256: str) -> str:
    text = f"""
        name: spaces
        seeds: [0]
        budget: {{steps: 2}}
        eval: {{samples: 6, real_samples: 6}}
        datasets: [{{name: digits, size: 8}}]
        models: [{{name: vae, decoder: bernoulli}}]
        metrics:
          - {{name: fid, features: {SPACE}, weights: {weights}, sha256: "{sha256}"}}
          - elbo
    """
    path = tmp_path / "suite.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


@pytest.mark.slow
def test_a_wrong_hash_or_a_missing_file_stops_the_run_with_exit_2(tmp_path, cli):
    weights = tmp_path / "dinov2.pth"
    weights.write_bytes(b"not these weights")
    proc = cli("run", _suite(tmp_path, weights, "ab" * 32), "--results", str(tmp_path / "res"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    found = hashlib.sha256(b"not these weights").hexdigest()
    assert str(weights) in proc.stderr and found in proc.stderr and "ab" * 32 in proc.stderr
    assert "`sha256`" in proc.stderr and "metric 'fid'" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "res" / "spaces" / "runs").exists()
    missing = tmp_path / "nope.safetensors"
    proc = cli("validate", _suite(tmp_path, missing, "ab" * 32), cwd=tmp_path)
    assert proc.returncode == 2 and str(missing) in proc.stderr and "does not exist" in proc.stderr
    assert "facebookresearch/dinov2" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_pinned_weights_give_the_space_columns(tmp_path, cli):
    torch.manual_seed(0)
    net = backbones.build_dinov2(backbones.BACKBONES[SPACE], None)
    weights = tmp_path / "dinov2.pth"
    torch.save(net.state_dict(), weights)
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    res = tmp_path / "res"
    proc = cli(
        "run", _suite(tmp_path, weights, sha), "--results", str(res), "--serial", cwd=tmp_path, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (result,) = [json.loads(p.read_text()) for p in (res / "spaces" / "runs").glob("*/result.json")]
    assert (
        result["status"] == "ok"
        and result["metrics"]["fd_dinov2_vits14"] > 0
        and "fid" not in result["metrics"]
    )
    proto = result["metric_protocols"]["fid"]
    assert (proto["extractor"], proto["weights_hash"], proto["resize"]) == (SPACE, sha, "PIL bicubic 224")
    board = read_csv_ids(res / "spaces" / "leaderboard.csv")
    assert "fd_dinov2_vits14" in board.columns and "fid" not in board.columns
