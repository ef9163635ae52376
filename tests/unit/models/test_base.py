"""Unit tests of the model families: losses against hand computations, update rules, determinism."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genbench.data import toys
from genbench.models import gan, vae, wgan


def sigmoid(t: float) -> float:
    return 1.0 / (1.0 + math.exp(-t))


def f64(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


@pytest.fixture(scope="module")
def ring():
    return toys.build_ring(toys.RingParams(train_size=500, test_size=100))


FAMILIES = {
    "gan_nonsaturating": (gan.build, gan.GANHParams(hidden=8, depth=1, z_dim=4, batch_size=16)),
    "gan_minimax": (
        gan.build,
        gan.GANHParams(hidden=8, depth=1, z_dim=4, batch_size=16, loss="minimax", d_steps=2),
    ),
    "wgan": (wgan.build, wgan.WGANHParams(hidden=8, depth=1, z_dim=4, batch_size=16, critic_steps=2)),
    "vae": (vae.build, vae.VAEHParams(hidden=8, depth=1, batch_size=16, mc_samples=2)),
    "vae_fixed_std": (vae.build, vae.VAEHParams(hidden=8, depth=1, batch_size=16, fixed_std=0.3)),
}


def train(build, hp, dataset, seed: int, steps: int = 3):
    """Build with the global seed `seed` and run `steps` train_steps on seeded minibatches."""
    torch.manual_seed(seed)
    model = build(hp, dataset)
    gen = torch.Generator().manual_seed(seed)
    for step in range(steps):
        model.train_step(lambda: dataset.batch(model.batch_size, gen), step)
    return model


def params_equal(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


# ---------------------------------------------------------------------------------------------- GAN


REAL = [2.0, -1.0, 0.5, 0.0]
FAKE = [-3.0, 0.0, 1.5, -0.25]


def test_discriminator_loss_matches_hand_computation():
    """eq. 13.31: -E[log D(x)] - E[log(1 - D(G(z)))] with D = sigmoid(logit)."""
    expected = -sum(math.log(sigmoid(r)) for r in REAL) / len(REAL) - sum(
        math.log(1 - sigmoid(f)) for f in FAKE
    ) / len(FAKE)
    got = gan.discriminator_loss(f64(REAL), f64(FAKE))
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_generator_loss_minimax_matches_hand_computation():
    """eq. 13.34: the generator minimises E[log(1 - D(G(z)))]."""
    expected = sum(math.log(1 - sigmoid(f)) for f in FAKE) / len(FAKE)
    got = gan.generator_loss(f64(FAKE), "minimax")
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_generator_loss_nonsaturating_matches_hand_computation():
    """eq. 13.33: the generator minimises -E[log D(G(z))]."""
    expected = -sum(math.log(sigmoid(f)) for f in FAKE) / len(FAKE)
    got = gan.generator_loss(f64(FAKE), "nonsaturating")
    assert got.item() == pytest.approx(expected, rel=1e-12)


def per_example_grad(logits: list[float], loss: str) -> list[float]:
    x = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    gan.generator_loss(x, loss).backward()
    return (x.grad * len(logits)).tolist()  # undo the mean


def test_minimax_generator_saturates_where_nonsaturating_does_not():
    """When D confidently rejects the fakes (very negative logits), d loss / d logit of the minimax
    loss is -sigmoid(l) ~ 0, while the non-saturating loss keeps -sigmoid(-l) ~ -1."""
    logits = [-20.0, -15.0, -10.0]
    minimax = per_example_grad(logits, "minimax")
    nonsat = per_example_grad(logits, "nonsaturating")
    for lg, g_mm, g_ns in zip(logits, minimax, nonsat, strict=True):
        assert g_mm == pytest.approx(-sigmoid(lg), rel=1e-9)
        assert g_ns == pytest.approx(-sigmoid(-lg), rel=1e-9)
        assert abs(g_mm) < 1e-4
        assert g_ns == pytest.approx(-1.0, abs=1e-4)


@pytest.mark.parametrize("k", [1, 3])
def test_gan_train_step_draws_k_real_batches(ring, k):
    """Algorithm 13.1: K discriminator steps, each on a fresh real minibatch, per generator step."""
    hp = gan.GANHParams(hidden=8, depth=1, z_dim=4, batch_size=16, d_steps=k)
    torch.manual_seed(0)
    model = gan.build(hp, ring)
    gen = torch.Generator().manual_seed(0)
    calls = []

    def next_batch():
        calls.append(1)
        return ring.batch(hp.batch_size, gen)

    out = model.train_step(next_batch, 0)
    assert len(calls) == k
    model.train_step(next_batch, 1)
    assert len(calls) == 2 * k
    assert set(out) >= {"loss_d", "loss_g"}
    assert all(math.isfinite(v) for v in out.values())


# --------------------------------------------------------------------------------------------- WGAN


def test_wgan_critic_weights_clipped_after_train_step(ring):
    """Algorithm 13.2: after each critic update every critic weight is clamped to [-c, c]."""
    clip = 0.05
    hp = wgan.WGANHParams(hidden=8, depth=1, z_dim=4, batch_size=16, lr=1.0, clip=clip, critic_steps=2)
    torch.manual_seed(0)
    model = wgan.build(hp, ring)
    # the default init and an lr of 1 put weights well outside the bound, so clipping must act
    assert max(p.abs().max().item() for p in model.critic.parameters()) > clip
    gen = torch.Generator().manual_seed(0)
    model.train_step(lambda: ring.batch(hp.batch_size, gen), 0)
    flat = torch.cat([p.detach().flatten() for p in model.critic.parameters()])
    bound = torch.tensor(clip, dtype=flat.dtype)  # c as the parameters' dtype stores it
    assert bool((flat >= -bound).all())
    assert bool((flat <= bound).all())
    assert bool((flat.abs() == bound).any())


def test_wgan_critic_has_no_sigmoid(ring):
    """The critic f is an unbounded real function: a linear last layer, outputs outside (0, 1)."""
    torch.manual_seed(0)
    model = wgan.build(wgan.WGANHParams(hidden=8, depth=1, z_dim=4, batch_size=16), ring)
    assert isinstance(model.critic[-1], nn.Linear)
    assert not any(isinstance(m, nn.Sigmoid) for m in model.critic.modules())
    x = 1e3 * torch.tensor([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])
    with torch.no_grad():
        out = model.critic(x)
    assert out.abs().max().item() > 1.0


@pytest.mark.parametrize("k", [1, 4])
def test_wgan_train_step_draws_n_critic_batches(ring, k):
    hp = wgan.WGANHParams(hidden=8, depth=1, z_dim=4, batch_size=16, critic_steps=k)
    torch.manual_seed(0)
    model = wgan.build(hp, ring)
    gen = torch.Generator().manual_seed(0)
    calls = []

    def next_batch():
        calls.append(1)
        return ring.batch(hp.batch_size, gen)

    model.train_step(next_batch, 0)
    assert len(calls) == k


# ---------------------------------------------------------------------------------------------- VAE


def test_gaussian_kl_closed_form_1d():
    """KL(N(m, s^2) || N(0, 1)) = -log s + (s^2 + m^2) / 2 - 1/2, and 0 for the prior itself."""
    for m, s in [(0.3, 2.0), (-1.5, 0.4), (0.0, 1.0)]:
        expected = -math.log(s) + (s * s + m * m) / 2 - 0.5
        got = vae.gaussian_kl(f64([[m]]), f64([[s]]))
        assert got.shape == (1,)
        assert got.item() == pytest.approx(expected, rel=1e-12, abs=1e-15)
    zero = vae.gaussian_kl(torch.zeros(3, 2, dtype=torch.float64), torch.ones(3, 2, dtype=torch.float64))
    assert torch.equal(zero, torch.zeros(3, dtype=torch.float64))


def test_gaussian_kl_matches_monte_carlo():
    """Per example, sum over dimensions: compare with E_q[log q(z) - log p(z)] from many draws,
    within 5 Monte-Carlo standard errors."""
    mu = torch.tensor([[0.5, -1.0], [0.0, 2.0]], dtype=torch.float64)
    sigma = torch.tensor([[0.7, 1.3], [0.2, 1.0]], dtype=torch.float64)
    kl = vae.gaussian_kl(mu, sigma)
    assert kl.shape == (2,)
    n = 200_000
    gen = torch.Generator().manual_seed(0)
    z = mu + sigma * torch.randn(n, *mu.shape, generator=gen, dtype=torch.float64)
    q = torch.distributions.Normal(mu, sigma)
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(sigma))
    log_ratio = (q.log_prob(z) - p.log_prob(z)).sum(-1)  # (n, 2)
    mc = log_ratio.mean(0)
    se = log_ratio.std(0) / math.sqrt(n)
    assert torch.all((mc - kl).abs() < 5 * se), (mc, kl, se)
    exact = torch.distributions.kl_divergence(q, p).sum(-1)
    assert torch.allclose(kl, exact, rtol=1e-12)


def test_gaussian_log_likelihood_matches_torch_normal():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    mean = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    std = torch.rand(5, 3, generator=gen, dtype=torch.float64) + 0.1
    expected = torch.distributions.Normal(mean, std).log_prob(x).sum(-1)
    got = vae.gaussian_log_likelihood(x, mean, std)
    assert got.shape == (5,)
    assert torch.allclose(got, expected, rtol=1e-12)


def test_bernoulli_log_likelihood_matches_hand_computation():
    """eqs. 13.16-13.17: sum_d x_d log p_d + (1 - x_d) log(1 - p_d), p = sigmoid(logit)."""
    xs = [[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]
    logits = [[0.3, -2.0, 5.0], [1.0, 0.0, -4.0]]
    expected = [
        sum(
            xd * math.log(sigmoid(ld)) + (1 - xd) * math.log(1 - sigmoid(ld))
            for xd, ld in zip(xr, lr, strict=True)
        )
        for xr, lr in zip(xs, logits, strict=True)
    ]
    got = vae.bernoulli_log_likelihood(
        torch.tensor(xs, dtype=torch.float64), torch.tensor(logits, dtype=torch.float64)
    )
    assert got.tolist() == pytest.approx(expected, rel=1e-12)


def tiny_vae(**kw) -> vae.VAE:
    torch.manual_seed(0)
    ring = toys.build_ring(toys.RingParams(train_size=100, test_size=10))
    return vae.VAE(vae.VAEHParams(hidden=8, depth=1, latent_dim=2, **kw), ring)


def test_elbo_is_mean_over_mc_draws(ring):
    """eq. 13.22: with M draws z_m = mu + sigma * eps_m, ELBO = (1/M) sum_m log p(x|z_m) - KL."""
    model = tiny_vae()
    x = ring.test[:5]
    m = 4
    with torch.no_grad():
        torch.manual_seed(123)
        got = model.elbo(x, mc_samples=m)
        torch.manual_seed(123)
        mu, sigma = model.encode(x)
        eps = torch.randn((m, *mu.shape))
        per_draw = torch.stack([model.log_likelihood(x, mu + sigma * eps[i]) for i in range(m)])
        expected = per_draw.mean(0) - vae.gaussian_kl(mu, sigma)
    assert got.shape == (5,)
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-5)
    # the draws differ, so averaging is not trivially the same as one draw
    assert not torch.allclose(per_draw[0], per_draw[1])


def test_elbo_defaults_to_hparam_mc_samples(ring):
    model = tiny_vae(mc_samples=3)
    x = ring.test[:5]
    with torch.no_grad():
        torch.manual_seed(7)
        default = model.elbo(x)
        torch.manual_seed(7)
        explicit = model.elbo(x, mc_samples=3)
        torch.manual_seed(7)
        single = model.elbo(x, mc_samples=1)
    assert torch.equal(default, explicit)
    assert not torch.allclose(default, single)


@pytest.mark.parametrize("m", [1, 3])
def test_elbo_fixed_std_matches_eq_13_28(ring, m):
    """With a fixed decoder std s, log p(x|z) = -||x - f(z)||^2 / (2 s^2) - D log s - D/2 log 2 pi,
    and KL = 1/2 sum(mu^2 + sigma^2 - 1 - log sigma^2): build the ELBO by hand from these."""
    s = 0.3
    model = tiny_vae(fixed_std=s)
    x = ring.test[:6].double()
    model.double()
    d = x.shape[1]
    with torch.no_grad():
        torch.manual_seed(5)
        got = model.elbo(x, mc_samples=m)
        torch.manual_seed(5)
        h = model.encoder(x)
        mu, sigma = h[:, :2], torch.log1p(torch.exp(h[:, 2:])) + 1e-6
        eps = torch.randn((m, *mu.shape), dtype=mu.dtype)
        recon = torch.zeros(len(x), dtype=torch.float64)
        for i in range(m):
            mean = model.decoder(mu + sigma * eps[i])
            sq = ((x - mean) ** 2).sum(-1)
            recon += -sq / (2 * s * s) - d * math.log(s) - d / 2 * math.log(2 * math.pi)
        recon /= m
        kl = 0.5 * (mu**2 + sigma**2 - 1 - torch.log(sigma**2)).sum(-1)
    assert torch.allclose(got, recon - kl, rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------------------------------- families


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_same_seed_gives_identical_parameters(ring, family):
    """Training is a function of the seed: same seed -> bit-identical parameters after a few steps."""
    build, hp = FAMILIES[family]
    a = train(build, hp, ring, seed=0)
    b = train(build, hp, ring, seed=0)
    c = train(build, hp, ring, seed=1)
    assert params_equal(a, b)
    assert not params_equal(a, c)
    torch.manual_seed(0)
    untrained = build(hp, ring)
    assert not params_equal(a, untrained)  # the steps did update the parameters
    assert a.is_finite()


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_sample_shape_and_determinism(ring, family):
    """sample(n, generator) draws only from `generator`: same seed -> same values, whatever the
    global RNG state."""
    build, hp = FAMILIES[family]
    model = train(build, hp, ring, seed=0, steps=1)
    torch.manual_seed(100)
    a = model.sample(50, torch.Generator().manual_seed(3))
    torch.manual_seed(200)
    b = model.sample(50, torch.Generator().manual_seed(3))
    c = model.sample(50, torch.Generator().manual_seed(4))
    assert a.shape == (50, 2)
    assert a.device.type == "cpu"
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_iwae_lr_schedule_matches_burda_stages():
    """yburda/iwae experiments.py: stage i runs 3^(i-1) epochs at 1e-4 * round(10^(1-(i-1)/7), 1)."""
    stages = [(1, 1e-3), (3, 7.2e-4), (9, 5.2e-4), (27, 3.7e-4), (81, 2.7e-4), (243, 1.9e-4)]
    stages += [(729, 1.4e-4), (2187, 1e-4)]
    epoch = 0
    for length, lr in stages:
        for e in (epoch, epoch + length - 1):
            assert vae.iwae_lr(1e-3, e) == pytest.approx(lr)
        epoch += length
    assert epoch == 3280  # the paper's 3,280 epochs


def test_iwae_lr_schedule_sets_the_optimizer_lr_from_the_step():
    """500 training points in batches of 50: 10 steps an epoch; step 10 is epoch 1 (stage 2)."""
    ring_500 = toys.build_ring(toys.RingParams(train_size=500, test_size=10))
    hp = vae.VAEHParams(hidden=8, depth=1, latent_dim=2, lr_schedule="iwae", batch_size=50)
    model = vae.VAE(hp, ring_500)
    assert model.epoch_steps == 10
    batches = lambda: ring_500.train[:50]  # noqa: E731
    for step, lr in ((0, 1e-3), (9, 1e-3), (10, 7.2e-4), (39, 7.2e-4), (40, 5.2e-4)):
        model.train_step(batches, step)
        assert model.opt.param_groups[0]["lr"] == pytest.approx(lr)
    constant = tiny_vae(lr=1e-3)
    constant.train_step(batches, 40)
    assert constant.opt.param_groups[0]["lr"] == 1e-3
