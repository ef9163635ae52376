"""The Fréchet distance against closed forms, 50-digit mpmath computations (near-singular
covariances included) and torch-fidelity; FD_inf against the population FD of Gaussian data; the
bootstrap interval against the spread of FD over independent samples."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import torch
from scipy import stats
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

from genbench.metrics import fidelity
from genbench.metrics.frechet import fd_bootstrap, fd_infinity, feature_statistics, frechet_distance


def _gaussian(n: int, mean: np.ndarray, cov: np.ndarray, seed: int) -> np.ndarray:
    return mean + np.random.default_rng(seed).normal(size=(n, len(mean))) @ np.linalg.cholesky(cov).T


def _random_cov(d: int, seed: int, ridge: float) -> np.ndarray:
    a = np.random.default_rng(seed).normal(size=(d, d))
    return a @ a.T / d + ridge * np.eye(d)


def _mp_statistics(x: np.ndarray) -> tuple[list, mpmath.matrix]:
    """Mean and unbiased covariance at the working precision (float64 inputs are exact in mpf)."""
    n, d = x.shape
    rows = [[mpmath.mpf(float(v)) for v in row] for row in x]
    mu = [mpmath.fsum(r[j] for r in rows) / n for j in range(d)]
    cov = mpmath.matrix(d, d)
    for a in range(d):
        for b in range(a, d):
            cov[a, b] = cov[b, a] = mpmath.fsum((r[a] - mu[a]) * (r[b] - mu[b]) for r in rows) / (n - 1)
    return mu, cov


def _mp_sqrt_psd(m: mpmath.matrix) -> mpmath.matrix:
    w, q = mpmath.eigsy(m)
    return q * mpmath.diag([mpmath.sqrt(max(e, 0)) for e in w]) * q.T


def _mp_fd(mu1: list, s1: mpmath.matrix, mu2: list, s2: mpmath.matrix, route: str) -> mpmath.mpf:
    """FD at the working precision; tr((S1 S2)^(1/2)) by mpmath.sqrtm of the product ("sqrtm") or
    by the symmetric eigendecompositions of S1 and S1^(1/2) S2 S1^(1/2) ("eigsy")."""
    d = len(mu1)
    if route == "sqrtm":
        root = mpmath.sqrtm(s1 * s2)
        tr_covmean = mpmath.fsum(root[i, i] for i in range(d))
    else:
        r1 = _mp_sqrt_psd(s1)
        tr_covmean = mpmath.fsum(mpmath.sqrt(max(e, 0)) for e in mpmath.eigsy(r1 * s2 * r1)[0])
    means = mpmath.fsum((mu1[i] - mu2[i]) ** 2 for i in range(d))
    return means + mpmath.fsum(s1[i, i] + s2[i, i] for i in range(d)) - 2 * tr_covmean


def test_a_set_against_itself_is_zero():
    x = _gaussian(500, np.zeros(32), _random_cov(32, 0, 0.1), 1)
    mu, sigma = feature_statistics(x)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-9
    assert abs(fidelity.fid_from_features(torch.from_numpy(x), torch.from_numpy(x))) < 1e-9


def test_commuting_covariances_give_the_sum_of_squared_root_differences():
    """Diagonal, and rotated by one orthogonal Q: FD = |m1 - m2|^2 + sum_i (sqrt a_i - sqrt b_i)^2."""
    a, b = np.array([1.0, 4.0, 0.25, 9.0]), np.array([2.0, 1.0, 0.25, 16.0])
    m1, m2 = np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 1.0, 0.0, 3.0])
    exact = float(((m1 - m2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum())  # 5 + 2.1716
    assert frechet_distance(m1, np.diag(a), m2, np.diag(b)) == pytest.approx(exact, rel=1e-12)
    q = stats.ortho_group.rvs(4, random_state=3)
    rotated = frechet_distance(q @ m1, q @ np.diag(a) @ q.T, q @ m2, q @ np.diag(b) @ q.T)
    assert rotated == pytest.approx(exact, rel=1e-12)


def test_non_commuting_2x2_matches_the_trace_of_a_2x2_square_root():
    """For 2x2 PSD M, tr(M^(1/2)) = sqrt(tr M + 2 sqrt(det M)); here M ~ S1 S2, S1 S2 != S2 S1."""
    s1, s2 = np.array([[2.0, 0.8], [0.8, 1.0]]), np.array([[1.0, -0.3], [-0.3, 3.0]])
    assert not np.allclose(s1 @ s2, s2 @ s1)
    tr_root = np.sqrt(np.trace(s1 @ s2) + 2 * np.sqrt(np.linalg.det(s1) * np.linalg.det(s2)))
    exact = 0.5**2 + np.trace(s1) + np.trace(s2) - 2 * tr_root
    assert frechet_distance([0.0, 0.5], s1, [0.0, 0.0], s2) == pytest.approx(exact, rel=1e-12)


def test_random_6x6_agrees_with_mpmath_at_50_digits():
    x, y = _gaussian(40, np.zeros(6), np.eye(6), 1), _gaussian(40, np.full(6, 0.1), 0.8 * np.eye(6), 2)
    with mpmath.workdps(50):
        mp_x, mp_y = _mp_statistics(x), _mp_statistics(y)
        by_sqrtm, by_eigsy = _mp_fd(*mp_x, *mp_y, "sqrtm"), _mp_fd(*mp_x, *mp_y, "eigsy")
        assert abs(by_sqrtm - by_eigsy) < mpmath.mpf(10) ** -40  # the two routes agree
    fd = frechet_distance(*feature_statistics(x), *feature_statistics(y))
    assert fd == pytest.approx(float(by_sqrtm), rel=1e-12)


def test_fewer_points_than_dimensions_agrees_with_mpmath():
    """5 points in 20 dimensions: both covariances have rank 4, the product 16 zero eigenvalues.
    Rounding leaves them at about eps * |S|, whose square roots (~1e-8 |S|) bound the accuracy
    of any float64 method: rel 1e-7 (scipy.linalg.sqrtm is off by 1e-8 with imaginary parts)."""
    x = np.random.default_rng(1).normal(size=(5, 20))
    y = 0.9 * np.random.default_rng(2).normal(size=(5, 20)) + 0.1
    with mpmath.workdps(50):
        exact = float(_mp_fd(*_mp_statistics(x), *_mp_statistics(y), "eigsy"))
    fd = frechet_distance(*feature_statistics(x), *feature_statistics(y))
    assert np.isfinite(fd) and fd == pytest.approx(exact, rel=1e-7)


@pytest.mark.parametrize(("n", "d"), [(2000, 64), (300, 128)])
def test_agrees_with_torch_fidelity(n, d):
    real = torch.from_numpy(_gaussian(n, np.zeros(d), _random_cov(d, 4, 0.2), 5))
    fake = torch.from_numpy(_gaussian(n, np.full(d, 0.05), _random_cov(d, 6, 0.3), 7))
    theirs = fid_statistics_to_metric(
        fid_features_to_statistics(fake), fid_features_to_statistics(real), verbose=False
    )["frechet_inception_distance"]
    mu, sigma = feature_statistics(real)
    assert np.array_equal(mu, fid_features_to_statistics(real)["mu"])
    assert np.array_equal(sigma, fid_features_to_statistics(real)["sigma"])
    assert fidelity.fid_from_features(real, fake) == pytest.approx(theirs, rel=1e-6)
    known = {"mu": mu, "sigma": sigma}
    assert fidelity.fid_from_features(real, fake, known) == fidelity.fid_from_features(real, fake)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="covariances must be 3x3"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(2))
    with pytest.raises(ValueError, match="n >= 2"):
        feature_statistics(np.zeros((1, 4)))


def test_fd_infinity_removes_the_bias_of_finite_samples():
    """Same mean, S_g = 1.2 S_r, real statistics the population's: FD(4000) in 64 dimensions is
    biased by ~0.39 (0.32..0.46 over 8 seeds); the intercept is within 0.09 of the population FD
    over those seeds (sd 0.045)."""
    d = 64
    sigma_r = _random_cov(d, 0, 0.5)
    population = frechet_distance(np.zeros(d), sigma_r, np.zeros(d), 1.2 * sigma_r)
    fake = _gaussian(4000, np.zeros(d), 1.2 * sigma_r, 10)
    out = fd_infinity((np.zeros(d), sigma_r), fake, seed=0)
    full = frechet_distance(np.zeros(d), sigma_r, *feature_statistics(fake))
    assert full - population > 0.25
    assert abs(out["fd_inf"] - population) < 0.15
    assert out["slope"] > 0 and out["sizes"][0] == 400 and out["sizes"][-1] == 4000
    assert out["fd"][-1] == pytest.approx(full, rel=1e-9)  # the largest subset is the whole set
    fit = stats.linregress(1.0 / np.array(out["sizes"]), out["fd"])
    assert out["fd_inf"] == pytest.approx(fit.intercept, rel=1e-9)
    assert out["slope"] == pytest.approx(fit.slope, rel=1e-9)
    assert fd_infinity((np.zeros(d), sigma_r), fake, seed=0) == out
    assert fd_infinity({"mu": np.zeros(d), "sigma": sigma_r}, fake, seed=1)["fd_inf"] != out["fd_inf"]


def test_bootstrap_interval_has_the_width_of_the_sampling_spread():
    """Mean shift dominates (d = 4, n = 1000): the 95% interval holds the point estimate and is
    as wide as the 2.5..97.5% range of FD over 200 independent samples (ratio 0.91..1.06 seen)."""
    mu_r, sigma_r = np.zeros(4), np.eye(4)
    mu_g, sigma_g = np.full(4, 0.5), np.diag([1.0, 2.0, 0.5, 1.5])
    spread = np.quantile(
        [
            frechet_distance(mu_r, sigma_r, *feature_statistics(_gaussian(1000, mu_g, sigma_g, 1000 + s)))
            for s in range(200)
        ],
        [0.025, 0.975],
    )
    fake = _gaussian(1000, mu_g, sigma_g, 0)
    point = frechet_distance(mu_r, sigma_r, *feature_statistics(fake))
    lo, hi = fd_bootstrap((mu_r, sigma_r), fake, resamples=300, seed=0)
    assert lo < point < hi
    assert 0.75 < (hi - lo) / (spread[1] - spread[0]) < 1.3
    assert fd_bootstrap((mu_r, sigma_r), fake, resamples=300, seed=0) == (lo, hi)
    assert fd_bootstrap((mu_r, sigma_r), fake, resamples=300, seed=1) != (lo, hi)


def test_fid_extras_are_fd_infinity_and_the_bootstrap_interval_with_fixed_seeds():
    from genbench.metrics.feature_choice import FidParams, fid_outputs
    from genbench.metrics.frechet import fd_bootstrap, fd_infinity, feature_statistics, fid_extras

    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=(400, 4)), rng.normal(0.5, 1.0, size=(300, 4))
    stats = feature_statistics(real)
    assert fid_extras(stats, fake, FidParams()) == {}
    out = fid_extras(stats, fake, FidParams(fd_infinity=True, bootstrap=20))
    assert out["fid_inf"] == fd_infinity(stats, fake, seed=0)["fd_inf"]
    assert (out["fid_ci_lo"], out["fid_ci_hi"]) == fd_bootstrap(stats, fake, 20, seed=0)
    assert fid_outputs({}) == {"fid": "min"}
    asked = fid_outputs({"features": "dinov2_vits14", "fd_infinity": True, "bootstrap": 20})
    assert set(asked) == {
        "fd_dinov2_vits14",
        "fid_inf_dinov2_vits14",
        "fid_ci_lo_dinov2_vits14",
        "fid_ci_hi_dinov2_vits14",
    }
