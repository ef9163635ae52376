"""Network builders shared by the families: MLPs for toys and flattened images, DCGAN nets."""

from __future__ import annotations

from torch import nn

from genbench.models.base import mlp
from genbench.models.dcgan import DCGANDiscriminator, DCGANGenerator


def generator_net(arch: str, z_dim: int, hidden: int, depth: int, width: float, dataset) -> nn.Module:
    """z -> a sample of `dataset`'s shape: an MLP (tanh, reshaped, for images) or a DCGAN generator."""
    if dataset.kind == "toy2d":
        _mlp_only(arch, dataset)
        return mlp(z_dim, hidden, depth, dataset.dim)
    if arch == "dcgan":
        return DCGANGenerator(z_dim, dataset.shape, width)
    return nn.Sequential(mlp(z_dim, hidden, depth, dataset.dim), nn.Tanh(), nn.Unflatten(1, dataset.shape))


def discriminator_net(
    arch: str, hidden: int, depth: int, width: float, dataset, batchnorm: bool = True
) -> nn.Module:
    """A sample -> one logit (or critic value): an MLP or a DCGAN discriminator (with BatchNorm
    unless `batchnorm` is False), no sigmoid."""
    if dataset.kind == "toy2d":
        _mlp_only(arch, dataset)
        return mlp(dataset.dim, hidden, depth, 1)
    if arch == "dcgan":
        return DCGANDiscriminator(dataset.shape, width, batchnorm=batchnorm)
    return nn.Sequential(nn.Flatten(), mlp(dataset.dim, hidden, depth, 1))


def _mlp_only(arch: str, dataset) -> None:
    if arch != "mlp":
        raise ValueError(f"arch: {arch} needs image data; {dataset.name} is a 2-D toy (use arch: mlp)")
