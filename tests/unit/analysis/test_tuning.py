"""The search analysis: the exact expected best-of-k against every k-subset enumerated, failed
trials, the bootstrap band, the method ahead at each k (its permutation p-values against every
split enumerated), and the quantiles of trial values."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from genbench.analysis.tuning import (
    ahead_table,
    band,
    best_of_k_weights,
    bootstrap_curves,
    curve_pvalues,
    expected_best_of_k,
    quantiles_table,
)


def enumerated(values, k, best=max):
    """Mean over all k-subsets (without replacement) of their best value."""
    return float(np.mean([best(c) for c in itertools.combinations(values, k)]))


@pytest.mark.parametrize("values", [[3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0], [2.0, 2.0, 2.0], [7.5]])
def test_expected_best_of_k_equals_all_subsets(values):
    n = len(values)
    assert np.allclose(expected_best_of_k(values, "max"), [enumerated(values, k) for k in range(1, n + 1)])
    assert np.allclose(
        expected_best_of_k(values, "min"), [enumerated(values, k, min) for k in range(1, n + 1)]
    )


def test_known_values_k1_is_the_mean_and_kn_the_best():
    values = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]
    curve = expected_best_of_k(values)
    assert curve[0] == pytest.approx(np.mean(values)) and curve[-1] == 9.0
    assert curve[1] == pytest.approx(5.5)  # 154 / 28, by hand
    assert np.all(np.diff(curve) >= 0)


def test_weights_are_the_distribution_of_the_best_position():
    w = best_of_k_weights(10)
    assert np.allclose(w.sum(axis=1), 1.0)
    assert w[2, 4] == pytest.approx(math.comb(4, 2) / math.comb(10, 3))
    assert np.all(w[np.triu_indices(10, 1)[::-1]] == 0)  # the best of k sits at position >= k


def test_failed_trials_rank_worst_and_leave_small_k_undefined():
    values = [3.0, math.nan, 4.0, math.nan, 5.0]
    stand_in = [3.0, -1e9, 4.0, -1e9, 5.0]  # any value below every finished trial
    curve = expected_best_of_k(values)
    assert np.isnan(curve[:2]).all()  # some 1- and 2-subsets hold failed trials only
    assert np.allclose(curve[2:], [enumerated(stand_in, k) for k in (3, 4, 5)])


def test_bootstrap_band_holds_the_curve_and_ends_at_the_maximum():
    values = np.random.default_rng(1).normal(size=12)
    curves = bootstrap_curves(values, "max")
    lo, hi = band(curves)
    point = expected_best_of_k(values)
    assert np.all(lo <= point + 1e-12) and np.all(point <= hi + 1e-12)
    assert hi[-1] == pytest.approx(values.max())  # no resample's best exceeds the best trial
    assert np.array_equal(curves, bootstrap_curves(values, "max"))  # seeded


def trials(groups: dict[str, list[float]], dataset: str = "ring8") -> pd.DataFrame:
    rows = []
    for method, values in groups.items():
        for t, v in enumerate(values):
            rows.append(
                {
                    "dataset": dataset,
                    "protocol": "p",
                    "method": method,
                    "trial": t,
                    "pending": 0,
                    "value": v,
                    "seed_std": 0.5,
                    "seed_values": f"{v - 0.5} {v + 0.5}",
                    "variant": f"trial={t}",
                }
            )
    return pd.DataFrame(rows)


def test_the_better_method_is_ahead_significantly_and_equal_ones_are_not():
    good, bad = list(np.linspace(10, 20, 16)), list(np.linspace(0, 8, 16))
    table = ahead_table(trials({"a": bad, "b": good, "c": list(bad)}), "max")
    assert list(table["k"]) == list(range(1, 17))
    assert (table["ahead"] == "b").all()
    assert (table["significantly_ahead_of"] == "a, c").all()
    same = ahead_table(trials({"a": good, "b": list(good)}), "max")
    assert same["ahead"].str.startswith("tie").all() and (same["significantly_ahead_of"] == "").all()
    lower = ahead_table(trials({"a": bad, "b": good}), "min")
    assert (lower["ahead"] == "a").all()  # lower is better: the other method leads
    assert (table["p_test"] == "permutation (Monte Carlo, 100,000 resamples, seed 0)").all()


def enumerated_curve_p(a: list[float], b: list[float], k: int) -> float:
    """Two-sided permutation p of E[best of k](a) - E[best of k](b), every split of the pooled
    trials into groups of len(a) and len(b) enumerated, each expectation over its k-subsets."""
    pooled = a + b

    def diff(first: tuple[int, ...]) -> float:
        x = [pooled[i] for i in first]
        y = [pooled[i] for i in range(len(pooled)) if i not in first]
        return enumerated(x, k) - enumerated(y, k)

    null = [diff(c) for c in itertools.combinations(range(len(pooled)), len(a))]
    observed = diff(tuple(range(len(a))))
    upper = np.mean([v >= observed - 1e-9 for v in null])
    lower = np.mean([v <= observed + 1e-9 for v in null])
    return min(1.0, 2 * min(upper, lower))


def test_curve_pvalues_are_exact_permutation_tests_against_enumeration():
    a, b = [3.0, 7.0, 5.0, 9.0, 8.0], [1.0, 4.0, 2.0, 6.0]
    p, name = curve_pvalues(np.array(a), np.array(b))
    assert name == "exact permutation (all 126 splits)" and len(p) == 4
    for k in range(1, 5):
        assert p[k - 1] == pytest.approx(enumerated_curve_p(a, b, k))
    failed, _ = curve_pvalues(np.array([math.nan, 5.0, 6.0]), np.array([1.0, 2.0, 3.0]))
    assert math.isnan(failed[0]) and np.isfinite(failed[1:]).all()  # undefined at k <= failures


def test_quantiles_and_best_trial():
    values = [1.0, 2.0, 3.0, 4.0, math.nan]
    q = quantiles_table(trials({"gan": values}), "max").iloc[0]
    assert (q["trials"], q["failed"], q["q50"], q["q0"], q["q100"]) == (5, 1, 2.5, 1.0, 4.0)
    assert q["q25"] == pytest.approx(1.75) and q["trial_std"] == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert (q["best_trial"], q["best_value"], q["best_seed_values"]) == (3, 4.0, "3.5 4.5")
    assert quantiles_table(trials({"gan": values}), "min").iloc[0]["best_trial"] == 0
