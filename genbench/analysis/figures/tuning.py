"""Figures of a suite's hyper-parameter searches (matplotlib, Agg): the distribution of trial values,
expected best-of-k curves with bootstrap bands, sensitivity to each searched key, seeds vs trials."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator, NullFormatter

from genbench.analysis.figures import DPI, palette_png, plt


def _datasets(trials: pd.DataFrame) -> list:
    return list(dict.fromkeys(trials["dataset"]))


def _finished(trials: pd.DataFrame) -> pd.DataFrame:
    return trials[trials["pending"] == 0]


def distribution_png(trials: pd.DataFrame, metric: str, arrow: str) -> bytes | None:
    """Per data set: a box plot of the trial values of each method, every trial as a point; failed
    trials counted in the tick label."""
    trials = _finished(trials)
    datasets = _datasets(trials)
    if not datasets:
        return None
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.8 * len(datasets), 3.6), dpi=DPI, squeeze=False)
    rng = np.random.default_rng(0)  # jitter only
    for ax, dataset in zip(axes[0], datasets, strict=True):
        part = trials[trials["dataset"] == dataset]
        methods = list(dict.fromkeys(part["method"]))
        data, names = [], []
        for j, method in enumerate(methods):
            v = part.loc[part["method"] == method, "value"].to_numpy(float)
            ok = v[np.isfinite(v)]
            data.append(ok)
            names.append(f"{method}\n(N={len(v)}, failed {len(v) - len(ok)})")
            ax.scatter(j + 1 + rng.uniform(-0.12, 0.12, len(ok)), ok, s=10, color=f"C{j % 10}", zorder=3)
        ax.boxplot(data, showfliers=False, widths=0.5)
        ax.set_xticks(range(1, len(methods) + 1), names, fontsize=7, rotation=20)
        ax.set_ylabel(f"{metric} {arrow} (trial: mean over seeds)", fontsize=8)
        ax.set_title(f"{dataset}: final {metric} over trials", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, axis="y")
    return palette_png(fig)


def best_of_k_png(curves: pd.DataFrame, metric: str, arrow: str) -> bytes | None:
    """Per data set: E[best of k trials] against k per method, with its 95 % bootstrap band."""
    datasets = _datasets(curves) if len(curves) else []
    if not datasets:
        return None
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.8 * len(datasets), 3.4), dpi=DPI, squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        part = curves[curves["dataset"] == dataset]
        for j, (method, g) in enumerate(part.groupby("method", sort=False)):
            color = f"C{j % 10}"
            ax.plot(g["k"], g["expected_best"], color=color, lw=1.4, marker=".", label=method)
            ax.fill_between(g["k"], g["band_lo"], g["band_hi"], color=color, alpha=0.18, lw=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("k (trials of the search)", fontsize=8)
        ax.set_ylabel(f"expected best {metric} {arrow}", fontsize=8)
        ax.set_title(f"{dataset}: expected best of k (95% bootstrap band)", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    return palette_png(fig)


def sensitivity_png(trials: pd.DataFrame, dataset: str, metric: str, arrow: str) -> bytes | None:
    """One row per method, one panel per searched key: trial value against the key's value (log
    axis for log-uniform keys; choices at their positions, jittered)."""
    part = _finished(trials)
    part = part[part["dataset"] == dataset]
    methods = list(dict.fromkeys(part["method"]))
    if not methods:
        return None
    keys = {m: list(part.loc[part["method"] == m, "space"].iloc[0]) for m in methods}
    cols = max(len(k) for k in keys.values())
    fig, axes = plt.subplots(
        len(methods), cols, figsize=(3.4 * cols, 2.8 * len(methods)), dpi=DPI, squeeze=False
    )
    rng = np.random.default_rng(0)
    for row, method in zip(axes, methods, strict=True):
        g = part[part["method"] == method]
        space = g["space"].iloc[0]
        for ax in row[len(space) :]:
            ax.axis("off")
        for ax, (key, kind) in zip(row, space.items(), strict=False):
            y = g["value"].to_numpy(float)
            x = g[f"hp.{key}"].to_numpy()
            if kind == "choice":
                levels = list(dict.fromkeys(sorted(x, key=str)))
                pos = np.array([levels.index(v) for v in x], dtype=float)
                ax.scatter(pos + rng.uniform(-0.1, 0.1, len(pos)), y, s=12)
                ax.set_xticks(range(len(levels)), [str(v) for v in levels])
            else:
                ax.scatter(x.astype(float), y, s=12)
                if kind == "loguniform":
                    ax.set_xscale("log")
                    ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel(f"{key} ({kind})", fontsize=8)
            ax.set_ylabel(f"{metric} {arrow}", fontsize=8)
            ax.set_title(f"{method}", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
    fig.suptitle(
        f"{dataset}: final {metric} (mean over seeds) against each searched hyper-parameter", fontsize=9
    )
    return palette_png(fig)


def seeds_png(trials: pd.DataFrame, metric: str, arrow: str, direction: str) -> bytes | None:
    """Per data set and method: the trials sorted by their seed mean (line) with each seed's value
    (points), so the spread over seeds sits beside the spread over trials."""
    trials = _finished(trials)
    datasets = _datasets(trials)
    if not datasets:
        return None
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.8 * len(datasets), 3.4), dpi=DPI, squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        part = trials[trials["dataset"] == dataset]
        for j, (method, g) in enumerate(part.groupby("method", sort=False)):
            g = g.sort_values("value", ascending=direction == "max", na_position="first")
            rank = np.arange(1, len(g) + 1)
            color = f"C{j % 10}"
            ax.plot(rank, g["value"], color=color, lw=1.2, label=method)
            for r, text in zip(rank, g["seed_values"], strict=True):
                seeds = [float(v) for v in text.split()]
                ax.scatter([r] * len(seeds), seeds, s=6, color=color, alpha=0.6)
        ax.set_xlabel("trial, worst to best by its seed mean", fontsize=8)
        ax.set_ylabel(f"{metric} {arrow}", fontsize=8)
        ax.set_title(f"{dataset}: seeds (points) vs trials (line)", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    return palette_png(fig)
