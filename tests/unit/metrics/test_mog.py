"""Unit tests of the mode-coverage metric (VEEGAN / PacGAN protocol) and of the ELBO metric."""

from __future__ import annotations

import math

import pytest
import torch

import genbench.metrics.likelihood as likelihood
from genbench.data import toys
from genbench.metrics import EvalContext
from genbench.metrics.mog import mode_coverage
from genbench.models import gan, vae
from genbench.registry import METRICS

MODES = toys.grid_modes(5, 2.0)  # the 25 modes of grid25
STD = 0.05
# points at distance >= 1 from every grid mode (cell centres, and outside the grid)
FAR = torch.tensor([[1.0, 1.0], [-1.0, 3.0], [3.0, -3.0], [10.0, 10.0], [-7.0, 0.0]], dtype=torch.float64)


def around(mode_idx: list[int], per_mode: int, seed: int = 0) -> torch.Tensor:
    """per_mode samples at each listed mode with noise std STD/2 (so well inside 3 std)."""
    gen = torch.Generator().manual_seed(seed)
    centres = MODES.double()[mode_idx].repeat_interleave(per_mode, dim=0)
    return centres + 0.5 * STD * torch.randn(len(centres), 2, generator=gen, dtype=torch.float64)


def far(n: int) -> torch.Tensor:
    return FAR.repeat(n // len(FAR) + 1, 1)[:n]


@pytest.mark.parametrize("k", [0, 1, 5, 13, 24, 25])
def test_modes_counts_exactly_the_covered_modes(k):
    chosen = torch.randperm(25, generator=torch.Generator().manual_seed(k))[:k].tolist()
    samples = torch.cat([around(chosen, per_mode=20), far(7)])
    out = mode_coverage(samples, MODES, STD)
    assert out["modes"] == k
    assert {i for i, c in enumerate(out["mode_counts"]) if c} == set(chosen)
    assert all(out["mode_counts"][i] == 20 for i in chosen)


@pytest.mark.parametrize("n_far", [0, 20, 50, 140, 200])
def test_hq_frac_is_one_minus_far_fraction(n_far):
    """A known fraction f of the 200 samples is far from every mode: hq_frac == 1 - f (exactly the
    fraction (n - n_far) / n; `1 - f` itself can differ from it in the last bit, e.g. 1 - 0.7)."""
    n = 200
    n_near = n - n_far
    near = around(list(range(25)) * 8, per_mode=1)[:n_near]
    samples = torch.cat([near, far(n_far)])
    out = mode_coverage(samples, MODES, STD)
    assert out["hq_frac"] == n_near / n
    assert out["hq_frac"] == pytest.approx(1 - n_far / n, abs=1e-15)
    assert sum(out["mode_counts"]) == n_near


def test_kl_zero_for_equal_counts():
    out = mode_coverage(around(list(range(25)), per_mode=8), MODES, STD)
    assert out["modes"] == 25
    assert out["kl_modes"] == 0.0


def test_kl_all_in_one_mode_is_log_25():
    out = mode_coverage(around([12], per_mode=40), MODES, STD)
    assert out["modes"] == 1
    assert out["kl_modes"] == pytest.approx(math.log(25), rel=1e-12)


def test_kl_hand_computed_uneven_counts():
    """Counts 30/10 in two modes: KL = 0.75 log(0.75 * 25) + 0.25 log(0.25 * 25); far samples and
    empty modes contribute nothing."""
    samples = torch.cat([around([3], per_mode=30), around([20], per_mode=10, seed=1), far(9)])
    out = mode_coverage(samples, MODES, STD)
    expected = 0.75 * math.log(0.75 * 25) + 0.25 * math.log(0.25 * 25)
    assert out["kl_modes"] == pytest.approx(expected, rel=1e-12)
    assert out["mode_counts"][3] == 30 and out["mode_counts"][20] == 10


@pytest.mark.parametrize("std", [STD, 0.25])
def test_three_std_boundary_is_inclusive(std):
    """A sample exactly 3 std from its mode is high quality (<=); one at 3.01 std is not."""
    centre = torch.tensor([0.0, 0.0], dtype=torch.float64)  # mode index 12
    unit = torch.tensor([[1.0, 0.0], [0.0, -1.0], [-1.0, 0.0]], dtype=torch.float64)
    at = centre + 3 * std * unit
    beyond = centre + 3.01 * std * unit
    out_at = mode_coverage(at, MODES, std)
    assert out_at["hq_frac"] == 1.0
    assert out_at["mode_counts"][12] == 3
    out_beyond = mode_coverage(beyond, MODES, std)
    assert out_beyond["hq_frac"] == 0.0
    assert out_beyond["modes"] == 0
    # a mode other than the origin, with dyadic values where all arithmetic is exact
    mode = MODES.double()[18]  # (2, 2)
    out = mode_coverage(torch.stack([mode + torch.tensor([0.75, 0.0], dtype=torch.float64)]), MODES, 0.25)
    assert out["mode_counts"][18] == 1


def test_classification_independent_of_other_samples():
    """The same 20 boundary samples must be classified the same alone and with 30 far samples added."""
    offsets = torch.tensor([[0.15, 0.0], [0.0, 0.15], [-0.15, 0.0], [0.0, -0.15]], dtype=torch.float64)
    boundary = (MODES.double()[:, None] + offsets[None]).reshape(-1, 2)[:20]
    alone = mode_coverage(boundary, MODES, STD)["mode_counts"]
    padded = mode_coverage(torch.cat([boundary, far(30)]), MODES, STD)["mode_counts"]
    assert alone == padded


def test_mode_counts_sum_to_high_quality_samples():
    samples = torch.cat([around([0, 4, 7, 7, 19], per_mode=11), far(13)])
    out = mode_coverage(samples, MODES, STD)
    assert len(out["mode_counts"]) == 25
    assert sum(out["mode_counts"]) == 55
    assert sum(out["mode_counts"]) == round(out["hq_frac"] * len(samples))
    assert out["mode_counts"][7] == 22


def test_non_finite_samples_are_not_high_quality():
    """NaN/inf rows count in the denominator of hq_frac but never as high quality."""
    good = around([1, 2], per_mode=5)
    bad = torch.tensor(
        [[math.nan, 0.0], [0.0, math.inf], [-math.inf, -math.inf], [math.nan, math.nan]], dtype=torch.float64
    )
    samples = torch.cat([good[:3], bad, good[3:]])
    out = mode_coverage(samples, MODES, STD)
    assert out["hq_frac"] == 10 / 14
    assert out["modes"] == 2
    assert sum(out["mode_counts"]) == 10
    assert math.isfinite(out["kl_modes"]) and math.isfinite(out["mode_dist"])

    all_bad = mode_coverage(bad, MODES, STD)
    assert all_bad["modes"] == 0
    assert all_bad["hq_frac"] == 0.0
    assert sum(all_bad["mode_counts"]) == 0


def test_float32_samples_accepted():
    out = mode_coverage(around([5, 6], per_mode=10).float(), MODES, STD)
    assert out["modes"] == 2
    assert out["hq_frac"] == 1.0


def test_registered_metric_directions():
    entry = METRICS.get("mode_coverage")
    assert entry.outputs["modes"] == "max"
    assert entry.outputs["kl_modes"] == "min"
    assert entry.outputs["hq_frac"] == "max"
    assert entry.dataset_kinds == frozenset({"toy2d"})
    assert METRICS.get("elbo").outputs == {"elbo": "max"}


def test_registered_metric_uses_context_samples_and_dataset():
    """The registered fn computes mode_coverage on the context's shared draw and the dataset's modes."""
    ds = toys.build_grid(toys.GridParams(train_size=100, test_size=10))
    torch.manual_seed(0)
    model = gan.build(gan.GANHParams(hidden=8, depth=1, z_dim=4, batch_size=16), ds)
    ctx = EvalContext(model, n_samples=64, seed=0)
    got = METRICS.get("mode_coverage").fn(model, ds, ctx)
    expected = mode_coverage(ctx.samples, ds.modes, ds.std)
    assert set(got) >= set(METRICS.get("mode_coverage").outputs)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(got[key]), key
        else:
            assert got[key] == value, key


# --------------------------------------------------------------------------------------------- ELBO


@pytest.fixture
def tiny_vae_and_data():
    ds = toys.build_ring(toys.RingParams(train_size=100, test_size=10))
    torch.manual_seed(0)
    model = vae.build(vae.VAEHParams(hidden=8, depth=1, mc_samples=2), ds)
    return model, ds.test


def test_mean_elbo_is_mean_over_batches(tiny_vae_and_data, monkeypatch):
    """Batches of 4, 4 and 2: the result is the mean over all 10 examples (not of batch means)."""
    model, data = tiny_vae_and_data
    monkeypatch.setattr(likelihood, "EVAL_BATCH", 4)
    got = likelihood.mean_elbo(model, data, seed=11)
    with torch.no_grad():
        torch.manual_seed(11)
        per_example = torch.cat([model.elbo(chunk) for chunk in data.split(4)])
    assert per_example.shape == (10,)
    assert got == pytest.approx(per_example.double().mean().item(), rel=1e-6)
    mean_of_means = sum(c.double().mean().item() for c in per_example.split(4)) / 3
    assert got != pytest.approx(mean_of_means, rel=1e-6)


def test_mean_elbo_keeps_global_rng_and_depends_on_seed(tiny_vae_and_data, monkeypatch):
    model, data = tiny_vae_and_data
    monkeypatch.setattr(likelihood, "EVAL_BATCH", 3)
    torch.manual_seed(42)
    before = torch.random.get_rng_state()
    a = likelihood.mean_elbo(model, data, seed=1)
    after = torch.random.get_rng_state()
    assert torch.equal(before, after)
    torch.manual_seed(999)  # a different global state must not change the result
    b = likelihood.mean_elbo(model, data, seed=1)
    c = likelihood.mean_elbo(model, data, seed=2)
    assert a == b
    assert a != c
