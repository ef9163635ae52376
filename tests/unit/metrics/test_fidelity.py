"""FID, KID, precision/recall and density/coverage against known truths on Gaussian features;
the inception extractor's offline contract."""

from __future__ import annotations

import math
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy import linalg

from genbench.metrics import EvalContext, extractors, fidelity
from genbench.metrics.density import density_coverage
from genbench.metrics.settings import EvalSettings

D = 8


def _gaussian(n: int, mean: torch.Tensor, cov: torch.Tensor, seed: int) -> torch.Tensor:
    chol = torch.linalg.cholesky(cov)
    return (
        mean + torch.randn(n, D, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) @ chol.T
    )


def _covs() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(D, D, generator=gen, dtype=torch.float64)
    b = torch.randn(D, D, generator=gen, dtype=torch.float64)
    return a @ a.T / D + 0.5 * torch.eye(D, dtype=torch.float64), b @ b.T / D + 0.2 * torch.eye(
        D, dtype=torch.float64
    )


def test_fid_of_two_gaussians_matches_the_closed_form_frechet_distance():
    s1, s2 = _covs()
    m1, m2 = torch.zeros(D, dtype=torch.float64), torch.full((D,), 0.5, dtype=torch.float64)
    root = linalg.sqrtm(s1.numpy() @ s2.numpy()).real
    exact = float((m1 - m2).pow(2).sum()) + float(np.trace(s1.numpy() + s2.numpy() - 2 * root))
    fid = fidelity.fid_from_features(_gaussian(50_000, m1, s1, 1), _gaussian(50_000, m2, s2, 2))
    assert fid == pytest.approx(exact, rel=0.02)
    x = _gaussian(5000, m1, s1, 3)
    assert abs(fidelity.fid_from_features(x, x)) < 1e-6  # a set against itself


def test_kid_is_about_zero_for_one_distribution_and_positive_for_two():
    s1, s2 = _covs()
    m = torch.zeros(D, dtype=torch.float64)
    same = fidelity.kid_from_features(
        _gaussian(3000, m, s1, 1).float(), _gaussian(3000, m, s1, 2).float(), subsets=20
    )
    other = fidelity.kid_from_features(
        _gaussian(3000, m, s1, 1).float(), _gaussian(3000, m + 1, s2, 2).float()
    )
    assert abs(same["kid"]) < 3 * same["kid_std"] + 1e-3
    assert other["kid"] > 10 * other["kid_std"] > 0


def _clouds(n=3000, shift=0.0, seed=0) -> torch.Tensor:
    return torch.randn(n, D, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + shift


def test_precision_recall_extremes():
    x = _clouds().float()
    same = fidelity.prc_from_features(x, x)
    assert same["precision"] == 1.0 and same["recall"] == 1.0
    far = fidelity.prc_from_features(x, _clouds(shift=100.0, seed=1).float())
    assert far["precision"] == 0.0 and far["recall"] == 0.0


def test_precision_recall_with_cached_radii_equals_torch_fidelity():
    real, fake = _clouds(3000).float(), _clouds(1000, shift=0.5, seed=1).float()
    expected = fidelity.prc_from_features(real, fake)
    assert 0.3 < expected["precision"] < 1 and 0.3 < expected["recall"] < 1
    assert fidelity.prc_with_radii(real, fake, fidelity.prc_radii(real)) == expected


def test_density_coverage_identical_independent_and_disjoint():
    x = _clouds(4000)
    identical = density_coverage(x, x, k=5, rows=512)
    assert identical["coverage"] == 1.0  # every real point has itself at distance 0 (<=, not <)
    assert identical["density"] == pytest.approx(6 / 5)  # itself and its 5 neighbours: (k + 1) / k
    two = density_coverage(x, _clouds(4000, seed=1), k=5, rows=777)
    assert two["density"] == pytest.approx(1.0, abs=0.05)
    assert two["coverage"] == pytest.approx(1 - 2**-5, abs=0.01)  # Naeem et al. 2020, sec. 3.2
    far = density_coverage(x, _clouds(4000, shift=100.0, seed=1), k=5)
    assert far == {"density": 0.0, "coverage": 0.0}


def _suite(tmp_path, eval_line: str) -> str:
    text = f"""
        name: inc
        seeds: [0]
        budget: {{steps: 2}}
        eval: {eval_line}
        datasets: [{{name: digits}}]
        models: [{{name: vae, decoder: bernoulli}}]
        metrics: [elbo, fid]
    """
    path = tmp_path / "suite.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


@pytest.mark.slow
def test_inception_without_weights_file_stops_before_training(tmp_path, cli):
    missing = tmp_path / "nope.pth"
    suite = _suite(tmp_path, f"{{feature_extractor: inception, feature_extractor_weights_path: {missing}}}")
    proc = cli("run", suite, "--results", str(tmp_path / "res"), "--serial", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "nope.pth" in proc.stderr and "does not exist" in proc.stderr
    assert not (tmp_path / "res" / "inc" / "runs").exists()


@pytest.mark.slow
def test_inception_offline_without_any_weights_stops_with_a_message(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("GENBENCH_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    proc = cli("validate", _suite(tmp_path, "{samples: 64}"), cwd=tmp_path)
    assert proc.returncode == 2
    assert "cannot be downloaded" in proc.stderr and "feature_extractor_weights_path" in proc.stderr


def test_inception_weights_path_is_passed_to_torch_fidelity(tmp_path):
    weights = tmp_path / "w.pth"
    torch.save({}, weights)  # an empty state dict: loading it must fail on the missing keys
    ctx = EvalContext(None, 1, 0, settings=EvalSettings(feature_extractor_weights_path=str(weights)))
    with pytest.raises(RuntimeError, match="Missing key"):
        fidelity._extractor("inception", SimpleNamespace(name="digits"), ctx)


def test_uint8_contract():
    x = torch.rand(4, 1, 5, 5)
    out = extractors.to_uint8_rgb(x)
    assert out.dtype == torch.uint8 and out.shape == (4, 3, 5, 5) and torch.equal(out[:, 0], out[:, 2])
    assert math.isclose(float(out.max()), round(float(x.max()) * 255))


@pytest.mark.slow
def test_mnist_classifier_on_other_data_is_refused(tmp_path, cli):
    suite = _suite(tmp_path, "{feature_extractor: mnist_classifier}")
    proc = cli("validate", suite, cwd=tmp_path)
    assert proc.returncode == 2 and "applies to MNIST-like data sets only" in proc.stderr
