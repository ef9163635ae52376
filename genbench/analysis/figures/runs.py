"""Figures of one run: generated samples over real samples and the mixture's modes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from genbench.analysis.figures import plt, tight_png
from genbench.store.atomic import write_atomic
from genbench.store.result import RunResult


def scatter_png(generated: np.ndarray, real: np.ndarray, title: str) -> bytes:
    """Return a PNG of generated (orange) over real (blue) 2-D samples, on the real data's box."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=110)
    ax.scatter(real[:, 0], real[:, 1], s=3, alpha=0.5, color="tab:blue", label="real")
    finite = generated[np.isfinite(generated).all(axis=1)]
    ax.scatter(finite[:, 0], finite[:, 1], s=3, alpha=0.5, color="tab:orange", label="generated")
    lo, hi = real.min(axis=0), real.max(axis=0)
    pad = 0.25 * (hi - lo).max()
    ax.set_xlim(lo[0] - pad, hi[0] + pad)
    ax.set_ylim(lo[1] - pad, hi[1] + pad)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=8)
    ax.legend(loc="upper right", fontsize=7, markerscale=3)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def write_scatter(path: Path, generated: np.ndarray, real: np.ndarray, title: str) -> None:
    """Write the scatter plot of a run atomically."""
    write_atomic(path, scatter_png(generated, real, title))


def tile(images: np.ndarray, columns: int) -> np.ndarray:
    """Images (N, C, H, W) tiled row-major into one (rows*H, columns*W[, C]) array with 1-px gaps."""
    n, c, h, w = images.shape
    rows = -(-n // columns)
    canvas = np.ones((rows * (h + 1) - 1, columns * (w + 1) - 1, c), dtype=images.dtype)
    canvas *= images.max() if images.size else 1
    for i, img in enumerate(images):
        r, k = divmod(i, columns)
        canvas[r * (h + 1) : r * (h + 1) + h, k * (w + 1) : k * (w + 1) + w] = img.transpose(1, 2, 0)
    return canvas[..., 0] if c == 1 else canvas


def grid_png(images: np.ndarray, title: str, columns: int = 8) -> bytes:
    """A PNG of images (N, C, H, W), uint8 or floats in [0, 1], tiled `columns` wide."""
    canvas = tile(images, columns)
    fig, ax = plt.subplots(figsize=(5, 5 * canvas.shape[0] / canvas.shape[1] + 0.3), dpi=110)
    ax.imshow(canvas, cmap="gray" if canvas.ndim == 2 else None, vmin=0, vmax=canvas.max() or 1)
    ax.set_axis_off()
    ax.set_title(title, fontsize=8)
    return tight_png(fig)


def latent_scatter_png(means: np.ndarray, labels: np.ndarray, title: str) -> bytes:
    """Fig. 13.5 (a): the test set's posterior means E[z|x], coloured by label."""
    fig, ax = plt.subplots(figsize=(5, 4.5), dpi=110)
    points = ax.scatter(means[:, 0], means[:, 1], c=labels, cmap="tab10", s=2, alpha=0.7)
    fig.colorbar(points, ax=ax, ticks=range(int(labels.max()) + 1))
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    ax.set_title(title, fontsize=8)
    return tight_png(fig)


def write_run_pictures(run_path: Path, result: RunResult, title: str, real: np.ndarray | None = None) -> None:
    """Every picture of a finished run: the toy scatter (its samples against `real`, the test
    draw), sample grids, VAE figures. A result that is not ok removes an earlier result's final
    samples picture, which the leaderboard would otherwise link to this result's row."""
    if result.status != "ok":  # e.g. a run restarted from step 0, then interrupted or failed
        (run_path / "samples.png").unlink(missing_ok=True)
    if result.samples is not None and real is not None:
        write_scatter(run_path / "samples.png", result.samples, real, title)
    pictures = result.pictures
    for step, grid in sorted((pictures.get("grids") or {}).items()):
        write_atomic(run_path / f"samples_step{step:07d}.png", grid_png(grid, f"{title} | step {step}"))
    if pictures.get("grids"):
        last = pictures["grids"][max(pictures["grids"])]
        write_atomic(run_path / "samples.png", grid_png(last, title))
    if "reconstructions" in pictures:
        originals, recon = pictures["reconstructions"]
        pairs = np.concatenate([originals, recon])  # originals above their reconstructions
        write_atomic(
            run_path / "reconstructions.png",
            grid_png(pairs, f"{title} | top: test, bottom: reconstruction", len(originals)),
        )
    if "posterior_means" in pictures:
        png = latent_scatter_png(
            pictures["posterior_means"], pictures["posterior_labels"], f"{title} | E[z|x] of the test set"
        )
        write_atomic(run_path / "latent_means.png", png)
        side = int(round(len(pictures["manifold"]) ** 0.5))
        write_atomic(run_path / "manifold.png", grid_png(pictures["manifold"], f"{title} | E[x|z]", side))
