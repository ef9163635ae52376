"""The GAN family's options: losses, spectral norm, R1, separate optimizer settings, their
diagnostics, seeds trained together, and every option training, resuming bit for bit and diverging."""

from __future__ import annotations

import pytest
import torch

from genbench.builtins import load_builtins
from genbench.data import toys
from genbench.models import gan, losses
from genbench.registry import DATASETS
from genbench.suite.config import SuiteError, load_suite
from genbench.worker.seed_group import SeedGroup
from genbench.worker.train import train
from tests.helpers import DCGAN_DIGITS as DIGITS
from tests.helpers import DCGAN_NETS, RING, check_trains_samples_and_resumes, option_spec, write_option_suite

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = {"z_dim": 8, "hidden": 16, "batch_size": 32}
OPTIONS = {
    "lsgan": {"loss": "lsgan"},
    "hinge": {"loss": "hinge"},
    "fgan-kl": {"loss": "fgan", "divergence": "kl"},
    "fgan-reverse_kl": {"loss": "fgan", "divergence": "reverse_kl"},
    "fgan-js": {"loss": "fgan", "divergence": "js"},
    "fgan-pearson": {"loss": "fgan", "divergence": "pearson"},
    "fgan-hellinger": {"loss": "fgan", "divergence": "hellinger"},
    "spectral_norm": {"spectral_norm": True},
    "r1": {"r1": 1.0},
    "own-optimizers": {"lr_g": 1e-3, "lr_d": 2e-4, "betas_g": [[0.0, 0.9]], "betas_d": [[0.5, 0.99]]},
}


@pytest.fixture(scope="module")
def ring():
    return toys.build_ring(toys.RingParams(train_size=2000, test_size=500))


# ------------------------------------------------------------------------------- every option
@pytest.mark.parametrize("option", list(OPTIONS))
def test_option_trains_samples_and_resumes_bit_for_bit_on_ring8(tmp_path, option):
    plain = check_trains_samples_and_resumes(
        tmp_path, {"name": "gan", **SMALL, **OPTIONS[option]}, RING, 12, 7
    )
    assert plain.steps == 12


@pytest.mark.parametrize("option", ["lsgan", "hinge", "fgan-js", "spectral_norm", "r1", "own-optimizers"])
def test_option_trains_samples_and_resumes_on_digits_with_dcgan_nets(tmp_path, option):
    check_trains_samples_and_resumes(tmp_path, {"name": "gan", **DCGAN_NETS, **OPTIONS[option]}, DIGITS, 4, 3)


@pytest.mark.parametrize("option", ["lsgan", "hinge", "fgan-kl", "fgan-hellinger", "spectral_norm", "r1"])
def test_a_diverging_run_of_each_option_is_recorded_diverged(tmp_path, option):
    spec = option_spec(tmp_path, {"name": "gan", **SMALL, **OPTIONS[option], "lr": 1e30}, RING, 50)
    result = train(spec)
    assert result.status == "diverged" and "non-finite" in result.error
    assert result.steps < 50


# ----------------------------------------------------------------------------- what each does
def test_default_step_returns_exactly_todays_diagnostics(ring):
    model = gan.build(gan.GANHParams(**SMALL), ring)
    out = model.train_step(lambda: ring.train[:32], 0)
    assert set(out) == {"loss_d", "loss_g", "d_real", "d_fake", "grad_norm_g"}


def test_option_diagnostics_appear_only_when_on_and_are_declared(ring):
    declared = {d.key for d in gan.DIAGNOSTICS}
    model = gan.build(gan.GANHParams(**SMALL, loss="hinge", r1=2.0, spectral_norm=True), ring)
    out = model.train_step(lambda: ring.train[:32], 0)
    assert {"r1", "sn_sigma_max", "v_real", "v_fake"} <= set(out) <= declared | {"loss_d", "loss_g"}
    assert "d_real" not in out and out["r1"] > 0


def test_spectral_norm_wraps_every_layer_and_keeps_sigma_within_2_percent_of_1(ring):
    model = gan.build(gan.GANHParams(**SMALL, spectral_norm=True, lr=1e-3), ring)
    for _ in range(5):
        model.train_step(lambda: ring.train[torch.randint(2000, (32,))], 0)
    layers = [m for m in model.discriminator.modules() if isinstance(m, torch.nn.Linear)]
    assert layers and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    model.eval()  # the weight of the last forward's power iteration, no new iteration
    with torch.no_grad():
        for layer in layers:
            sigma = torch.linalg.matrix_norm(layer.weight, ord=2).item()
            assert sigma == pytest.approx(1.0, rel=0.02)
    assert not any(torch.nn.utils.parametrize.is_parametrized(m) for m in model.generator.modules())


def test_spectral_norm_and_r1_take_batchnorm_out_of_the_dcgan_discriminator():
    from genbench.data import images

    digits = images.build_digits(images.DigitsParams(size=32))
    plain = gan.build(gan.DCGANHParams(width=0.125), digits)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.discriminator.modules())
    for hp in (gan.DCGANHParams(width=0.125, spectral_norm=True), gan.DCGANHParams(width=0.125, r1=1.0)):
        disc = gan.build(hp, digits).discriminator
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in disc.modules())
    sn = gan.build(gan.DCGANHParams(width=0.125, spectral_norm=True), digits).discriminator
    convs = [m for m in sn.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    assert len(convs) == 4 and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in convs)


