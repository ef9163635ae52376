"""Figures of a suite (matplotlib, Agg): anytime curves, training diagnostics, final samples."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from genbench.analysis.figures import DPI, palette_png, plt

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


def _draw(ax, traj: pd.DataFrame, metric: str, x: str, log: bool = False) -> bool:
    """Median line and IQR band per variant on `ax`; whether anything was drawn."""
    drawn = False
    for i, (lab, runs) in enumerate(_runs_of(traj, metric, x).items()):
        grid = None
        if x == "train_seconds":
            end = max(r[0].max() for r in runs)
            grid = np.linspace(0.0, end, GRID_POINTS) if end > 0 else None
        xs, q25, q50, q75 = band(runs, grid)
        color = f"C{i % 10}"
        ax.plot(xs, q50, color=color, lw=1.4, label=f"{lab} (n={len(runs)})")
        ax.fill_between(xs, q25, q75, color=color, alpha=0.2, lw=0)
        drawn = True
    if log and drawn:
        ax.set_yscale("log", nonpositive="clip")
    return drawn


def anytime_png(traj: pd.DataFrame, metric: str, arrow: str = "") -> bytes | None:
    """Metric against steps (left) and training seconds (right), one row per dataset: median
    over seeds and interquartile band per variant. `traj` needs label, dataset, run_id, step,
    train_seconds and the metric. None when no run has the metric."""
    traj = traj.dropna(subset=[metric]) if metric in traj else traj.iloc[0:0]
    datasets = list(dict.fromkeys(traj["dataset"])) if len(traj) else []
    if not datasets:
        return None
    fig, axes = plt.subplots(len(datasets), 2, figsize=(10, 3.2 * len(datasets)), dpi=DPI, squeeze=False)
    for row, dataset in zip(axes, datasets, strict=True):
        part = traj[traj["dataset"] == dataset]
        for ax, x, xlabel in zip(row, ["step", "train_seconds"], ["steps", "training seconds"], strict=True):
            _draw(ax, part, metric, x)
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylabel(f"{metric} {arrow}".strip(), fontsize=8)
            ax.set_title(f"{dataset}: {metric} vs {xlabel} (median, IQR over seeds)", fontsize=9)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
        row[0].legend(fontsize=7, loc="best")
    return palette_png(fig)


def diagnostics_png(traj: pd.DataFrame, dataset: str, diagnostics: dict[str, dict]) -> bytes | None:
    """The training diagnostics the model families declare (`diagnostics`: trajectory column ->
    title, equation, log; the suite manifest's) against steps for one dataset, one panel each,
    median and IQR over seeds per variant; None when no run logged any."""
    part = traj[traj["dataset"] == dataset]
    present = [c for c in diagnostics if c in part and part[c].notna().any()]
    if not present:
        return None
    cols = min(3, len(present))
    rows = math.ceil(len(present) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), dpi=DPI, squeeze=False)
    for ax in axes.flat[len(present) :]:
        ax.axis("off")
    for ax, column in zip(axes.flat, present, strict=False):
        d = diagnostics[column]
        title = f"{d['title']} ({d['equation']})" if d.get("equation") else d["title"]
        _draw(ax, part, column, "step", log=d.get("log", False))
        ax.set_title(f"{dataset}: {title}", fontsize=8)
        ax.set_xlabel("steps (mean since the previous evaluation)", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="best")
    return palette_png(fig)


def montage_png(images: dict[str, Path], title: str) -> bytes | None:
    """The given PNG files side by side (e.g. final samples per variant), captioned by key."""
    images = {k: p for k, p in images.items() if p.exists()}
    if not images:
        return None
    cols = min(4, len(images))
    rows = math.ceil(len(images) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 3.5 * rows), dpi=DPI, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (caption, path) in zip(axes.flat, images.items(), strict=False):
        ax.imshow(plt.imread(path))
        ax.set_title(caption, fontsize=8)
    fig.suptitle(title, fontsize=9)
    return palette_png(fig)
