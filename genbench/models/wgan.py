"""The Wasserstein GAN (algorithm 13.2): weight clipping and RMSProp, or a gradient penalty and Adam."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from genbench.models import presets
from genbench.models.base import Batches, GenerativeModel
from genbench.models.gan import Pair, adam, optimizer_pair, unused_shorthands, unused_width
from genbench.models.losses import add_spectral_norm, grad_norm, gradient_penalty, largest_spectral_sigma
from genbench.models.nets import discriminator_net, generator_net, init_linear
from genbench.registry import Diagnostic, register_model

LR = {"clip": 5e-5, "gp": 1e-4}  # Arjovsky et al. 2017 (RMSProp); Gulrajani et al. 2017 (Adam)
GP_BETAS = (0.5, 0.9)  # Gulrajani et al. 2017, algorithm 1


class WGANHParams(BaseModel):
    """Defaults: Arjovsky et al. 2017 (algorithm 1) under lipschitz: clip; Gulrajani et al. 2017
    (algorithm 1: Adam 1e-4, betas (0.5, 0.9), 5 critic steps, λ 10) under lipschitz: gp;
    network sizes as the toy GAN's."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # inf and NaN are no parameters

    lipschitz: Literal["clip", "gp"] = Field(
        "clip", description="weight clipping (Arjovsky et al.) or gradient penalty (Gulrajani et al.)"
    )
    clip: float = Field(0.01, gt=0, description="weight clipping bound c (Arjovsky et al.)")
    gp_lambda: float = Field(
        10.0, ge=0, description="gradient penalty λ: 10 on images (Gulrajani et al.); 0.1 in their gan_toy.py"
    )
    critic_steps: int = Field(5, ge=1, description="critic steps per generator step (n_critic)")
    lr: float | None = Field(
        None,
        gt=0,
        description="None: 5e-5 under clip (RMSProp, Arjovsky et al.); 1e-4 under gp (Adam, Gulrajani)",
    )
    beta1: float | None = Field(
        None, ge=0, lt=1, description="Adam beta1 under gp; None: 0.5 (Gulrajani et al.)"
    )
    beta2: float | None = Field(
        None, ge=0, lt=1, description="Adam beta2 under gp; None: 0.9 (Gulrajani et al.)"
    )
    lr_g: float | None = Field(None, gt=0, description="generator's learning rate; None: lr")
    lr_d: float | None = Field(None, gt=0, description="critic's learning rate; None: lr")
    betas_g: Pair | None = Field(
        None, description="generator's Adam betas [[b1, b2]] under gp; None: (beta1, beta2)"
    )
    betas_d: Pair | None = Field(
        None, description="critic's Adam betas [[b1, b2]] under gp; None: (beta1, beta2)"
    )
    spectral_norm: bool = Field(False, description="spectral norm on every critic layer (Miyato et al. 2018)")
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

    _pairs = field_validator("betas_g", "betas_d", mode="before")(optimizer_pair)

    @model_validator(mode="after")
    def _defaults_of_lipschitz(self) -> WGANHParams:
        if self.lr is None:
            self.lr = LR[self.lipschitz]
        betas = ("beta1", "beta2", "betas_g", "betas_d")
        if self.lipschitz == "clip":
            given = [k for k in betas if getattr(self, k) is not None]
            if given:
                raise ValueError(
                    f"{', '.join(given)}: RMSProp (lipschitz: clip) has no betas; use lipschitz: gp"
                )
        else:
            self.beta1 = GP_BETAS[0] if self.beta1 is None else self.beta1
            self.beta2 = GP_BETAS[1] if self.beta2 is None else self.beta2
        return self

    def no_effect(self) -> dict[str, str]:
        """Keys whose value changes nothing given the others, with why (a suite setting one is refused)."""
        out = unused_width(self) | unused_shorthands(self)
        if self.lipschitz == "gp":
            out["clip"] = "clip bounds the weights under lipschitz: clip; the gradient penalty replaces it"
        else:
            out["gp_lambda"] = (
                "gp_lambda weighs the gradient penalty of lipschitz: gp, not clip (the default)"
            )
        return out


