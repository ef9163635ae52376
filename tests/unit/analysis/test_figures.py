"""Anytime bands over seeds and the report's figures, on hand-made trajectories."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genbench.analysis.figures import suite as figures
from genbench.store import runs as store
from genbench.suite.config import load_suite

PNG = b"\x89PNG\r\n\x1a\n"
SUITE = {
    "name": "figures",
    "seeds": [0],
    "budget": {"steps": 1},
    "datasets": [{"name": "ring8"}],
    "models": [{"name": "gan"}, {"name": "wgan"}],
    "metrics": ["mode_coverage"],
}


def test_band_is_median_and_interquartile_range_over_runs_at_shared_steps():
    x = np.array([0.0, 100.0, 200.0])
    runs = [(x, x / 100 + k) for k in range(4)]  # y = step/100 + 0, 1, 2, 3
    xs, q25, q50, q75 = figures.band(runs)
    assert xs.tolist() == [0, 100, 200]
    assert q50 == pytest.approx([1.5, 2.5, 3.5])
    assert q25 == pytest.approx([0.75, 1.75, 2.75]) and q75 == pytest.approx([2.25, 3.25, 4.25])


def test_band_keeps_runs_that_stopped_early_out_of_later_steps():
    long = (np.array([0.0, 1.0, 2.0]), np.array([0.0, 10.0, 20.0]))
    short = (np.array([0.0, 1.0]), np.array([2.0, 4.0]))  # e.g. diverged after step 1
    xs, _, q50, _ = figures.band([long, short])
    assert xs.tolist() == [0, 1, 2] and q50 == pytest.approx([1.0, 7.0, 20.0])


def test_band_interpolates_onto_a_seconds_grid_and_stops_after_each_run():
    a = (np.array([0.0, 10.0]), np.array([0.0, 10.0]))
    b = (np.array([0.0, 20.0]), np.array([0.0, 40.0]))
    xs, _, q50, _ = figures.band([a, b], grid=np.array([0.0, 5.0, 10.0, 15.0, 20.0]))
    # at 5 s: a = 5, b = 10; at 15 s only b (a ended at 10 s): 30
    assert xs.tolist() == [0, 5, 10, 15, 20] and q50 == pytest.approx([0.0, 7.5, 15.0, 30.0, 40.0])


def trajectories() -> pd.DataFrame:
    rows = []
    for lab, scale in [("gan loss=minimax", 1.0), ("wgan", 2.0)]:
        for seed in range(3):
            for i in range(5):
                row = {
                    "label": lab,
                    "dataset": "ring8",
                    "run_id": f"{lab}-{seed}",
                    "step": 100 * i,
                    "train_seconds": 0.7 * i * (1 + seed / 10),
                    "modes": min(8, i * scale + seed),
                }
                if i:  # train.* means exist from the first evaluation after step 0
                    row["train.grad_norm_g"] = 1.0 / (i * scale)
                    if lab == "wgan":
                        row["train.clip_frac"] = 0.5
                rows.append(row)
    return pd.DataFrame(rows)


def test_anytime_and_diagnostics_figures_are_pngs():
    traj = trajectories()
    assert figures.anytime_png(traj, "modes", "↑")[:8] == PNG
    assert figures.anytime_png(traj, "elbo") is None  # no run has it
    declared = store.diagnostics(load_suite(SUITE)[1])  # what gan's and wgan's entries declare
    assert {"train.grad_norm_g", "train.clip_frac"} <= set(declared)
    assert figures.diagnostics_png(traj, "ring8", declared)[:8] == PNG
    assert figures.diagnostics_png(traj, "ring8", {}) is None  # nothing declared: no panel
    dropped = traj.drop(columns=["train.grad_norm_g", "train.clip_frac"])
    assert figures.diagnostics_png(dropped, "ring8", declared) is None


def test_montage_skips_missing_files(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(figures.anytime_png(trajectories(), "modes"))
    assert figures.montage_png({"a": path, "b": tmp_path / "missing.png"}, "samples")[:8] == PNG
    assert figures.montage_png({"b": tmp_path / "missing.png"}, "samples") is None
