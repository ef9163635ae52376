"""ELBO and IWAE against probabilistic PCA, whose log p(x) is known in closed form."""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch
from torch import nn

from genbench.metrics.likelihood import bits_per_dim, iwae_log_likelihood, mean_elbo
from genbench.models.vae import VAE, VAEHParams

D, L, NOISE = 5, 2, 0.5


def _ppca_vae(shrink: float = 0.7, widen: float = 1.5) -> tuple[VAE, torch.Tensor, torch.Tensor]:
    """A VAE with decoder x = W z + b + N(0, NOISE^2 I) (probabilistic PCA) and a linear encoder
    that is deliberately off the exact posterior (mean shrunk, std widened)."""
    gen = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(D, L, generator=gen))
    w = q * torch.tensor([2.0, 1.0])  # orthogonal columns: the exact posterior is diagonal
    b = torch.randn(D, generator=gen)
    vae = VAE(VAEHParams(latent_dim=L, fixed_std=NOISE), SimpleNamespace(kind="toy2d", dim=D))
    vae.decoder = nn.Linear(L, D)
    vae.encoder = nn.Linear(D, 2 * L)
    m = w.T @ w + NOISE**2 * torch.eye(L)
    a = torch.linalg.solve(m, w.T)  # posterior mean = a (x - b); posterior var = NOISE^2 m^-1
    post_std = NOISE / m.diagonal().sqrt()
    with torch.no_grad():
        vae.decoder.weight.copy_(w)
        vae.decoder.bias.copy_(b)
        vae.encoder.weight.zero_()
        vae.encoder.weight[:L] = shrink * a
        vae.encoder.bias[:L] = -shrink * a @ b
        vae.encoder.bias[L:] = torch.log(torch.expm1(widen * post_std))
    return vae.eval(), w, b


def _exact_log_px(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    cov = w @ w.T + NOISE**2 * torch.eye(D)
    return torch.distributions.MultivariateNormal(b, cov).log_prob(x)


def test_iwae_is_above_elbo_tightens_with_k_and_converges_to_log_px():
    vae, w, b = _ppca_vae()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(300, L, generator=gen) @ w.T + b + NOISE * torch.randn(300, D, generator=gen)
    exact = float(_exact_log_px(x, w, b).mean())
    elbo = mean_elbo(vae, x, seed=0)
    estimates = [float(iwae_log_likelihood(vae, x, k, seed=0).mean()) for k in (1, 10, 100, 5000)]
    assert abs(estimates[0] - elbo) < 0.05  # k = 1 is the ELBO (different draws)
    assert elbo < exact - 0.1  # the encoder is off: the bound is visibly loose
    assert estimates == sorted(estimates)  # tightens as k grows
    assert all(e <= exact + 0.01 for e in estimates)  # a lower bound on average
    assert abs(estimates[-1] - exact) < 0.01  # and converges to log p(x)


def test_iwae_chunking_does_not_change_the_estimate():
    vae, w, b = _ppca_vae()
    x = torch.randn(37, D, generator=torch.Generator().manual_seed(2))
    whole = iwae_log_likelihood(vae, x, 64, seed=3, rows=10**6)
    assert whole.dtype == torch.float64 and whole.shape == (37,)
    chunked = iwae_log_likelihood(vae, x, 64, seed=3, rows=10**6)
    assert torch.allclose(whole, chunked)
    small = iwae_log_likelihood(vae, x, 64, seed=3, rows=50)  # other draws, same estimate in law
    assert abs(float(small.mean() - whole.mean())) < 0.05


def test_bits_per_dim_binary_is_the_code_length_of_a_bernoulli_model():
    """Hand computation: independent Bernoulli(0.9) pixels, x = (1, 1, 0, 1): -log2 P(x) / D."""
    x, p = (1, 1, 0, 1), 0.9
    nats = -sum(xi * math.log(p) + (1 - xi) * math.log(1 - p) for xi in x)
    bits = (3 * -math.log2(0.9) + -math.log2(0.1)) / 4
    assert math.isclose(bits_per_dim(nats, SimpleNamespace(dim=4, binarize="static")), bits)


def test_bits_per_dim_of_8_bit_pixels_is_the_discretised_code_length():
    """A continuous density p on pixels k / 255 assigns the 8-bit level k the probability of its
    bin [k / 255 - 1/510, k / 255 + 1/510]: -log2 of that, by the normal CDF, is -log2 p(k / 255)
    + log2 255 (not + 8: that is for data scaled by 1/256, 0.0056 bits away)."""
    normal = torch.distributions.Normal(torch.tensor(0.5, dtype=torch.float64), 0.25)
    grey = SimpleNamespace(dim=1, binarize=None)
    for k in (64, 100, 128, 192):  # within 1.5 std: the bin is flat to 1e-4 bits
        y = torch.tensor(k / 255, dtype=torch.float64)
        exact = -math.log2(float(normal.cdf(y + 1 / 510) - normal.cdf(y - 1 / 510)))
        bpd = bits_per_dim(-float(normal.log_prob(y)), grey, decoder="gaussian")
        assert abs(bpd - exact) < 2e-4 and abs(bpd + 8 - math.log2(255) - exact) > 5e-3
    # the brief's example: an ELBO of -370 nats on 32 x 32 pixels
    assert math.isclose(bits_per_dim(370.0, SimpleNamespace(dim=1024, binarize=None)), 8.51564, abs_tol=1e-5)


def test_bits_per_dim_is_undefined_for_a_bernoulli_decoder_on_grey_levels():
    grey = SimpleNamespace(dim=784, binarize=None)
    assert math.isnan(bits_per_dim(100.0, grey, decoder="bernoulli"))
    binary = SimpleNamespace(dim=784, binarize="dynamic")
    assert math.isclose(bits_per_dim(784 * math.log(2), binary, decoder="bernoulli"), 1.0)
