"""Mode coverage on mixtures of Gaussians: the protocol of VEEGAN (Srivastava et al. 2017)
and PacGAN (Lin et al. 2018)."""

from __future__ import annotations

import math

import torch

from genbench.registry import register_metric

HQ_STDS = 3.0  # a sample is high quality within 3 standard deviations of its nearest mode


def mode_coverage(samples: torch.Tensor, modes: torch.Tensor, std: float) -> dict[str, object]:
    """Return modes captured, high-quality fraction, KL(p_hq || uniform) and per-mode counts.

    A sample is high quality if it lies within 3 std of its nearest mode; a mode is captured if
    it is the nearest mode of at least one high-quality sample; empty bins add 0 to the KL.
    """
    samples = samples.double()
    modes = modes.double()
    finite = torch.isfinite(samples).all(dim=1)
    dist = torch.cdist(samples[finite], modes, compute_mode="donot_use_mm_for_euclid_dist")  # exact at 3 std
    nearest_dist, nearest = dist.min(dim=1)
    hq = nearest_dist <= HQ_STDS * std
    counts = torch.bincount(nearest[hq], minlength=len(modes))
    n_hq = int(counts.sum())
    if n_hq:
        p = counts[counts > 0].double() / n_hq
        kl = float((p * (p * len(modes)).log()).sum())
    else:
        kl = math.nan
    return {
        "modes": int((counts > 0).sum()),
        "hq_frac": n_hq / len(samples) if len(samples) else math.nan,
        "kl_modes": kl,
        "mode_dist": float(nearest_dist.mean() / std) if len(nearest_dist) else math.nan,
        "mode_counts": counts.tolist(),
    }


def _mode_coverage_metric(model, dataset, ctx) -> dict[str, object]:
    return mode_coverage(ctx.samples, dataset.modes, dataset.std)


register_metric(
    "mode_coverage",
    fn=_mode_coverage_metric,
    outputs={"modes": "max", "hq_frac": "max", "kl_modes": "min", "mode_dist": "min"},
    doc="modes captured, high-quality fraction, KL to uniform over modes (VEEGAN, PacGAN)",
    dataset_kinds={"toy2d"},
)
