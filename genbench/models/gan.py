"""The GAN of the chapter (algorithm 13.1) with MLP generator and discriminator."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from genbench.models import presets, unroll
from genbench.models.base import Batches, GenerativeModel
from genbench.models.losses import (
    add_spectral_norm,
    discriminator_loss,
    generator_loss,
    grad_norm,
    largest_spectral_sigma,
    r1_penalty,
)
from genbench.models.nets import discriminator_net, generator_net, init_linear, mlp_options
from genbench.models.pack import Packed
from genbench.registry import Diagnostic, register_model

Pair = tuple[float, float]


def optimizer_pair(value):
    """A pair of Adam betas as given in a suite (a list there is a grid, so one pair is [[b1, b2]])."""
    if isinstance(value, int | float):
        raise ValueError("betas are a pair; write [[beta1, beta2]] (a list of values is a grid)")
    return value


class GANHParams(BaseModel):
    """Defaults: the 2-D mixture experiments of Unrolled GAN (Metz et al. 2017, appendix A)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # inf and NaN are no parameters

    loss: Literal["nonsaturating", "minimax", "lsgan", "hinge", "fgan"] = Field(
        "nonsaturating",
        description="eq. 13.33 (nonsaturating), 13.34 (minimax), lsgan (Mao et al. 2017), "
        "hinge (Lim & Ye 2017; Miyato et al. 2018), fgan (Nowozin et al. 2016)",
    )
    divergence: Literal["kl", "reverse_kl", "js", "pearson", "hellinger"] | None = Field(
        None,
        description="f-divergence of loss: fgan (Nowozin et al. 2016, table 2); kl / reverse_kl: 13.48-13.50",
    )
    g_update: Literal["alternative", "saddle"] | None = Field(
        None,
        description="G's update of loss: fgan (Nowozin et al. 2016, sec. 3.2): alternative "
        "(max E[g_f(V(G(z)))], the default) or saddle (min -E[f*(g_f(V(G(z))))])",
    )
    d_steps: int = Field(1, ge=1, description="discriminator steps per generator step (K)")
    z_dim: int = Field(256, ge=1, description="latent size (Metz et al.)")
    hidden: int = Field(128, ge=1, description="width of hidden layers (Metz et al.)")
    depth: int = Field(2, ge=1, description="hidden layers in G and D (Metz et al.)")
    lr: float = Field(1e-4, gt=0, description="Adam learning rate of G and D (Metz et al.)")
    beta1: float = Field(0.5, ge=0, lt=1, description="Adam beta1 (Radford et al.)")
    beta2: float = Field(0.999, ge=0, lt=1, description="Adam beta2")
    lr_g: float | None = Field(None, gt=0, description="G's learning rate; None: lr")
    lr_d: float | None = Field(None, gt=0, description="D's learning rate; None: lr")
    betas_g: Pair | None = Field(None, description="G's Adam betas [[b1, b2]]; None: (beta1, beta2)")
    betas_d: Pair | None = Field(None, description="D's Adam betas [[b1, b2]]; None: (beta1, beta2)")
    spectral_norm: bool = Field(False, description="spectral norm on every layer of D (Miyato et al. 2018)")
    r1: float = Field(0.0, ge=0, description="γ of the R1 penalty (γ/2)E‖∇D(x)‖² (Mescheder et al. 2018)")
    batch_size: int = Field(512, ge=1, description="minibatch size (Metz et al.)")
    arch: Literal["mlp", "dcgan"] = Field("mlp", description="networks: MLPs, or DCGAN's (images only)")
    width: float = Field(1.0, gt=0, description="channel multiplier of the DCGAN networks")
    # mode-collapse remedies and the papers' toy networks (models/pack.py, unroll.py, presets.py)
    preset: presets.GANPreset | None = Field(None, description=presets.description("gan"))
    pack: int = Field(1, ge=1, description="PacGAN: D judges packs of m samples (Lin et al. 2018)")
    unroll: int = Field(0, ge=0, description="Unrolled GAN: G's loss at D after k steps (Metz et al.)")
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

    _pairs = field_validator("betas_g", "betas_d", mode="before")(optimizer_pair)

    @model_validator(mode="after")
    def _divergence_with_fgan(self) -> GANHParams:
        if self.loss == "fgan" and self.divergence is None:
            raise ValueError("loss: fgan needs a divergence (kl, reverse_kl, js, pearson, hellinger)")
        if self.loss != "fgan" and self.divergence is not None:
            raise ValueError(f"divergence applies to loss: fgan only, not loss: {self.loss}")
        if self.loss != "fgan" and self.g_update is not None:
            raise ValueError(f"g_update applies to loss: fgan only, not loss: {self.loss}")
        return self

    def no_effect(self) -> dict[str, str]:
        """Keys whose value changes nothing given the others, with why (a suite setting one is refused)."""
        out = unused_width(self) | unused_shorthands(self)
        if self.init not in ("normal", "orthogonal"):
            out.setdefault("init_scale", f"init_scale sets init: normal or orthogonal, not init: {self.init}")
        return out


