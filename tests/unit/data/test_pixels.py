"""Pixel scaling between the data's [0, 1] and a family's range, in one place."""

from __future__ import annotations

import pytest
import torch

from genbench.data.pixels import is_image, to_model, to_unit


@pytest.mark.parametrize("pixel_range", [(-1.0, 1.0), (0.0, 1.0), (-0.5, 2.0)])
def test_images_map_to_the_range_and_back(pixel_range):
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    y = to_model(x, pixel_range)
    lo, hi = pixel_range
    assert y.min() >= lo and y.max() <= hi
    assert torch.allclose(to_model(torch.zeros(1, 1, 1, 1), pixel_range), torch.tensor(lo))
    assert torch.allclose(to_model(torch.ones(1, 1, 1, 1), pixel_range), torch.tensor(hi))
    assert torch.allclose(to_unit(y, pixel_range), x, atol=1e-6)


def test_to_unit_clamps_what_a_model_draws_outside_its_range():
    y = torch.tensor([-3.0, -1.0, 0.0, 1.0, 3.0]).view(1, 1, 1, 5)
    assert to_unit(y, (-1.0, 1.0)).flatten().tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]


def test_points_pass_unchanged():
    points = torch.randn(16, 2)
    assert not is_image(points) and is_image(torch.zeros(2, 3, 4, 4))
    assert to_model(points, (-1.0, 1.0)) is points
    assert to_unit(points, (-1.0, 1.0)) is points
