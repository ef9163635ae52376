"""The summary-based tests behind the verdicts: Welch and Student p-values and TOST against scipy,
the 90 % CI against TOST, and the power figures against seeded simulations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from genbench.analysis.equivalence import (
    Side,
    compare,
    difference_power,
    runs_needed,
    se_df,
    tost_power,
)

PUBLISHED = Side(98.2, 0.2 * math.sqrt(10), 10)  # PacGAN t1: 98.2 ± 0.2 (s.e., 10 trials)


def scipy_tost(published: Side, measured: Side, margin: float, equal_var: bool = False) -> float:
    """TOST as two one-sided scipy t-tests from the summaries, the published mean shifted by ∓margin."""
    common = {"std2": published.std, "nobs2": published.n, "equal_var": equal_var}
    m = (measured.mean, measured.std, measured.n)
    lower = sps.ttest_ind_from_stats(*m, mean2=published.mean - margin, alternative="greater", **common)
    upper = sps.ttest_ind_from_stats(*m, mean2=published.mean + margin, alternative="less", **common)
    return max(lower.pvalue, upper.pvalue)


@pytest.mark.parametrize(
    "measured", [Side(63.29, 14.2, 3), Side(97.5, 1.0, 5), Side(98.0, 0.5, 20), Side(90.0, 3.0, 4)]
)
def test_welch_and_tost_match_scipy(measured):
    c = compare(PUBLISHED, measured, margin=5.0)
    welch = sps.ttest_ind_from_stats(*vars(measured).values(), *vars(PUBLISHED).values(), equal_var=False)
    assert c.p_difference == pytest.approx(welch.pvalue, rel=1e-9)
    assert c.p_equivalence == pytest.approx(scipy_tost(PUBLISHED, measured, 5.0), rel=1e-9)
    # TOST at 0.05 rejects exactly when the 90 % CI of the difference lies inside ±margin
    assert (c.p_equivalence < 0.05) == (-5.0 < c.ci_lo and c.ci_hi < 5.0)
    assert c.difference == pytest.approx(measured.mean - PUBLISHED.mean)


def test_student_with_one_published_run_pools_genbench_spread():
    published, measured = Side(1.0, 0.577, 1), Side(6.667, 0.577, 3)
    c = compare(published, measured, margin=1.0, equal_var=True)
    student = sps.ttest_ind_from_stats(6.667, 0.577, 3, 1.0, 0.577, 1, equal_var=True)
    assert c.p_difference == pytest.approx(student.pvalue, rel=1e-9) and c.df == 2
    assert se_df(published, measured, equal_var=True)[0] == pytest.approx(0.577 * math.sqrt(1 + 1 / 3))


def test_difference_power_matches_a_simulated_student_test():
    """Equal spreads and sizes: the noncentral t is the exact distribution of Student's t."""
    rng = np.random.default_rng(0)
    n, sigma, delta, sims = 5, 1.0, 1.5, 20_000
    x = rng.normal(delta, sigma, size=(sims, n))
    y = rng.normal(0.0, sigma, size=(sims, n))
    simulated = (sps.ttest_ind(x, y, axis=1).pvalue < 0.05).mean()
    formula = difference_power(delta, sigma * math.sqrt(2 / n), 2 * n - 2)
    assert formula == pytest.approx(simulated, abs=0.015)  # simulation s.e. about 0.0035


def test_tost_power_is_a_lower_bound_close_to_simulation():
    rng = np.random.default_rng(1)
    n, sigma, margin, sims = 12, 1.0, 1.2, 20_000
    x = rng.normal(0.2, sigma, size=(sims, n))
    y = rng.normal(0.0, sigma, size=(sims, n))
    d = x.mean(axis=1) - y.mean(axis=1)
    se = np.sqrt(x.var(axis=1, ddof=1) / n + y.var(axis=1, ddof=1) / n)
    crit = sps.t.ppf(0.95, 2 * n - 2)
    simulated = (((d + margin) / se > crit) & ((d - margin) / se < -crit)).mean()
    bound = tost_power(0.2, margin, sigma * math.sqrt(2 / n), 2 * n - 2)
    assert bound <= simulated + 0.01
    assert bound == pytest.approx(simulated, abs=0.03)


def test_runs_needed_is_the_first_n_that_reaches_the_power():
    measured_std, d = 14.2, -34.9  # PacGAN ring GAN, high-quality %: undecided at 3 runs
    need = runs_needed(PUBLISHED, measured_std, d, None)

    def power(n: int) -> float:
        v1, v2 = PUBLISHED.std**2 / PUBLISHED.n, measured_std**2 / n
        dof = (v1 + v2) ** 2 / (v1**2 / (PUBLISHED.n - 1) + v2**2 / (n - 1))  # Welch-Satterthwaite
        return float(difference_power(d, math.sqrt(v1 + v2), dof))

    assert need == 4 and power(need) >= 0.8 > power(need - 1)
    # equivalence within ±5 at a true difference of 1: the first n whose TOST bound reaches 80 %
    need = runs_needed(PUBLISHED, 3.0, 1.0, 5.0)
    se = [math.sqrt(PUBLISHED.std**2 / 10 + 9.0 / n) for n in (need - 1, need)]
    dof = [se_df(PUBLISHED, Side(0, 3.0, n))[1] for n in (need - 1, need)]
    assert tost_power(1.0, 5.0, se[1], dof[1]) >= 0.8 > tost_power(1.0, 5.0, se[0], dof[0])


def test_runs_cannot_help_when_the_published_error_is_too_wide():
    # published s.e. 3 against a margin of 1: even infinitely many genbench runs leave se >= 3
    assert runs_needed(Side(0.0, 3.0 * math.sqrt(10), 10), 0.5, 0.0, 1.0) is None
