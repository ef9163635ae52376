"""Network builders shared by the families: MLPs for toys and flattened images, DCGAN nets."""

from __future__ import annotations

from typing import Any

from torch import nn

from genbench.models.base import mlp
from genbench.models.dcgan import DCGANDiscriminator, DCGANGenerator


def generator_net(
    arch: str, z_dim: int, hidden: int, depth: int, width: float, dataset, **mlp_options: Any
) -> nn.Module:
    """z -> a sample of `dataset`'s shape: an MLP (tanh, reshaped, for images) or a DCGAN generator.
    `mlp_options` go to `base.mlp` (activation, bias, batchnorm, maxout)."""
    if dataset.kind == "toy2d":
        _mlp_only(arch, dataset)
        return mlp(z_dim, hidden, depth, dataset.dim, **mlp_options)
    if arch == "dcgan":
        return DCGANGenerator(z_dim, dataset.shape, width)
    net = mlp(z_dim, hidden, depth, dataset.dim, **mlp_options)
    return nn.Sequential(net, nn.Tanh(), nn.Unflatten(1, dataset.shape))


def discriminator_net(
    arch: str,
    hidden: int,
    depth: int,
    width: float,
    dataset,
    batchnorm: bool = True,
    pack: int = 1,
    **mlp_options: Any,
) -> nn.Module:
    """A sample -> one logit (or critic value): an MLP or a DCGAN discriminator (with BatchNorm
    unless `batchnorm` is False), no sigmoid. With `pack` m > 1 it takes m samples concatenated
    (m x the input width, or m x the channels)."""
    if dataset.kind == "toy2d":
        _mlp_only(arch, dataset)
        return mlp(dataset.dim * pack, hidden, depth, 1, **mlp_options)
    if arch == "dcgan":
        channels, *size = dataset.shape
        return DCGANDiscriminator((channels * pack, *size), width, batchnorm=batchnorm)
    return nn.Sequential(nn.Flatten(), mlp(dataset.dim * pack, hidden, depth, 1, **mlp_options))


def init_linear(module: nn.Module, init: str, scale: float) -> None:
    """Re-initialise every nn.Linear of `module` (biases 0): `normal` N(0, scale²) (PacGAN: 0.02),
    `orthogonal` with gain `scale` (Unrolled GAN notebook: 1.4), `he` uniform with bound
    sqrt(6 / fan_in) (tflib's 'he' of WGAN-GP's gan_toy.py); `default` leaves torch's init."""
    if init == "default":
        return
    for m in module.modules():
        if isinstance(m, nn.Linear):
            if init == "normal":
                nn.init.normal_(m.weight, 0.0, scale)
            elif init == "orthogonal":
                nn.init.orthogonal_(m.weight, gain=scale)
            else:
                nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def mlp_options(hp, role: str) -> dict[str, Any]:
    """The `base.mlp` options of a family's generator or discriminator from its hyper-parameters
    (families without a key get `mlp`'s default)."""
    options = {"activation": getattr(hp, "activation", "relu")}
    if role == "generator":
        options |= {"bias": getattr(hp, "g_bias", True), "batchnorm": getattr(hp, "g_batchnorm", False)}
    else:
        options["maxout"] = getattr(hp, "d_maxout", 1)
    return options


def _mlp_only(arch: str, dataset) -> None:
    if arch != "mlp":
        raise ValueError(f"arch: {arch} needs image data; {dataset.name} is a 2-D toy (use arch: mlp)")
