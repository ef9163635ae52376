"""Unrolled GAN (Metz et al. 2017): the generator's loss against the discriminator advanced k steps.

The copy of D is functional: its parameters after k steps of D's own Adam, written as
differentiable tensor arithmetic starting from `opt_d`'s current moments and step count, and
evaluated with `torch.func.functional_call`; the generator's gradient flows back through the k
steps (second order). The unrolled steps reuse one real batch and one draw of z, as the authors'
notebook does (poolio/unrolled_gan, "Unrolled GAN demo.ipynb": `graph_replace` of one update on
fixed `data` and `noise` tensors). Nothing of the copy outlives the step (a checkpoint has nothing
extra to hold). With `loss: minimax` the generator maximises the whole saddle objective at the
unrolled parameters, the real-data term included (Metz et al. eq. 5; the notebook's
`minimize(-unrolled_loss)`); with `nonsaturating` it minimises -E log D_k(G(z)) (eq. 13.33).

Order of one step: G's gradient at the unrolled D, then D's ordinary step on the same real batch
and z with the generator before its update, then G's step: the notebook's simultaneous update.
"""

from __future__ import annotations

import math

import torch
from torch.func import functional_call

from genbench.models.base import Batches
from genbench.models.losses import discriminator_loss, generator_loss, grad_norm


def adam_state(opt: torch.optim.Adam, params: dict[str, torch.Tensor]) -> tuple[dict, dict, float]:
    """(first moments, second moments, step count) of `opt` for `params` (zeros before its first step)."""
    exp_avg, exp_avg_sq, steps = {}, {}, 0.0
    for name, p in params.items():
        state = opt.state.get(p, {})
        exp_avg[name] = state["exp_avg"].detach() if state else torch.zeros_like(p)
        exp_avg_sq[name] = state["exp_avg_sq"].detach() if state else torch.zeros_like(p)
        steps = float(state["step"]) if state else 0.0
    return exp_avg, exp_avg_sq, steps


def _safe_sqrt(v: torch.Tensor) -> torch.Tensor:
    """sqrt(v) with a finite derivative where v = 0 (a parameter that never had a gradient)."""
    positive = v > 0
    return torch.where(positive, torch.where(positive, v, torch.ones_like(v)).sqrt(), torch.zeros_like(v))


def adam_update(params, grads, exp_avg, exp_avg_sq, step: float, group: dict):
    """One step of torch's Adam (no weight decay, no amsgrad), out of place and differentiable."""
    beta1, beta2 = group["betas"]
    lr, eps = group["lr"], group["eps"]
    step += 1
    correction1, correction2 = 1 - beta1**step, 1 - beta2**step
    new, m_new, v_new = {}, {}, {}
    for name, p in params.items():
        g = grads[name]
        m_new[name] = beta1 * exp_avg[name] + (1 - beta1) * g
        v_new[name] = beta2 * exp_avg_sq[name] + (1 - beta2) * g * g
        denom = _safe_sqrt(v_new[name]) / math.sqrt(correction2) + eps
        new[name] = p - (lr / correction1) * m_new[name] / denom
    return new, m_new, v_new, step


def unrolled_generator_loss(model, real: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, float]:
    """The generator's loss against D advanced `model.hp.unroll` steps (graph through the steps)
    and the gap: D's loss at the unrolled parameters minus its loss at the current ones."""

    d, opt = model.discriminator, model.opt_d
    group = opt.param_groups[0]
    if group.get("weight_decay") or group.get("amsgrad") or group.get("maximize"):
        raise ValueError("unrolling writes out plain Adam only (no weight decay, amsgrad, maximize)")
    params = dict(d.named_parameters())
    buffers = {name: b.clone() for name, b in d.named_buffers()}  # BatchNorm statistics stay D's
    exp_avg, exp_avg_sq, step = adam_state(opt, params)
    fake = model.generator(z)

    def loss_at(theta):
        return discriminator_loss(
            functional_call(d, (theta, buffers), (real,)),
            functional_call(d, (theta, buffers), (fake,)),
            model.hp.loss,
            model.hp.divergence,
        )

    theta = params
    for i in range(model.hp.unroll):
        loss_d = loss_at(theta)
        if i == 0:
            loss_now = loss_d.detach()
        grads = torch.autograd.grad(loss_d, list(theta.values()), create_graph=True)
        grads = dict(zip(theta, grads, strict=True))
        theta, exp_avg, exp_avg_sq, step = adam_update(theta, grads, exp_avg, exp_avg_sq, step, group)
    if model.hp.loss == "minimax":
        loss_k = loss_at(theta)
        loss_g = -loss_k  # the saddle objective at the unrolled D (Metz et al. eq. 5)
    else:
        loss_k = loss_at(theta).detach()
        loss_g = generator_loss(
            functional_call(d, (theta, buffers), (fake,)),
            model.hp.loss,
            model.hp.divergence,
            model.hp.g_update,
        )
    return loss_g, float(loss_k.detach() - loss_now)


def train_step(model, next_batch: Batches) -> dict[str, float]:
    """One step of an unrolled GAN: G's gradient at the unrolled D, D's ordinary steps, G's step."""

    hp = model.hp
    real = next_batch()
    z = model.noise(len(real), hp.z_dim)
    loss_g, gap = unrolled_generator_loss(model, real, z)
    model.opt_g.zero_grad(set_to_none=True)
    loss_g.backward(inputs=list(model.generator.parameters()))
    grad_norm_g = grad_norm(model.generator)
    for i in range(hp.d_steps):  # algorithm 13.1's D steps; the first on the unrolled batch
        if i:
            real, z = next_batch(), None
        with torch.no_grad():
            fake = model.generator(model.noise(len(real), hp.z_dim) if z is None else z)
        real_logits, fake_logits = model.discriminator(real), model.discriminator(fake)
        loss_d = discriminator_loss(real_logits, fake_logits, hp.loss, hp.divergence)
        model.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        model.opt_d.step()
    model.opt_g.step()
    return {
        "loss_d": loss_d.item(),
        "loss_g": loss_g.item(),
        "d_real": torch.sigmoid(real_logits).mean().item(),
        "d_fake": torch.sigmoid(fake_logits).mean().item(),
        "grad_norm_g": grad_norm_g,
        "unroll_gap": gap,  # D's loss after k unrolled steps minus now: how far D is from its optimum
    }
