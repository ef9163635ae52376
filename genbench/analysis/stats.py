"""Seed statistics and stability indicators, from result tables alone (never from a model).

Statistics over seeds: mean, std, median, min, max and a bootstrap confidence interval of the
mean (scipy.stats.bootstrap); pairwise two-sided Mann-Whitney U tests (scipy.stats.mannwhitneyu)
with Holm's correction; ranks in which variants that do not differ significantly share a rank.
Stability per run: diverged, collapsed, oscillation over the last quarter of evaluations, the
gap between the best and the final value, and the time to reach a target.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from genbench.store.result import RunResult
from genbench.store.runs import load_runs
from genbench.store.runs import read_trajectory as store_trajectory

CONFIDENCE = 0.95
ALPHA = 0.05  # significance level of the pairwise tests, after Holm's correction
EXACT_SPLITS = 20_000  # Mann-Whitney is exact up to this many splits of the pooled values (9 + 8)
LAST_FRACTION = 0.25  # oscillation is measured over the last quarter of the evaluations
IDENTITY = ["run_id", "model", "variant", "label", "dataset", "seed", "status", "protocol"]


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


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test of a against b (NaN if either is empty): exact
    (every split of the pooled values, ties as mid-ranks) up to EXACT_SPLITS splits, else scipy's
    asymptotic one (whose p-values with ties can fall below the exact test's smallest)."""
    a = [v for v in a if np.isfinite(v)]
    b = [v for v in b if np.isfinite(v)]
    if not a or not b:
        return math.nan
    if len(set(a) | set(b)) == 1:
        return 1.0  # all values tied: no evidence of a difference (scipy would return NaN)
    if math.comb(len(a) + len(b), len(a)) <= EXACT_SPLITS:
        return _exact_mann_whitney(a, b)
    return float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def _exact_mann_whitney(a: list[float], b: list[float]) -> float:
    """The exact two-sided p-value: twice the smaller tail of U over every split of the pooled
    ranks into groups of len(a) and len(b), capped at 1."""
    ranks = stats.rankdata(a + b)  # mid-ranks for ties
    n1 = len(a)
    splits = np.array(list(itertools.combinations(range(len(ranks)), n1)))
    u_all = ranks[splits].sum(axis=1) - n1 * (n1 + 1) / 2
    u = ranks[:n1].sum() - n1 * (n1 + 1) / 2
    tail = min(np.mean(u_all <= u + 1e-9), np.mean(u_all >= u - 1e-9))
    return float(min(1.0, 2 * tail))


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
    """Symmetric matrix of Holm-adjusted Mann-Whitney p-values between the labelled samples."""
    labels = list(samples)
    pairs = list(itertools.combinations(labels, 2))
    adjusted = holm([mann_whitney(samples[a], samples[b]) for a, b in pairs])
    matrix = pd.DataFrame(math.nan, index=labels, columns=labels)
    for (a, b), p in zip(pairs, adjusted, strict=True):
        matrix.loc[a, b] = matrix.loc[b, a] = p
    return matrix


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


# ------------------------------------------------------------------------ stability per run


def n_modes_of(spec: dict, result: RunResult | None, trajectory: list[dict]) -> float:
    """Modes of a run's data set: what its registry entry declared (stored in spec.json as
    `dataset_info`), else the length of its stored mode counts (runs stored before entries declared
    their modes); NaN if it has none."""
    info = spec.get("dataset_info") or {}
    if info.get("n_modes"):
        return float(info["n_modes"])
    for counts in [(result.extras if result else {}).get("mode_counts")] + [
        row.get("mode_counts") for row in trajectory
    ]:
        if isinstance(counts, list) and counts:
            return float(len(counts))
    return math.nan


def collapse_rule(spec: dict, result: RunResult | None, trajectory: list[dict]) -> dict:
    """A run's number of modes and collapse rule ({output, below}: collapsed when the final value
    of that metric output is below), as its data set's registry entry declared them; for runs
    stored before entries declared them, fewer than half of the mode counts' modes on `modes`."""
    n = n_modes_of(spec, result, trajectory)
    info = spec.get("dataset_info")
    if info is not None:
        return {"n_modes": n, "collapse": info.get("collapse")}
    return {"n_modes": n, "collapse": {"output": "modes", "below": n / 2} if np.isfinite(n) else None}


def is_collapsed(final_modes: float, n_modes: float) -> float:
    """Collapse: fewer than half of the modes captured at the end (1.0 / 0.0; NaN if unknown)."""
    if not (np.isfinite(final_modes) and np.isfinite(n_modes)):
        return math.nan
    return float(final_modes < n_modes / 2)


def default_target(metric: str, collapse: dict | None) -> float:
    """The target a suite gets when it sets none: the collapse threshold on the output the data
    set's collapse rule counts (half of the modes for `modes` on the toys), else none (NaN)."""
    return float(collapse["below"]) if collapse and collapse["output"] == metric else math.nan


def oscillation(values: Sequence[float], last: float = LAST_FRACTION) -> float:
    """Population std of the last `last` fraction of the evaluations (at least 2; NaN below)."""
    x = np.asarray([v for v in values if v is not None], dtype=float)
    k = max(2, math.ceil(last * len(x)))
    return float(np.std(x[-k:])) if len(x) >= 2 else math.nan


