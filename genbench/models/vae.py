"""The variational autoencoder of the chapter (eqs. 13.6-13.10, 13.16-13.28)."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from genbench.models.base import Batches, GenerativeModel, mlp
from genbench.models.dcgan import DCGANDiscriminator, DCGANGenerator
from genbench.registry import register_model


class VAEHParams(BaseModel):
    """Defaults: Kingma & Welling 2014 style MLPs, Adam (Kingma & Ba 2015) at 1e-3."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # inf and NaN are no parameters

    latent_dim: int = Field(2, ge=1, description="size of z")
    decoder: Literal["gaussian", "bernoulli"] = Field(
        "gaussian", description="p(x|z): gaussian (13.18) or bernoulli (13.16-13.17)"
    )
    fixed_std: float | None = Field(
        None, gt=0, description="fix the decoder's std (objective becomes 13.28); none = learned"
    )
    min_std: float = Field(1e-3, gt=0, description="floor added to the learned decoder std")
    mc_samples: int = Field(1, ge=1, description="M, samples of z per example (13.22)")
    hidden: int = Field(128, ge=1, description="width of hidden layers")
    depth: int = Field(2, ge=1, description="hidden layers in encoder and decoder")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate (the first, under lr_schedule: iwae)")
    lr_schedule: Literal["constant", "iwae"] = Field(
        "constant", description="constant, or Burda et al.'s: stage i, 3^(i-1) epochs at lr*10^(-(i-1)/7)"
    )
    beta1: float = Field(0.9, ge=0, lt=1, description="Adam beta1")
    beta2: float = Field(0.999, ge=0, lt=1, description="Adam beta2")
    adam_eps: float = Field(1e-8, gt=0, description="Adam epsilon")
    activation: Literal["relu", "tanh"] = Field("relu", description="hidden activation of the MLPs")
    batch_size: int = Field(512, ge=1, description="minibatch size")
    sample: Literal["draw", "mean"] = Field(
        "draw", description="samples for metrics: a draw from p(x|z) or its mean E[x|z]"
    )
    arch: Literal["mlp", "conv"] = Field("mlp", description="networks: MLPs, or convolutional (images)")
    width: float = Field(0.25, gt=0, description="channel multiplier of the convolutional networks")

    def no_effect(self) -> dict[str, str]:
        """Keys whose value changes nothing given the others, with why (a suite setting one is refused)."""
        out = {}
        if self.arch == "mlp":
            out["width"] = "width scales the channels of the convolutional networks; arch: mlp has none"
        if self.decoder == "bernoulli":
            out |= {
                k: f"{k} is the gaussian decoder's std; decoder: bernoulli has none"
                for k in ("fixed_std", "min_std")
            }
        elif self.fixed_std is not None:
            out["min_std"] = "min_std floors the learned std; fixed_std fixes it"
        return out


def gaussian_kl(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) per example, summed over dimensions (eq. 13.26)."""
    return 0.5 * (mu.pow(2) + sigma.pow(2) - 1 - 2 * sigma.log()).sum(-1)


def gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, diag(std^2)) summed over the last dimension (eq. 13.18)."""
    return (-0.5 * ((x - mean) / std).pow(2) - std.log() - 0.5 * math.log(2 * math.pi)).sum(-1)


