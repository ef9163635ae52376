"""The GAN of the chapter (algorithm 13.1) with MLP generator and discriminator."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from genbench.models.base import Batches, GenerativeModel, mlp
from genbench.registry import MODELS, ModelEntry


class GANHParams(BaseModel):
    """Defaults: the 2-D mixture experiments of Unrolled GAN (Metz et al. 2017, appendix A)."""

    model_config = ConfigDict(extra="forbid")

    loss: Literal["nonsaturating", "minimax"] = Field(
        "nonsaturating", description="generator loss: eq. 13.33 (nonsaturating) or 13.34"
    )
    d_steps: int = Field(1, ge=1, description="discriminator steps per generator step (K)")
    z_dim: int = Field(256, ge=1, description="latent size (Metz et al.)")
    hidden: int = Field(128, ge=1, description="width of hidden layers (Metz et al.)")
    depth: int = Field(2, ge=1, description="hidden layers in G and D (Metz et al.)")
    lr: float = Field(1e-4, gt=0, description="Adam learning rate of G and D (Metz et al.)")
    beta1: float = Field(0.5, ge=0, lt=1, description="Adam beta1 (Radford et al.)")
    beta2: float = Field(0.999, ge=0, lt=1, description="Adam beta2")
    batch_size: int = Field(512, ge=1, description="minibatch size (Metz et al.)")


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-E[log D(x)] - E[log(1 - D(G(z)))], with D = sigmoid(logit) (eq. 13.31)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor, loss: str) -> torch.Tensor:
    """The generator's loss on D's logits for G(z)."""
    if loss == "minimax":
        return -F.softplus(fake_logits).mean()  # eq. 13.34, minimise E[log(1 - D(G(z)))]
    return F.softplus(-fake_logits).mean()  # eq. 13.33, non-saturating: minimise -E[log D(G(z))]


class GAN(GenerativeModel):
    """Generator and discriminator MLPs trained by algorithm 13.1."""

    def __init__(self, hp: GANHParams, data_dim: int) -> None:
        super().__init__()
        self.hp = hp
        self.batch_size = hp.batch_size
        self.generator = mlp(hp.z_dim, hp.hidden, hp.depth, data_dim)
        self.discriminator = mlp(data_dim, hp.hidden, hp.depth, 1)
        betas = (hp.beta1, hp.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=hp.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=hp.lr, betas=betas)

    def train_step(self, next_batch: Batches, step: int) -> dict[str, float]:
        """K discriminator ascent steps, then one generator step (algorithm 13.1)."""
        for _ in range(self.hp.d_steps):
            real = next_batch()
            fake = self.generator(self.noise(len(real), self.hp.z_dim)).detach()
            real_logits, fake_logits = self.discriminator(real), self.discriminator(fake)
            loss_d = discriminator_loss(real_logits, fake_logits)
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
        fake_logits_g = self.discriminator(self.generator(self.noise(self.batch_size, self.hp.z_dim)))
        loss_g = generator_loss(fake_logits_g, self.hp.loss)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        return {
            "loss_d": loss_d.item(),
            "loss_g": loss_g.item(),
            "d_real": torch.sigmoid(real_logits).mean().item(),
            "d_fake": torch.sigmoid(fake_logits).mean().item(),
        }

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Return G(z) for n draws z ~ N(0, I)."""
        return self.generator(self.noise(n, self.hp.z_dim, generator)).cpu()


def build(hp: GANHParams, dataset, device: str = "cpu") -> GAN:
    """Build a GAN for `dataset` on `device`."""
    return GAN(hp, dataset.dim).to(device)


MODELS.register("gan", ModelEntry(GANHParams, build, "GAN, minimax (13.34) or non-saturating (13.33) loss"))
