"""Scores of embedding sets: CMMD (Jayasumana et al. 2024), the Vendi score (Friedman & Dieng
2023) and authenticity (Alaa et al. 2022), in float64, with pairwise blocks of bounded size."""

from __future__ import annotations

import math

import torch

BLOCK_ELEMENTS = 1 << 22  # float64 entries of one pairwise block (32 MiB)


def _float64(a) -> torch.Tensor:
    """A 2-D float64 tensor (on the tensor's device) of a tensor or an array."""
    x = a.detach().double() if isinstance(a, torch.Tensor) else torch.as_tensor(a, dtype=torch.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"embeddings must be a non-empty (n, d) array, got shape {tuple(x.shape)}")
    return x


def _unit_rows(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    norms = x.norm(dim=1, keepdim=True)
    return x / torch.where(norms > 0, norms, torch.ones_like(norms))


def _blocks(n: int, m: int) -> int:
    """Rows per block so that a (rows, m) block holds at most BLOCK_ELEMENTS entries."""
    return max(1, min(n, BLOCK_ELEMENTS // max(m, 1)))


def _squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """||a_i - b_j||^2 as |a|^2 + |b|^2 - 2 a.b, clipped at 0 (rounding)."""
    d2 = (a * a).sum(1, keepdim=True) + (b * b).sum(1) - 2.0 * a @ b.T
    return d2.clamp_min_(0.0)


def _mean_rbf(x: torch.Tensor, y: torch.Tensor, gamma: float) -> float:
    """Mean of exp(-gamma ||x_i - y_j||^2) over all pairs, including i = j."""
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    rows = _blocks(len(x), len(y))
    for i in range(0, len(x), rows):
        total += torch.exp(-gamma * _squared_distances(x[i : i + rows], y)).sum()
    return float(total) / (len(x) * len(y))


def cmmd(x, y, sigma: float = 10.0, scale: float = 1000.0, normalize: bool = True) -> float:
    """CMMD (Jayasumana et al., CVPR 2024): `scale` times the squared MMD of the embedding
    sets `x` and `y` with the Gaussian RBF kernel k(a, b) = exp(-||a - b||^2 / (2 sigma^2)).
    As the paper's reference code: rows L2-normalised (`normalize`), the biased (V-statistic)
    estimator, means over all pairs with i = j included, so cmmd(x, x) = 0. float64 on the
    inputs' device, in blocks of BLOCK_ELEMENTS entries (memory O(block + (n + m) d), time
    O((n + m)^2 d)); no n x n matrix is built."""
    x, y = _float64(x), _float64(y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"embeddings differ in dimension: {x.shape[1]} and {y.shape[1]}")
    if normalize:
        x, y = _unit_rows(x), _unit_rows(y.to(x.device))
    gamma = 1.0 / (2.0 * sigma**2)
    k_xx, k_yy, k_xy = _mean_rbf(x, x, gamma), _mean_rbf(y, y, gamma), _mean_rbf(x, y, gamma)
    return scale * (k_xx + k_yy - 2.0 * k_xy)


def vendi_score(features, normalize: bool = True) -> float:
    """Vendi score (Friedman & Dieng, TMLR 2023): exp of the Shannon entropy of the eigenvalues
    of K / n, K the cosine-similarity kernel (rows L2-normalised, K = X X^T). The d x d matrix
    X^T X / n has the same nonzero eigenvalues and is used where d < n (the package's
    `score_dual`). 1 for identical points, k for k orthogonal ones."""
    x = _float64(features).cpu()
    if normalize:
        x = _unit_rows(x)
    n = len(x)
    gram = x.T @ x if x.shape[1] < n else x @ x.T
    w = torch.linalg.eigvalsh(gram / n).clamp_min(0.0)
    p = w[w > 0]
    return math.exp(float(-(p * p.log()).sum()))


def _nearest(a: torch.Tensor, b: torch.Tensor, skip_self: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(squared distance, index) of each row of `a`'s nearest row of `b`; with `skip_self` (a is
    b) a row's own entry is left out."""
    d2_all, idx_all = [], []
    rows = _blocks(len(a), len(b))
    for i in range(0, len(a), rows):
        d2 = _squared_distances(a[i : i + rows], b)
        if skip_self:
            d2[torch.arange(len(d2)), torch.arange(i, i + len(d2))] = math.inf
        d2_min, idx = d2.min(1)
        d2_all.append(d2_min)
        idx_all.append(idx)
    return torch.cat(d2_all), torch.cat(idx_all)


def authenticity(train_features, fake_features) -> float:
    """Authenticity (Alaa et al., ICML 2022): the share of generated samples farther from
    their nearest training example than that example is from its own nearest other training
    example; 1 - authenticity is the copy share (exact copies count as copies). Euclidean, float64,
    in blocks; with n training points, O(n (n + m) d) time."""
    train, fake = _float64(train_features), _float64(fake_features)
    if len(train) < 2 or train.shape[1] != fake.shape[1]:
        raise ValueError(
            f"authenticity needs >= 2 training rows of the generated rows' dimension, "
            f"got {tuple(train.shape)} and {tuple(fake.shape)}"
        )
    fake = fake.to(train.device)
    train_radius2, _ = _nearest(train, train, skip_self=True)
    fake_d2, nearest = _nearest(fake, train)
    return float((fake_d2 > train_radius2[nearest]).double().mean())
