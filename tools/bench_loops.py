"""The hand-written side of tools/bench_trainer.py: each family's update rule in plain PyTorch.

`python tools/bench_loops.py` (or `check()`) is the self-check: every family's bare loop must end
at genbench's parameters to the bit, and a mismatch names the family whose loop to update.

Same nets (taken from a model genbench built), same batch sampling, optimizers, losses and random
draws in the same order as genbench's models, so from the same seed the parameters agree to the
bit; `diag=True` also computes what the models return every step (losses as floats, the
generator's gradient norm, the W-GAN's fraction of clipped weights).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F


def batches(
    dataset, batch_size: int, rng: torch.Generator, device: str = "cpu"
) -> Callable[[], torch.Tensor]:
    """Hand-written batch sampling: indices with replacement (a toy's on the device of its training
    draw, with `rng` of that device), images scaled to [-1, 1] and moved to `device`."""
    if dataset.kind == "toy2d":
        data = dataset.train
        return lambda: data[torch.randint(len(data), (batch_size,), generator=rng, device=data.device)]
    images = dataset.train_images
    return lambda: (
        images[torch.randint(len(images), (batch_size,), generator=rng)].float() / 255.0 * 2.0 - 1.0
    ).to(device)


def grad_norm(net: torch.nn.Module) -> float:
    """Total L2 norm of the gradients of `net` (one sync)."""
    norms = [p.grad.detach().pow(2).sum() for p in net.parameters() if p.grad is not None]
    return float(torch.stack(norms).sum().sqrt())


def clip_fraction(net: torch.nn.Module, clip: float) -> float:
    """Fraction of the weights of `net` at the bound ±clip, computed as the W-GAN does."""
    at, total = 0, 0
    with torch.no_grad():
        for p in net.parameters():
            bound = torch.tensor(clip, dtype=p.dtype, device=p.device)
            at += int(((p.abs() - bound).abs() <= 1e-12 * bound).sum())
            total += p.numel()
    return at / total


def bare_loop(model, hp, sample: Callable, steps: int, diag: bool) -> None:
    """The update rule of `model`'s family written out in plain PyTorch, on `model`'s nets (and
    their device, where the noise is drawn)."""
    dev = next(model.parameters()).device
    if hasattr(model, "discriminator"):  # GAN and DCGAN: algorithm 13.1
        G, D = model.generator, model.discriminator
        opt_g = torch.optim.Adam(G.parameters(), lr=hp.lr, betas=(hp.beta1, hp.beta2))
        opt_d = torch.optim.Adam(D.parameters(), lr=hp.lr, betas=(hp.beta1, hp.beta2))
        for _ in range(steps):
            for _ in range(hp.d_steps):
                real = sample()
                fake = G(torch.randn(len(real), hp.z_dim, device=dev)).detach()
                real_logits, fake_logits = D(real), D(fake)
                loss_d = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()
            logits = D(G(torch.randn(hp.batch_size, hp.z_dim, device=dev)))
            loss_g = -F.softplus(logits).mean() if hp.loss == "minimax" else F.softplus(-logits).mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            norm = grad_norm(G) if diag else 0.0
            opt_g.step()
            if diag:
                d_real, d_fake = torch.sigmoid(real_logits).mean(), torch.sigmoid(fake_logits).mean()
                _ = (loss_d.item(), loss_g.item(), d_real.item(), d_fake.item(), norm)
    elif hasattr(model, "critic"):  # W-GAN: algorithm 13.2
        G, C = model.generator, model.critic
        opt_g = torch.optim.RMSprop(G.parameters(), lr=hp.lr)
        opt_c = torch.optim.RMSprop(C.parameters(), lr=hp.lr)
        for _ in range(steps):
            for _ in range(hp.critic_steps):
                real = sample()
                fake = G(torch.randn(len(real), hp.z_dim, device=dev)).detach()
                w_estimate = C(real).mean() - C(fake).mean()
                opt_c.zero_grad(set_to_none=True)
                (-w_estimate).backward()
                opt_c.step()
                with torch.no_grad():
                    for p in C.parameters():
                        p.clamp_(-hp.clip, hp.clip)
            loss_g = -C(G(torch.randn(hp.batch_size, hp.z_dim, device=dev))).mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            norm = grad_norm(G) if diag else 0.0
            opt_g.step()
            if diag:
                _ = (w_estimate.item(), loss_g.item(), norm, clip_fraction(C, hp.clip))
    else:  # VAE, gaussian decoder with learned std: eqs. 13.18, 13.21-13.27
        enc, dec = model.encoder, model.decoder
        opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=hp.lr)
        m, half_log_2pi = hp.mc_samples, 0.5 * math.log(2 * math.pi)
        for _ in range(steps):
            x = sample()
            mu, pre_sigma = enc(x).chunk(2, dim=-1)
            sigma = F.softplus(pre_sigma) + 1e-6
            z = (mu + sigma * torch.randn((m, *mu.shape), device=dev)).flatten(0, 1)
            mean, pre_std = dec(z).chunk(2, dim=1)
            std = F.softplus(pre_std) + hp.min_std
            x_rep = x.expand(m, *x.shape).flatten(0, 1)
            log_lik = (-0.5 * ((x_rep - mean) / std).pow(2) - std.log() - half_log_2pi).sum(-1)
            kl = 0.5 * (mu.pow(2) + sigma.pow(2) - 1 - 2 * sigma.log()).sum(-1)
            loss = -(log_lik.view(m, len(x)).mean(0) - kl).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if diag:
                _ = loss.item()


# family -> (data set entry, model entry) of the self-check: the cases of tools/bench_trainer.py
FAMILIES: dict[str, tuple[str, str]] = {
    "gan": ("{name: grid25}", "{name: gan, loss: nonsaturating, d_steps: 1}"),
    "wgan": ("{name: grid25}", "{name: wgan, critic_steps: 5}"),
    "vae": ("{name: grid25}", "{name: vae}"),
    "dcgan": ("{name: digits}", "{name: dcgan, width: 0.125, batch_size: 32}"),
}
BRANCH = {"gan": "GAN and DCGAN", "dcgan": "GAN and DCGAN", "wgan": "W-GAN", "vae": "VAE"}


class LoopMismatch(AssertionError):
    """A bare loop no longer computes what genbench's update rule computes."""


