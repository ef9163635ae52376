"""The GAN of the chapter (algorithm 13.1) with MLP generator and discriminator."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, model_validator

from genbench.models import presets, unroll
from genbench.models.base import Batches, GenerativeModel
from genbench.models.nets import discriminator_net, generator_net, init_linear, mlp_options
from genbench.models.pack import Packed
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
    # mode-collapse remedies and the papers' toy networks (models/pack.py, unroll.py, presets.py)
    preset: presets.GANPreset | None = Field(None, description=presets.description("gan"))
    pack: int = Field(1, ge=1, description="PacGAN: D judges packs of m samples (Lin et al. 2018)")
    unroll: int = Field(0, ge=0, description="Unrolled GAN: G's loss at D after k steps (Metz et al.)")
    lr_g: float | None = Field(None, gt=0, description="Adam learning rate of G (none: lr)")
    lr_d: float | None = Field(None, gt=0, description="Adam learning rate of D (none: lr)")
    d_hidden: int | None = Field(None, ge=1, description="width of D's hidden layers (none: hidden)")
    d_depth: int | None = Field(None, ge=1, description="hidden layers of D (none: depth)")
    activation: Literal["relu", "tanh"] = Field("relu", description="hidden activation of the MLPs")
    init: Literal["default", "normal", "orthogonal", "he"] = Field(
        "default", description="MLP weight init: torch's, N(0, scale²), orthogonal(gain scale), he"
    )
    init_scale: float = Field(1.0, gt=0, description="std of `normal`, gain of `orthogonal`")
    g_bias: bool = Field(True, description="biases in G's hidden linear layers")
    g_batchnorm: bool = Field(False, description="BatchNorm after G's hidden linear layers")
    d_maxout: int = Field(1, ge=1, description="maxout pieces of D's hidden layers (1: activation)")

    @model_validator(mode="before")
    @classmethod
    def _fill_preset(cls, data):
        return presets.fill(data, "gan", cls.model_fields)


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
        self.batch_size = hp.batch_size * hp.pack  # rows per step: batch_size packs of m (pack.py)
        self.generator = generator_net(
            hp.arch, hp.z_dim, hp.hidden, hp.depth, hp.width, dataset, **mlp_options(hp, "generator")
        )
        d_hidden, d_depth = hp.d_hidden or hp.hidden, hp.d_depth or hp.depth
        self.discriminator = discriminator_net(
            hp.arch, d_hidden, d_depth, hp.width, dataset, hp.pack, **mlp_options(hp, "discriminator")
        )
        if hp.arch == "mlp":
            init_linear(self, hp.init, hp.init_scale)
        if hp.pack > 1:
            self.discriminator = Packed(self.discriminator, hp.pack)
        betas = (hp.beta1, hp.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=hp.lr_g or hp.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=hp.lr_d or hp.lr, betas=betas)

    def train_step(self, next_batch: Batches, step: int) -> dict[str, float]:
        """K discriminator ascent steps, then one generator step (algorithm 13.1)."""
        if self.hp.unroll:
            return unroll.train_step(self, next_batch)
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


def seed_batch_problem(hparams: dict) -> str | None:
    """Why these hyper-parameters cannot train seeds together: rows of seeds are interleaved in one
    batch, which packs, BatchNorm statistics and maxout's reshape would mix; the unrolled copy of D
    and bias-free layers are not written for SeedLinear."""
    problems = {
        "pack > 1 concatenates rows of different seeds": hparams.get("pack", 1) > 1,
        "unroll > 0 copies D outside the batched layers": hparams.get("unroll", 0) > 0,
        "g_batchnorm mixes the seeds' batch statistics": hparams.get("g_batchnorm", False),
        "d_maxout > 1 is not a batched linear layer": hparams.get("d_maxout", 1) > 1,
        "g_bias false is not a batched linear layer": not hparams.get("g_bias", True),
    }
    found = [why for why, bad in problems.items() if bad]
    return "; ".join(found) if found else None


SEED_BATCH = frozenset({"seed_batch"})  # seeds can train together as one batched model (MLP nets only)
DIAGNOSTICS = (
    Diagnostic("grad_norm_g", "generator gradient norm ‖∇G‖", "13.42", log=True),
    Diagnostic("d_fake", "mean D(G(z))"),
    Diagnostic("d_real", "mean D(x)"),
)
UNROLL_DIAGNOSTIC = (Diagnostic("unroll_gap", "unrolled minus current D loss (unroll > 0)", "Metz et al."),)
MODELS.register(
    "gan",
    ModelEntry(
        GANHParams,
        build,
        "GAN, minimax (13.34) or non-saturating (13.33) loss",
        SEED_BATCH,
        DIAGNOSTICS + UNROLL_DIAGNOSTIC,
        seed_batch_problem,
    ),
)
MODELS.register(
    "dcgan",
    ModelEntry(
        DCGANHParams,
        build,
        "DCGAN: the GAN of 13.3.4 on convolutional nets",
        SEED_BATCH,
        DIAGNOSTICS + UNROLL_DIAGNOSTIC,
        seed_batch_problem,
    ),
)
