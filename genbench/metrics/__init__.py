"""The evaluation layer: metrics are functions of (model, dataset, evaluation context)."""

from __future__ import annotations

from functools import cached_property

import torch

from genbench.data.pixels import to_unit


class EvalContext:
    """What one evaluation shares between metrics: the sample count, an RNG, and one draw."""

    def __init__(self, model, n_samples: int, seed: int) -> None:
        self.model = model
        self.n_samples = n_samples
        self.generator = torch.Generator().manual_seed(seed)

    @cached_property
    def samples(self) -> torch.Tensor:
        """n_samples samples of the model, drawn once and shared by every sample metric (images
        in [0, 1] whatever the model's own pixel range)."""
        return to_unit(self.model.sample(self.n_samples, self.generator), self.model.pixel_range)
