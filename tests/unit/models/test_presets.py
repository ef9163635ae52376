"""The papers' toy presets (models/presets.py): their networks have the documented shapes and
parameter counts, their values are defaults of unset keys only, and `genbench list` shows sources."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genbench.data import toys
from genbench.models import gan, presets, wgan
from genbench.models.base import Maxout
from genbench.suite.config import SuiteError, load_suite
from genbench.suite.describe import describe_registries
from tests.helpers import check_resume


@pytest.fixture(scope="module")
def ring():
    return toys.build_ring(toys.RingParams(train_size=500, test_size=100))


def count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_pacgan_networks(ring):
    torch.manual_seed(0)
    model = gan.build(gan.GANHParams(preset="pacgan"), ring)
    g, d = model.generator, model.discriminator
    linears = [m for m in g if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (2, 400),
        (400, 400),
        (400, 400),
        (400, 400),
        (400, 2),
    ]
    assert [m.bias is None for m in linears] == [True, True, True, True, False]  # output keeps its bias
    assert sum(isinstance(m, nn.BatchNorm1d) for m in g) == 4 and sum(isinstance(m, nn.ReLU) for m in g) == 4
    assert count(g) == 2 * 400 + 3 * 400 * 400 + 4 * 2 * 400 + 400 * 2 + 2  # 484,802
    maxouts = [m for m in d if isinstance(m, Maxout)]
    assert len(maxouts) == 3 and all(m.pieces == 5 for m in maxouts)
    assert count(d) == (2 * 1000 + 1000) + 2 * (200 * 1000 + 1000) + 201  # 405,201
    assert d(torch.zeros(7, 2)).shape == (7, 1)
    weights = torch.cat([m.weight.detach().flatten() for m in model.modules() if isinstance(m, nn.Linear)])
    assert float(weights.std()) == pytest.approx(0.02, rel=0.02)
    assert all(
        float(m.bias.detach().abs().max()) == 0
        for m in model.modules()
        if isinstance(m, nn.Linear) and m.bias is not None
    )
    assert model.batch_size == 100 and model.opt_d.param_groups[0]["betas"] == (0.8, 0.999)
    packed = gan.build(gan.GANHParams(preset="pacgan", pack=2), ring)
    assert packed.batch_size == 200 and count(packed.discriminator) == count(d) + 2 * 1000


def test_unrolled_notebook_networks(ring):
    torch.manual_seed(0)
    model = gan.build(gan.GANHParams(preset="unrolled"), ring)
    assert count(model.generator) == 256 * 128 + 128 + 128 * 128 + 128 + 128 * 2 + 2
    assert count(model.discriminator) == 2 * 128 + 128 + 128 * 128 + 128 + 128 + 1
    assert sum(isinstance(m, nn.Tanh) for m in model.modules()) == 4
    first = model.generator[0].weight  # (128, 256): orthonormal rows scaled by the gain
    assert torch.allclose(first @ first.T, 1.4**2 * torch.eye(128), atol=1e-4)
    assert model.opt_d.param_groups[0]["lr"] == 1e-4 and model.opt_g.param_groups[0]["lr"] == 1e-3
    assert model.hp.unroll == 5 and model.hp.loss == "minimax" and model.batch_size == 512


def test_wgan_gp_toy_networks(ring):
    torch.manual_seed(0)
    model = wgan.build(wgan.WGANHParams(preset="wgan_gp_toy"), ring)
    assert count(model.generator) == 2 * 512 + 512 + 2 * (512 * 512 + 512) + 512 * 2 + 2
    assert count(model.critic) == 2 * 512 + 512 + 2 * (512 * 512 + 512) + 512 + 1
    w = model.critic[2].weight  # he uniform: bound sqrt(6 / 512), std sqrt(2 / 512)
    assert float(w.abs().max()) <= (6 / 512) ** 0.5 and float(w.std()) == pytest.approx(
        (2 / 512) ** 0.5, rel=0.02
    )
    assert model.hp.critic_steps == 5 and model.batch_size == 256 and model.hp.lr == 1e-4


def test_every_preset_key_applies_to_its_family():
    assert presets.skipped("wgan", "wgan_gp_toy", wgan.WGANHParams.model_fields) == []
    hp = wgan.WGANHParams(preset="wgan_gp_toy")
    assert (hp.lipschitz, hp.gp_lambda, tuple(hp.betas_d)) == ("gp", 0.1, (0.5, 0.9))
    assert presets.skipped("gan", "pacgan", gan.GANHParams.model_fields) == []
    assert presets.skipped("gan", "unrolled", gan.GANHParams.model_fields) == []


def test_a_preset_fills_only_the_keys_an_entry_leaves_unset():
    hp = gan.GANHParams(preset="unrolled", hidden=64, lr_g=5e-4)
    assert (hp.hidden, hp.lr_g, hp.lr_d, hp.activation) == (64, 5e-4, 1e-4, "tanh")
    assert gan.GANHParams() == gan.GANHParams(preset=None)  # no preset: today's defaults


def test_an_unknown_preset_is_an_error_with_its_line(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(
        "name: p\nseeds: [0]\nbudget: {steps: 5}\nmetrics: [mode_coverage]\n"
        "datasets: [{name: ring8}]\nmodels:\n  - {name: gan, preset: pacgn}\n"
    )
    with pytest.raises(
        SuiteError, match=r"suite.yaml:7: models\[0\].preset: Input should be 'pacgan' or 'unrolled'"
    ):
        load_suite(path)


def test_genbench_list_shows_every_preset_value_with_its_source():
    text = describe_registries()
    assert "veegan: VEEGAN" in text
    for source in (presets.PACGAN_CONFIG, presets.PACGAN_TASK, presets.UNROLLED, presets.GAN_TOY):
        assert source in text
    assert "d_maxout=5" in text and "init_scale=1.4" in text and "gp_lambda=0.1" in text


def test_the_pacgan_preset_resumes_bit_for_bit(tmp_path):
    model = {"name": "gan", "preset": "pacgan", "hidden": 16, "d_hidden": 16, "batch_size": 20, "pack": 2}
    check_resume(tmp_path, model, steps=12, stop_at=7)
