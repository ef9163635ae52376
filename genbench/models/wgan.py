"""The Wasserstein GAN with weight clipping and RMSProp (algorithm 13.2)."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from genbench.models import presets
from genbench.models.base import Batches, GenerativeModel
from genbench.models.gan import grad_norm
from genbench.models.nets import discriminator_net, generator_net, init_linear
from genbench.registry import MODELS, Diagnostic, ModelEntry


class WGANHParams(BaseModel):
    """Defaults: Arjovsky et al. 2017 (algorithm 1); network sizes as the toy GAN's."""

    model_config = ConfigDict(extra="forbid")

    clip: float = Field(0.01, gt=0, description="weight clipping bound c (Arjovsky et al.)")
    critic_steps: int = Field(5, ge=1, description="critic steps per generator step (n_critic)")
    lr: float = Field(5e-5, gt=0, description="RMSProp learning rate (Arjovsky et al.)")
    z_dim: int = Field(256, ge=1, description="latent size (as the toy GAN)")
    hidden: int = Field(128, ge=1, description="width of hidden layers (as the toy GAN)")
    depth: int = Field(2, ge=1, description="hidden layers in generator and critic")
    batch_size: int = Field(64, ge=1, description="minibatch size (Arjovsky et al.)")
    arch: Literal["mlp", "dcgan"] = Field("mlp", description="networks: MLPs, or DCGAN's (images only)")
    width: float = Field(1.0, gt=0, description="channel multiplier of the DCGAN networks")
    preset: presets.WGANPreset | None = Field(None, description=presets.description("wgan"))
    init: Literal["default", "he"] = Field("default", description="MLP weight init: torch's, or he")

    @model_validator(mode="before")
    @classmethod
    def _fill_preset(cls, data):
        return presets.fill(data, "wgan", cls.model_fields)


class WGAN(GenerativeModel):
    """Generator MLP and a critic f without sigmoid, trained by algorithm 13.2."""

    pixel_range = (-1.0, 1.0)  # tanh generators on images

    def __init__(self, hp: WGANHParams, dataset) -> None:
        super().__init__()
        self.hp = hp
        self.batch_size = hp.batch_size
        self.generator = generator_net(hp.arch, hp.z_dim, hp.hidden, hp.depth, hp.width, dataset)
        self.critic = discriminator_net(hp.arch, hp.hidden, hp.depth, hp.width, dataset)  # no sigmoid
        if hp.arch == "mlp":
            init_linear(self, hp.init, 1.0)
        self.opt_g = torch.optim.RMSprop(self.generator.parameters(), lr=hp.lr)
        self.opt_c = torch.optim.RMSprop(self.critic.parameters(), lr=hp.lr)

    def clip_critic(self) -> None:
        """Clamp every critic weight to [-c, c] (algorithm 13.2, keeps f Lipschitz)."""
        with torch.no_grad():
            for p in self.critic.parameters():
                p.clamp_(-self.hp.clip, self.hp.clip)

    @torch.no_grad()
    def clip_fraction(self) -> float:
        """Fraction of critic weights at the bound ±c (within 1e-12 relative, in their dtype)."""
        weights = torch.cat([p.reshape(-1) for p in self.critic.parameters()])
        bound = torch.tensor(self.hp.clip, dtype=weights.dtype, device=weights.device)
        return float(((weights.abs() - bound).abs() <= 1e-12 * bound).float().mean())  # one sync

    def train_step(self, next_batch: Batches, step: int) -> dict[str, float]:
        """n_critic critic steps with clipping, then one generator step (algorithm 13.2)."""
        for _ in range(self.hp.critic_steps):
            real = next_batch()
            fake = self.generator(self.noise(len(real), self.hp.z_dim)).detach()
            w_estimate = self.critic(real).mean() - self.critic(fake).mean()  # eq. 13.55
            self.opt_c.zero_grad(set_to_none=True)
            (-w_estimate).backward()  # ascend the critic's objective
            self.opt_c.step()
            self.clip_critic()
        fake = self.generator(self.noise(self.batch_size, self.hp.z_dim))
        loss_g = -self.critic(fake).mean()  # eq. 13.56
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        grad_norm_g = grad_norm(self.generator)  # before the step
        self.opt_g.step()
        return {
            "w_estimate": w_estimate.item(),  # E f(x) - E f(G(z)) on the last critic batch (13.55)
            "loss_g": loss_g.item(),
            "grad_norm_g": grad_norm_g,
            "clip_frac": self.clip_fraction(),  # after the last clipping
        }

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Return G(z) for n draws z ~ N(0, I)."""
        return self.generator(self.noise(n, self.hp.z_dim, generator)).cpu()


def build(hp: WGANHParams, dataset, device: str = "cpu") -> WGAN:
    """Build a W-GAN for `dataset` on `device`."""
    return WGAN(hp, dataset).to(device)


MODELS.register(
    "wgan",
    ModelEntry(
        WGANHParams,
        build,
        "Wasserstein GAN, weight clipping, RMSProp (13.55)",
        frozenset({"seed_batch"}),
        (
            Diagnostic("grad_norm_g", "generator gradient norm ‖∇G‖", "13.42", log=True),
            Diagnostic("w_estimate", "critic estimate E f(x) − E f(G(z))", "13.55"),
            Diagnostic("clip_frac", "fraction of critic weights at ±c"),
        ),
    ),
)
