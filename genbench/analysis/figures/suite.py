"""Figures of a suite (matplotlib, Agg): anytime curves, training diagnostics, final samples."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from genbench.analysis.figures import DPI, FONT, palette_png, plt, variant_styles

GRID_POINTS = 60  # resolution of the common seconds axis the runs are interpolated onto


def band(runs: list[tuple[np.ndarray, np.ndarray]], grid: np.ndarray | None = None):
    """Median and interquartile range over runs of y(x), each run given as (x, y) sorted by x.

    Without `grid`, runs are aligned on their x values (steps); with it, each run is linearly
    interpolated onto the grid and is absent after its last point. Returns (x, q25, median, q75)."""
    if grid is None:
        grid = np.unique(np.concatenate([x for x, _ in runs])) if runs else np.array([])
        values = np.full((len(runs), len(grid)), np.nan)
        for i, (x, y) in enumerate(runs):
            values[i, np.searchsorted(grid, x)] = y
    else:
        values = np.full((len(runs), len(grid)), np.nan)
        for i, (x, y) in enumerate(runs):
            ok = np.isfinite(y)
            if ok.sum() >= 1:
                inside = grid <= x[ok].max()
                values[i, inside] = np.interp(grid[inside], x[ok], y[ok])
    with np.errstate(all="ignore"):
        valid = np.isfinite(values).any(axis=0)
        values = values[:, valid]
        q = np.nanpercentile(values, [25, 50, 75], axis=0) if values.size else np.empty((3, 0))
    return grid[valid], q[0], q[1], q[2]


def _runs_of(traj: pd.DataFrame, metric: str, x: str) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Per variant label: the (x, metric) series of each of its runs."""
    out: dict[str, list] = {}
    for (lab, _), g in traj.groupby(["label", "run_id"], sort=False):
        g = g.dropna(subset=[metric]).sort_values(x)
        if len(g):
            out.setdefault(lab, []).append((g[x].to_numpy(float), g[metric].to_numpy(float)))
    return out


def _draw(ax, traj: pd.DataFrame, metric: str, x: str, styles: dict[str, dict], log: bool = False) -> bool:
    """Median line and IQR band per variant on `ax`, in its report-wide style; whether anything was drawn."""
    drawn = False
    for lab, runs in _runs_of(traj, metric, x).items():
        grid = None
        if x == "train_seconds":
            end = max(r[0].max() for r in runs)
            grid = np.linspace(0.0, end, GRID_POINTS) if end > 0 else None
        xs, q25, q50, q75 = band(runs, grid)
        style = styles.get(lab) or variant_styles([lab])[lab]
        ax.plot(xs, q50, lw=1.6, label=f"{lab} (n={len(runs)})", **style)
        ax.fill_between(xs, q25, q75, color=style["color"], alpha=0.15, lw=0)
        drawn = True
    if log and drawn:
        ax.set_yscale("log", nonpositive="clip")
    return drawn


def _legend(fig, axes) -> None:
    """One legend below the figure: every variant drawn in any panel, in report order."""
    handles = {}
    for ax in axes:
        for handle, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab.rsplit(" (n=", 1)[0], handle)
    if handles:
        cols = min(3, len(handles))
        fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncols=cols, fontsize=FONT)


def anytime_png(traj: pd.DataFrame, metric: str, arrow: str = "", styles: dict | None = None) -> bytes | None:
    """Metric against steps (left) and training seconds (right), one row per dataset: median
    over seeds and interquartile band per variant (`styles`: label -> line style, shared by the
    report's figures). `traj` needs label, dataset, run_id, step, train_seconds and the metric.
    None when no run has the metric."""
    traj = traj.dropna(subset=[metric]) if metric in traj else traj.iloc[0:0]
    datasets = list(dict.fromkeys(traj["dataset"])) if len(traj) else []
    if not datasets:
        return None
    styles = styles or variant_styles(traj["label"])
    fig, axes = plt.subplots(len(datasets), 2, figsize=(10, 3.6 * len(datasets) + 1), dpi=DPI, squeeze=False)
    for row, dataset in zip(axes, datasets, strict=True):
        part = traj[traj["dataset"] == dataset]
        for ax, x, xlabel in zip(row, ["step", "train_seconds"], ["steps", "training seconds"], strict=True):
            _draw(ax, part, metric, x, styles)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(f"{metric} {arrow}".strip())
            ax.set_title(f"{dataset}: {metric} against {xlabel}", fontsize=FONT + 1)
            ax.grid(alpha=0.3)
    fig.suptitle(f"{metric}: median (line) and interquartile range (band) over seeds", fontsize=FONT + 2)
    _legend(fig, axes.flat)
    return palette_png(fig)


def diagnostics_png(
    traj: pd.DataFrame, dataset: str, diagnostics: dict[str, dict], styles: dict | None = None
) -> bytes | None:
    """The training diagnostics the model families declare (`diagnostics`: trajectory column ->
    title, equation, log; the suite manifest's) against steps for one dataset, one panel each,
    median and IQR over seeds per variant; None when no run logged any."""
    part = traj[traj["dataset"] == dataset]
    present = [c for c in diagnostics if c in part and part[c].notna().any()]
    if not present:
        return None
    styles = styles or variant_styles(traj["label"])
    cols = min(2, len(present))
    rows = math.ceil(len(present) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.4 * rows + 1), dpi=DPI, squeeze=False)
    for ax in axes.flat[len(present) :]:
        ax.axis("off")
    for ax, column in zip(axes.flat, present, strict=False):
        d = diagnostics[column]
        title = f"{d['title']} ({d['equation']})" if d.get("equation") else d["title"]
        _draw(ax, part, column, "step", styles, log=d.get("log", False))
        ax.set_title(title, fontsize=FONT + 1)
        ax.set_xlabel("steps")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{dataset}: training diagnostics, mean since the previous evaluation", fontsize=FONT + 2)
    _legend(fig, axes.flat)
    return palette_png(fig)


def montage_png(images: dict[str, Path], title: str) -> bytes | None:
    """The given PNG files side by side (e.g. final samples per variant), captioned by key."""
    images = {k: p for k, p in images.items() if p.exists()}
    if not images:
        return None
    cols = min(4, len(images))
    rows = math.ceil(len(images) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(max(6.5, 3.3 * cols), 3.5 * rows), dpi=DPI, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (caption, path) in zip(axes.flat, images.items(), strict=False):
        ax.imshow(plt.imread(path))
        ax.set_title(caption, fontsize=FONT)
    fig.suptitle(title, fontsize=FONT + 2)
    return palette_png(fig)
