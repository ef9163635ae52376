"""DCGAN networks (Radford et al. 2016; the chapter's section 13.3.4), shared by GAN and W-GAN.

Generator: a fully connected layer to a 4x4xC tensor, then fractionally-strided convolutions
with BatchNorm and ReLU, tanh output. Discriminator: strided convolutions, no pooling,
LeakyReLU(0.2), BatchNorm on every layer but the first; it returns one logit (no sigmoid).
Sizes 28 (4 -> 7 -> 14 -> 28, exact), 32 and 64; `width` scales every channel count.
"""

from __future__ import annotations

import torch
from torch import nn

BASE_CHANNELS = 128  # the last hidden layer of the 64x64 generator of Radford et al.


def _stages(size: int) -> int:
    """Number of 2x upsamplings (or their 28-pixel equivalent) from 4x4 to `size`."""
    stages = {28: 3, 32: 3, 64: 4}
    if size not in stages:
        raise ValueError(f"DCGAN supports image sizes 28, 32 and 64, not {size}")
    return stages[size]


def _channels(size: int, width: float) -> list[int]:
    """Feature-map channels from the 4x4 tensor to the last hidden layer, e.g. 1024..128 for 64."""
    base = max(1, round(BASE_CHANNELS * width))
    n = _stages(size)
    return [base * 2 ** (n - 1 - i) for i in range(n)]


class DCGANGenerator(nn.Module):
    """z (N, z_dim) -> images (N, C, size, size) in [-1, 1] (or, with tanh=False, raw outputs of
    `out_channels` channels: the VAE's decoder parameters)."""

    def __init__(
        self,
        z_dim: int,
        shape: tuple[int, int, int],
        width: float = 1.0,
        out_channels: int | None = None,
        tanh: bool = True,
    ) -> None:
        super().__init__()
        channels, size = out_channels or shape[0], shape[-1]
        ch = _channels(size, width)
        self.first = ch[0]
        self.project = nn.Linear(z_dim, 4 * 4 * ch[0])
        layers: list[nn.Module] = [nn.BatchNorm2d(ch[0]), nn.ReLU(True)]
        outs = ch[1:] + [channels]
        for i, (c_in, c_out) in enumerate(zip(ch, outs, strict=True)):
            if size == 28 and i == 0:
                conv = nn.ConvTranspose2d(c_in, c_out, 4, 1, 0, bias=False)  # 4 -> 7
            else:
                conv = nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=i == len(ch) - 1)  # x2
            layers.append(conv)
            last = i == len(ch) - 1
            if last:
                layers += [nn.Tanh()] if tanh else []
            else:
                layers += [nn.BatchNorm2d(c_out), nn.ReLU(True)]
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.project(z).view(len(z), self.first, 4, 4))


class DCGANDiscriminator(nn.Module):
    """images (N, C, size, size) -> logits (N, out_features); a W-GAN critic (no sigmoid), or the
    VAE's convolutional encoder with out_features = 2 x latent; `batchnorm=False` leaves BatchNorm
    out (a critic under a gradient penalty or spectral norm: Gulrajani et al. 2017; Miyato et al. 2018)."""

    def __init__(
        self, shape: tuple[int, int, int], width: float = 1.0, out_features: int = 1, batchnorm: bool = True
    ) -> None:
        super().__init__()
        channels, size = shape[0], shape[-1]
        ch = list(reversed(_channels(size, width)))  # 128 .. 1024 for 64x64
        layers: list[nn.Module] = []
        c_in = channels
        for i, c_out in enumerate(ch):
            shrink_7_to_4 = size == 28 and i == len(ch) - 1
            conv = nn.Conv2d(c_in, c_out, 3 if shrink_7_to_4 else 4, 2, 1, bias=i == 0 or not batchnorm)
            layers.append(conv)
            if i > 0 and batchnorm:
                layers.append(nn.BatchNorm2d(c_out))  # no BatchNorm on the first layer
            layers.append(nn.LeakyReLU(0.2, True))
            c_in = c_out
        layers += [nn.Flatten(), nn.Linear(ch[-1] * 4 * 4, out_features)]
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def init_weights(module: nn.Module) -> None:
    """Radford et al.: weights N(0, 0.02), BatchNorm scales N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
