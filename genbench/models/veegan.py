"""VEEGAN (Srivastava et al. 2017, algorithm 1): a generator G(z), a reconstructor F(x) -> z and a
discriminator D(z, x) on pairs.

D estimates log q(x|z)p0(z) / p(z|x)p(x): it is trained by logistic regression with the
generator's pairs (z, G(z)) labelled 1 and the reconstructor's pairs (F(x), x) labelled 0 (O_LR).
G and F minimise Ô = mean D(z, G(z)) + mean ‖z − F(G(z))‖² (the ℓ2 reconstruction of the noise);
F is trained by the reconstruction term alone, as in algorithm 1 (D's term does not depend on F).

What could be checked against the authors' code (akashgit/VEEGAN): the stored repository holds
the project page (index.md: the objective above, 2500 samples, high quality within 3 std) and a
Julia MNIST notebook (veegan_julia_mnist.ipynb: one hidden layer of 256 ReLU in G, F and D, z 32,
Adam 1e-3 beta1 0.7, batch 200; D on [x; z]; G minimises -mean D + MSE, with D's labels the other
way round, and F also minimises mean D(F(x), x)). The 2-D code (networks, z size, learning rate,
batch, loss weights) is not in it, so it could NOT be verified; the defaults here are the toy
GAN's (Metz et al. appendix A) with the paper's weight 1 on the reconstruction.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from genbench.models.base import Batches, GenerativeModel, mlp
from genbench.models.losses import grad_norm
from genbench.models.nets import generator_net
from genbench.registry import Diagnostic, register_model


class VEEGANHParams(BaseModel):
    """Defaults: the toy GAN's (Metz et al. 2017, appendix A); VEEGAN's 2-D code is not public here."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # inf and NaN are no parameters

    z_dim: int = Field(256, ge=1, description="latent size (as the toy GAN; not verified)")
    hidden: int = Field(128, ge=1, description="width of hidden layers of G, F and D (as the toy GAN)")
    depth: int = Field(2, ge=1, description="hidden layers of G, F and D (as the toy GAN)")
    lr: float = Field(1e-4, gt=0, description="Adam learning rate of G, F and D (as the toy GAN)")
    beta1: float = Field(0.5, ge=0, lt=1, description="Adam beta1")
    batch_size: int = Field(512, ge=1, description="minibatch size (as the toy GAN)")
    recon_weight: float = Field(1.0, ge=0, description="weight of ‖z − F(G(z))‖² in Ô (paper: 1)")
    arch: Literal["mlp"] = Field("mlp", description="networks: MLPs (images flattened)")


class VEEGAN(GenerativeModel):
    """G, F and D(z, x) trained by algorithm 1 of Srivastava et al."""

    pixel_range = (-1.0, 1.0)  # tanh generators on images

    def __init__(self, hp: VEEGANHParams, dataset) -> None:
        super().__init__()
        self.hp = hp
        self.batch_size = hp.batch_size
        self.generator = generator_net("mlp", hp.z_dim, hp.hidden, hp.depth, 1.0, dataset)
        reconstructor = mlp(dataset.dim, hp.hidden, hp.depth, hp.z_dim)
        self.reconstructor = torch.nn.Sequential(torch.nn.Flatten(), reconstructor)
        self.discriminator = mlp(hp.z_dim + dataset.dim, hp.hidden, hp.depth, 1)
        betas = (hp.beta1, 0.999)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=hp.lr, betas=betas)
        self.opt_f = torch.optim.Adam(self.reconstructor.parameters(), lr=hp.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=hp.lr, betas=betas)

    def pair_logits(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """D(z, x): one logit per pair."""
        return self.discriminator(torch.cat([z, x.flatten(1)], dim=1))

    def train_step(self, next_batch: Batches, step: int) -> dict[str, float]:
        """One step of algorithm 1: D on both pair kinds, then G and F on Ô."""
        real = next_batch()
        z = self.noise(len(real), self.hp.z_dim)
        fake = self.generator(z)
        with torch.no_grad():
            z_real = self.reconstructor(real)
        gen_logits = self.pair_logits(z, fake.detach())
        rec_logits = self.pair_logits(z_real, real)
        loss_d = F.softplus(-gen_logits).mean() + F.softplus(rec_logits).mean()  # O_LR
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        adversarial = self.pair_logits(z, fake).mean()  # mean D(z, G(z)), with D after its step
        recon = (z - self.reconstructor(fake)).pow(2).sum(1).mean()  # ‖z − F(G(z))‖²
        loss_gf = adversarial + self.hp.recon_weight * recon  # Ô
        self.opt_g.zero_grad(set_to_none=True)
        self.opt_f.zero_grad(set_to_none=True)
        loss_gf.backward(inputs=[*self.generator.parameters(), *self.reconstructor.parameters()])
        grad_norm_g = grad_norm(self.generator)
        self.opt_g.step()
        self.opt_f.step()
        return {
            "loss_d": loss_d.item(),
            "loss_g": loss_gf.item(),
            "recon": recon.item(),
            "d_gen_pair": torch.sigmoid(gen_logits).mean().item(),  # mean σ(D(z, G(z))), label 1
            "d_rec_pair": torch.sigmoid(rec_logits).mean().item(),  # mean σ(D(F(x), x)), label 0
            "grad_norm_g": grad_norm_g,
        }

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Return G(z) for n draws z ~ N(0, I)."""
        return self.generator(self.noise(n, self.hp.z_dim, generator)).cpu()


def build(hp: VEEGANHParams, dataset, device: str = "cpu") -> VEEGAN:
    """Build a VEEGAN for `dataset` on `device`."""
    return VEEGAN(hp, dataset).to(device)


register_model(
    "veegan",
    hparams=VEEGANHParams,
    build=build,
    doc="VEEGAN: reconstructor F(x) -> z, D on (z, x) pairs, ℓ2 noise reconstruction (Srivastava et al.)",
    abilities=(),  # not batched over seeds: its pair discriminator concatenates z and x
    diagnostics=(
        Diagnostic("recon", "noise reconstruction ‖z − F(G(z))‖²", "Srivastava et al. Ô", log=True),
        Diagnostic("d_gen_pair", "mean σ(D(z, G(z)))"),
        Diagnostic("d_rec_pair", "mean σ(D(F(x), x))"),
        Diagnostic("grad_norm_g", "generator gradient norm ‖∇G‖", "13.42", log=True),
    ),
)
