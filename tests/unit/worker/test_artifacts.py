"""Picture data a run sends back: sample grids and a VAE's reconstructions and figure 13.5."""

from __future__ import annotations

import numpy as np
import torch

from genbench.builtins import load_builtins
from genbench.registry import DATASETS, MODELS
from genbench.worker.artifacts import GRID, MANIFOLD_SIDE, RECONSTRUCTIONS, image_grid, vae_artifacts


def test_image_grid_is_the_first_samples_as_clamped_uint8():
    samples = torch.full((100, 1, 4, 4), 0.5)
    samples[0] = -1.0
    samples[1] = 2.0
    grid = image_grid(samples)
    assert grid.shape == (GRID, 1, 4, 4) and grid.dtype == np.uint8
    assert (grid[0] == 0).all() and (grid[1] == 255).all() and (grid[2:] == 128).all()
    assert image_grid(samples[:10]).shape == (10, 1, 4, 4)


def _digits_vae(latent_dim: int):
    load_builtins()
    ds = DATASETS.get("digits")
    dataset = ds.build(ds.params())
    entry = MODELS.get("vae")
    torch.manual_seed(0)
    return entry.build(entry.hparams(latent_dim=latent_dim, hidden=16), dataset, "cpu"), dataset


def test_vae_reconstructions_of_fixed_test_images():
    model, dataset = _digits_vae(latent_dim=8)
    out = vae_artifacts(model, dataset)
    assert set(out) == {"reconstructions"}  # no latent figures beyond two dimensions
    originals, means = out["reconstructions"]
    assert originals.shape == means.shape == (RECONSTRUCTIONS, *dataset.shape)
    np.testing.assert_array_equal(originals, dataset.test[:RECONSTRUCTIONS].numpy())
    assert means.min() >= 0 and means.max() <= 1


def test_two_dimensional_latent_gives_both_panels_of_figure_13_5():
    model, dataset = _digits_vae(latent_dim=2)
    out = vae_artifacts(model, dataset)
    n_test = len(dataset.test)
    assert out["posterior_means"].shape == (n_test, 2)
    np.testing.assert_array_equal(out["posterior_labels"], dataset.test_labels.numpy())
    assert out["manifold"].shape == (MANIFOLD_SIDE**2, *dataset.shape)
    assert out["manifold"].min() >= 0 and out["manifold"].max() <= 1
    assert not np.allclose(out["manifold"][0], out["manifold"][-1])  # opposite corners of z differ