def unused_width(hp) -> dict[str, str]:
    """`width` under MLP networks, which have no channels to scale."""
    if hp.arch == "mlp":
        return {"width": "width scales the channels of convolutional networks; arch: mlp has none"}
    return {}


def unused_shorthands(hp) -> dict[str, str]:
    """`lr` when both networks have their own (lr_g, lr_d); beta1 and beta2 when both have betas."""
    out = {}
    if hp.lr_g is not None and hp.lr_d is not None:
        out["lr"] = "lr_g and lr_d set both networks' learning rates"
    if hp.betas_g is not None and hp.betas_d is not None:
        out |= {k: "betas_g and betas_d set both networks' betas" for k in ("beta1", "beta2")}
    return out


def adam(params, lr: float | None, betas: Pair | None, hp) -> torch.optim.Adam:
    """Adam with a network's own lr and betas, or the shorthand lr and (beta1, beta2) of both."""
    return torch.optim.Adam(params, lr=lr or hp.lr, betas=tuple(betas or (hp.beta1, hp.beta2)))


SIGMOID_LOSSES = ("nonsaturating", "minimax")  # D(x) = sigmoid(V(x)) is a probability


class GAN(GenerativeModel):
    """Generator and discriminator trained by algorithm 13.1, with the loss of `hp.loss`."""

    pixel_range = (-1.0, 1.0)  # tanh generators on images

    def __init__(self, hp: GANHParams, dataset) -> None:
        super().__init__()
        self.hp = hp
        self.batch_size = hp.batch_size * hp.pack  # rows per step: batch_size packs of m (pack.py)
        self.generator = generator_net(
            hp.arch, hp.z_dim, hp.hidden, hp.depth, hp.width, dataset, **mlp_options(hp, "generator")
        )
        d_hidden, d_depth = hp.d_hidden or hp.hidden, hp.d_depth or hp.depth
        # the papers of SN and R1 train D without BatchNorm (and a per-sample gradient needs none)
        batchnorm = not (hp.spectral_norm or hp.r1 > 0)
        self.discriminator = discriminator_net(
            hp.arch,
            d_hidden,
            d_depth,
            hp.width,
            dataset,
            batchnorm,
            hp.pack,
            **mlp_options(hp, "discriminator"),
        )
        if hp.arch == "mlp":
            init_linear(self, hp.init, hp.init_scale)
        if hp.spectral_norm:
            add_spectral_norm(self.discriminator)
        if hp.pack > 1:
            self.discriminator = Packed(self.discriminator, hp.pack)
        self.opt_g = adam(self.generator.parameters(), hp.lr_g, hp.betas_g, hp)
        self.opt_d = adam(self.discriminator.parameters(), hp.lr_d, hp.betas_d, hp)

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """G's loss on D's outputs for G(z) (eq. 13.33 / 13.34, or the loss of `hp.loss`)."""
        return generator_loss(fake_logits, self.hp.loss, self.hp.divergence, self.hp.g_update)

    def discriminator_step(self, next_batch: Batches) -> dict[str, torch.Tensor]:
        """One step of D on a real batch and as many fakes (eq. 13.31, or `hp.loss`, + R1)."""
        real = next_batch()
        fake = self.generator(self.noise(len(real), self.hp.z_dim)).detach()
        if self.hp.r1 > 0:
            real = real.detach().requires_grad_(True)
        real_logits, fake_logits = self.discriminator(real), self.discriminator(fake)
        loss_d = discriminator_loss(real_logits, fake_logits, self.hp.loss, self.hp.divergence)
        out = {"loss_d": loss_d, "real_logits": real_logits, "fake_logits": fake_logits}
        if self.hp.r1 > 0:
            out["r1"] = r1_penalty(real_logits, real, self.hp.r1)  # Mescheder et al. 2018
            loss_d = loss_d + out["r1"]
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        return out

    def train_step(self, next_batch: Batches, step: int) -> dict[str, float]:
        """K discriminator ascent steps, then one generator step (algorithm 13.1)."""
        if self.hp.unroll:
            return unroll.train_step(self, next_batch)
        for _ in range(self.hp.d_steps):
            d = self.discriminator_step(next_batch)
        fake_logits_g = self.discriminator(self.generator(self.noise(self.batch_size, self.hp.z_dim)))
        loss_g = self.generator_loss(fake_logits_g)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        grad_norm_g = grad_norm(self.generator)  # before the step: the gradient G receives (13.42)
        self.opt_g.step()
        out = {"loss_d": d["loss_d"].item(), "loss_g": loss_g.item()}
        real_logits, fake_logits = d["real_logits"].detach(), d["fake_logits"].detach()
        if self.hp.loss in SIGMOID_LOSSES:
            out["d_real"] = torch.sigmoid(real_logits).mean().item()  # mean D(x)
            out["d_fake"] = torch.sigmoid(fake_logits).mean().item()  # mean D(G(z)); -> 0 when D wins
        else:
            out["v_real"] = real_logits.mean().item()  # mean raw output V(x)
            out["v_fake"] = fake_logits.mean().item()
        out["grad_norm_g"] = grad_norm_g
        if self.hp.r1 > 0:
            out["r1"] = d["r1"].item()
        if self.hp.spectral_norm:
            out["sn_sigma_max"] = largest_spectral_sigma(self.discriminator)
        return out

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
    Diagnostic("v_fake", "mean D output V(G(z)) (lsgan, hinge, fgan)"),
    Diagnostic("v_real", "mean D output V(x) (lsgan, hinge, fgan)"),
    Diagnostic("r1", "R1 penalty (γ/2)E‖∇D(x)‖²", "Mescheder et al. 2018, eq. 9", log=True),
    Diagnostic("sn_sigma_max", "largest spectral norm σ(W) of D's raw weights", "Miyato et al. 2018"),
)


