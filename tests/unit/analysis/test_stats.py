"""Seed statistics on synthetic tables with known answers (stability indicators: test_stability.py)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from genbench.analysis import permutation, stats
from genbench.analysis.leaderboard import summary_table

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
    big = [float(v) for v in range(21)], [v + 0.5 for v in range(21)]  # 21 per group: asymptotic
    expected = sps.mannwhitneyu(*big, alternative="two-sided", method="asymptotic").pvalue
    assert stats.mann_whitney(*big) == pytest.approx(expected, rel=1e-12)
    assert stats.mann_whitney_test(*big).test.startswith("asymptotic")
    assert stats.mann_whitney([2, 2], [2, 2, 2]) == 1.0  # all tied: no evidence of a difference
    assert math.isnan(stats.mann_whitney([], [1.0]))


def mid_ranks(values: list[float]) -> list[float]:
    """Rank of each value among all (1-based), ties sharing the mean of their ranks, by counting."""
    return [sum(w < v for w in values) + (sum(w == v for w in values) + 1) / 2 for v in values]


def enumerated_p(a: list[float], b: list[float], alternative: str) -> float:
    """The exact Mann-Whitney p-value by hand: every split of the pooled mid-ranks into groups of
    len(a) and len(b) is equally likely under the null; U of a = its rank sum - n1 (n1 + 1) / 2."""
    ranks, n1 = mid_ranks(a + b), len(a)
    us = [sum(ranks[i] for i in c) - n1 * (n1 + 1) / 2 for c in itertools.combinations(range(len(ranks)), n1)]
    u = sum(ranks[:n1]) - n1 * (n1 + 1) / 2
    upper = sum(x >= u - 1e-9 for x in us) / len(us)
    lower = sum(x <= u + 1e-9 for x in us) / len(us)
    return {"greater": upper, "less": lower}.get(alternative, min(1.0, 2 * min(upper, lower)))


GROUPS = {
    "no ties": ([1.2, 3.4, 5.0, 7.7], [2.2, 0.1, 4.4, 6.0, 9.1]),
    "separated": ([8.5, 9.0, 9.5], [1.0, 2.0, 3.0, 4.0]),
    "ties": ([8, 8, 7, 8, 6], [1, 1, 2, 8, 1]),
    "ties across groups": ([3, 3, 2, 5], [3, 2, 2, 1, 3, 0]),
}


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize("name", list(GROUPS))
def test_small_groups_are_exact_against_enumeration(name, alternative):
    a, b = GROUPS[name]
    tested = stats.mann_whitney_test(a, b, alternative)
    assert tested.p == pytest.approx(enumerated_p(list(a), list(b), alternative), rel=1e-12)
    tied = len(set(a) | set(b)) < len(a) + len(b)
    splits = math.comb(len(a) + len(b), len(a))
    expected = f"Mann–Whitney U with ties (mid-ranks): exact permutation (all {splits:,} splits)"
    assert tested.test == (expected if tied else "exact Mann–Whitney U")


def test_the_issue_case_one_sided_at_six_seeds():
    # Unrolled GAN against GAN, ring8 modes: 20 of the 924 splits put a rank sum this high or higher
    unrolled, gan = [7, 4, 1, 6, 1, 1], [1, 0, 1, 0, 1, 0]
    tested = stats.mann_whitney_test(unrolled, gan, "greater")
    assert tested.p == pytest.approx(enumerated_p(unrolled, gan, "greater")) == pytest.approx(20 / 924)
    normal = sps.mannwhitneyu(unrolled, gan, alternative="greater", method="asymptotic").pvalue
    assert normal < 0.0126 < tested.p  # the normal approximation is too small here


def test_beyond_the_enumeration_a_seeded_monte_carlo_test(monkeypatch):
    a, b = [8, 8, 7, 8, 6, 5], [1, 1, 2, 8, 1, 6]  # ties; 924 splits
    monkeypatch.setattr(permutation, "EXACT_SPLITS", 100)  # force Monte Carlo on a case we can enumerate
    tested = stats.mann_whitney_test(a, b)
    assert tested.test.endswith("permutation (Monte Carlo, 100,000 resamples, seed 0)")
    # 100,000 resamples: standard error of p below 0.0016
    assert tested.p == pytest.approx(enumerated_p(a, b, "two-sided"), abs=0.01)
    assert stats.mann_whitney_test(a, b).p == tested.p  # seeded: the same p every time
    one_sided = stats.mann_whitney_test(a, b, "greater").p
    assert one_sided == pytest.approx(enumerated_p(a, b, "greater"), abs=0.01)


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
    assert m.attrs["tests"] == "exact Mann–Whitney U"
    tied = stats.pairwise_tests({"a": [1, 1, 2], "b": [4, 5, 6], "c": [1.5, 2.5, 3.5]})  # a has ties
    assert tied.attrs["tests"] == (
        "Mann–Whitney U with ties (mid-ranks): exact permutation (all 20 splits) (2 pairs); "
        "exact Mann–Whitney U (1 pair)"
    )


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
