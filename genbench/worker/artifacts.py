"""Pictures' data a run sends back at its end: sample grids, VAE reconstructions, and for a
2-D latent the two panels of the chapter's figure 13.5. Arrays only; plots.py draws them."""

from __future__ import annotations

import numpy as np
import torch

from genbench.data.pixels import to_unit

GRID = 64  # samples in a grid (8 x 8)
RECONSTRUCTIONS = 16
MANIFOLD_SIDE = 15


@torch.no_grad()
def vae_artifacts(model, dataset) -> dict[str, np.ndarray]:
    """Reconstructions of fixed test images; for a 2-D latent, posterior means and the manifold."""
    out: dict[str, np.ndarray] = {}
    test = dataset.test
    originals = test[:RECONSTRUCTIONS].to(model.device)
    mu, _ = model.encode(originals)
    means = _decoder_means(model, mu)
    out["reconstructions"] = np.stack([originals.cpu().numpy(), means.numpy()])
    if model.hp.latent_dim == 2:
        mus = torch.cat([model.encode(chunk.to(model.device))[0].cpu() for chunk in test.split(1024)])
        out["posterior_means"] = mus.numpy()  # fig. 13.5 (a): E[z|x] of the test set
        out["posterior_labels"] = dataset.test_labels.numpy()
        # fig. 13.5 (b): E[x|z] on a grid of z spaced by the inverse normal CDF
        axis = torch.special.ndtri(torch.linspace(0.05, 0.95, MANIFOLD_SIDE, dtype=torch.float64)).numpy()
        zs = np.array([[a, b] for b in axis[::-1] for a in axis], dtype=np.float32)
        out["manifold"] = _decoder_means(model, torch.as_tensor(zs, device=model.device)).numpy()
    return out


def _decoder_means(model, z: torch.Tensor) -> torch.Tensor:
    """E[x|z] as images in [0, 1] (sigmoid of the logits for a Bernoulli decoder)."""
    params, std = model.decode(z)
    means = params.sigmoid() if std is None else params
    return to_unit(means.cpu().reshape(len(z), *model.shape), model.pixel_range).clamp(0, 1)


def image_grid(samples: torch.Tensor) -> np.ndarray:
    """The first GRID samples (already in [0, 1]) as uint8 (N, C, H, W) for a picture."""
    return (samples[:GRID].clamp(0, 1) * 255).round().to(torch.uint8).numpy()
