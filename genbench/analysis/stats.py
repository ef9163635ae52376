"""Seed statistics and stability indicators, from result tables alone (never from a model).

Statistics over seeds: mean, std, median, min, max and a bootstrap confidence interval of the
mean (scipy.stats.bootstrap); pairwise two-sided Mann-Whitney U tests with Holm's correction,
exact whenever a group has at most EXACT_PER_GROUP values (each p-value named by its test); ranks
in which variants that do not differ significantly share a rank.
The stability indicators are in genbench.analysis.stability.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from genbench.analysis.permutation import permutation_test

CONFIDENCE = 0.95
ALPHA = 0.05  # significance level of the pairwise tests, after Holm's correction
EXACT_PER_GROUP = 20  # rank tests are exact (or permutation tests) while a group has this many values


# ----------------------------------------------------------------------------- seed statistics


def bootstrap_ci(
    values: Sequence[float], confidence: float = CONFIDENCE, n_resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Bootstrap (BCa) confidence interval of the mean of `values`; NaN below 2 values, the value
    itself when all values are equal (the interval of a constant is that constant)."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if len(x) < 2:
        return math.nan, math.nan
    if np.ptp(x) == 0:
        return float(x[0]), float(x[0])
    lo = hi = math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # BCa warns (and gives NaN) on few distinct values
        for method in ("BCa", "percentile"):
            res = stats.bootstrap(
                (x,), np.mean, confidence_level=confidence, n_resamples=n_resamples, rng=seed, method=method
            )
            lo, hi = res.confidence_interval
            if np.isfinite(lo) and np.isfinite(hi):
                break
    return float(lo), float(hi)


def describe(values: Sequence[float], n_resamples: int = 2000) -> dict[str, float]:
    """n, mean, std (ddof 1), median, min, max and the 95 % bootstrap CI of the mean."""
    x = pd.Series(values, dtype=float).dropna()
    lo, hi = bootstrap_ci(x.to_numpy(), n_resamples=n_resamples)
    return {
        "n": int(len(x)),
        "mean": float(x.mean()) if len(x) else math.nan,
        "std": float(x.std(ddof=1)) if len(x) > 1 else math.nan,
        "median": float(x.median()) if len(x) else math.nan,
        "min": float(x.min()) if len(x) else math.nan,
        "max": float(x.max()) if len(x) else math.nan,
        "ci_lo": lo,
        "ci_hi": hi,
    }


class Tested(NamedTuple):
    """A p-value and the name of the test that produced it."""

    p: float
    test: str


def _rank_sum(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return x.sum(axis=1)  # the rank sum of the first group: U up to a constant


def mann_whitney_test(a: Sequence[float], b: Sequence[float], alternative: str = "two-sided") -> Tested:
    """Mann-Whitney U test of a against b (`greater`: a tends to be larger), non-finite values
    dropped. While a group has at most EXACT_PER_GROUP values it is exact: scipy's exact null
    distribution without ties; with ties (mid-ranks) a permutation test of the rank sum, over
    every split or Monte Carlo (`permutation.permutation_test`). Beyond: scipy's asymptotic one."""
    a = [float(v) for v in a if np.isfinite(v)]
    b = [float(v) for v in b if np.isfinite(v)]
    if not a or not b:
        return Tested(math.nan, "no test: a group without values")
    if len(set(a) | set(b)) == 1:
        return Tested(1.0, "no test: every value tied")  # no evidence of a difference
    if min(len(a), len(b)) > EXACT_PER_GROUP:
        p = stats.mannwhitneyu(a, b, alternative=alternative, method="asymptotic").pvalue
        return Tested(float(p), "asymptotic Mann–Whitney U (normal, tie-corrected)")
    if len(set(a + b)) == len(a + b):
        p = stats.mannwhitneyu(a, b, alternative=alternative, method="exact").pvalue
        return Tested(float(p), "exact Mann–Whitney U")
    ranks = stats.rankdata(a + b)  # mid-ranks for ties
    p, name = permutation_test(ranks[: len(a)], ranks[len(a) :], _rank_sum, alternative)
    return Tested(float(p), f"Mann–Whitney U with ties (mid-ranks): {name}")


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of `mann_whitney_test` (NaN if either group is empty)."""
    return mann_whitney_test(a, b).p


def smallest_p(n1: int, n2: int) -> float:
    """The smallest two-sided p-value the exact Mann-Whitney test can give with n1 and n2 values
    (every value of one group beyond every value of the other): 2 / C(n1 + n2, n1), at most 1."""
    if n1 < 1 or n2 < 1:
        return 1.0
    return min(1.0, 2 / math.comb(n1 + n2, n1))


def smallest_adjusted_p(sizes: Sequence[int]) -> float:
    """The smallest Holm-adjusted p-value the pairwise tests between groups of these sizes can
    give: the number of pairs times the smallest p of any pair (Holm's first step), at most 1."""
    sizes = [n for n in sizes if n > 0]
    pairs = list(itertools.combinations(sizes, 2))
    if not pairs:
        return 1.0
    return min(1.0, len(pairs) * min(smallest_p(x, y) for x, y in pairs))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (NaNs stay NaN and do not count as tests)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(len(p), math.nan)
    idx = [i for i in np.argsort(p, kind="stable") if np.isfinite(p[i])]
    m, running = len(idx), 0.0
    for k, i in enumerate(idx):
        running = max(running, min(1.0, (m - k) * p[i]))
        out[i] = running
    return out.tolist()


def pairwise_tests(samples: dict[str, Sequence[float]]) -> pd.DataFrame:
    """Symmetric matrix of Holm-adjusted two-sided Mann-Whitney p-values between the labelled
    samples; `matrix.attrs["tests"]` names the tests that produced them (`tests_used`)."""
    labels = list(samples)
    pairs = list(itertools.combinations(labels, 2))
    tested = [mann_whitney_test(samples[a], samples[b]) for a, b in pairs]
    adjusted = holm([t.p for t in tested])
    matrix = pd.DataFrame(math.nan, index=labels, columns=labels)
    for (a, b), p in zip(pairs, adjusted, strict=True):
        matrix.loc[a, b] = matrix.loc[b, a] = p
    matrix.attrs["tests"] = tests_used(tested)
    return matrix


def tests_used(tested: Sequence[Tested]) -> str:
    """The distinct tests behind some p-values, each with how many pairs it tested."""
    counts: dict[str, int] = {}
    for t in tested:
        counts[t.test] = counts.get(t.test, 0) + 1
    if len(counts) == 1:
        return next(iter(counts))
    return "; ".join(f"{name} ({n} pair{'s' if n > 1 else ''})" for name, n in counts.items())


def no_power(sizes: Sequence[int], alpha: float = ALPHA) -> str:
    """Why no pairwise test between groups of these sizes can reject at `alpha`, in words ('' when
    one can, or with fewer than two groups): its smallest achievable (Holm-adjusted) p-value."""
    sizes = [n for n in sizes if n > 0]
    pairs = list(itertools.combinations(sizes, 2))
    if not pairs or smallest_adjusted_p(sizes) <= alpha:
        return ""
    seeds = f"{min(sizes)}" if min(sizes) == max(sizes) else f"{min(sizes)}–{max(sizes)}"
    per_test = min(smallest_p(x, y) for x, y in pairs)
    if per_test > alpha:
        return f"{seeds} seeds: smallest possible p {per_test:.2g} > {alpha}"
    adjusted = smallest_adjusted_p(sizes)
    return (
        f"{seeds} seeds, {len(pairs)} comparisons: smallest possible Holm-adjusted p {adjusted:.2g} > {alpha}"
    )


def tied_ranks(
    centres: dict[str, float], adjusted: pd.DataFrame, direction: str, alpha: float = ALPHA
) -> dict[str, int]:
    """Competition ranks (1, 1, 3, ...) ordered best first by `centres`; a variant shares the rank
    of the leader of the current group unless it differs from that leader at level `alpha`."""
    order = sorted(
        (k for k in centres if np.isfinite(centres[k])),
        key=lambda k: -centres[k] if direction == "max" else centres[k],
    )
    ranks: dict[str, int] = {}
    leader = None
    for position, label in enumerate(order, start=1):
        p = adjusted.loc[leader, label] if leader is not None else math.nan
        if leader is None or (np.isfinite(p) and p < alpha):
            leader = label
            ranks[label] = position
        else:
            ranks[label] = ranks[leader]
    return ranks
