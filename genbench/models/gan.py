"""The GAN of the chapter (algorithm 13.1) with MLP generator and discriminator."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from genbench.models.base import Batches, GenerativeModel
from genbench.models.nets import discriminator_net, generator_net
from genbench.registry import MODELS, Diagnostic, ModelEntry


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
    arch: Literal["mlp", "dcgan"] = Field("mlp", description="networks: MLPs, or DCGAN's (images only)")
    width: float = Field(1.0, gt=0, description="channel multiplier of the DCGAN networks")


def grad_norm(module: torch.nn.Module) -> float:
    """Total L2 norm of `module`'s gradients: the generator's, whose shrinking as D(G(z)) -> 0
    under the minimax loss is the vanishing gradient of eq. 13.42."""
    norms = [p.grad.detach().pow(2).sum() for p in module.parameters() if p.grad is not None]
    return float(torch.stack(norms).sum().sqrt()) if norms else 0.0


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

    pixel_range = (-1.0, 1.0)  # tanh generators on images

    def __init__(self, hp: GANHParams, dataset) -> None:
        super().__init__()
        self.hp = hp
        self.batch_size = hp.batch_size
        self.generator = generator_net(hp.arch, hp.z_dim, hp.hidden, hp.depth, hp.width, dataset)
        self.discriminator = discriminator_net(hp.arch, hp.hidden, hp.depth, hp.width, dataset)
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
        grad_norm_g = grad_norm(self.generator)  # before the step: the gradient G receives (13.42)
        self.opt_g.step()
        return {
            "loss_d": loss_d.item(),
            "loss_g": loss_g.item(),
            "d_real": torch.sigmoid(real_logits).mean().item(),  # mean D(x)
            "d_fake": torch.sigmoid(fake_logits).mean().item(),  # mean D(G(z)); -> 0 when D wins
            "grad_norm_g": grad_norm_g,
        }

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Return G(z) for n draws z ~ N(0, I)."""
        return self.generator(self.noise(n, self.hp.z_dim, generator)).cpu()


def build(hp: GANHParams, dataset, device: str = "cpu") -> GAN:
    """Build a GAN for `dataset` on `device`."""
    return GAN(hp, dataset).to(device)


class DCGANHParams(GANHParams):
    """Defaults: DCGAN (Radford et al. 2016; section 13.3.4): Adam 2e-4, beta1 0.5, batch 128, z 100."""

    arch: Literal["mlp", "dcgan"] = Field("dcgan", description="networks: DCGAN's")
    z_dim: int = Field(100, ge=1, description="latent size (Radford et al.)")
    lr: float = Field(2e-4, gt=0, description="Adam learning rate (Radford et al.)")
    batch_size: int = Field(128, ge=1, description="minibatch size (Radford et al.)")


SEED_BATCH = frozenset({"seed_batch"})  # seeds can train together as one batched model (MLP nets only)
DIAGNOSTICS = (
    Diagnostic("grad_norm_g", "generator gradient norm ‖∇G‖", "13.42", log=True),
    Diagnostic("d_fake", "mean D(G(z))"),
    Diagnostic("d_real", "mean D(x)"),
)
MODELS.register(
    "gan",
    ModelEntry(
        GANHParams, build, "GAN, minimax (13.34) or non-saturating (13.33) loss", SEED_BATCH, DIAGNOSTICS
    ),
)
MODELS.register(
    "dcgan",
    ModelEntry(
        DCGANHParams, build, "DCGAN: the GAN of 13.3.4 on convolutional nets", SEED_BATCH, DIAGNOSTICS
    ),
)
