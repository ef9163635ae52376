"""PacGAN (models/pack.py): D sees packs of m samples concatenated from independent draws; m = 1
is the plain GAN bit for bit; packing trains, resumes bit for bit and is refused for seed groups."""

from __future__ import annotations

import copy
import re

import pytest
import torch
from torch import nn

from genbench.data import toys
from genbench.models import gan
from genbench.models.pack import Packed
from genbench.suite.config import SuiteError, load_suite
from tests.helpers import DIGITS, check_diverges, check_resume
from tools.bench_loops import bare_loop, batches


@pytest.fixture(scope="module")
def ring():
    return toys.build_ring(toys.RingParams(train_size=500, test_size=100))


def test_packed_concatenates_consecutive_rows_into_one_input():
    x = torch.arange(12.0).reshape(6, 2)
    got = Packed(nn.Identity(), 3)(x)
    assert got.shape == (2, 6)
    assert torch.equal(got[0], torch.cat([x[0], x[1], x[2]])) and torch.equal(got[1], x[3:].flatten())
    images = torch.randn(4, 1, 5, 5)
    stacked = Packed(nn.Identity(), 2)(images)  # images: packs stack along the channels
    assert stacked.shape == (2, 2, 5, 5) and torch.equal(stacked[1, 0], images[2, 0])
    with pytest.raises(ValueError, match="packs of 3"):
        Packed(nn.Identity(), 3)(torch.zeros(4, 2))


def test_the_discriminator_sees_m_d_columns_from_independent_draws(ring):
    m, packs = 3, 8
    torch.manual_seed(0)
    model = gan.build(gan.GANHParams(hidden=8, depth=1, z_dim=4, batch_size=packs, pack=m), ring)
    first = model.discriminator.net[0]
    assert first.in_features == m * ring.dim and model.discriminator.net[2].in_features == 8  # hidden same
    seen, zs, reals = [], [], []
    first.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].detach()))
    model.generator.register_forward_hook(lambda mod, inp, out: zs.append((inp[0].detach(), out.detach())))
    gen = torch.Generator().manual_seed(0)

    def next_batch():
        reals.append(ring.batch(model.batch_size, gen))
        return reals[-1]

    model.train_step(next_batch, 0)
    real_in, fake_in, g_in = seen  # D on real packs, on fake packs, then in G's step
    assert real_in.shape == fake_in.shape == g_in.shape == (packs, m * ring.dim)
    assert torch.equal(real_in, reals[0].reshape(packs, m * ring.dim))  # m data points per pack
    z, fake = zs[0]
    assert z.shape == (m * packs, 4) and torch.equal(fake_in, fake.reshape(packs, m * ring.dim))
    assert len(torch.unique(z, dim=0)) == m * packs  # every slot of every pack its own draw of z


@pytest.mark.parametrize("extra", [{}, {"pack": 1}], ids=["default", "pack-1"])
def test_pack_1_is_the_plain_gan_bit_for_bit(ring, extra):
    hp = gan.GANHParams(hidden=16, depth=2, z_dim=4, batch_size=32, d_steps=2, **extra)
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


def test_a_packed_gan_resumes_bit_for_bit_on_ring8(tmp_path):
    check_resume(tmp_path, {"name": "gan", "z_dim": 8, "hidden": 16, "batch_size": 32, "pack": 2})


def test_a_packed_dcgan_trains_and_resumes_on_digits(tmp_path):
    model = {"name": "dcgan", "width": 0.0625, "batch_size": 8, "z_dim": 16, "pack": 2}
    check_resume(tmp_path, model, DIGITS, steps=6, stop_at=3)


def test_a_diverging_packed_gan_is_recorded_diverged(tmp_path):
    check_diverges(
        tmp_path, {"name": "gan", "z_dim": 8, "hidden": 16, "batch_size": 32, "pack": 2, "lr": 1e30}
    )


SUITE = """\
name: refused
seeds: [0, 1]
budget: {{steps: 10}}
vectorize_seeds: true
datasets: [{{name: ring8}}]
models:
  - {model}
metrics: [mode_coverage]
"""


@pytest.mark.parametrize(
    ("model", "why"),
    [
        ("{name: gan, pack: 2}", "pack > 1"),
        ("{name: gan, unroll: 3}", "unroll > 0"),
        ("{name: gan, preset: pacgan}", "g_batchnorm"),
        ("{name: gan, d_maxout: 2}", "d_maxout"),
        ("{name: veegan}", "only MLP networks"),
    ],
)
def test_seed_groups_refuse_what_mixes_seeds_rows(tmp_path, model, why):
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE.format(model=model))
    with pytest.raises(SuiteError, match=rf"suite.yaml:4: vectorize_seeds: .*{re.escape(why)}"):
        load_suite(path)


def test_seed_groups_still_take_the_presets_that_keep_linear_layers(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE.format(model="{name: gan, activation: tanh, init: orthogonal, lr_g: 1.0e-3}"))
    assert len(load_suite(path)[1]) == 2
