"""Early stopping of a suite's searches: `scheduler: asha`, successive halving on the primary metric
(Jamieson & Talwalkar 2016; the rung rule of ASHA, Li et al. 2020).

The rungs are steps r_0 = min_steps, r_i = r_0 * eta**i below the budget, and the budget. Every
trial of a method on a data set trains to r_0; the best max(1, floor(n / eta)) of the n trials
there (by their seed mean of the primary metric) go on to r_1, and so on; the others are
`stopped`, their numbers those of their evaluation at the rung they reached. A method's search
thus spends the same steps as any other's with the same trial count and schedule.

Why not Ray Tune's ASHAScheduler or Optuna's SuccessiveHalvingPruner: both are asynchronous, so a
trial is promoted against whichever trials reached its rung before it, and which runs stop
depends on the order in which results arrive, i.e. on the machine and its load. Here every trial
of a method reaches a rung before any goes on (the synchronous rule), so the same suite stops the
same runs everywhere, and a re-run recomputes every decision from the stored trajectories. The
rule is a few lines; training to a rung, pausing, resuming and storing are genbench's runner,
checkpoints and store.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Protocol

from genbench.analysis.rungs import keep_count
from genbench.store import runs as store
from genbench.store.result import RunResult, Status
from genbench.store.runs import value_at
from genbench.suite.config import RunSpec


class ScheduledSuite(Protocol):
    """What run_scheduled needs of a suite's invocation (genbench.driver.suite_run.SuiteRun)."""

    specs: list[RunSpec]
    path: Path  # the suite's results
    primary: str  # the metric output trials are ranked by
    direction: str  # the primary's better direction, "max" or "min"

    def dispatch(self, runs: list[RunSpec], until: int | None = None) -> None:
        """Train `runs` to step `until` (None: the budget)."""

    def store_stopped(self, spec: RunSpec, result: RunResult) -> None:
        """Record the final result of a run not promoted."""

    def stopping(self) -> bool:
        """Whether a Ctrl-C asked the suite to stop."""


def schedule_of(specs: list[RunSpec]) -> dict | None:
    """The suite's early-stopping schedule ({scheduler, reduction, rungs}), or None."""
    return next((s.search["schedule"] for s in specs if s.search and "schedule" in s.search), None)


def promoted(values: dict, reduction: int, direction: str) -> set:
    """The keys of the best keep_count(n) values (NaN: a trial without a value, ranked worst;
    ties broken by key order, so that the choice is the same on every machine)."""
    sign = -1.0 if direction == "max" else 1.0

    def rank(key) -> tuple:
        value = values[key]
        return (0, sign * value, key) if math.isfinite(value) else (1, 0.0, key)

    ranked = sorted(values, key=rank)
    return set(ranked[: keep_count(len(values), reduction)])


def _needs(result: RunResult | None, rung: int, final: bool) -> bool:
    """Whether a run must train to reach `rung` (the budget when `final`)."""
    if result is None or result.status in (Status.FAILED, Status.INTERRUPTED, Status.PENDING):
        return True
    if result.finished:  # ok or diverged: nothing more to train
        return False
    return final or result.steps < rung  # paused or stopped below this rung


def stopped_result(paused: RunResult, rung: int, kept: int, of: int) -> RunResult:
    """A paused run's final record once not promoted: its rung's numbers under a budget of the
    steps it spent (so its numbers never share a protocol column with runs of the full budget)."""
    protocol = dict(paused.protocol or {})
    protocol["budget"] = {"steps": rung, "stopped_early": True}
    return paused.replace(
        status=Status.STOPPED,
        protocol=protocol,
        error=f"stopped by successive halving at {rung} steps: not among the best {kept} of {of} trials",
    )


def run_scheduled(suite: ScheduledSuite, schedule: dict) -> None:
    """Train the suite's runs rung by rung: dispatch the runs of the surviving trials that have not
    reached the rung yet, then per method and data set promote the best trials and record the
    others as stopped. A Ctrl-C (`suite.stopping()`) ends it after the rung's dispatch."""
    alive = list(suite.specs)
    rungs, reduction = schedule["rungs"], schedule["reduction"]
    for i, rung in enumerate(rungs):
        final = i == len(rungs) - 1
        todo = [s for s in alive if _needs(store.read_result(suite.path, s.run_id), rung, final)]
        if todo:
            suite.dispatch(todo, None if final else rung)
        if final or suite.stopping():
            return
        alive = promote(suite, alive, rung, reduction)


def promote(suite: ScheduledSuite, alive: list[RunSpec], rung: int, reduction: int) -> list[RunSpec]:
    """The runs of the trials that go on from `rung`, per method and data set; the paused runs of
    the others are recorded as stopped."""
    competitions: dict[tuple, dict[str, list[RunSpec]]] = {}
    for s in alive:
        key = (s.search["method"], s.dataset, s.dataset_variant)
        competitions.setdefault(key, {}).setdefault(s.variant, []).append(s)
    survivors: set[str] = set()
    for trials in competitions.values():
        values = {
            variant: _seed_mean(runs, rung, suite.path, suite.primary) for variant, runs in trials.items()
        }
        kept = promoted(values, reduction, suite.direction)
        for variant, runs in trials.items():
            if variant in kept:
                survivors.update(s.run_id for s in runs)
                continue
            for s in runs:
                result = store.read_result(suite.path, s.run_id)
                if result is not None and result.status == Status.PAUSED:
                    suite.store_stopped(s, stopped_result(result, rung, len(kept), len(values)))
    return [s for s in alive if s.run_id in survivors]


def _seed_mean(runs: list[RunSpec], rung: int, suite_path, metric: str) -> float:
    """A trial's value at a rung: the mean over its seeds that have one (as genbench.analysis.tuning's)."""
    values = [v for v in (value_at(suite_path, s.run_id, rung, metric) for s in runs) if math.isfinite(v)]
    return sum(values) / len(values) if values else math.nan
