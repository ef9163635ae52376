"""A published summary against genbench's, from the two summaries alone: the difference test
(Welch's t, or Student's t where the published spread is assumed equal to genbench's), equivalence
within a margin by two one-sided tests (TOST, Schuirmann 1987: equivalent at level alpha exactly
when the (1 - 2 alpha) CI of the difference lies inside ±margin), and how many genbench runs a
test would need for a given power, from the noncentral t distribution (scipy.stats.nct)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05
POWER = 0.8  # the power a "runs needed" figure is computed for
MAX_RUNS = 10_000  # runs needed beyond this are reported as out of reach


@dataclass(frozen=True)
class Side:
    """One side's summary: mean, per-run standard deviation and number of runs."""

    mean: float
    std: float
    n: int


@dataclass(frozen=True)
class Comparison:
    """measured - published: the difference, its standard error and degrees of freedom, the
    two-sided difference test's p, the TOST p and the (1 - 2 alpha) CI of the difference."""

    difference: float
    se: float
    df: float
    p_difference: float
    p_equivalence: float
    ci_lo: float
    ci_hi: float


def se_df(published: Side, measured: Side, equal_var: bool = False) -> tuple[float, float]:
    """Standard error of the difference of the means and its degrees of freedom: Welch-Satterthwaite,
    or with equal_var the pooled spread (n1 + n2 - 2; one published run is allowed)."""
    v1, v2 = published.std**2 / published.n, measured.std**2 / measured.n
    if equal_var:
        dof = published.n + measured.n - 2
        pooled = ((published.n - 1) * published.std**2 + (measured.n - 1) * measured.std**2) / dof
        return math.sqrt(pooled * (1 / published.n + 1 / measured.n)), float(dof)
    denominator = v1**2 / (published.n - 1) + v2**2 / (measured.n - 1)
    return math.sqrt(v1 + v2), ((v1 + v2) ** 2 / denominator if denominator > 0 else math.inf)


def compare(
    published: Side, measured: Side, margin: float, alpha: float = ALPHA, equal_var: bool = False
) -> Comparison:
    """The difference test and TOST of measured against published (se > 0 required)."""
    se, dof = se_df(published, measured, equal_var)
    d = measured.mean - published.mean
    t = stats.t(dof)
    p_lower = t.sf((d + margin) / se)  # H0: d <= -margin
    p_upper = t.cdf((d - margin) / se)  # H0: d >= +margin
    half = t.ppf(1 - alpha) * se
    return Comparison(
        difference=d,
        se=se,
        df=dof,
        p_difference=float(min(1.0, 2 * t.sf(abs(d) / se))),
        p_equivalence=float(max(p_lower, p_upper)),
        ci_lo=d - half,
        ci_hi=d + half,
    )


def difference_power(true_difference, se, dof, alpha: float = ALPHA):
    """Power of the two-sided t-test at level alpha to reject d = 0 when it is `true_difference`:
    P(|T| > t_(1 - alpha/2)) with T noncentral t(dof, true_difference / se)."""
    crit = stats.t.ppf(1 - alpha / 2, dof)
    nc = np.asarray(true_difference) / se
    return stats.nct.sf(crit, dof, nc) + stats.nct.cdf(-crit, dof, nc)


def tost_power(true_difference, margin: float, se, dof, alpha: float = ALPHA):
    """Power of TOST within ±margin when the difference is `true_difference`: the lower bound
    P(T1 > c) + P(T2 < -c) - 1 (Bonferroni; T1, T2 noncentral t with noncentralities
    (d + margin) / se and (d - margin) / se, c = t_(1 - alpha)), at least 0."""
    crit = stats.t.ppf(1 - alpha, dof)
    d = np.asarray(true_difference)
    power = stats.nct.sf(crit, dof, (d + margin) / se) + stats.nct.cdf(-crit, dof, (d - margin) / se) - 1
    return np.maximum(power, 0.0)


def runs_needed(
    published: Side,
    measured_std: float,
    difference: float,
    margin: float | None,
    alpha: float = ALPHA,
    power: float = POWER,
    equal_var: bool = False,
) -> int | None:
    """The fewest genbench runs (at least 2) whose test reaches `power` when the true difference
    is `difference` and genbench's runs spread `measured_std`: TOST within ±margin when a margin
    is given, else the difference test. None when no number up to MAX_RUNS does (the published
    side's own standard error can be too wide for the margin)."""
    n = np.arange(2, MAX_RUNS + 1)
    v1, v2 = published.std**2 / published.n, measured_std**2 / n
    if equal_var:
        dof = published.n + n - 2.0
        se = measured_std * np.sqrt(1 / published.n + 1 / n)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            dof = (v1 + v2) ** 2 / (v1**2 / (published.n - 1) + v2**2 / (n - 1))
        se = np.sqrt(v1 + v2)
    if not np.all(se > 0):
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        if margin is None:
            reached = difference_power(difference, se, dof, alpha)
        else:
            reached = tost_power(difference, margin, se, dof, alpha)
    hits = np.nonzero(reached >= power)[0]
    return int(n[hits[0]]) if len(hits) else None
