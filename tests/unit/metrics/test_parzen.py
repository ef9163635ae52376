"""Parzen-window log-likelihood of a Gaussian's own samples approaches its true log density."""

from __future__ import annotations

import math

import torch

from genbench.metrics.parzen import parzen


def test_parzen_approaches_the_true_log_density_as_samples_grow():
    d = 2
    gen = torch.Generator().manual_seed(0)
    test, valid = torch.randn(1000, d, generator=gen), torch.randn(500, d, generator=gen)
    true = float((-0.5 * test.pow(2).sum(1) - 0.5 * d * math.log(2 * math.pi)).mean())  # at the same points
    errors = []
    for n in (100, 1000, 10_000):
        out = parzen(torch.randn(n, d, generator=gen), test, valid)
        errors.append(abs(out["parzen"] - true))
        assert out["parzen"] < true + 3 * out["parzen_se"]  # a KDE is biased low on average
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.05