def test_r1_step_adds_the_penalty_to_ds_gradient(ring):
    """D's gradient under r1 = the gradient of its loss plus (γ/2)E‖∇D(x)‖² on the same real batch."""
    torch.manual_seed(0)
    model = gan.build(gan.GANHParams(**SMALL, r1=3.0), ring)
    twin = gan.build(gan.GANHParams(**SMALL), ring)
    twin.load_state_dict(model.state_dict())
    real = ring.train[:32]
    state = torch.get_rng_state()
    out = model.discriminator_step(lambda: real)
    got = [p.grad.clone() for p in model.discriminator.parameters()]
    torch.set_rng_state(state)
    fake = twin.generator(twin.noise(32, 8)).detach()
    x = real.clone().requires_grad_(True)
    logits = twin.discriminator(x)
    expected_r1 = losses.r1_penalty(logits, x, 3.0)
    (losses.discriminator_loss(logits, twin.discriminator(fake)) + expected_r1).backward()
    assert out["r1"].item() == pytest.approx(expected_r1.item(), rel=1e-6)
    for a, p in zip(got, twin.discriminator.parameters(), strict=True):
        assert torch.allclose(a, p.grad, rtol=1e-5, atol=1e-7)


def test_separate_learning_rates_and_betas_fall_back_to_the_shorthand(ring):
    both = gan.build(gan.GANHParams(**SMALL, lr=3e-4, beta1=0.1), ring)
    assert [g["lr"] for g in both.opt_g.param_groups] == [3e-4] and both.opt_d.param_groups[0]["lr"] == 3e-4
    assert both.opt_g.param_groups[0]["betas"] == (0.1, 0.999) == both.opt_d.param_groups[0]["betas"]
    own = gan.build(gan.GANHParams(**SMALL, lr_g=1e-3, betas_d=(0.0, 0.9)), ring)
    assert own.opt_g.param_groups[0]["lr"] == 1e-3 and own.opt_d.param_groups[0]["lr"] == 1e-4
    assert own.opt_g.param_groups[0]["betas"] == (0.5, 0.999) and own.opt_d.param_groups[0]["betas"] == (
        0.0,
        0.9,
    )


# ------------------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"loss": "fgan"}, "loss: fgan needs a divergence"),
        ({"divergence": "kl"}, "divergence applies to loss: fgan only"),
        ({"loss": "fgan", "divergence": "tv"}, "divergence"),
        ({"betas_g": [0.5, 0.9]}, r"betas are a pair; write \[\[beta1, beta2\]\]"),
        ({"r1": -1.0}, "r1"),
    ],
)
def test_bad_options_name_the_file_and_line(tmp_path, change, message):
    with pytest.raises(SuiteError, match=message) as err:
        load_suite(write_option_suite(tmp_path, {"name": "gan", **change}, RING, 5))
    assert "suite.yaml:" in str(err.value)


def test_spectral_norm_refuses_seeds_trained_together(tmp_path):
    model = {"name": "gan", **SMALL, "spectral_norm": True}
    with pytest.raises(SuiteError, match="spectral_norm's power iteration") as err:
        load_suite(write_option_suite(tmp_path, model, RING, 5, vectorize_seeds=True))
    assert "suite.yaml:" in str(err.value)


# -------------------------------------------------------------------------- seeds together
@pytest.mark.parametrize("option", ["lsgan", "hinge", "fgan-kl", "fgan-js", "r1"])
def test_seeds_together_get_each_seeds_own_discriminator_gradient(tmp_path, option):
    """Each seed's D gradient (loss and R1) in the batched model equals its lone model's."""
    model = {"name": "gan", **SMALL, **OPTIONS[option]}
    suite = load_suite(write_option_suite(tmp_path, model, RING, 5, vectorize_seeds=True, seeds=[0, 1, 2]))
    specs = suite[1]
    group = SeedGroup(specs)
    members = [m.model for m in group.members]
    seeds = len(specs)
    real, fake = torch.randn(4 * seeds, 2), torch.randn(4 * seeds, 2)
    hp = members[0].hp

    def d_loss(disc, real, fake):
        x = real.clone().requires_grad_(True)
        logits = disc(x)
        value = losses.discriminator_loss(logits, disc(fake), hp.loss, hp.divergence)
        return value + (losses.r1_penalty(logits, x, hp.r1) if hp.r1 else 0.0)

    d_loss(group.model.discriminator, real, fake).backward()
    for s, member in enumerate(members):
        d_loss(member.discriminator, real[s::seeds], fake[s::seeds]).backward()
        for name, layer in group.batch.layers.items():
            if name.startswith("discriminator"):
                own = group.batch.member_layers[s][name]
                assert torch.allclose(layer.weight.grad[s], own.weight.grad, rtol=1e-5, atol=1e-7), name
                assert torch.allclose(layer.bias.grad[s, 0], own.bias.grad, rtol=1e-5, atol=1e-7), name


def test_minimax_generator_gradient_vanishes_when_the_discriminator_wins():
    """Eq. 13.42: with D(G(z)) -> 0 the minimax loss (13.34) gives G almost no gradient, the
    non-saturating loss (13.33) a large one."""
    load_builtins()
    entry = DATASETS.get("ring8")
    ring = entry.build(entry.params(train_size=1000, test_size=10))
    norms = {}
    for loss in ("minimax", "nonsaturating"):
        torch.manual_seed(0)
        model = gan.build(gan.GANHParams(loss=loss, z_dim=8, hidden=16, batch_size=64, lr=1e-12), ring)
        with torch.no_grad():
            model.discriminator[-1].bias.fill_(-12.0)  # D(.) = sigmoid(~ -12) for every input
        out = model.train_step(lambda: ring.batch(64, torch.Generator().manual_seed(0)), 0)
        assert out["d_fake"] < 1e-4
        norms[loss] = out["grad_norm_g"]
    assert norms["minimax"] < 1e-3 * norms["nonsaturating"]
