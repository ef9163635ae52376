"""The network builders the families share: shapes, packing, the MLP-only check, initialisations."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genbench.builtins import load_builtins
from genbench.models.gan import GANHParams
from genbench.models.nets import discriminator_net, generator_net, init_linear, mlp_options
from genbench.registry import DATASETS


def dataset(name: str, **params):
    load_builtins()
    entry = DATASETS.get(name)
    return entry.build(entry.params(**params))


RING = dataset("ring8", train_size=100, test_size=10)
DIGITS = dataset("digits")


def test_toy_nets_map_noise_to_points_and_points_to_one_logit():
    g = generator_net("mlp", 8, 16, 2, 1.0, RING)
    d = discriminator_net("mlp", 16, 2, 1.0, RING)
    x = g(torch.randn(5, 8))
    assert x.shape == (5, 2) and d(x).shape == (5, 1)
    assert sum(isinstance(m, nn.Linear) for m in g.modules()) == 3  # two hidden layers and the output


def test_image_mlp_generator_gives_images_in_tanh_range():
    g = generator_net("mlp", 8, 16, 1, 1.0, DIGITS)
    x = g(torch.randn(3, 8))
    assert x.shape == (3, *DIGITS.shape) and x.abs().max() <= 1
    assert discriminator_net("mlp", 16, 1, 1.0, DIGITS)(x).shape == (3, 1)


def test_packed_discriminators_take_m_samples_at_once():
    assert discriminator_net("mlp", 16, 1, 1.0, RING, pack=3)(torch.randn(4, 6)).shape == (4, 1)
    channels, *size = DIGITS.shape
    d = discriminator_net("dcgan", 0, 0, 0.25, DIGITS, pack=2)
    assert d(torch.randn(4, 2 * channels, *size)).flatten().shape == (4,)


def test_dcgan_nets_on_a_toy_are_refused():
    with pytest.raises(ValueError, match="2-D toy"):
        generator_net("dcgan", 8, 16, 2, 1.0, RING)
    with pytest.raises(ValueError, match="arch: mlp"):
        discriminator_net("dcgan", 16, 2, 1.0, RING)


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(400, 300), nn.ReLU(), nn.Linear(300, 200))


def test_normal_init_has_the_given_std_and_zero_biases():
    net = _net()
    init_linear(net, "normal", 0.02)
    weights = torch.cat([m.weight.flatten() for m in net if isinstance(m, nn.Linear)])
    assert weights.std().item() == pytest.approx(0.02, rel=0.02)
    assert all((m.bias == 0).all() for m in net if isinstance(m, nn.Linear))


def test_orthogonal_init_has_orthogonal_rows_times_the_gain():
    net = _net()
    init_linear(net, "orthogonal", 1.4)
    w = net[2].weight  # 200 x 300: orthonormal rows, scaled
    assert torch.allclose(w @ w.T, 1.4**2 * torch.eye(200), atol=1e-4)


def test_he_init_is_bounded_by_sqrt_6_over_fan_in_and_default_changes_nothing():
    net = _net()
    init_linear(net, "he", 1.0)
    bound = math.sqrt(6 / 400)
    assert net[0].weight.abs().max() <= bound and net[0].weight.abs().max() > 0.9 * bound
    before = [p.clone() for p in net.parameters()]
    init_linear(net, "default", 1.0)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))


def test_mlp_options_follow_the_family_hyper_parameters():
    hp = GANHParams(activation="tanh", g_bias=False, g_batchnorm=True, d_maxout=5)
    assert mlp_options(hp, "generator") == {"activation": "tanh", "bias": False, "batchnorm": True}
    assert mlp_options(hp, "discriminator") == {"activation": "tanh", "maxout": 5}

    class Bare:  # a family without these keys gets base.mlp's defaults
        pass

    assert mlp_options(Bare(), "generator") == {"activation": "relu", "bias": True, "batchnorm": False}
