"""What every model family provides to the trainer, and the MLP builder the toys share."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

Batches = Callable[[], torch.Tensor]


ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


class Maxout(nn.Module):
    """A maxout layer (Goodfellow et al. 2013): `pieces` linear maps to `n_out` units, their maximum."""

    def __init__(self, n_in: int, n_out: int, pieces: int) -> None:
        super().__init__()
        self.pieces = pieces
        self.linear = nn.Linear(n_in, n_out * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).unflatten(-1, (-1, self.pieces)).amax(-1)


def mlp(
    n_in: int,
    hidden: int,
    depth: int,
    n_out: int,
    *,
    activation: str = "relu",
    bias: bool = True,
    batchnorm: bool = False,
    maxout: int = 1,
) -> nn.Sequential:
    """Return an MLP with `depth` hidden layers of width `hidden` and a linear output (with bias).

    Hidden layers are Linear(bias), [BatchNorm1d], activation; or, with `maxout` > 1, maxout
    layers of that many pieces (no separate activation). The defaults are a ReLU MLP."""
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(depth):
        if maxout > 1:
            layers.append(Maxout(width, hidden, maxout))
        else:
            layers.append(nn.Linear(width, hidden, bias=bias))
            layers += [nn.BatchNorm1d(hidden)] if batchnorm else []
            layers.append(ACTIVATIONS[activation]())
        width = hidden
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


class GenerativeModel(nn.Module):
    """Base of every family: `train_step` is the whole update of one iteration, `sample` draws.
    A family with the ability "elbo" also has `elbo(x)` (a per-example bound, in nats) and sets
    `likelihood`."""

    batch_size: int
    pixel_range: tuple[float, float] = (0.0, 1.0)  # the range images are given to this family in
    likelihood: str | None = None  # with ability "elbo": p(x|z), "bernoulli" or "gaussian" (bits/dim)

    def train_step(self, next_batch: Batches, step: int) -> dict[str, float]:
        """Run one generator (or VAE) update, with its inner critic steps; return its losses."""
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Return n samples of the model, drawing the noise from `generator` (on the CPU)."""
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        """The device the parameters live on."""
        return next(self.parameters()).device

    def noise(self, n: int, dim: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Return standard normal noise of shape (n, dim) on the model's device: training noise
        (no `generator`) from the global generator of that device, drawn there; evaluation noise
        from `generator` (a CPU one: the same draw on every machine), then moved."""
        if generator is None:
            return torch.randn(n, dim, device=self.device)
        return torch.randn(n, dim, generator=generator, device=generator.device).to(self.device)

    def is_finite(self) -> bool:
        """Whether every parameter is finite (no NaN or inf)."""
        return all(bool(torch.isfinite(p).all()) for p in self.parameters())


def optimizers(model: torch.nn.Module) -> dict[str, torch.optim.Optimizer]:
    """The optimizers a model family holds as attributes (opt_g, opt_d, opt, ...), by name."""
    return {k: v for k, v in sorted(vars(model).items()) if isinstance(v, torch.optim.Optimizer)}
