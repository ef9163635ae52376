"""Density and coverage (Naeem et al. 2020, eqs. 5-6) on feature vectors, in torch, batched."""

from __future__ import annotations

import torch

ROWS = 2048  # rows of a distance block: ROWS x n_real float64 (50,000 real: 0.8 GB)
RTOL = 1e-9  # d(a, b) and d(b, a) by matrix products differ in the last bits; `<=` allows for that


def _block_dists(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.cdist(a, b)


def knn_radii(real: torch.Tensor, k: int, rows: int = ROWS) -> torch.Tensor:
    """Distance of every real point to its k-th nearest other real point (itself excluded)."""
    out = [
        _block_dists(chunk, real).topk(k + 1, dim=1, largest=False).values[:, k] for chunk in real.split(rows)
    ]
    return torch.cat(out)


@torch.no_grad()
def density_coverage(
    real: torch.Tensor, fake: torch.Tensor, k: int = 5, rows: int = ROWS, radii: torch.Tensor | None = None
) -> dict[str, float]:
    """density = 1/(k m) sum_j sum_i 1[d(f_j, r_i) <= rad_k(r_i)]; coverage = 1/n sum_i
    1[min_j d(r_i, f_j) <= rad_k(r_i)] (Naeem et al. 2020, eqs. 5-6), with `<=` (the `prdc`
    package's `<` gives 0 for identical sets). Float64; blocks of `rows` generated points.
    Identical sets give density (k + 1) / k and coverage 1; two independent samples of one
    distribution give density about 1 and coverage about 1 - 2^-k (0.97 at k = 5). `radii`: the
    real points' k-NN radii from an earlier call (`knn_radii`), which depend on the real set only."""
    real, fake = real.double(), fake.to(real.device).double()
    radii = (knn_radii(real, k, rows) if radii is None else radii.to(real.device).double()) * (1 + RTOL)
    inside = torch.zeros((), dtype=torch.float64, device=real.device)
    nearest = torch.full((len(real),), float("inf"), dtype=torch.float64, device=real.device)
    for chunk in fake.split(rows):
        d = _block_dists(chunk, real)  # (rows, n_real)
        inside += (d <= radii).sum()
        nearest = torch.minimum(nearest, d.min(dim=0).values)
    return {
        "density": float(inside / (k * len(fake))),
        "coverage": float((nearest <= radii).double().mean()),
    }
