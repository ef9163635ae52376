"""Unit tests of the mixture-of-Gaussians toys and of the name registries."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from genbench.data import toys
from genbench.registry import DATASETS, Registry, UnknownName


def build(name: str, **params):
    entry = DATASETS.get(name)
    return entry.build(entry.params(**params))


SMALL = {"train_size": 300, "test_size": 70}


def test_ring8_modes_distinct_on_unit_circle_equally_spaced():
    """8 distinct centres at radius 1; each has exactly two neighbours at 2 sin(pi/8), the minimum."""
    ds = build("ring8", **SMALL)
    modes = ds.modes.double()
    assert modes.shape == (8, 2)
    assert torch.allclose(modes.norm(dim=1), torch.ones(8, dtype=torch.float64), atol=1e-6)
    dist = torch.cdist(modes, modes, compute_mode="donot_use_mm_for_euclid_dist")
    off_diag = dist[~torch.eye(8, dtype=torch.bool)]
    side = 2 * math.sin(math.pi / 8)
    assert off_diag.min().item() == pytest.approx(side, abs=1e-6)  # distinct, none closer
    neighbours = (dist - side).abs() < 1e-6
    assert neighbours.sum(dim=1).tolist() == [2] * 8
    # equal spacing: the sorted angles step by 2 pi / 8
    angles = torch.sort(torch.atan2(modes[:, 1], modes[:, 0]) % (2 * math.pi)).values
    assert torch.allclose(angles.diff(), torch.full((7,), 2 * math.pi / 8, dtype=torch.float64), atol=1e-6)


def test_ring8_default_std():
    assert toys.RingParams().std == 0.01
    assert build("ring8", **SMALL).std == 0.01


def test_grid25_modes_and_std():
    ds = build("grid25", **SMALL)
    assert ds.modes.shape == (25, 2)
    got = {tuple(row) for row in ds.modes.tolist()}
    assert got == set(itertools.product([-4.0, -2.0, 0.0, 2.0, 4.0], repeat=2))
    assert toys.GridParams().std == 0.05
    assert ds.std == 0.05


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_draw_sizes_and_seeding(name):
    """Train/test draws have the configured sizes, depend only on data_seed, and differ by seed."""
    a = build(name, train_size=300, test_size=70, data_seed=0)
    b = build(name, train_size=300, test_size=70, data_seed=0)
    c = build(name, train_size=300, test_size=70, data_seed=1)
    assert a.train.shape == (300, 2)
    assert a.test.shape == (70, 2)
    assert torch.equal(a.train, b.train)
    assert torch.equal(a.test, b.test)
    assert not torch.equal(a.train, c.train)
    assert not torch.equal(a.test, c.test)
    assert not torch.equal(a.train[:70], a.test)  # the test draw is not a copy of the train draw


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_large_draw_uniform_modes_and_std(name):
    """Per-mode frequencies within 5 binomial standard deviations of n/K; the empirical std of the
    offsets from the assigned mode within 2% of the configured std."""
    ds = build(name, **SMALL)
    n = 200_000
    x = ds.draw(n, torch.Generator().manual_seed(0))
    assert x.shape == (n, 2)
    k = len(ds.modes)
    exact = "donot_use_mm_for_euclid_dist"
    nearest = torch.cdist(x.double(), ds.modes.double(), compute_mode=exact).argmin(1)
    counts = torch.bincount(nearest, minlength=k).double()
    p = 1 / k
    sd = math.sqrt(n * p * (1 - p))
    assert (counts - n * p).abs().max().item() < 5 * sd, counts
    offsets = x.double() - ds.modes.double()[nearest]
    emp_std = offsets.std(dim=0)
    assert torch.allclose(emp_std, torch.full((2,), ds.std, dtype=torch.float64), rtol=0.02), emp_std
    assert offsets.mean(dim=0).abs().max().item() < 5 * ds.std / math.sqrt(n)


def test_batch_draws_from_training_set():
    ds = build("grid25", **SMALL)
    batch = ds.batch(64, torch.Generator().manual_seed(0))
    assert batch.shape == (64, 2)
    train_rows = {tuple(r) for r in ds.train.tolist()}
    assert all(tuple(r) in train_rows for r in batch.tolist())


def test_registry_names_exist():
    assert "ring8" in DATASETS
    assert "grid25" in DATASETS
    assert DATASETS.get("ring8").kind == "toy2d"
    assert DATASETS.get("grid25").kind == "toy2d"


def test_unknown_dataset_lists_known_names():
    with pytest.raises(UnknownName) as info:
        DATASETS.get("ring9")
    message = str(info.value)
    assert "ring9" in message
    assert "ring8" in message
    assert "grid25" in message
    assert isinstance(info.value, KeyError)


def test_duplicate_registration_raises():
    """Re-registering a built-in name fails and leaves the original entry in place."""
    original = DATASETS.get("ring8")
    with pytest.raises(ValueError, match="already registered"):
        DATASETS.register("ring8", DATASETS.get("grid25"))
    assert DATASETS.get("ring8") is original

    fresh: Registry[int] = Registry("thing")
    fresh.register("a", 1)
    with pytest.raises(ValueError):
        fresh.register("a", 2)
    assert fresh.get("a") == 1
