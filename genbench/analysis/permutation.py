"""Two-sample permutation tests of any statistic: exact over every split of the pooled values into
groups of the two sizes while there are at most EXACT_SPLITS of them, else a seeded Monte Carlo
test with MONTE_CARLO_RESAMPLES random splits (p = (1 + hits) / (1 + resamples), Phipson & Smyth
2010). Each p-value comes with the name of the test that produced it."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np

EXACT_SPLITS = 200_000  # full enumeration up to this many splits (10 + 10 values: 184,756)
MONTE_CARLO_RESAMPLES = 100_000
MONTE_CARLO_SEED = 0
BATCH = 10_000  # random splits drawn at once (memory: BATCH x pooled values)

# statistic(x, y): x (splits, n1) and y (splits, n2) hold one split per row; it returns one value
# per split (splits,) or a vector per split (splits, m)
Statistic = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _tails(null: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per component, how many null values are >= and <= the observed one (a float tolerance
    makes equal statistics count as equal). An undefined (NaN) null value counts in both tails:
    the p-value can only grow by it."""
    tol = 1e-9 * (1.0 + np.abs(observed))
    undefined = np.isnan(null)
    ge = ((null >= observed - tol) | undefined).sum(axis=0)
    le = ((null <= observed + tol) | undefined).sum(axis=0)
    return ge, le


def _exact_counts(pooled: np.ndarray, n1: int, statistic: Statistic, observed: np.ndarray):
    """Tail counts over every split of the pooled values (first group: each n1-subset)."""
    total = len(pooled)
    chosen = np.array(list(itertools.combinations(range(total), n1)), dtype=np.int64).reshape(-1, n1)
    member = np.zeros((len(chosen), total), dtype=bool)
    member[np.arange(len(chosen))[:, None], chosen] = True
    rest = np.nonzero(~member)[1].reshape(len(chosen), total - n1)  # row-major: each row's rest
    return (*_tails(statistic(pooled[chosen], pooled[rest]), observed), len(chosen))


def _monte_carlo_counts(pooled: np.ndarray, n1: int, statistic: Statistic, observed: np.ndarray):
    """Tail counts over MONTE_CARLO_RESAMPLES random splits drawn with MONTE_CARLO_SEED."""
    rng = np.random.default_rng(MONTE_CARLO_SEED)
    ge = le = 0
    for start in range(0, MONTE_CARLO_RESAMPLES, BATCH):
        size = min(BATCH, MONTE_CARLO_RESAMPLES - start)
        order = rng.permuted(np.tile(np.arange(len(pooled)), (size, 1)), axis=1)
        g, lo = _tails(statistic(pooled[order[:, :n1]], pooled[order[:, n1:]]), observed)
        ge, le = ge + g, le + lo
    return ge + 1, le + 1, MONTE_CARLO_RESAMPLES + 1  # the observed split counts as one


def permutation_test(
    a, b, statistic: Statistic, alternative: str = "two-sided"
) -> tuple[np.ndarray | float, str]:
    """(p-value(s), test name) of statistic(a, b) under the null that the pooled values are
    exchangeable. `greater`: large statistics are evidence; `two-sided`: twice the smaller tail,
    at most 1. NaN where the observed statistic is undefined."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(f"alternative must be two-sided, greater or less, not {alternative!r}")
    pooled = np.concatenate([a, b])
    observed = np.asarray(statistic(a[None, :], b[None, :]))[0]
    splits = math.comb(len(pooled), len(a))
    if splits <= EXACT_SPLITS:
        ge, le, total = _exact_counts(pooled, len(a), statistic, observed)
        name = f"exact permutation (all {splits:,} splits)"
    else:
        ge, le, total = _monte_carlo_counts(pooled, len(a), statistic, observed)
        name = f"permutation (Monte Carlo, {MONTE_CARLO_RESAMPLES:,} resamples, seed {MONTE_CARLO_SEED})"
    upper, lower = ge / total, le / total
    p = {"greater": upper, "less": lower}.get(alternative, np.minimum(1.0, 2 * np.minimum(upper, lower)))
    p = np.where(np.isnan(observed), np.nan, p)
    return (float(p) if np.ndim(p) == 0 else p), name