def bernoulli_log_likelihood(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """sum_d x_d log p_d + (1 - x_d) log(1 - p_d), with p = sigmoid(logits) (eqs. 13.16-13.17)."""
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


def iwae_lr(first: float, epoch: int) -> float:
    """Burda et al.'s schedule (yburda/iwae, experiments.py): stage i = 1, 2, ... runs 3^(i-1)
    epochs at first * 10^(-(i-1)/7), rounded as theirs to one decimal of the 1e-4 unit."""
    stage, start = 1, 0
    while epoch >= start + 3 ** (stage - 1):
        start += 3 ** (stage - 1)
        stage += 1
    return first / 10 * round(10 ** (1 - (stage - 1) / 7), 1)


class VAE(GenerativeModel):
    """Inference network q(z|x) and generative network p(x|z), trained on the ELBO."""

    pixel_range = (0.0, 1.0)  # Bernoulli means and pixel intensities alike

    def __init__(self, hp: VAEHParams, dataset) -> None:
        super().__init__()
        self.hp = hp
        self.batch_size = hp.batch_size
        self.likelihood = hp.decoder
        self.shape = tuple(getattr(dataset, "shape", (dataset.dim,)))
        learn_std = hp.decoder == "gaussian" and hp.fixed_std is None
        k = 2 if learn_std else 1  # the decoder outputs a mean (or logits), and a std if learned
        if hp.arch == "conv":
            if dataset.kind != "image":
                raise ValueError("arch: conv needs image data; the 2-D toys need arch: mlp")
            self.encoder = DCGANDiscriminator(self.shape, hp.width, out_features=2 * hp.latent_dim)
            self.decoder = DCGANGenerator(
                hp.latent_dim, self.shape, hp.width, out_channels=k * self.shape[0], tanh=False
            )
        else:  # eqs. 13.8-13.10: hidden layers, then a mean and a softplus standard deviation
            encoder = mlp(dataset.dim, hp.hidden, hp.depth, 2 * hp.latent_dim, activation=hp.activation)
            self.encoder = nn.Sequential(nn.Flatten(), encoder)
            self.decoder = mlp(hp.latent_dim, hp.hidden, hp.depth, k * dataset.dim, activation=hp.activation)
        betas = (hp.beta1, hp.beta2)
        self.opt = torch.optim.Adam(self.parameters(), lr=hp.lr, betas=betas, eps=hp.adam_eps)
        self.epoch_steps = None
        if hp.lr_schedule == "iwae":
            train = getattr(dataset, "train_images", getattr(dataset, "train", None))
            if train is None:
                raise ValueError("lr_schedule: iwae counts epochs: it needs a data set with a training set")
            self.epoch_steps = max(1, len(train) // hp.batch_size)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the mean and std of q(z|x) (eqs. 13.8-13.10)."""
        mu, pre_sigma = self.encoder(x).chunk(2, dim=-1)
        return mu, F.softplus(pre_sigma) + 1e-6

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return p(x|z)'s parameters: (mean, std) for gaussian, (logits, None) for bernoulli."""
        out = self.decoder(z)
        if self.hp.decoder == "bernoulli":
            return out, None
        if self.hp.fixed_std is not None:
            return out, torch.full_like(out, self.hp.fixed_std)
        mean, pre_std = out.chunk(2, dim=1)  # features (MLP) or channels (conv)
        return mean, F.softplus(pre_std) + self.hp.min_std  # eq. 13.18, learned variance

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) per example, summed over every pixel or coordinate."""
        params, std = self.decode(z)
        x, params = x.flatten(1), params.flatten(1)
        if std is None:
            return bernoulli_log_likelihood(x, params)
        return gaussian_log_likelihood(x, params, std.flatten(1))

    def elbo(self, x: torch.Tensor, mc_samples: int | None = None) -> torch.Tensor:
        """Per-example ELBO: (1/M) sum_m log p(x|z_m) - KL(q(z|x) || p(z)) (eqs. 13.21-13.22)."""
        m = mc_samples or self.hp.mc_samples
        mu, sigma = self.encode(x)
        eps = torch.randn((m, *mu.shape), device=mu.device, dtype=mu.dtype)
        z = (mu + sigma * eps).flatten(0, 1)  # eq. 13.27, reparameterization; (M * N, latent)
        x_rep = x.expand(m, *x.shape).flatten(0, 1)
        reconstruction = self.log_likelihood(x_rep, z).view(m, len(x)).mean(0)
        return reconstruction - gaussian_kl(mu, sigma)

    def train_step(self, next_batch: Batches, step: int) -> dict[str, float]:
        """One Adam step on the negative ELBO of a minibatch."""
        if self.epoch_steps is not None:
            for group in self.opt.param_groups:
                group["lr"] = iwae_lr(self.hp.lr, step // self.epoch_steps)
        loss = -self.elbo(next_batch()).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"loss": loss.item()}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Decode z ~ N(0, I): a draw from p(x|z) (default) or its mean, per `hp.sample`."""
        params, std = self.decode(self.noise(n, self.hp.latent_dim, generator))
        params = params.cpu().reshape(n, *self.shape)
        if std is None:
            means = params.sigmoid()
            return means if self.hp.sample == "mean" else torch.bernoulli(means, generator=generator)
        if self.hp.sample == "mean":
            return params
        return params + std.cpu().reshape(n, *self.shape) * torch.randn(params.shape, generator=generator)


def build(hp: VAEHParams, dataset, device: str = "cpu") -> VAE:
    """Build a VAE for `dataset` on `device`."""
    if hp.decoder == "bernoulli" and dataset.kind == "toy2d":
        raise ValueError("decoder: bernoulli needs binary data; the 2-D toys need gaussian")
    return VAE(hp, dataset).to(device)


def seed_batch_problem(hparams: dict) -> str | None:
    """Why these VAE hyper-parameters cannot train seeds together: conv networks are not batched."""
    return "only MLP networks can (arch: conv)" if hparams.get("arch", "mlp") != "mlp" else None


register_model(
    "vae",
    hparams=VAEHParams,
    build=build,
    doc="variational autoencoder, gaussian or bernoulli decoder",
    abilities={"elbo", "seed_batch"},
    seed_batch_problem=seed_batch_problem,
)
