"""Every picture genbench draws (matplotlib, Agg backend): a suite's figures (`suite`), one run's
pictures (`runs`), the analysis of searches (`tuning`); the PNG writers they share."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

DPI = 72  # small PNGs: the report embeds them and results/reference commits them


def palette_png(fig) -> bytes:
    """The figure as a PNG with a 256-colour palette (a third of the size, the same to the eye)."""
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    image = Image.open(buf).convert("RGB").quantize(colors=256)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def tight_png(fig) -> bytes:
    """The figure as a full-colour PNG cropped to its drawing (a run's pictures)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