def seed_batch_problem(hparams: dict) -> str | None:
    """Why these hyper-parameters cannot train seeds together: rows of seeds are interleaved in one
    batch, which packs, BatchNorm statistics and maxout's reshape would mix; the unrolled copy of D
    and bias-free layers are not written for SeedLinear; spectral norm's power iteration is not per
    seed. The losses and R1 are means of per-row terms (tested per seed)."""
    problems = {
        f"only MLP networks can (arch: {hparams.get('arch')})": hparams.get("arch", "mlp") != "mlp",
        "pack > 1 concatenates rows of different seeds": hparams.get("pack", 1) > 1,
        "unroll > 0 copies D outside the batched layers": hparams.get("unroll", 0) > 0,
        "g_batchnorm mixes the seeds' batch statistics": hparams.get("g_batchnorm", False),
        "d_maxout > 1 is not a batched linear layer": hparams.get("d_maxout", 1) > 1,
        "g_bias false is not a batched linear layer": not hparams.get("g_bias", True),
        "spectral_norm's power iteration would mix the seeds' weights": hparams.get("spectral_norm", False),
    }
    found = [why for why, bad in problems.items() if bad]
    return "; ".join(found) if found else None


UNROLL_DIAGNOSTIC = (Diagnostic("unroll_gap", "unrolled minus current D loss (unroll > 0)", "Metz et al."),)
DOC = "GAN: eq. 13.33 / 13.34, LSGAN, hinge, f-GAN losses; spectral norm, R1, PacGAN, unrolling"
register_model(
    "gan",
    hparams=GANHParams,
    build=build,
    doc=DOC,
    abilities=SEED_BATCH,
    diagnostics=DIAGNOSTICS + UNROLL_DIAGNOSTIC,
    seed_batch_problem=seed_batch_problem,
)
register_model(
    "dcgan",
    hparams=DCGANHParams,
    build=build,
    doc="DCGAN: the GAN of 13.3.4 on convolutional nets (every loss and option of gan)",
    abilities=SEED_BATCH,
    diagnostics=DIAGNOSTICS + UNROLL_DIAGNOSTIC,
    seed_batch_problem=seed_batch_problem,
)
