"""Seed statistics and stability indicators on synthetic tables and trajectories with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from genbench.analysis import stats
from genbench.analysis.leaderboard import runs_table, summary_table
from genbench.store import runs as store
from genbench.store.result import RunResult, Status
from tests.helpers import leaderboard_protocol, leaderboard_specs

# ------------------------------------------------------------------------------ seed statistics


def test_bootstrap_ci_covers_the_true_mean_at_about_the_nominal_rate():
    """200 samples of 20 draws from N(3, 2^2): the 95 % interval should hold 3 about 95 % of the time."""
    rng = np.random.default_rng(12345)
    hits = 0
    for rep in range(200):
        lo, hi = stats.bootstrap_ci(rng.normal(3.0, 2.0, size=20), n_resamples=300, seed=rep)
        assert lo < hi
        hits += lo <= 3.0 <= hi
    assert 0.88 <= hits / 200 <= 0.99  # binomial sd at 95 %: 1.5 points; BCa undercovers a little at n=20


def test_bootstrap_ci_edge_cases():
    assert all(math.isnan(v) for v in stats.bootstrap_ci([5.0]))
    assert stats.bootstrap_ci([4.0, 4.0, 4.0]) == (4.0, 4.0)  # a constant's interval is the constant
    lo, hi = stats.bootstrap_ci([1.0, 2.0, 3.0, 4.0, float("nan")])  # NaNs are dropped
    assert lo < 2.5 < hi  # the interval holds the true mean
    assert lo >= 1.0 and hi <= 4.0  # and is not wider than the data


def test_describe_known_values():
    d = stats.describe([1.0, 3.0, 2.0, 10.0, float("nan")])
    assert d["n"] == 4 and d["mean"] == pytest.approx(4.0) and d["median"] == pytest.approx(2.5)
    assert d["min"] == 1.0 and d["max"] == 10.0
    assert d["std"] == pytest.approx(np.std([1, 3, 2, 10], ddof=1))
    assert d["ci_lo"] <= d["mean"] <= d["ci_hi"]


def test_mann_whitney_matches_scipy_and_the_exact_hand_value():
    # completely separated samples of 3 and 3: exact two-sided p = 2 / C(6, 3) = 0.1
    assert stats.mann_whitney([1, 2, 3], [4, 5, 6]) == pytest.approx(0.1)
    a, b = [1.1, 2.5, 3.3, 4.0, 8.2], [3.0, 5.5, 6.1, 7.4, 9.9, 12.0]
    expected = sps.mannwhitneyu(a, b, alternative="two-sided").pvalue
    assert stats.mann_whitney(a, b) == pytest.approx(expected, rel=1e-12)
    ties = [8, 8, 7, 8, 6], [1, 1, 2, 1, 1]  # integer mode counts: ties, exact over every split
    u = lambda x, y: sps.mannwhitneyu(x, y).statistic  # noqa: E731
    exact = sps.permutation_test(ties, u, permutation_type="independent", n_resamples=np.inf)
    assert stats.mann_whitney(*ties) == pytest.approx(exact.pvalue, rel=1e-12)
    assert stats.mann_whitney([8, 8, 8], [1, 1, 1]) == pytest.approx(0.1)  # asymptotic: 0.047
    big = [float(v) for v in range(10)], [v + 0.5 for v in range(10)]  # C(20, 10) splits: asymptotic
    expected = sps.mannwhitneyu(*big, alternative="two-sided").pvalue
    assert stats.mann_whitney(*big) == pytest.approx(expected, rel=1e-12)
    assert stats.mann_whitney([2, 2], [2, 2, 2]) == 1.0  # all tied: no evidence of a difference
    assert math.isnan(stats.mann_whitney([], [1.0]))


def test_holm_hand_case():
    # sorted p: 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone: 0.06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # capped at 1
    out = stats.holm([0.02, float("nan"), 0.01])  # a NaN is not a test: m = 2
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.02)


def test_pairwise_tests_is_a_symmetric_holm_adjusted_matrix():
    samples = {"a": [1, 2, 3], "b": [4, 5, 6], "c": [1.5, 2.5, 3.5]}
    m = stats.pairwise_tests(samples)
    raw = [stats.mann_whitney(samples[x], samples[y]) for x, y in [("a", "b"), ("a", "c"), ("b", "c")]]
    adjusted = stats.holm(raw)
    assert m.loc["a", "b"] == m.loc["b", "a"] == pytest.approx(adjusted[0])
    assert m.loc["b", "c"] == pytest.approx(adjusted[2])
    assert all(math.isnan(m.loc[k, k]) for k in samples)


FID = {  # a lower-is-better metric over 6 seeds: A clearly best, B and C indistinguishable
    "A": [10.0, 11.0, 12.0, 13.0, 14.0, 15.0],
    "B": [30.0, 31.0, 32.0, 33.0, 34.0, 35.0],
    "C": [30.5, 31.5, 32.5, 33.5, 34.5, 35.5],
}


def test_ranks_lower_is_better_with_ties_for_non_significant_differences():
    m = stats.pairwise_tests(FID)
    assert m.loc["A", "B"] < 0.05 and m.loc["B", "C"] > 0.05
    centres = {k: float(np.mean(v)) for k, v in FID.items()}
    assert stats.tied_ranks(centres, m, "min") == {"A": 1, "B": 2, "C": 2}
    assert stats.tied_ranks(centres, m, "max") == {"C": 1, "B": 1, "A": 3}  # competition ranks


def test_summary_table_ranks_and_ci_for_a_lower_is_better_metric():
    rows = [
        {"model": "gan", "variant": v, "dataset": "toy", "protocol": "p", "seed": s, "status": "ok", "fid": x}
        for v, xs in FID.items()
        for s, x in enumerate(xs)
    ]
    summary = summary_table(pd.DataFrame(rows), {"fid": "min"}, n_resamples=500).set_index("variant")
    assert list(summary.index) == ["A", "B", "C"]  # lowest mean first
    assert summary["rank"].to_dict() == {"A": 1, "B": 2, "C": 2}
    assert summary.loc["A", "fid_median"] == 12.5 and summary.loc["A", "fid_min"] == 10.0
    assert summary.loc["A", "fid_max"] == 15.0
    assert summary.loc["A", "fid_ci_lo"] < 12.5 < summary.loc["A", "fid_ci_hi"] < 30.0


# ------------------------------------------------------------------------ stability per run


def rows(values, metric="modes", every=100, seconds_per_step=0.01):
    return [
        {"step": i * every, "train_seconds": i * every * seconds_per_step, metric: v}
        for i, v in enumerate(values)
    ]


def test_collapse_is_fewer_than_half_of_the_modes_at_the_end():
    assert stats.is_collapsed(3, 8) == 1.0
    assert stats.is_collapsed(4, 8) == 0.0  # exactly half is not collapse
    assert stats.is_collapsed(12, 25) == 1.0 and stats.is_collapsed(13, 25) == 0.0
    assert math.isnan(stats.is_collapsed(3, float("nan")))


def test_oscillation_best_gap_and_time_to_target_on_hand_trajectories():
    assert stats.oscillation([1, 2, 3, 4, 5, 6, 8, 4]) == pytest.approx(2.0)  # last 2 of 8: 8, 4
    assert stats.oscillation([0] * 9 + [3, 6, 9]) == pytest.approx(np.std([3, 6, 9]))  # last 3 of 12
    assert math.isnan(stats.oscillation([5]))
    assert stats.best_gap([1, 5, 3], "max") == 2 and stats.best_gap([3, 1, 2], "min") == 1
    assert stats.time_to_target(rows([1, 2, 4, 8, 3]), "modes", "max", 4) == (200.0, 2.0)
    assert stats.time_to_target(rows([9, 5, 2], "fid"), "fid", "min", 5) == (100.0, 1.0)
    assert all(math.isnan(v) for v in stats.time_to_target(rows([1, 2]), "modes", "max", 4))


def test_run_indicators_classify_collapsed_settled_and_diverged_runs():
    collapsed = stats.run_indicators("ok", rows([0, 2, 5, 3, 2, 1, 1, 1]), "modes", "max", n_modes=8)
    assert collapsed["collapsed"] == 1.0 and collapsed["diverged"] == 0.0
    assert collapsed["best_gap"] == 4 and collapsed["oscillation"] == 0.0
    assert collapsed["target"] == 4 and collapsed["steps_to_target"] == 200
    settled = stats.run_indicators("ok", rows([1, 3, 6, 8, 8, 8, 8, 8]), "modes", "max", n_modes=8)
    assert settled["collapsed"] == 0.0 and settled["best_gap"] == 0 and settled["final"] == 8
    custom = stats.run_indicators("ok", rows([1, 3, 6, 8]), "modes", "max", n_modes=8, target=7)
    assert custom["steps_to_target"] == 300
    diverged = stats.run_indicators("diverged", rows([1, 2]), "modes", "max", n_modes=8)
    assert diverged["diverged"] == 1.0 and math.isnan(diverged["collapsed"]) and math.isnan(diverged["final"])


def test_n_modes_from_the_dataset_entry_or_stored_counts():
    info = {"kind": "image", "n_modes": 10, "collapse": {"output": "classes", "below": 5.0}}
    assert stats.n_modes_of({"dataset_info": info}, None, []) == 10
    assert stats.collapse_rule({"dataset_info": info}, None, []) == {
        "n_modes": 10.0,
        "collapse": info["collapse"],
    }
    assert (
        stats.n_modes_of({}, RunResult.ok(extras={"mode_counts": [1] * 8}), []) == 8
    )  # stored before entries declared
    assert stats.n_modes_of({}, None, [{"mode_counts": [0] * 25}]) == 25  # a diverged run's trajectory
    assert math.isnan(
        stats.n_modes_of({"dataset_params": {"n_modes": 6}}, None, [])
    )  # no knowledge of params
    assert stats.collapse_rule({}, None, [])["collapse"] is None


def test_collapse_follows_the_dataset_rule_whatever_the_primary_metric():
    rule = {"output": "classes", "below": 5.0}
    traj = [{"step": 0, "fid": 90.0, "classes": 8}, {"step": 100, "fid": 40.0, "classes": 4}]
    collapsed = stats.run_indicators("ok", traj, "fid", "min", 10, collapse=rule)
    assert collapsed["collapsed"] == 1.0 and math.isnan(collapsed["target"])
    kept = stats.run_indicators("ok", [{**traj[1], "classes": 5}], "fid", "min", 10, collapse=rule)
    assert kept["collapsed"] == 0.0
    on_classes = stats.run_indicators("ok", traj, "classes", "max", 10, collapse=rule)
    assert on_classes["target"] == 5.0


def test_stability_table_from_a_hand_made_store(tmp_path):
    """Three seeds per variant of the leaderboard test suite with made-up trajectories."""
    specs = leaderboard_specs(tmp_path)
    suite_path = store.suite_dir(tmp_path / "results", "lb")
    store.write_manifest(suite_path, specs, "lb.yaml", {"modes": "max"})
    plans = {  # (model, variant-is-first-gan, seed) -> status, modes trajectory
        0: ("ok", [0, 4, 8, 8]),  # settled, not collapsed, reaches 4 at step 100
        1: ("ok", [0, 2, 5, 2]),  # collapsed at the end (2 < 4), best gap 3
        2: ("diverged", [0, 1]),
    }
    for spec in specs:
        status, values = plans[spec.seed]
        traj = [
            {**r, "mode_counts": [1] * v + [0] * (8 - v)} for r, v in zip(rows(values), values, strict=True)
        ]
        metrics = {"modes": values[-1]} if status == "ok" else {}
        result = RunResult(
            Status(status),
            steps=300,
            train_seconds=3.0,
            metrics=metrics,
            protocol=leaderboard_protocol(spec),
            trajectory=traj,
        )
        store.write_run(suite_path, spec, result)
    table, directions = runs_table(suite_path)
    traj, modes = stats.load_trajectories(suite_path)
    assert {r["n_modes"] for r in modes.values()} == {8.0} and len(traj) == 3 * (4 + 4 + 2)
    assert {r["collapse"]["output"] for r in modes.values()} == {"modes"}  # ring8's entry
    indicators = stats.indicators_table(table, traj, modes, "modes", "max")
    assert len(indicators) == 9
    table_s = stats.stability_table(indicators)
    assert len(table_s) == 3
    for row in table_s.to_dict("records"):
        assert row["runs"] == 3
        assert row["diverged_rate"] == pytest.approx(1 / 3)
        assert row["collapsed_rate"] == pytest.approx(1 / 2)  # over the ok runs
        assert row["best_gap"] == pytest.approx(1.5)  # median of 0 and 3
        assert row["reached_rate"] == pytest.approx(2 / 3) and row["steps_to_target"] == pytest.approx(150)
