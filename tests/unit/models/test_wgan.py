"""The W-GAN's options: gradient penalty (WGAN-GP) with its defaults, spectral norm, separate
optimizer settings, their diagnostics, seeds trained together, training, resume and divergence."""

from __future__ import annotations

import pytest
import torch

from genbench.builtins import load_builtins
from genbench.data import images, toys
from genbench.models import losses, wgan
from genbench.registry import DATASETS
from genbench.suite.config import SuiteError, load_suite
from genbench.worker.seed_group import SeedGroup
from genbench.worker.train import train
from tests.helpers import DCGAN_DIGITS as DIGITS
from tests.helpers import DCGAN_NETS, RING, check_trains_samples_and_resumes, option_spec, write_option_suite

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = {"z_dim": 8, "hidden": 16, "batch_size": 32, "critic_steps": 2}
OPTIONS = {
    "gp": {"lipschitz": "gp"},
    "gp-toy-lambda": {"lipschitz": "gp", "gp_lambda": 0.1},
    "spectral_norm": {"spectral_norm": True},
    "gp-spectral_norm": {"lipschitz": "gp", "spectral_norm": True},
    "own-optimizers": {"lipschitz": "gp", "lr_g": 1e-3, "lr_d": 2e-4, "betas_d": [[0.0, 0.9]]},
    "clip-own-lr": {"lr_g": 1e-4, "lr_d": 5e-5},
}


@pytest.fixture(scope="module")
def ring():
    return toys.build_ring(toys.RingParams(train_size=2000, test_size=500))


@pytest.mark.parametrize("option", list(OPTIONS))
def test_option_trains_samples_and_resumes_bit_for_bit_on_ring8(tmp_path, option):
    check_trains_samples_and_resumes(tmp_path, {"name": "wgan", **SMALL, **OPTIONS[option]}, RING, 12, 7)


@pytest.mark.parametrize("option", ["gp", "spectral_norm"])
def test_option_trains_samples_and_resumes_on_digits_with_dcgan_nets(tmp_path, option):
    model = {"name": "wgan", **DCGAN_NETS, "critic_steps": 2, **OPTIONS[option]}
    check_trains_samples_and_resumes(tmp_path, model, DIGITS, 4, 3)


@pytest.mark.parametrize("option", ["gp", "spectral_norm"])
def test_a_diverging_run_of_each_option_is_recorded_diverged(tmp_path, option):
    spec = option_spec(tmp_path, {"name": "wgan", **SMALL, **OPTIONS[option], "lr": 1e30}, RING, 50)
    result = train(spec)
    assert result.status == "diverged" and "non-finite" in result.error


def test_gp_defaults_are_gulrajanis_and_clip_keeps_arjovskys():
    clip, gp = wgan.WGANHParams(), wgan.WGANHParams(lipschitz="gp")
    assert (clip.lr, clip.beta1, clip.beta2, clip.critic_steps) == (5e-5, None, None, 5)
    assert (gp.lr, gp.beta1, gp.beta2, gp.critic_steps, gp.gp_lambda) == (1e-4, 0.5, 0.9, 5, 10.0)
    assert wgan.WGANHParams(lipschitz="gp", lr=3e-4, beta1=0.0).model_dump()["lr"] == 3e-4


def test_gp_uses_adam_without_clipping_and_clip_uses_rmsprop(ring):
    gp = wgan.build(wgan.WGANHParams(**SMALL, lipschitz="gp", lr=1.0), ring)
    assert isinstance(gp.opt_c, torch.optim.Adam) and gp.opt_c.param_groups[0]["betas"] == (0.5, 0.9)
    out = gp.train_step(lambda: ring.train[torch.randint(2000, (32,))], 0)
    assert set(out) == {"w_estimate", "loss_g", "grad_norm_g", "gp", "gp_grad_norm"}
    assert max(p.abs().max().item() for p in gp.critic.parameters()) > 0.5  # lr 1: far past any clip
    clip = wgan.build(wgan.WGANHParams(**SMALL), ring)
    assert isinstance(clip.opt_c, torch.optim.RMSprop)
    assert set(clip.train_step(lambda: ring.train[:32], 0)) == {
        "w_estimate",
        "loss_g",
        "grad_norm_g",
        "clip_frac",
    }


def test_gp_step_is_the_critic_loss_plus_the_penalty_on_interpolates(ring):
    """The critic's gradient equals that of -(E f(x) - E f(G(z))) + λE(‖∇f(x̂)‖ - 1)² with the same
    fakes and ε (Gulrajani et al. 2017, algorithm 1)."""
    hp = wgan.WGANHParams(**{**SMALL, "critic_steps": 1}, lipschitz="gp", gp_lambda=3.0)
    torch.manual_seed(0)
    model = wgan.build(hp, ring)
    twin = wgan.build(hp, ring)
    twin.load_state_dict(model.state_dict())
    model.opt_g.param_groups[0]["lr"] = 0.0  # keep G where the twin is
    real = ring.train[:32]
    state = torch.get_rng_state()
    out = model.train_step(lambda: real, 0)
    torch.set_rng_state(state)
    fake = twin.generator(twin.noise(32, 8)).detach()
    eps = torch.rand(32, 1)
    penalty, norm = losses.gradient_penalty(twin.critic, real, fake, 3.0, eps)
    (-(twin.critic(real).mean() - twin.critic(fake).mean()) + penalty).backward()
    assert out["gp"] == pytest.approx(penalty.item(), rel=1e-6)
    assert out["gp_grad_norm"] == pytest.approx(norm.item(), rel=1e-6)
    twin.opt_c.step()
    for a, b in zip(model.critic.parameters(), twin.critic.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-7)


