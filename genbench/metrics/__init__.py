"""The evaluation layer: metrics are functions of (model, dataset, evaluation context)."""

from __future__ import annotations

from functools import cached_property

import torch

from genbench.data.pixels import to_unit


class EvalContext:
    """What one evaluation shares between metrics: the sample count, an RNG, one draw of samples,
    whether it is the final evaluation, evaluation settings, a cache (e.g. features of the draw)
    and the protocol each metric records for its numbers."""

    def __init__(
        self,
        model,
        n_samples: int,
        seed: int,
        final: bool = False,
        settings=None,
        data_dir: str | None = None,
    ) -> None:
        self.model = model
        self.n_samples = n_samples
        self.generator = torch.Generator().manual_seed(seed)
        self.final = final
        self.settings = settings  # the suite's EvalSettings (None in direct calls: defaults apply)
        self.data_dir = data_dir  # the run's data root, for data a metric needs (the MNIST classifier's)
        self.cache: dict = {}
        self.protocols: dict[str, dict] = {}

    def setting(self, name: str, default):
        """An evaluation setting of the suite, or `default` when there is none."""
        value = getattr(self.settings, name, None)
        return default if value is None else value

    @cached_property
    def samples(self) -> torch.Tensor:
        """n_samples samples of the model, drawn once and shared by every sample metric (images
        in [0, 1] whatever the model's own pixel range)."""
        return to_unit(self.model.sample(self.n_samples, self.generator), self.model.pixel_range)
