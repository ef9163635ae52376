"""VEEGAN (models/veegan.py): its objective against hand computations, F trained by the
reconstruction term alone, and the family's run on ring8 and digits, resume and divergence."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from genbench.data import toys
from genbench.models import veegan
from genbench.registry import MODELS
from tests.helpers import DIGITS, check_diverges, check_resume


@pytest.fixture(scope="module")
def ring():
    return toys.build_ring(toys.RingParams(train_size=500, test_size=100))


def build(ring, **kw):
    torch.manual_seed(0)
    return veegan.build(veegan.VEEGANHParams(hidden=8, depth=1, z_dim=3, batch_size=16, **kw), ring)


def test_the_losses_match_a_hand_computation(ring):
    """With D's output layer at zero every logit is 0: O_LR = 2 log 2 and Ô = recon; recon is
    mean ‖z − F(G(z))‖² with the nets before the step, on the step's own draw of z."""
    model = build(ring)
    with torch.no_grad():
        model.discriminator[-1].weight.zero_()
        model.discriminator[-1].bias.zero_()
    before = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(0)
    real = ring.batch(16, gen)
    torch.manual_seed(5)
    out = model.train_step(lambda: real, 0)
    torch.manual_seed(5)
    z = torch.randn(16, 3)
    expected = ((z - before.reconstructor(before.generator(z))) ** 2).sum(1).mean().item()
    assert out["loss_d"] == pytest.approx(2 * math.log(2), rel=1e-6)
    assert out["d_gen_pair"] == out["d_rec_pair"] == pytest.approx(0.5)
    assert out["recon"] == pytest.approx(expected, rel=1e-6)
    # D moved by one step, so Ô = mean D(z, G(z)) + recon differs from recon by D's new output only
    assert out["loss_g"] == pytest.approx(
        expected + model.pair_logits(z, before.generator(z)).mean().item(), rel=1e-3, abs=1e-4
    )


def test_the_reconstructor_learns_from_the_reconstruction_term_only(ring):
    model = build(ring, recon_weight=0.0)
    f0 = copy.deepcopy(model.reconstructor)
    gen = torch.Generator().manual_seed(0)
    model.train_step(lambda: ring.batch(16, gen), 0)
    assert all(
        torch.equal(a, b) for a, b in zip(f0.parameters(), model.reconstructor.parameters(), strict=True)
    )
    model = build(ring)
    model.train_step(lambda: ring.batch(16, gen), 0)
    assert not all(
        torch.equal(a, b) for a, b in zip(f0.parameters(), model.reconstructor.parameters(), strict=True)
    )


def test_the_discriminator_judges_z_x_pairs(ring):
    model = build(ring)
    assert model.discriminator[0].in_features == 3 + 2
    assert model.reconstructor(torch.zeros(4, 2)).shape == (4, 3)
    keys = [d.key for d in MODELS.get("veegan").diagnostics]
    assert keys[:3] == ["recon", "d_gen_pair", "d_rec_pair"]
    assert set(keys) <= set(model.train_step(lambda: ring.batch(16, torch.Generator()), 0))


def test_veegan_resumes_bit_for_bit_on_ring8(tmp_path):
    check_resume(tmp_path, {"name": "veegan", "z_dim": 8, "hidden": 16, "batch_size": 32})


def test_veegan_trains_and_resumes_on_digits(tmp_path):
    check_resume(tmp_path, {"name": "veegan", "z_dim": 8, "hidden": 32, "batch_size": 8}, DIGITS, 6, 3)


def test_a_diverging_veegan_is_recorded_diverged(tmp_path):
    check_diverges(tmp_path, {"name": "veegan", "z_dim": 8, "hidden": 16, "batch_size": 32, "lr": 1e30})
