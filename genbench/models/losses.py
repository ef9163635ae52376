"""Losses and regularisers of the adversarial families, as pure functions of D's outputs (logits).

Every loss is one the optimiser minimises. D's raw output is V(x) ("logit"); the sigmoid losses
read D(x) = sigmoid(V(x)). The gradient penalties take the network and its inputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

LOSSES = ("nonsaturating", "minimax", "lsgan", "hinge", "fgan")
DIVERGENCES = ("kl", "reverse_kl", "js", "pearson", "hellinger")
LOG2 = math.log(2.0)


# ------------------------------------------------------------------ the chapter's GAN (13.31-13.34)
def gan_discriminator_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """-E[log D(x)] - E[log(1 - D(G(z)))] with D = sigmoid(V) (eq. 13.31)."""
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def nonsaturating_generator_loss(fake: torch.Tensor) -> torch.Tensor:
    """-E[log D(G(z))] (eq. 13.33, non-saturating)."""
    return F.softplus(-fake).mean()


def minimax_generator_loss(fake: torch.Tensor) -> torch.Tensor:
    """E[log(1 - D(G(z)))] (eq. 13.34, minimax); saturates as D(G(z)) -> 0 (eq. 13.42)."""
    return -F.softplus(fake).mean()


# ---------------------------------------------------------------- LSGAN (Mao et al. 2017, eq. 2)
def lsgan_discriminator_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """½E(D(x) - b)² + ½E(D(G(z)) - a)², a = 0, b = 1 (Mao et al. 2017, eq. 2)."""
    return 0.5 * (real - 1.0).pow(2).mean() + 0.5 * fake.pow(2).mean()


def lsgan_generator_loss(fake: torch.Tensor) -> torch.Tensor:
    """½E(D(G(z)) - c)², c = 1 (Mao et al. 2017, eq. 2)."""
    return 0.5 * (fake - 1.0).pow(2).mean()


# ---------------------------------------------- hinge (Lim & Ye 2017; Miyato et al. 2018, eq. 16-17)
def hinge_discriminator_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """E[relu(1 - D(x))] + E[relu(1 + D(G(z)))] (Lim & Ye 2017; Miyato et al. 2018, eq. 16)."""
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def hinge_generator_loss(fake: torch.Tensor) -> torch.Tensor:
    """-E[D(G(z))] (Miyato et al. 2018, eq. 17)."""
    return -fake.mean()


# ------------------------------------------------------------------- f-GAN (Nowozin et al. 2016)
# Table 2: output activation g_f (T = g_f(V) lies in the domain of f*) and the conjugate f*.
# Forward KL (f(u) = u log u) and reverse KL (f(u) = -log u) are the chapter's 13.48-13.50.
def activation(v: torch.Tensor, divergence: str) -> torch.Tensor:
    """T = g_f(V), the output activation of Nowozin et al. 2016, table 2."""
    if divergence in ("kl", "pearson"):
        return v
    if divergence == "reverse_kl":
        return -torch.exp(-v)
    if divergence == "js":
        return LOG2 - F.softplus(-v)
    if divergence == "hellinger":
        return 1.0 - torch.exp(-v)
    raise ValueError(f"unknown divergence {divergence!r}; known: {', '.join(DIVERGENCES)}")


def conjugate(t: torch.Tensor, divergence: str) -> torch.Tensor:
    """f*(t), the Fenchel conjugate of f (Nowozin et al. 2016, table 2), on its domain."""
    if divergence == "kl":
        return torch.exp(t - 1.0)
    if divergence == "reverse_kl":
        return -1.0 - torch.log(-t)
    if divergence == "js":
        return -torch.log(2.0 - torch.exp(t))
    if divergence == "pearson":
        return 0.25 * t.pow(2) + t
    if divergence == "hellinger":
        return t / (1.0 - t)
    raise ValueError(f"unknown divergence {divergence!r}; known: {', '.join(DIVERGENCES)}")


def conjugate_of_activation(v: torch.Tensor, divergence: str) -> torch.Tensor:
    """f*(g_f(V)) in a form that stays finite where the composition would round badly."""
    if divergence == "reverse_kl":
        return v - 1.0  # -1 - log(exp(-v))
    if divergence == "js":
        return F.softplus(v) - LOG2  # -log(2 - 2 sigmoid(v))
    if divergence == "hellinger":
        return torch.expm1(v)  # (1 - e^-v) / e^-v
    return conjugate(activation(v, divergence), divergence)


def fgan_discriminator_loss(real: torch.Tensor, fake: torch.Tensor, divergence: str) -> torch.Tensor:
    """-(E_p[g_f(V(x))] - E_q[f*(g_f(V(G(z))))]): D maximises the bound of Nowozin et al., eq. 6."""
    return -(activation(real, divergence).mean() - conjugate_of_activation(fake, divergence).mean())


def fgan_generator_loss(fake: torch.Tensor, divergence: str, g_update: str = "alternative") -> torch.Tensor:
    """G's loss under the generator update of Nowozin et al. 2016, section 3.2: "alternative",
    -E[g_f(V(G(z)))] (the analogue of eq. 13.33); "saddle", the saddle-point objective itself,
    -E[f*(g_f(V(G(z))))] (G minimises the bound D maximises; the analogue of eq. 13.34)."""
    if g_update == "saddle":
        return -conjugate_of_activation(fake, divergence).mean()
    if g_update != "alternative":
        raise ValueError(f"unknown g_update {g_update!r}; known: alternative, saddle")
    return -activation(fake, divergence).mean()


# ------------------------------------------------------------------------------------ dispatch
def discriminator_loss(
    real: torch.Tensor, fake: torch.Tensor, loss: str = "nonsaturating", divergence: str | None = None
) -> torch.Tensor:
    """D's loss of `loss` on its outputs for real data and for G(z)."""
    if loss in ("nonsaturating", "minimax"):
        return gan_discriminator_loss(real, fake)  # both share D's loss, eq. 13.31
    if loss == "lsgan":
        return lsgan_discriminator_loss(real, fake)
    if loss == "hinge":
        return hinge_discriminator_loss(real, fake)
    if loss == "fgan":
        return fgan_discriminator_loss(real, fake, divergence or "")
    raise ValueError(f"unknown loss {loss!r}; known: {', '.join(LOSSES)}")


