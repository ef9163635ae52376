"""Figures of one run: generated samples over real samples and the mixture's modes."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from genbench.store import write_atomic  # noqa: E402


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
