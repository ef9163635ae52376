"""The analysis of a suite's hyper-parameter searches, from the store alone: per method and data
set the trials (a trial's value is the mean over its seeds of the final primary metric), their
quantiles, the exact expected best-of-k curve with a bootstrap band, and for each k which method
is ahead and whether significantly (Lucic et al. 2018; Dodge et al. 2019, "Show your work")."""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import pandas as pd
from scipy.special import gammaln

from genbench.analysis import rungs
from genbench.analysis.csvfiles import csv_bytes
from genbench.analysis.permutation import EXACT_SPLITS, permutation_test
from genbench.analysis.stats import ALPHA, holm
from genbench.store.atomic import write_atomic
from genbench.store.runs import load_runs

N_RESAMPLES = 2000
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
BAND = (2.5, 97.5)  # percentiles of the bootstrap band


@functools.lru_cache(maxsize=64)
def best_of_k_weights(n: int) -> np.ndarray:
    """W[k-1, i-1] = C(i-1, k-1) / C(n, k): the probability that the i-th smallest of n values is
    the largest of a k-subset drawn without replacement (rows k = 1..n, columns i = 1..n)."""
    k = np.arange(1, n + 1)[:, None]
    i = np.arange(1, n + 1)[None, :]
    with np.errstate(invalid="ignore"):
        log_w = (
            gammaln(i)
            - gammaln(k)
            - gammaln(np.maximum(i - k, 0) + 1)
            - (gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1))
        )
    return np.where(i >= k, np.exp(log_w), 0.0)


def _curves(scores: np.ndarray) -> np.ndarray:
    """Expected best-of-k for each row of `scores` (higher is better; NaN: a failed trial, the
    worst); NaN at k <= failures of the row, where some k-subsets hold failed trials only."""
    scores = np.atleast_2d(scores)
    n = scores.shape[1]
    failed = ~np.isfinite(scores)
    ordered = np.sort(np.where(failed, -np.inf, scores), axis=1)
    curves = np.where(np.isfinite(ordered), ordered, 0.0) @ best_of_k_weights(n).T
    k = np.arange(1, n + 1)[None, :]
    return np.where(k <= failed.sum(axis=1, keepdims=True), np.nan, curves)


def expected_best_of_k(values, direction: str = "max") -> np.ndarray:
    """E[best of k trials] for k = 1..N from the N trial values, exactly: sum_i x_(i) C(i-1, k-1)
    / C(N, k) over the order statistics (subsets drawn without replacement). NaN values are failed
    trials, ranked worst; the curve is NaN for k <= the number of failures."""
    sign = 1.0 if direction == "max" else -1.0
    return sign * _curves(sign * np.asarray(values, dtype=float))[0]


def bootstrap_curves(values, direction: str, n_resamples: int = N_RESAMPLES, seed: int = 0) -> np.ndarray:
    """The best-of-k curve of each bootstrap resample of the trials (rows), in the metric's sign."""
    sign = 1.0 if direction == "max" else -1.0
    x = sign * np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(x), size=(n_resamples, len(x)))
    return sign * _curves(x[picks])