GENERATOR_LOSSES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "nonsaturating": nonsaturating_generator_loss,
    "minimax": minimax_generator_loss,
    "lsgan": lsgan_generator_loss,
    "hinge": hinge_generator_loss,
}


def generator_loss(
    fake: torch.Tensor,
    loss: str = "nonsaturating",
    divergence: str | None = None,
    g_update: str | None = None,
) -> torch.Tensor:
    """G's loss of `loss` on D's outputs for G(z) (`g_update`: f-GAN's generator update)."""
    if loss == "fgan":
        return fgan_generator_loss(fake, divergence or "", g_update or "alternative")
    if loss not in GENERATOR_LOSSES:
        raise ValueError(f"unknown loss {loss!r}; known: {', '.join(LOSSES)}")
    return GENERATOR_LOSSES[loss](fake)


# ------------------------------------------------------------------------------- regularisers
def input_gradients(net: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(net(x), ∇_x net(x)) per row, with the graph kept so that a penalty on it can be trained."""
    x = x.detach().requires_grad_(True)
    out = net(x)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return out, grad.flatten(1)


def gradient_penalty(
    critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, lam: float, eps: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(λ E(‖∇f(x̂)‖ - 1)², mean ‖∇f(x̂)‖) on x̂ = εx + (1 - ε)G(z) (Gulrajani et al. 2017, eq. 3)."""
    mixed = eps * real.detach() + (1.0 - eps) * fake.detach()
    _, grad = input_gradients(critic, mixed)
    norm = grad.norm(dim=1)
    return lam * (norm - 1.0).pow(2).mean(), norm.mean().detach()


def r1_penalty(logits_of_real: torch.Tensor, real: torch.Tensor, gamma: float) -> torch.Tensor:
    """(γ/2) E‖∇_x D(x)‖² on real data (Mescheder et al. 2018, eq. 9); `real` must require grad
    and `logits_of_real` be D's outputs for it."""
    (grad,) = torch.autograd.grad(logits_of_real.sum(), real, create_graph=True)
    return 0.5 * gamma * grad.flatten(1).pow(2).sum(1).mean()


def add_spectral_norm(net: nn.Module) -> nn.Module:
    """Wrap every Linear and Conv layer of `net` in torch's spectral-norm parametrization (Miyato et
    al. 2018: W / σ(W), σ by one power iteration per training forward pass)."""
    for module in list(net.modules()):
        if isinstance(module, nn.Linear | nn.Conv2d):
            torch.nn.utils.parametrizations.spectral_norm(module)
    return net


@torch.no_grad()
def largest_spectral_sigma(net: nn.Module) -> float:
    """The largest power-iteration estimate σ = uᵀ W v over the raw weights W of `net`'s
    spectral-norm layers (what each layer's weight is divided by)."""
    sigmas = []
    for module in net.modules():
        if not torch.nn.utils.parametrize.is_parametrized(module, "weight"):
            continue
        (norm,) = module.parametrizations.weight  # torch's _SpectralNorm
        weight = module.parametrizations.weight.original.flatten(1)  # dim 0: Linear and Conv2d
        sigmas.append(torch.dot(norm._u, torch.mv(weight, norm._v)))
    return float(torch.stack(sigmas).max()) if sigmas else float("nan")


# ------------------------------------------------------------------------------- diagnostics
def grad_norm(module: torch.nn.Module) -> float:
    """Total L2 norm of `module`'s gradients: the generator's, whose shrinking as D(G(z)) -> 0
    under the minimax loss is the vanishing gradient of eq. 13.42."""
    norms = [p.grad.detach().pow(2).sum() for p in module.parameters() if p.grad is not None]
    return float(torch.stack(norms).sum().sqrt()) if norms else 0.0
