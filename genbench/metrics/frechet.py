"""The Fréchet distance between two Gaussians (Dowson & Landau 1982; FID: Heusel et al. 2017) in
float64 from symmetric eigendecompositions, the feature statistics it is computed from, its
extrapolation to infinitely many samples (FD_inf: Chong & Forsyth 2020) and a bootstrap
interval over the generated features."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

FD_INF_POINTS = 15  # sample sizes of the fit (Chong & Forsyth's code: 15, from N/10 to N)


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """The symmetric square root of a PSD matrix: eigh, negative eigenvalues (rounding) set to 0."""
    w, v = np.linalg.eigh((sigma + sigma.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _trace_sqrt_product(root1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((S1 S2)^(1/2)) = tr((S1^(1/2) S2 S1^(1/2))^(1/2)): the sum of the square roots of the
    (clipped) eigenvalues of a symmetric PSD matrix, real even when S1 or S2 is singular (n < d)."""
    inner = root1 @ sigma2 @ root1
    w = np.linalg.eigvalsh((inner + inner.T) / 2)
    return float(np.sqrt(np.clip(w, 0.0, None)).sum())


def _fd(mu1: np.ndarray, sigma1: np.ndarray, root1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance with S1^(1/2) given (computed once where S1 is used many times)."""
    diff = mu1 - mu2
    covmean = _trace_sqrt_product(root1, sigma2)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * covmean)


def _float64(a) -> np.ndarray:
    """A float64 numpy array of a numpy array or a (CPU or device) torch tensor."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().double().numpy()
    return np.asarray(a, dtype=np.float64)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1^(1/2) S2 S1^(1/2))^(1/2)) in float64: the squared
    Wasserstein-2 distance of N(mu1, S1) and N(mu2, S2) (Dowson & Landau 1982; FID, Heusel et al.
    2017). The matrix square root's trace comes from eigenvalues of symmetric matrices,
    not from scipy.linalg.sqrtm (complex parts and failures on near-singular covariances)."""
    mu1, mu2, sigma1, sigma2 = (_float64(a) for a in (mu1, mu2, sigma1, sigma2))
    if mu1.ndim != 1 or mu1.shape != mu2.shape:
        raise ValueError(f"means must be vectors of one length, got shapes {mu1.shape} and {mu2.shape}")
    d = len(mu1)
    if sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(f"covariances must be {d}x{d}, got {sigma1.shape} and {sigma2.shape}")
    return _fd(mu1, sigma1, _psd_sqrt(sigma1), mu2, sigma2)


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """(mean, unbiased covariance) of an (n, d) feature array in float64, as torch-fidelity's
    `fid_features_to_statistics` computes them on float64 features (np.mean, np.cov)."""
    x = _float64(features)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"features must be an (n, d) array with n >= 2, got shape {x.shape}")
    return np.mean(x, axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def _stats(real_stats) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sigma) of a pair or of a mapping with keys "mu" and "sigma" (torch-fidelity's form)."""
    if isinstance(real_stats, Mapping):
        return _float64(real_stats["mu"]), _float64(real_stats["sigma"])
    mu, sigma = real_stats
    return _float64(mu), _float64(sigma)


def _default_sizes(n: int) -> list[int]:
    """Chong & Forsyth's schedule: FD_INF_POINTS sizes evenly spaced from n / 10 to n."""
    return sorted({int(s) for s in np.linspace(max(2, n // 10), n, FD_INF_POINTS)})


def fd_infinity(
    real_stats, fake_features, sizes: Sequence[int] | None = None, draws: int = 1, seed: int = 0
) -> dict:
    """FD_inf (Chong & Forsyth, CVPR 2020, sec. 3): FD is close to linear in 1/N, FD(N) = FD_inf +
    slope / N; FD at each subset size N (mean over `draws` random subsets of the generated
    features, real statistics fixed), least-squares line against 1/N, its intercept at 1/N = 0.
    Returns {"fd_inf", "slope", "sizes", "fd"} (the last two: the fitted points)."""
    mu_r, sigma_r = _stats(real_stats)
    fake = _float64(fake_features)
    sizes = _default_sizes(len(fake)) if sizes is None else sorted({int(s) for s in sizes})
    if len(sizes) < 2 or sizes[0] < 2 or sizes[-1] > len(fake) or draws < 1:
        raise ValueError(
            f"fd_infinity needs >= 2 distinct sizes in [2, {len(fake)}] and draws >= 1, "
            f"got sizes {sizes} and draws {draws}"
        )
    rng = np.random.default_rng(seed)
    root_r = _psd_sqrt(sigma_r)
    fds = []
    for size in sizes:
        values = []
        for _ in range(draws):
            mu, sigma = feature_statistics(fake[rng.permutation(len(fake))[:size]])
            values.append(_fd(mu_r, sigma_r, root_r, mu, sigma))
        fds.append(float(np.mean(values)))
    slope, intercept = np.polyfit(1.0 / np.asarray(sizes, dtype=np.float64), fds, 1)
    return {"fd_inf": float(intercept), "slope": float(slope), "sizes": sizes, "fd": fds}


def fd_bootstrap(
    real_stats, fake_features, resamples: int = 100, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval (Efron & Tibshirani 1993, ch. 13) of FD over resamples with
    replacement of the generated features, real statistics fixed. A resample repeats points, so
    its covariance is noisier than the sample's: where FD is mostly estimation bias (d large for
    n, distributions close) the interval can lie above the point estimate."""
    if resamples < 2 or not 0.0 < level < 1.0:
        raise ValueError(f"fd_bootstrap needs resamples >= 2 and 0 < level < 1, got {resamples}, {level}")
    mu_r, sigma_r = _stats(real_stats)
    fake = _float64(fake_features)
    rng = np.random.default_rng(seed)
    root_r = _psd_sqrt(sigma_r)
    values = []
    for _ in range(resamples):
        mu, sigma = feature_statistics(fake[rng.integers(0, len(fake), len(fake))])
        values.append(_fd(mu_r, sigma_r, root_r, mu, sigma))
    lo, hi = np.quantile(values, [(1.0 - level) / 2, (1.0 + level) / 2])
    return float(lo), float(hi)


def fid_extras(real_stats, fake_features, params) -> dict[str, float]:
    """What a `fid` entry asks for beyond FID: fid_inf (`fd_infinity`) and the bootstrap interval
    (`bootstrap` resamples), with fixed seeds so that a run's numbers repeat."""
    out: dict[str, float] = {}
    if getattr(params, "fd_infinity", False):
        out["fid_inf"] = fd_infinity(real_stats, fake_features, seed=0)["fd_inf"]
    if getattr(params, "bootstrap", 0):
        out["fid_ci_lo"], out["fid_ci_hi"] = fd_bootstrap(real_stats, fake_features, params.bootstrap, seed=0)
    return out
