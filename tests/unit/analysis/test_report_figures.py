"""The report's figures as a reader sees them: one style per variant in every figure (distinct
past ten variants), 150 dpi, no text under 9 pt, panel titles that do not overlap."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from PIL import Image

from genbench.analysis.figures import DPI, FONT, _readable, plt, variant_styles
from genbench.analysis.figures import suite as figures


def test_styles_stay_distinct_past_ten_variants_and_follow_the_label():
    labels = [f"variant {i}" for i in range(30)]
    styles = variant_styles(labels)
    looks = {(s["color"], s["linestyle"], s["marker"]) for s in styles.values()}
    assert len(looks) == 30  # colours repeat after ten, with another line style and marker
    assert styles["variant 3"] == variant_styles(labels)["variant 3"]  # the same in every figure
    assert styles["variant 0"]["color"] == styles["variant 10"]["color"]
    assert styles["variant 0"]["linestyle"] != styles["variant 10"]["linestyle"]


def trajectories(labels: list[str]) -> pd.DataFrame:
    rows = []
    for i, label in enumerate(labels):
        for seed in range(2):
            for step in range(0, 101, 25):
                rows.append(
                    {"run_id": f"{label}-{seed}", "label": label, "dataset": "ring8", "step": step}
                    | {"train_seconds": step / 10, "modes": i + step / 50, "train.d_fake": 0.5}
                )
    return pd.DataFrame(rows)


def test_figures_are_150_dpi_wide_enough_and_drawn_in_the_report_styles():
    labels = [f"v{i}" for i in range(12)]
    traj = trajectories(labels)
    styles = variant_styles(labels)
    png = figures.anytime_png(traj, "modes", "↑", styles)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert DPI >= 150 and image.width == 10 * DPI  # 10 inches at 150 dpi
    colours = {tuple(int(s["color"][k : k + 2], 16) for k in (1, 3, 5)) for s in styles.values()}
    pixels = {tuple(p) for p in np.asarray(image).reshape(-1, 3)}
    assert colours <= pixels  # every variant's colour is drawn
    diag = figures.diagnostics_png(traj, "ring8", {"train.d_fake": {"title": "D(G(z))"}}, styles)
    assert Image.open(io.BytesIO(diag)).width >= 600


def test_text_is_raised_to_9_pt_and_long_panel_titles_do_not_overlap():
    fig, axes = plt.subplots(1, 3, figsize=(10, 3))
    for ax in axes:
        ax.set_title(
            "ring8: generator gradient norm against steps, median and IQR over seeds " * 2, fontsize=7
        )
        ax.tick_params(labelsize=6)
    _readable(fig)
    fig.set_layout_engine("constrained")
    fig.canvas.draw()
    texts = [t for t in fig.findobj(plt.Text) if t.get_text()]
    assert texts and min(t.get_fontsize() for t in texts) >= FONT
    boxes = [ax.title.get_window_extent() for ax in axes]
    for left, right in zip(boxes, boxes[1:], strict=False):
        assert left.x1 <= right.x0  # each title within its own panel's width
    plt.close(fig)