def best_gap(values: Sequence[float], direction: str) -> float:
    """How much worse the final value is than the best one of the trajectory (>= 0)."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if not len(x):
        return math.nan
    return float(x.max() - x[-1]) if direction == "max" else float(x[-1] - x.min())


def time_to_target(rows: list[dict], metric: str, direction: str, target: float) -> tuple[float, float]:
    """Step and training seconds of the first evaluation at or beyond `target` (NaN if never)."""
    if not np.isfinite(target):
        return math.nan, math.nan
    for row in rows:
        v = row.get(metric)
        if v is not None and np.isfinite(v) and (v >= target if direction == "max" else v <= target):
            return float(row["step"]), float(row.get("train_seconds", math.nan))
    return math.nan, math.nan


def run_indicators(
    status: str,
    rows: list[dict],
    metric: str,
    direction: str,
    n_modes: float = math.nan,
    target: float | None = None,
    collapse: dict | None = None,
) -> dict[str, float]:
    """Stability indicators of one run from its status and trajectory `rows` (in step order);
    `collapse` ({output, below}) is the data set's rule (default: half of `n_modes` on `modes`)."""
    if collapse is None and np.isfinite(n_modes):
        collapse = {"output": "modes", "below": n_modes / 2}
    values = [r.get(metric) for r in rows if r.get(metric) is not None]
    final = values[-1] if values and status == "ok" else math.nan
    counted = (
        [r.get(collapse["output"]) for r in rows if r.get(collapse["output"]) is not None] if collapse else []
    )
    collapsed = float(counted[-1] < collapse["below"]) if counted and status == "ok" else math.nan
    target = default_target(metric, collapse) if target is None else target
    steps, seconds = time_to_target(rows, metric, direction, target)
    return {
        "diverged": float(status == "diverged"),
        "collapsed": collapsed,
        "final": final,
        "oscillation": oscillation(values),
        "best_gap": best_gap(values, direction) if status == "ok" else math.nan,
        "target": target,
        "steps_to_target": steps,
        "seconds_to_target": seconds,
    }


# ------------------------------------------------------------------------ from the store


def read_trajectory(suite_path: Path, run_id: str) -> list[dict]:
    """A run's stored trajectory rows, checked by the store ([] when it has none or it is damaged)."""
    return store_trajectory(suite_path, run_id)


def load_trajectories(suite_path: Path) -> tuple[pd.DataFrame, dict[str, dict]]:
    """Long table of every stored evaluation (run_id, step, train_seconds, metrics, train.*) and
    per run the number of modes of its data set (NaN if it has none) and its collapse rule."""
    rows, modes = [], {}
    for run in load_runs(suite_path):
        run_id = run["spec"]["run_id"]
        trajectory = read_trajectory(suite_path, run_id)
        modes[run_id] = collapse_rule(run["spec"], run["result"], trajectory)
        for row in trajectory:
            rows.append({"run_id": run_id, **{k: v for k, v in row.items() if not isinstance(v, list)}})
    return pd.DataFrame(rows), modes


def indicators_table(
    table: pd.DataFrame,
    traj: pd.DataFrame,
    modes: dict[str, dict],
    metric: str,
    direction: str,
    target: float | None = None,
) -> pd.DataFrame:
    """One row per finished run (ok or diverged) of the runs `table` with its indicators."""
    out = []
    finished = table[table["status"].isin(["ok", "diverged"])]
    by_run = {k: g.sort_values("step") for k, g in traj.groupby("run_id")} if len(traj) else {}
    for run in finished.to_dict("records"):
        group = by_run.get(run["run_id"])
        rows = group.to_dict("records") if group is not None and metric in group else []
        rows = [{k: v for k, v in r.items() if not (isinstance(v, float) and math.isnan(v))} for r in rows]
        rule = modes.get(run["run_id"], {"n_modes": math.nan, "collapse": None})  # load_trajectories'
        n = rule["n_modes"]
        ind = run_indicators(run["status"], rows, metric, direction, n, target, rule["collapse"])
        out.append({k: run.get(k) for k in IDENTITY} | {"n_modes": n} | ind)
    return pd.DataFrame(out)


def stability_table(indicators: pd.DataFrame) -> pd.DataFrame:
    """Per model variant x dataset: finished runs, diverged and collapsed rates, and medians of
    oscillation, best-minus-final gap and time to target (over the runs that reached it)."""
    if indicators.empty:
        return pd.DataFrame()
    keys = ["model", "variant"] + (["label"] if "label" in indicators else []) + ["dataset"]
    grouped = indicators.groupby(keys, sort=False, dropna=False)
    return grouped.agg(
        runs=("run_id", "count"),
        diverged_rate=("diverged", "mean"),
        collapsed_rate=("collapsed", "mean"),
        oscillation=("oscillation", "median"),
        best_gap=("best_gap", "median"),
        reached_rate=("steps_to_target", lambda s: float(s.notna().mean())),
        steps_to_target=("steps_to_target", "median"),
        seconds_to_target=("seconds_to_target", "median"),
    ).reset_index()
