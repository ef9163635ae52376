"""DCGAN networks (section 13.3.4) and image VAEs: shapes, initialisation, stable likelihoods."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genbench.data import images, toys
from genbench.models import dcgan, gan, vae, wgan


@pytest.mark.parametrize("size,channels", [(28, 1), (32, 3), (64, 3)])
def test_generator_and_discriminator_shapes(size, channels):
    torch.manual_seed(0)
    g = dcgan.DCGANGenerator(100, (channels, size, size), width=0.125)
    d = dcgan.DCGANDiscriminator((channels, size, size), width=0.125)
    x = g(torch.randn(3, 100))
    assert x.shape == (3, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1  # tanh output
    assert d(x).shape == (3, 1)


def test_architecture_follows_radford():
    """64x64 at width 1: a linear layer to 4x4x1024, then 512, 256, 128 feature maps, then 3."""
    g = dcgan.DCGANGenerator(100, (3, 64, 64))
    assert g.project.out_features == 4 * 4 * 1024
    convs = [m for m in g.net if isinstance(m, nn.ConvTranspose2d)]
    assert [c.out_channels for c in convs] == [512, 256, 128, 3]
    assert all(c.stride == (2, 2) for c in convs)
    d = dcgan.DCGANDiscriminator((3, 64, 64))
    layers = list(d.net)
    assert not any(isinstance(m, nn.MaxPool2d | nn.AvgPool2d | nn.Sigmoid) for m in layers)
    assert isinstance(layers[1], nn.LeakyReLU) and layers[1].negative_slope == 0.2  # no BN first
    assert sum(isinstance(m, nn.BatchNorm2d) for m in layers) == 3


def test_init_is_normal_0_002():
    torch.manual_seed(0)
    g = dcgan.DCGANGenerator(100, (3, 64, 64))
    convs = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    weights = torch.cat([m.weight.detach().flatten() for m in convs])
    assert abs(float(weights.mean())) < 1e-3
    assert float(weights.std()) == pytest.approx(0.02, rel=0.02)
    bn = torch.cat([m.weight.detach() for m in g.modules() if isinstance(m, nn.BatchNorm2d)])
    assert float(bn.mean()) == pytest.approx(1.0, abs=0.01)


def test_bernoulli_likelihood_stable_at_extreme_logits():
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    logits = torch.tensor([[50.0, -50.0, -50.0, 50.0]])
    got = vae.bernoulli_log_likelihood(x, logits)
    assert torch.isfinite(got).all()
    # right with confidence 50 costs log(1 + e^-50) ~ e^-50 each; wrong costs ~50 each
    assert float(got) == pytest.approx(-100.0, abs=1e-6)


@pytest.fixture(scope="module")
def digits():
    return images.build_digits(images.DigitsParams(size=28))


@pytest.mark.parametrize(
    "entry,hp",
    [
        (gan, gan.GANHParams(arch="dcgan", width=0.0625, batch_size=8, z_dim=16)),
        (gan, gan.GANHParams(hidden=32, depth=1, batch_size=8, z_dim=16)),
        (wgan, wgan.WGANHParams(arch="dcgan", width=0.0625, batch_size=8, z_dim=16, critic_steps=2)),
        (vae, vae.VAEHParams(decoder="bernoulli", hidden=32, depth=1, batch_size=8)),
        (vae, vae.VAEHParams(decoder="bernoulli", arch="conv", width=0.0625, batch_size=8)),
        (vae, vae.VAEHParams(decoder="gaussian", arch="conv", width=0.0625, batch_size=8)),
    ],
)
def test_image_families_train_and_sample(entry, hp, digits):
    torch.manual_seed(0)
    model = entry.build(hp, digits)
    gen = torch.Generator().manual_seed(0)
    losses = model.train_step(lambda: digits.batch(8, gen) * 2 - 1, 0)
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    samples = model.sample(5, torch.Generator().manual_seed(1))
    assert samples.shape == (5, 1, 28, 28)
    if isinstance(model, vae.VAE):
        assert model.elbo(digits.test[:4]).shape == (4,)


def test_dcgan_on_a_toy_is_refused():
    data = toys.build_ring(toys.RingParams(train_size=10, test_size=10))
    with pytest.raises(ValueError, match="image data"):
        gan.build(gan.GANHParams(arch="dcgan"), data)