def band(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The bootstrap band per k; NaN where fewer than half of the resamples define the curve."""
    defined = np.isfinite(curves).mean(axis=0) >= 0.5
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        lo, hi = np.nanpercentile(curves, BAND, axis=0)
    return np.where(defined, lo, np.nan), np.where(defined, hi, np.nan)


# ----------------------------------------------------------------------------- tables


def trials_table(runs: list[dict], table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per trial of each searched method on each data set: its sampled values (hp.*), seeds
    run and finished, the seed values of `metric`, their mean (the trial's value) and std."""
    search_of = {r["spec"]["run_id"]: r["spec"].get("search") for r in runs}
    rows = table[table["run_id"].map(lambda r: search_of.get(r) is not None)]
    out = []
    for (dataset, _, run_variant), g in rows.groupby(
        ["dataset", "model", "variant"], sort=False, dropna=False
    ):
        info = search_of[g["run_id"].iloc[0]]
        values = g[metric].to_numpy(float) if metric in g else np.full(len(g), np.nan)
        finite = values[np.isfinite(values)]
        protocols = g["protocol"].dropna()
        for trial in info["trials"]:  # a configuration drawn twice is two trials of one variant
            row = {
                "dataset": dataset,
                "method": info["method"],
                "trial": trial,
                "trials": info["of"],
                "protocol": protocols.iloc[0] if len(protocols) else None,
                "seeds": len(g),
                "pending": int((g["status"] == "pending").sum()),
                "finished": len(finite),
                "value": float(finite.mean()) if len(finite) else math.nan,
                "seed_std": float(finite.std(ddof=1)) if len(finite) > 1 else math.nan,
                "seed_values": " ".join(f"{v:.4g}" for v in values),
                "variant": run_variant,
                "sampler": info["sampler"],
            }
            row.update({f"hp.{k}": v for k, v in info["values"].items()})
            row["space"] = info["space"]
            out.append(row)
    frame = pd.DataFrame(out)
    if frame.empty:
        return frame
    # failed trials (no seed finished) carry no protocol: they belong to their data set's protocol
    common = frame.dropna(subset=["protocol"]).groupby("dataset")["protocol"].agg(lambda s: s.mode()[0])
    frame["protocol"] = frame["protocol"].fillna(frame["dataset"].map(common))
    return frame.sort_values(["dataset", "method", "trial"], kind="stable").reset_index(drop=True)


def groups(trials: pd.DataFrame):
    """(dataset, protocol, method) and the finished trials (no run pending) of each group."""
    done = trials[trials["pending"] == 0]
    return done.groupby(["dataset", "protocol", "method"], sort=False, dropna=False)


def quantiles_table(trials: pd.DataFrame, direction: str) -> pd.DataFrame:
    """Per data set and method: the distribution over trials of the trial values (quantiles), the
    failed trials, the spread over trials against the spread over seeds, and the best trial with
    its seed values beside its mean."""
    rows = []
    for (dataset, proto, method), g in groups(trials):
        values = g["value"].to_numpy(float)
        finite = values[np.isfinite(values)]
        row = {"dataset": dataset, "protocol": proto, "method": method, "trials": len(g)}
        row["failed"] = int((~np.isfinite(values)).sum())
        for q in (0.0, *QUANTILES, 1.0):
            row[f"q{round(q * 100)}"] = float(np.quantile(finite, q)) if len(finite) else math.nan
        row["trial_std"] = float(finite.std(ddof=1)) if len(finite) > 1 else math.nan
        row["median_seed_std"] = float(g["seed_std"].median())
        ranked = g.dropna(subset=["value"]).sort_values(
            ["value", "trial"], ascending=[direction == "min", True]
        )
        if len(ranked):
            best = ranked.iloc[0]
            row["best_trial"] = int(best["trial"])
            row["best_value"] = float(best["value"])
            row["best_seed_std"] = float(best["seed_std"])
            row["best_seed_values"] = best["seed_values"]
            row["best_config"] = " ".join(w for w in best["variant"].split() if w not in method.split())
        rows.append(row)
    return pd.DataFrame(rows)


def best_of_k_table(trials: pd.DataFrame, direction: str, n_resamples: int = N_RESAMPLES) -> pd.DataFrame:
    """Per data set, method and k = 1..N: E[best of k trials] (exact) and its bootstrap band."""
    rows = []
    for (dataset, proto, method), g in groups(trials):
        values = g["value"].to_numpy(float)
        curve = expected_best_of_k(values, direction)
        lo, hi = band(bootstrap_curves(values, direction, n_resamples))
        for k in range(1, len(values) + 1):
            rows.append(
                {
                    "dataset": dataset,
                    "protocol": proto,
                    "method": method,
                    "k": k,
                    "expected_best": curve[k - 1],
                    "band_lo": lo[k - 1],
                    "band_hi": hi[k - 1],
                }
            )
    return pd.DataFrame(rows)


def ahead_table(trials: pd.DataFrame, direction: str) -> pd.DataFrame:
    """Per data set and k (up to the smallest N of its methods): the method with the best expected
    best-of-k, and for every other method the two-sided permutation p-value of the difference
    (`curve_pvalues`), Holm-adjusted over the others; significant where the adjusted p < ALPHA."""
    rows = []
    sign = 1.0 if direction == "max" else -1.0
    for (dataset, proto), part in trials[trials["pending"] == 0].groupby(["dataset", "protocol"], sort=False):
        methods = {m: sign * g["value"].to_numpy(float) for m, g in part.groupby("method", sort=False)}
        if len(methods) < 2:
            continue
        point = {m: _curves(v)[0] for m, v in methods.items()}
        tested: dict[tuple, tuple] = {}  # (leader, other) -> (p-value per k, test name)
        for k in range(1, min(len(v) for v in methods.values()) + 1):
            scores = {m: c[k - 1] for m, c in point.items() if np.isfinite(c[k - 1])}
            if len(scores) < 2:
                continue
            order = sorted(scores, key=lambda m: -scores[m])
            leader, others = order[0], order[1:]
            tied = [m for m in order if scores[m] == scores[leader]]
            for m in others:
                if (leader, m) not in tested:
                    tested[(leader, m)] = curve_pvalues(methods[leader], methods[m])
            pvalues = holm([tested[(leader, m)][0][k - 1] for m in others])
            rows.append(
                {
                    "dataset": dataset,
                    "protocol": proto,
                    "k": k,
                    "ahead": leader if len(tied) == 1 else "tie: " + ", ".join(tied),
                    "expected_best": sign * scores[leader],
                    "second": others[0],
                    "second_expected_best": sign * scores[others[0]],
                    "p_vs_second": pvalues[0],
                    "p_test": tested[(leader, others[0])][1],
                    "significantly_ahead_of": ", ".join(
                        m for m, p in zip(others, pvalues, strict=True) if p < ALPHA
                    ),
                }
            )
    return pd.DataFrame(rows)


def _curve_difference(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Expected best-of-k of each row of x minus that of y (higher is better), k = 1..the smaller N."""
    k = min(x.shape[1], y.shape[1])
    return _curves(x)[:, :k] - _curves(y)[:, :k]


def curve_pvalues(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, str]:
    """Two-sided p-values, per k, that two methods' trials (higher is better, NaN failed) share one
    distribution, against a difference of their expected best-of-k: a permutation test over the
    splits of the pooled trials (exact over all of them or Monte Carlo, `permutation`; a split whose
    curve is undefined at k counts as extreme). The test's name comes with them."""
    p, name = permutation_test(a, b, _curve_difference)
    return np.atleast_1d(p), name


# ----------------------------------------------------------------------------- outputs


def analysis(suite_path, table: pd.DataFrame, directions: dict[str, str], primary: str | None) -> dict | None:
    """The search analysis of a stored suite (None when it has no searches): trials, quantiles,
    best-of-k and ahead tables on the primary metric, and its direction."""
    if primary is None or "variant" not in table:
        return None
    runs = load_runs(suite_path)
    schedule = rungs.schedule_of_runs(runs)
    direction = directions[primary]
    stopping = rungs.stopping_table(runs, table, primary, direction, schedule) if schedule else None
    if schedule:  # methods compared at equal spent budget: every trial at the first rung
        table = rungs.rung_table(suite_path, runs, table, primary, schedule["rungs"][0])
    trials = trials_table(runs, table, primary)
    if trials.empty:
        return None
    return {
        "metric": primary,
        "direction": direction,
        "trials": trials,
        "quantiles": quantiles_table(trials, direction),
        "best_of_k": best_of_k_table(trials, direction),
        "ahead": ahead_table(trials, direction),
        "schedule": schedule,
        "stopping": stopping,
    }


def leaderboard_section(
    suite_path, table: pd.DataFrame, directions: dict[str, str], primary: str | None
) -> str:
    """Write tuning_{trials,quantiles,best_of_k,ahead}.csv beside the leaderboard and return their
    Markdown (empty when the suite has no searches)."""
    result = analysis(suite_path, table, directions, primary)
    if result is None:
        return ""
    names = ("trials", "quantiles", "best_of_k", "ahead") + (("stopping",) if result["schedule"] else ())
    for name in names:
        frame = result[name].drop(columns=["space"], errors="ignore")
        write_atomic(suite_path / f"tuning_{name}.csv", csv_bytes(frame))
    trials = result["trials"].drop(columns=["space", "variant"])
    stopping = (
        "\n\n"
        + rungs.describe_schedule(result["schedule"])
        + "\n\n"
        + result["stopping"].to_markdown(index=False, floatfmt=".4g")
        + "\n\n"
        if result["schedule"]
        else "\n\n"
    )
    return (
        f"\n## Hyper-parameter search ({primary}; a trial's value is its mean over seeds)"
        + stopping
        + result["quantiles"].to_markdown(index=False, floatfmt=".4g")
        + "\n\n### For each k, the method with the best expected best-of-k trials\n\n"
        + (
            result["ahead"].to_markdown(index=False, floatfmt=".4g")
            if len(result["ahead"])
            else "(one method)"
        )
        + "\n\n### Trials\n\n"
        + trials.to_markdown(index=False, floatfmt=".4g")
        + "\n"
    )


def _shown(frame: pd.DataFrame) -> pd.DataFrame:
    """A table with its numbers rounded to 4 significant digits, NaN as '–'."""
    return frame.map(
        lambda v: (
            "–"
            if v is None or (isinstance(v, float) and math.isnan(v))
            else (f"{v:.4g}" if isinstance(v, float) else v)
        )
    )


def add_report_section(
    rep, suite_path, table: pd.DataFrame, directions: dict[str, str], primary: str | None
) -> None:
    """Add the search analysis to a `report.Report` (nothing when the suite has no searches)."""
    # matplotlib: only for the report of a suite with searches
    from genbench.analysis.figures import tuning as tuning_figures

    result = analysis(suite_path, table, directions, primary)
    if result is None:
        return
    trials, metric, direction = result["trials"], result["metric"], result["direction"]
    arrow = "↑" if direction == "max" else "↓"
    rep.add("h", 2, "Hyper-parameter search")
    rep.add("p", _search_intro(trials, metric, direction))
    if result["schedule"]:
        rep.add("p", rungs.describe_schedule(result["schedule"]))
        rep.add(
            "table", "Early stopping: trials per rung, steps spent, best trial", _shown(result["stopping"])
        )
    rep.add("table", "Trial values: quantiles over trials", _shown(result["quantiles"]))
    rep.image(
        "tuning_distribution.png", tuning_figures.distribution_png(trials, metric, arrow), "trial values"
    )
    rep.add(
        "p",
        "Expected best of k: the expected best value among k trials drawn without replacement from the "
        "N trials, computed exactly from their order statistics, E = Σ_i x_(i) C(i−1, k−1) / C(N, k) (x "
        "sorted worst to best; Dodge et al. 2019), with a 95% band from "
        f"{N_RESAMPLES} bootstrap resamples of the trials. Where some k-subsets hold only failed trials the "
        "expectation is undefined and left out. For each k the table names the method ahead; its difference "
        "from each other method is tested by a two-sided permutation test of the difference in expected "
        "best-of-k (exact over every split of the two methods' trials up to "
        f"{EXACT_SPLITS:,} splits, else Monte Carlo; column p_test), Holm-adjusted over the others "
        f"(significant at {ALPHA}).",
    )
    rep.image(
        "tuning_best_of_k.png", tuning_figures.best_of_k_png(result["best_of_k"], metric, arrow), "best of k"
    )
    rep.add("table", "Method ahead at each k", _shown(result["ahead"]))
    rep.add(
        "p",
        "Sensitivity: each trial's value against each searched hyper-parameter (log axis for "
        "log-uniform keys).",
    )
    for dataset in dict.fromkeys(trials["dataset"]):
        slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(dataset))
        png = tuning_figures.sensitivity_png(trials, dataset, metric, arrow)
        rep.image(f"tuning_sensitivity_{slug}.png", png, f"{dataset}: sensitivity")
    rep.image(
        "tuning_seeds.png", tuning_figures.seeds_png(trials, metric, arrow, direction), "seeds vs trials"
    )


def _search_intro(trials: pd.DataFrame, metric: str, direction: str) -> str:
    """The paragraph that opens the report's search section: trials, seeds, samplers, the rule."""
    n = trials.groupby(["dataset", "method"])["trial"].count()
    pending = int(trials["pending"].gt(0).sum())
    samplers = {"random": "RandomSampler", "sobol": "QMCSampler (scrambled Sobol)"}
    used = ", ".join(samplers[x] for x in dict.fromkeys(trials["sampler"]))
    return (
        f"Every method got {int(n.max())} trials (configurations drawn from its space by Optuna's "
        f"{used}, seeded), each run with {int(trials['seeds'].max())} seeds. A trial's value is "
        f"the mean over its seeds of the final {metric} ({'higher' if direction == 'max' else 'lower'} is "
        "better); a trial none of whose seeds finished with a value (diverged or failed) is a failed "
        "trial and ranks worst. "
        + (f"{pending} trials still have runs pending and are left out. " if pending else "")
        + "Quantiles are over the trial values; trial std is their spread over trials, median seed std the "
        "typical spread over the seeds of one trial; the best trial's seed values stand beside its mean."
    )
