"""Successive halving's tables for the analysis: every trial at its first rung (an equal-budget
comparison) and how far each method's trials went (`genbench.driver.scheduler` runs the rungs)."""

from __future__ import annotations

import math

import pandas as pd

from genbench.store.protocol import protocol_id
from genbench.store.runs import value_at


def keep_count(n: int, reduction: int) -> int:
    """How many of a rung's n trials go on: floor(n / eta), at least one."""
    return max(1, n // reduction)


def schedule_of_runs(runs: list[dict]) -> dict | None:
    """The schedule of a stored suite (its runs' spec dicts), or None."""
    return next(
        (r["spec"]["search"]["schedule"] for r in runs if "schedule" in (r["spec"].get("search") or {})), None
    )


def rung_table(suite_path, runs: list[dict], table: pd.DataFrame, metric: str, step: int) -> pd.DataFrame:
    """The leaderboard's runs table with each searched run's `metric` at its evaluation at `step`
    (every trial's first rung: an equal budget) and a protocol of that budget."""
    by_id = {r["spec"]["run_id"]: r for r in runs}
    out = table.copy()
    values, protocols = [], []
    for run_id in out["run_id"]:
        run = by_id[run_id]
        values.append(value_at(suite_path, run_id, step, metric) if run["spec"].get("search") else math.nan)
        result = run["result"]
        base = {**result.protocol, "budget": None} if result and result.protocol else None
        protocols.append(f"{protocol_id(base, result.spec_version)} @{step}" if base else None)
    out[metric] = values
    out["protocol"] = protocols
    return out


def stopping_table(
    runs: list[dict], table: pd.DataFrame, metric: str, direction: str, schedule: dict
) -> pd.DataFrame:
    """Per data set and method: the trials that reached each rung, the steps its search spent
    against a search without stopping, and its best trial at the full budget (seed mean, std)."""
    search = {r["spec"]["run_id"]: r["spec"].get("search") for r in runs}
    rows = table[table["run_id"].map(lambda r: search.get(r) is not None)].copy()
    rows["method"] = rows["run_id"].map(lambda r: search[r]["method"])
    budget, out = schedule["rungs"][-1], []
    for (dataset, method), g in rows.groupby(["dataset", "method"], sort=False):
        reached = g.groupby("variant")["steps"].max()
        row = {
            "dataset": dataset,
            "method": method,
            "trials": len(reached),
            "seeds": int(g.groupby("variant").size().max()),
        }
        row.update({f"reached {r}": int((reached >= r).sum()) for r in schedule["rungs"]})
        row["steps_spent"] = int(g["steps"].fillna(0).sum())
        row["steps_without_stopping"] = len(g) * budget
        full = g[(g["status"] == "ok") & (g["steps"] >= budget)]
        means = full.groupby("variant")[metric].agg(["mean", "std", "count"]) if metric in full else None
        if means is not None and len(means):
            best = means["mean"].idxmax() if direction == "max" else means["mean"].idxmin()
            row["best_trial"] = " ".join(w for w in best.split() if w.startswith("trial="))
            row["best_value"] = float(means.loc[best, "mean"])
            row["best_seed_std"] = float(means.loc[best, "std"])
            row["best_seed_values"] = " ".join(f"{v:.4g}" for v in full[full["variant"] == best][metric])
        out.append(row)
    return pd.DataFrame(out)


def describe_schedule(schedule: dict) -> str:
    """One sentence on the schedule, for the leaderboard and the report."""
    rungs = ", ".join(f"{r:,}" for r in schedule["rungs"])
    eta = schedule["reduction"]
    return (
        f"Early stopping: successive halving (synchronous; genbench.driver.scheduler) at rungs of {rungs} "
        "steps "
        f"with eta = {eta}: at each rung the best max(1, floor(n/{eta})) of a method's n trials on a "
        "data set (by their seed mean) go on, the others are stopped and keep that rung's numbers "
        "(status `stopped`, their budget in their protocol). So that methods are compared only at "
        f"equal spent budget, the trial distribution and the best-of-k curves are those of every "
        f"trial at the first rung ({schedule['rungs'][0]:,} steps); the table below gives each "
        "method's steps spent and its best trial at the full budget."
    )
