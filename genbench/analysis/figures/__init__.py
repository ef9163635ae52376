"""Every picture genbench draws (matplotlib, Agg backend): a suite's figures (`suite`), one run's
pictures (`runs`), the analysis of searches (`tuning`); the PNG writers and the variant styles
they share."""

from __future__ import annotations

import io
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

DPI = 150  # a report's figures: sharp at the width a browser shows them
FONT = 9  # points: the smallest text of a report's figure
COLOURS = [  # tab10, the colour-blind-safer order of matplotlib's default cycle
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]  # fmt: skip
LINESTYLES = ["-", "--", ":", "-."]
MARKERS = [None, "o", "s", "^", "D", "v", "P", "X"]


def variant_styles(labels) -> dict[str, dict]:
    """One line style per variant label, the same in every figure of a report: the ten colours,
    then for each further ten variants the colours again with another line style and marker."""
    styles = {}
    for i, label in enumerate(dict.fromkeys(labels)):
        cycle = i // len(COLOURS)
        styles[label] = {
            "color": COLOURS[i % len(COLOURS)],
            "linestyle": LINESTYLES[cycle % len(LINESTYLES)],
            "marker": MARKERS[cycle % len(MARKERS)],
            "markevery": 0.2,
        }
    return styles


def _readable(fig) -> None:
    """Raise every text of the figure to at least FONT points and wrap each axes title to the
    width of its axes (titles of neighbouring panels never overlap)."""
    for text in fig.findobj(matplotlib.text.Text):
        if text.get_fontsize() < FONT:
            text.set_fontsize(FONT)
    width_in = fig.get_figwidth()
    for ax in fig.axes:
        title = ax.title.get_text()
        if title:
            chars = max(12, int(ax.get_position().width * width_in * 72 / (0.6 * ax.title.get_fontsize())))
            ax.set_title("\n".join(textwrap.wrap(title, chars)), fontsize=ax.title.get_fontsize())


def palette_png(fig) -> bytes:
    """The figure as a PNG with a 256-colour palette (a third of the size, the same to the eye),
    its text readable and laid out without overlaps."""
    _readable(fig)
    fig.set_layout_engine("constrained")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
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
