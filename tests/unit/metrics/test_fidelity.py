"""FID, KID, precision/recall and density/coverage against known truths on Gaussian features, the
Inception Score's known values, the inception extractor's weights and the uint8 contract (on real
MNIST and through the CLI: tests/e2e/metrics)."""

from __future__ import annotations

import math
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


def test_inception_weights_path_is_passed_to_torch_fidelity(tmp_path):
    weights = tmp_path / "w.pth"
    torch.save({}, weights)  # an empty state dict: loading it must fail on the missing keys
    ctx = EvalContext(None, 1, 0, settings=EvalSettings(feature_extractor_weights_path=str(weights)))
    with pytest.raises(RuntimeError, match="Missing key"):
        fidelity.extractor_of("inception", SimpleNamespace(name="digits"), ctx)


def test_uint8_contract():
    x = torch.rand(4, 1, 5, 5)
    out = extractors.to_uint8_rgb(x)
    assert out.dtype == torch.uint8 and out.shape == (4, 3, 5, 5) and torch.equal(out[:, 0], out[:, 2])
    assert math.isclose(float(out.max()), round(float(x.max()) * 255))


def _confident(labels: torch.Tensor) -> torch.Tensor:
    """Logits whose softmax puts all but e^-40 of the mass on `labels`."""
    return 40.0 * torch.nn.functional.one_hot(labels, 10).float()


def test_isc_known_values():
    """IS = exp(H(p(y)) - E H(p(y|x))) (Salimans et al. 2016): confident predictions spread evenly
    over 10 classes give 10 (less a split's sampling deficit, ~ (10 - 1) / (2 * 1000) in the
    exponent), over 4 classes 4; one class, or uncertain predictions, give 1."""
    even = fidelity.isc_from_logits(_confident(torch.arange(10_000) % 10))
    assert 9.9 < even["isc"] <= 10.0
    assert 3.98 < fidelity.isc_from_logits(_confident(torch.arange(10_000) % 4))["isc"] <= 4.0
    assert fidelity.isc_from_logits(_confident(torch.full((5000,), 3)))["isc"] == pytest.approx(1.0)
    assert fidelity.isc_from_logits(torch.zeros(5000, 10))["isc"] == pytest.approx(1.0)
