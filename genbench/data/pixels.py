"""The one place where pixel scaling happens: data sets hand out [0, 1]; each model family
declares its own range (`pixel_range`, e.g. (-1, 1) for tanh generators, (0, 1) for Bernoulli
decoders), and batches and samples are converted here."""

from __future__ import annotations

import torch


def is_image(x: torch.Tensor) -> bool:
    """Whether a batch is images (N, C, H, W) rather than points (N, D)."""
    return x.dim() == 4


def to_model(x: torch.Tensor, pixel_range: tuple[float, float]) -> torch.Tensor:
    """Map [0, 1] pixels to the model's range (points pass unchanged)."""
    if not is_image(x):
        return x
    lo, hi = pixel_range
    return x * (hi - lo) + lo


def to_unit(x: torch.Tensor, pixel_range: tuple[float, float]) -> torch.Tensor:
    """Map the model's pixels back to [0, 1], clamped (points pass unchanged)."""
    if not is_image(x):
        return x
    lo, hi = pixel_range
    return ((x - lo) / (hi - lo)).clamp(0.0, 1.0)
