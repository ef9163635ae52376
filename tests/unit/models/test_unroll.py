"""Unrolled GAN (models/unroll.py): k = 0 is the plain GAN bit for bit; the differentiable Adam step
is torch's; the generator's gradient through k = 1 steps matches float64 finite differences; the
unrolled copy leaves D and its optimizer alone; unrolling trains, resumes and diverges as recorded."""

from __future__ import annotations

import copy

import pytest
import torch

from genbench.data import toys
from genbench.models import gan, unroll
from tests.helpers import DIGITS, check_diverges, check_resume
from tools.bench_loops import bare_loop, batches


@pytest.fixture(scope="module")
def ring():
    return toys.build_ring(toys.RingParams(train_size=500, test_size=100))


def test_unroll_0_is_the_plain_gan_bit_for_bit(ring):
    hp = gan.GANHParams(hidden=16, depth=2, z_dim=4, batch_size=32, unroll=0, loss="minimax")
    torch.manual_seed(0)
    model = gan.build(hp, ring)
    reference = copy.deepcopy(model)
    torch.manual_seed(1)
    gen = torch.Generator().manual_seed(1)
    for step in range(5):
        model.train_step(lambda: ring.batch(model.batch_size, gen), step)
    torch.manual_seed(1)
    bare_loop(reference, hp, batches(ring, hp.batch_size, torch.Generator().manual_seed(1)), 5, diag=False)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), reference.parameters(), strict=True))


def tiny(ring, loss: str, k: int = 1):
    """A float64 GAN of 1 hidden layer of 3 units whose D's Adam has taken two steps already."""
    torch.manual_seed(0)
    hp = gan.GANHParams(hidden=3, depth=1, z_dim=2, batch_size=6, unroll=k, loss=loss, lr=0.05)
    model = gan.build(hp, ring).double()
    for _ in range(2):  # non-empty moments: the second-order path is not Adam's sign-like first step
        model.opt_d.zero_grad()
        gan.discriminator_loss(
            model.discriminator(torch.randn(6, 2, dtype=torch.float64)), torch.zeros(6, 1)
        ).backward()
        model.opt_d.step()
    real, z = torch.randn(6, 2, dtype=torch.float64), torch.randn(6, 2, dtype=torch.float64)
    return model, real, z


def test_the_differentiable_adam_step_is_torchs(ring):
    model, real, z = tiny(ring, "nonsaturating")
    params = {n: p.detach().clone() for n, p in model.discriminator.named_parameters()}
    m, v, step = unroll.adam_state(model.opt_d, dict(model.discriminator.named_parameters()))
    model.opt_d.zero_grad()
    gan.discriminator_loss(
        model.discriminator(real), model.discriminator(model.generator(z).detach())
    ).backward()
    grads = {n: p.grad.clone() for n, p in model.discriminator.named_parameters()}
    new, *_ = unroll.adam_update(params, grads, m, v, step, model.opt_d.param_groups[0])
    model.opt_d.step()
    for name, p in model.discriminator.named_parameters():
        assert torch.allclose(new[name], p, rtol=1e-12, atol=1e-15), name


@pytest.mark.parametrize("loss", ["minimax", "nonsaturating"])
def test_the_generators_unrolled_gradient_matches_finite_differences(ring, loss):
    model, real, z = tiny(ring, loss)
    params = list(model.generator.parameters())
    loss_g, _ = unroll.unrolled_generator_loss(model, real, z)
    analytic = torch.autograd.grad(loss_g, params)
    eps = 1e-6
    for p, g in zip(params, analytic, strict=True):
        numeric = torch.zeros_like(p)
        for i in range(p.numel()):
            with torch.no_grad():
                p.view(-1)[i] += eps
            up = unroll.unrolled_generator_loss(model, real, z)[0].item()
            with torch.no_grad():
                p.view(-1)[i] -= 2 * eps
            down = unroll.unrolled_generator_loss(model, real, z)[0].item()
            with torch.no_grad():
                p.view(-1)[i] += eps
            numeric.view(-1)[i] = (up - down) / (2 * eps)
        assert torch.allclose(g, numeric, rtol=1e-5, atol=1e-8)
    # the unrolled step matters: at k = 0 (the current D) the generator's gradient is another
    plain = torch.autograd.grad(gan.generator_loss(model.discriminator(model.generator(z)), loss), params)
    assert not all(torch.allclose(a, b, rtol=1e-3) for a, b in zip(analytic, plain, strict=True))


def test_unrolling_leaves_the_discriminator_and_its_optimizer_alone(ring):
    model, real, z = tiny(ring, "minimax", k=3)
    before = copy.deepcopy((model.discriminator.state_dict(), model.opt_d.state_dict()))
    loss_g, gap = unroll.unrolled_generator_loss(model, real, z)
    loss_g.backward()
    after = (model.discriminator.state_dict(), model.opt_d.state_dict())
    assert all(torch.equal(before[0][k], after[0][k]) for k in before[0])
    for key, state in before[1]["state"].items():
        assert all(torch.equal(state[s], after[1]["state"][key][s]) for s in state)
    assert gap < 0  # three steps of D's own optimiser lower D's loss on that batch


def test_one_unrolled_step_returns_the_gap_and_moves_both_nets(ring):
    torch.manual_seed(0)
    model = gan.build(gan.GANHParams(hidden=8, depth=1, z_dim=4, batch_size=16, unroll=2), ring)
    g0, d0 = copy.deepcopy(model.generator), copy.deepcopy(model.discriminator)
    gen = torch.Generator().manual_seed(0)
    calls = []
    out = model.train_step(lambda: calls.append(1) or ring.batch(16, gen), 0)
    assert len(calls) == 1 and set(out) >= {"loss_d", "loss_g", "unroll_gap", "grad_norm_g"}
    assert not any(
        torch.equal(a, b) for a, b in zip(g0.parameters(), model.generator.parameters(), strict=True)
    )
    assert not any(
        torch.equal(a, b) for a, b in zip(d0.parameters(), model.discriminator.parameters(), strict=True)
    )


def test_an_unrolled_gan_resumes_bit_for_bit_on_ring8(tmp_path):
    check_resume(tmp_path, {"name": "gan", "z_dim": 8, "hidden": 16, "batch_size": 32, "unroll": 2})


def test_an_unrolled_dcgan_trains_and_resumes_on_digits(tmp_path):
    model = {"name": "dcgan", "width": 0.0625, "batch_size": 8, "z_dim": 16, "unroll": 1}
    check_resume(tmp_path, model, DIGITS, steps=6, stop_at=3)


def test_a_diverging_unrolled_gan_is_recorded_diverged(tmp_path):
    check_diverges(
        tmp_path, {"name": "gan", "z_dim": 8, "hidden": 16, "batch_size": 32, "unroll": 1, "lr": 1e30}
    )
