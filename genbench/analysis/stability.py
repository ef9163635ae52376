"""Stability indicators, from a suite's stored runs and trajectories alone (never from a model).

Per run: diverged, collapsed, oscillation over the last quarter of evaluations, the gap between
the best and the final value, the time to reach the target (`genbench.suite.targets`: every
condition met at one evaluation) and the target's outputs at the first evaluation (step 0 where
the suite sets `eval.every`). Per variant the same aggregated, and per data set whether the
target is refused: met at step 0 by every variant, so time to it would measure nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from genbench.store.result import RunResult
from genbench.store.runs import load_runs
from genbench.store.runs import read_trajectory as store_trajectory
from genbench.suite.targets import Conditions, TargetSetting, conditions_of, describe, met

LAST_FRACTION = 0.25  # oscillation is measured over the last quarter of the evaluations
IDENTITY = ["run_id", "model", "variant", "label", "dataset", "seed", "status", "protocol"]
START_MET = 0.5  # a variant meets the target at step 0 when at least this share of its runs does

# ------------------------------------------------------------------------ per run


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


def time_to_target(rows: list[dict], conditions: Conditions) -> tuple[float, float]:
    """Step and training seconds of the first evaluation that meets every condition (NaN if none)."""
    for row in rows:
        if met(row, conditions):
            return float(row["step"]), float(row.get("train_seconds", math.nan))
    return math.nan, math.nan


def at_start(rows: list[dict], conditions: Conditions) -> dict[str, float]:
    """The first evaluation's step, whether it meets the target (1.0 / 0.0) and the value of
    each output the target names (`start.<output>`); NaN without rows or target."""
    if not rows or not conditions:
        return {"start_step": math.nan, "start_met": math.nan}
    first = rows[0]
    values = {f"start.{k}": float(first.get(k, math.nan)) for k in conditions}
    return {"start_step": float(first["step"]), "start_met": float(met(first, conditions))} | values


def run_indicators(
    status: str,
    rows: list[dict],
    metric: str,
    direction: str,
    n_modes: float = math.nan,
    target: TargetSetting = None,
    collapse: dict | None = None,
    directions: dict[str, str] | None = None,
) -> dict:
    """Stability indicators of one run from its status and trajectory `rows` (in step order);
    `collapse` ({output, below}) is the data set's rule (default: half of `n_modes` on `modes`);
    `target` the suite's (None: the default of `genbench.suite.targets`), `directions` those of
    the outputs it names (default: the primary metric's)."""
    if collapse is None and np.isfinite(n_modes):
        collapse = {"output": "modes", "below": n_modes / 2}
    values = [r.get(metric) for r in rows if r.get(metric) is not None]
    final = values[-1] if values and status == "ok" else math.nan
    counted = (
        [r.get(collapse["output"]) for r in rows if r.get(collapse["output"]) is not None] if collapse else []
    )
    collapsed = float(counted[-1] < collapse["below"]) if counted and status == "ok" else math.nan
    conditions = conditions_of(target, metric, directions or {metric: direction}, n_modes, collapse)
    steps, seconds = time_to_target(rows, conditions)
    return {
        "diverged": float(status == "diverged"),
        "collapsed": collapsed,
        "final": final,
        "oscillation": oscillation(values),
        "best_gap": best_gap(values, direction) if status == "ok" else math.nan,
        "target": conditions.get(metric, ("max", math.nan))[1],  # the primary metric's threshold
        "target_rule": describe(conditions),
        "steps_to_target": steps,
        "seconds_to_target": seconds,
    } | at_start(rows, conditions)


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
    target: TargetSetting = None,
    directions: dict[str, str] | None = None,
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
        ind = run_indicators(run["status"], rows, metric, direction, n, target, rule["collapse"], directions)
        out.append({k: run.get(k) for k in IDENTITY} | {"n_modes": n} | ind)
    return pd.DataFrame(out)


# ------------------------------------------------------------------------ per variant


def stability_table(indicators: pd.DataFrame) -> pd.DataFrame:
    """Per model variant x dataset: finished runs, diverged and collapsed rates, and medians of
    oscillation, best-minus-final gap and time to target (over the runs that reached it); the
    target, the latest first-evaluation step, the share of runs that meet the target there and
    the medians of its outputs there (`start.<output>`)."""
    if indicators.empty:
        return pd.DataFrame()
    keys = ["model", "variant"] + (["label"] if "label" in indicators else []) + ["dataset"]
    grouped = indicators.groupby(keys, sort=False, dropna=False)
    starts = {c: (c, "median") for c in indicators if c.startswith("start.")}
    return grouped.agg(
        runs=("run_id", "count"),
        diverged_rate=("diverged", "mean"),
        collapsed_rate=("collapsed", "mean"),
        oscillation=("oscillation", "median"),
        best_gap=("best_gap", "median"),
        reached_rate=("steps_to_target", lambda s: float(s.notna().mean())),
        steps_to_target=("steps_to_target", "median"),
        seconds_to_target=("seconds_to_target", "median"),
        target_rule=("target_rule", "first"),
        start_step=("start_step", "max"),
        start_met=("start_met", "mean"),
        **starts,
    ).reset_index()


def refused_datasets(stability: pd.DataFrame) -> list[str]:
    """The data sets whose target every variant meets at step 0 (at least START_MET of its runs
    there): time to target would measure nothing there, so the report refuses it."""
    if stability.empty:
        return []
    at_zero = (stability["start_step"] == 0) & (stability["start_met"] >= START_MET)
    return [d for d, ok in at_zero.groupby(stability["dataset"], sort=False) if ok.all()]
