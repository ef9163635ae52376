"""Shards of a parallel feature extraction: contiguous, whole batches, covering every row once."""

from __future__ import annotations

import pytest

from genbench.driver.extract import shard_bounds


@pytest.mark.parametrize(
    "count, shards, batch", [(10_000, 2, 500), (2345, 2, 500), (7, 3, 2), (1, 4, 500), (3000, 7, 500)]
)
def test_shards_are_contiguous_whole_batches_and_even(count, shards, batch):
    bounds = shard_bounds(count, shards, batch)
    assert bounds[0][0] == 0 and bounds[-1][1] == count
    assert all(b == c for (_, b), (c, _) in zip(bounds, bounds[1:], strict=False))  # contiguous
    assert all(a % batch == 0 and a < b for a, b in bounds)  # each starts on a batch boundary
    batches = [-(-(b - a) // batch) for a, b in bounds]
    assert len(bounds) == min(shards, -(-count // batch)) and max(batches) - min(batches) <= 1


def test_two_shards_of_the_reference_by_hand():
    assert shard_bounds(10_000, 2, 500) == [(0, 5000), (5000, 10_000)]
    assert shard_bounds(2345, 2, 500) == [(0, 1000), (1000, 2345)]  # 2 and 3 batches
