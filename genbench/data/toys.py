"""Mixture-of-Gaussians toys: the ring and grid of the mode-collapse literature (PacGAN, VEEGAN)."""

from __future__ import annotations

import math

import torch
from pydantic import BaseModel, ConfigDict, Field

from genbench.registry import Modes, register_dataset


class _ToyParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # inf and NaN are no parameters

    std: float = Field(gt=0, description="standard deviation of every mode")
    train_size: int = Field(100_000, gt=0, description="fixed training draw (PacGAN, ALI)")
    test_size: int = Field(10_000, gt=0, description="held-out draw for likelihood metrics")
    data_seed: int = Field(0, ge=0, description="seed of the fixed draws, the same for all runs")


class RingParams(_ToyParams):
    """Modes equally spaced on a circle."""

    n_modes: int = Field(8, ge=2, description="number of modes")
    radius: float = Field(1.0, gt=0, description="radius of the circle")
    std: float = Field(0.01, gt=0, description="standard deviation of every mode")


class GridParams(_ToyParams):
    """Modes on a square grid centred at the origin."""

    side: int = Field(5, ge=1, description="modes per side (side**2 modes)")
    spacing: float = Field(2.0, gt=0, description="distance between neighbouring modes")
    std: float = Field(0.05, gt=0, description="standard deviation of every mode")


def ring_modes(n_modes: int, radius: float) -> torch.Tensor:
    """Return the n_modes distinct centres 2*pi*k/n for k = 0..n-1 (not linspace to 2*pi)."""
    angles = torch.arange(n_modes, dtype=torch.float64) * (2 * math.pi / n_modes)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def grid_modes(side: int, spacing: float) -> torch.Tensor:
    """Return side**2 centres on a grid, e.g. {-4,-2,0,2,4}^2 for side 5, spacing 2."""
    axis = (torch.arange(side, dtype=torch.float64) - (side - 1) / 2) * spacing
    xs, ys = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([xs.flatten(), ys.flatten()], dim=1).float()


class MixtureOfGaussians:
    """An equal-weight isotropic Gaussian mixture in 2-D, with fixed train and test draws.

    The draws are made on the CPU (the same numbers on every machine); `place` moves the training
    draw to a run's device, where `batch` indexes it with a generator of that device, so a step
    copies nothing from the host. The test draw stays on the CPU, where the metrics read it.
    """

    kind = "toy2d"
    dim = 2

    def __init__(self, name: str, modes: torch.Tensor, params: _ToyParams) -> None:
        self.name = name
        self.modes = modes
        self.std = params.std
        # separate streams, so the test draw does not depend on train_size
        self.train = self.draw(params.train_size, torch.Generator().manual_seed(2 * params.data_seed))
        self.test = self.draw(params.test_size, torch.Generator().manual_seed(2 * params.data_seed + 1))
        self.device = torch.device("cpu")  # where the training draw lives

    def place(self, device: str | torch.device) -> MixtureOfGaussians:
        """Keep the training draw on `device` (a few MB); returns self."""
        self.device = torch.device(device)
        self.train = self.train.to(self.device)
        return self

    def draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Return n fresh samples of the mixture."""
        which = torch.randint(len(self.modes), (n,), generator=generator)
        noise = torch.randn(n, 2, generator=generator) * self.std
        return self.modes[which] + noise

    def batch(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """Return a minibatch drawn with replacement from the fixed training set, on its device
        (`generator` must be a generator of that device)."""
        idx = torch.randint(len(self.train), (batch_size,), generator=generator, device=self.device)
        return self.train[idx]


def build_ring(params: RingParams) -> MixtureOfGaussians:
    """The ring: n_modes Gaussians on a circle (PacGAN: 8 modes, radius 1, std 0.01)."""
    return MixtureOfGaussians("ring", ring_modes(params.n_modes, params.radius), params)


def build_grid(params: GridParams) -> MixtureOfGaussians:
    """The grid: side**2 Gaussians (PacGAN, ALI: 25 modes on {-4,-2,0,2,4}^2, std 0.05)."""
    return MixtureOfGaussians("grid", grid_modes(params.side, params.spacing), params)


TOY_EVAL = "held-out test draw (elbo, nll, parzen); model samples vs. the fixed modes (mode_coverage)"
# collapsed: fewer than half of the modes captured at the end (mode_coverage's `modes`)
register_dataset(
    "ring8",
    params=RingParams,
    build=build_ring,
    kind="toy2d",
    doc="8 Gaussians on a circle (PacGAN)",
    modes=Modes(lambda p: p.n_modes, "modes"),
    evaluation=TOY_EVAL,
)
register_dataset(
    "grid25",
    params=GridParams,
    build=build_grid,
    kind="toy2d",
    doc="25 Gaussians on a 5x5 grid (PacGAN)",
    modes=Modes(lambda p: p.side**2, "modes"),
    evaluation=TOY_EVAL,
)