class WGAN(GenerativeModel):
    """Generator MLP and a critic f without sigmoid, trained by algorithm 13.2."""

    pixel_range = (-1.0, 1.0)  # tanh generators on images

    def __init__(self, hp: WGANHParams, dataset) -> None:
        super().__init__()
        self.hp = hp
        self.batch_size = hp.batch_size
        self.generator = generator_net(hp.arch, hp.z_dim, hp.hidden, hp.depth, hp.width, dataset)
        # no sigmoid; no BatchNorm under gp or SN (Gulrajani et al. 2017, sec. 4; Miyato et al. 2018)
        batchnorm = not (hp.spectral_norm or hp.lipschitz == "gp")
        self.critic = discriminator_net(hp.arch, hp.hidden, hp.depth, hp.width, dataset, batchnorm)
        if hp.arch == "mlp":
            init_linear(self, hp.init, 1.0)
        if hp.spectral_norm:
            add_spectral_norm(self.critic)
        if hp.lipschitz == "gp":
            self.opt_g = adam(self.generator.parameters(), hp.lr_g, hp.betas_g, hp)
            self.opt_c = adam(self.critic.parameters(), hp.lr_d, hp.betas_d, hp)
        else:
            self.opt_g = torch.optim.RMSprop(self.generator.parameters(), lr=hp.lr_g or hp.lr)
            self.opt_c = torch.optim.RMSprop(self.critic.parameters(), lr=hp.lr_d or hp.lr)

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
        """n_critic critic steps (clipped, or penalised), then one generator step (algorithm 13.2)."""
        gp = self.hp.lipschitz == "gp"
        for _ in range(self.hp.critic_steps):
            real = next_batch()
            fake = self.generator(self.noise(len(real), self.hp.z_dim)).detach()
            w_estimate = self.critic(real).mean() - self.critic(fake).mean()  # eq. 13.55
            loss_c = -w_estimate  # ascend the critic's objective
            if gp:  # x̂ = εx + (1 - ε)G(z), ε ~ U[0, 1] per sample (Gulrajani et al., algorithm 1)
                eps = torch.rand(len(real), *([1] * (real.dim() - 1)), device=real.device)
                penalty, gp_norm = gradient_penalty(self.critic, real, fake, self.hp.gp_lambda, eps)
                loss_c = loss_c + penalty
            self.opt_c.zero_grad(set_to_none=True)
            loss_c.backward()
            self.opt_c.step()
            if not gp:
                self.clip_critic()
        fake = self.generator(self.noise(self.batch_size, self.hp.z_dim))
        loss_g = -self.critic(fake).mean()  # eq. 13.56
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        grad_norm_g = grad_norm(self.generator)  # before the step
        self.opt_g.step()
        out = {
            "w_estimate": w_estimate.item(),  # E f(x) - E f(G(z)) on the last critic batch (13.55)
            "loss_g": loss_g.item(),
            "grad_norm_g": grad_norm_g,
        }
        if gp:
            out["gp"] = penalty.item()  # λ E(‖∇f(x̂)‖ - 1)² of the last critic batch
            out["gp_grad_norm"] = gp_norm.item()  # mean ‖∇f(x̂)‖: 1 where the penalty holds
        else:
            out["clip_frac"] = self.clip_fraction()  # after the last clipping
        if self.hp.spectral_norm:
            out["sn_sigma_max"] = largest_spectral_sigma(self.critic)
        return out

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Return G(z) for n draws z ~ N(0, I)."""
        return self.generator(self.noise(n, self.hp.z_dim, generator)).cpu()


def build(hp: WGANHParams, dataset, device: str = "cpu") -> WGAN:
    """Build a W-GAN for `dataset` on `device`."""
    return WGAN(hp, dataset).to(device)


def seed_batch_problem(hparams: dict) -> str | None:
    """Why these W-GAN hyper-parameters cannot train seeds together, or None: clipping and the
    gradient penalty act per seed (tested); spectral norm's power iteration does not."""
    if hparams.get("arch", "mlp") != "mlp":
        return f"only MLP networks can (arch: {hparams.get('arch')})"
    if hparams.get("spectral_norm"):
        return "spectral_norm's power iteration would mix the seeds' weights (train seeds apart)"
    return None


register_model(
    "wgan",
    hparams=WGANHParams,
    build=build,
    doc="Wasserstein GAN (13.55): weight clipping and RMSProp, or gradient penalty and Adam (WGAN-GP)",
    abilities={"seed_batch"},
    diagnostics=(
        Diagnostic("grad_norm_g", "generator gradient norm ‖∇G‖", "13.42", log=True),
        Diagnostic("w_estimate", "critic estimate E f(x) − E f(G(z))", "13.55"),
        Diagnostic("clip_frac", "fraction of critic weights at ±c"),
        Diagnostic("gp", "gradient penalty λE(‖∇f(x̂)‖ − 1)²", "Gulrajani et al. 2017, eq. 3", log=True),
        Diagnostic(
            "gp_grad_norm", "mean critic gradient norm ‖∇f(x̂)‖ on interpolates", "Gulrajani et al. 2017"
        ),
        Diagnostic(
            "sn_sigma_max", "largest spectral norm σ(W) of the critic's raw weights", "Miyato et al. 2018"
        ),
    ),
    seed_batch_problem=seed_batch_problem,
)