def test_gp_and_spectral_norm_take_batchnorm_out_of_the_dcgan_critic():
    digits = images.build_digits(images.DigitsParams(size=32))
    for hp, has_bn in [({}, True), ({"lipschitz": "gp"}, False), ({"spectral_norm": True}, False)]:
        critic = wgan.build(wgan.WGANHParams(arch="dcgan", width=0.125, **hp), digits).critic
        assert any(isinstance(m, torch.nn.BatchNorm2d) for m in critic.modules()) == has_bn


def test_spectral_norm_keeps_the_critics_sigma_within_2_percent_of_1(ring):
    model = wgan.build(wgan.WGANHParams(**SMALL, spectral_norm=True, lipschitz="gp", lr=1e-3), ring)
    for _ in range(5):
        out = model.train_step(lambda: ring.train[torch.randint(2000, (32,))], 0)
    assert out["sn_sigma_max"] > 0
    model.eval()
    with torch.no_grad():
        for layer in (m for m in model.critic.modules() if isinstance(m, torch.nn.Linear)):
            assert torch.linalg.matrix_norm(layer.weight, ord=2).item() == pytest.approx(1.0, rel=0.02)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"beta1": 0.5}, "RMSProp"),
        ({"lipschitz": "lipschitz"}, "lipschitz"),
        ({"gp_lambda": -1.0}, "gp_lambda"),
    ],
)
def test_bad_options_name_the_file_and_line(tmp_path, change, message):
    with pytest.raises(SuiteError, match=message) as err:
        load_suite(write_option_suite(tmp_path, {"name": "wgan", **change}, RING, 5))
    assert "suite.yaml:" in str(err.value)


def test_spectral_norm_refuses_seeds_trained_together(tmp_path):
    with pytest.raises(SuiteError, match="spectral_norm's power iteration"):
        load_suite(
            write_option_suite(
                tmp_path, {"name": "wgan", **SMALL, "spectral_norm": True}, RING, 5, vectorize_seeds=True
            )
        )


def test_seeds_together_get_each_seeds_own_gradient_penalty_gradient(tmp_path):
    """Each seed's critic gradient of -W + GP in the batched model equals its lone model's."""
    model = {"name": "wgan", **SMALL, "lipschitz": "gp"}
    specs = load_suite(write_option_suite(tmp_path, model, RING, 5, vectorize_seeds=True, seeds=[0, 1, 2]))[1]
    group = SeedGroup(specs)
    members = [m.model for m in group.members]
    seeds = len(specs)
    real, fake, eps = torch.randn(4 * seeds, 2), torch.randn(4 * seeds, 2), torch.rand(4 * seeds, 1)

    def c_loss(critic, real, fake, eps):
        return (
            -(critic(real).mean() - critic(fake).mean())
            + losses.gradient_penalty(critic, real, fake, 10.0, eps)[0]
        )

    c_loss(group.model.critic, real, fake, eps).backward()
    for s, member in enumerate(members):
        rows = slice(s, None, seeds)
        c_loss(member.critic, real[rows], fake[rows], eps[rows]).backward()
        for name, layer in group.batch.layers.items():
            if name.startswith("critic"):
                own = group.batch.member_layers[s][name]
                assert torch.allclose(layer.weight.grad[s], own.weight.grad, rtol=1e-5, atol=1e-6), name
                assert torch.allclose(layer.bias.grad[s, 0], own.bias.grad, rtol=1e-5, atol=1e-6), name


def test_wgan_clip_fraction_counts_weights_at_the_bound():
    load_builtins()
    entry = DATASETS.get("ring8")
    ring = entry.build(entry.params(train_size=1000, test_size=10))
    torch.manual_seed(0)
    hp = wgan.WGANHParams(z_dim=8, hidden=16, batch_size=32, clip=0.05, lr=1.0, critic_steps=1)
    model = wgan.build(hp, ring)
    out = model.train_step(lambda: ring.batch(32, torch.Generator().manual_seed(0)), 0)
    flat = torch.cat([p.detach().flatten() for p in model.critic.parameters()])
    expected = float((flat.abs() == torch.tensor(0.05)).float().mean())
    assert 0 < out["clip_frac"] == pytest.approx(expected) and out["clip_frac"] < 1
    with torch.no_grad():
        for p in model.critic.parameters():
            p.zero_()
    assert model.clip_fraction() == 0.0