def max_diff(a: dict, b: dict) -> float:
    """The largest absolute difference between two state dicts' floating-point tensors."""
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].is_floating_point())


def self_check(
    families: dict[str, tuple[str, str]] = FAMILIES, steps: int = 3, bare=None
) -> dict[str, float]:
    """Train each family `steps` steps with genbench's Trainer and with its bare loop (`bare`, by
    default `bare_loop`) from the same seed; return the largest parameter difference of each."""
    from bench_report import load_specs

    from genbench.worker import train as train_mod

    out = {}
    for family, (dataset, model) in families.items():
        text = (
            f"name: check\nseeds: [0]\nbudget: {{steps: {steps}}}\ndatasets: [{dataset}]\nmodels: [{model}]\n"
        )
        spec = load_specs(text + "metrics: [parzen]\n")[0]  # any family and data set; never evaluated here
        run = train_mod.Trainer(spec)
        for _ in range(steps):
            run.train_step()
        train_mod.seed_everything(spec.seed)  # as the Trainer: seed, build data and model, data stream
        data, net = train_mod.build(spec)
        rng = torch.Generator(getattr(data, "device", "cpu")).manual_seed(spec.seed)
        (bare or bare_loop)(net, net.hp, batches(data, net.batch_size, rng), steps, True)
        out[family] = max_diff(run.model.state_dict(), net.state_dict())
    return out


def check(families: dict[str, tuple[str, str]] = FAMILIES, steps: int = 3, bare=None) -> dict[str, float]:
    """`self_check`, raising LoopMismatch that names every family whose bare loop no longer ends
    at genbench's parameters to the bit (the overhead ratio would compare different work)."""
    diffs = self_check(families, steps, bare)
    bad = [
        f"{family}: the bare loop (tools/bench_loops.py, bare_loop's {BRANCH[family]} branch) ends "
        f"{diff:.1e} away from genbench's {family} update rule after {steps} steps; make it do what "
        f"the family's train_step does now"
        for family, diff in diffs.items()
        if diff != 0.0
    ]
    if bad:
        raise LoopMismatch("\n".join(bad))
    return diffs


if __name__ == "__main__":
    import sys

    torch.set_num_threads(1)
    try:
        for name, diff in check().items():
            print(f"{name}: bit-equal (max abs difference {diff:.1e})")
    except LoopMismatch as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)
