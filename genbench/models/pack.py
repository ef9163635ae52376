"""PacGAN (Lin et al. 2018): the discriminator judges packs of m samples concatenated.

`Packed` takes (n*m, ...) rows, reshapes them to n packs of m consecutive rows (features, or
image channels, concatenated) and gives one logit per pack. A real pack is m data points, a fake
pack m outputs of independent z; one label per pack.

Batches, as the authors' code has it (fjxmlzn/PacGAN, synthetic_data_experiments/PacGAN/pacgan/
bricks.py `compute_losses` and streams.py): `batch_size` counts packs, so one step uses
m x batch_size real points and m x batch_size draws of z (the GAN's `batch_size` becomes
m x batch_size rows). Their generator runs once per pack slot (m calls of batch_size rows); here
it runs once on all m x batch_size rows, which differs only where the generator has BatchNorm
(its batch statistics are over m x batch_size rows instead of batch_size).
"""

from __future__ import annotations

import torch
from torch import nn


class Packed(nn.Module):
    """A discriminator on packs: (n*m, *sample) -> (n, m * first dim, *rest) -> `net` -> (n, 1)."""

    def __init__(self, net: nn.Module, m: int) -> None:
        super().__init__()
        self.net, self.m = net, m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(x) % self.m:
            raise ValueError(f"{len(x)} rows do not make packs of {self.m}")
        n, first, *rest = x.shape
        return self.net(x.reshape(n // self.m, self.m * first, *rest))  # rows i*m .. i*m+m-1: pack i
