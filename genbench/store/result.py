"""What a run sends back and the store keeps: its `Status` and its `RunResult`, one constructor per
way a run ends. Light to import (no torch, no Ray): the driver's store, leaderboard and report read
the same type that the trainer builds."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Status(str, Enum):
    """How a run ended (`pending`: no result stored yet). Equal to its string, as stored."""

    OK = "ok"  # trained to its budget and evaluated
    DIVERGED = "diverged"  # stopped at a non-finite loss or non-finite weights
    FAILED = "failed"  # raised, or its worker was lost on every attempt
    INTERRUPTED = "interrupted"  # stopped on request (Ctrl-C); resumes from its checkpoint
    PAUSED = "paused"  # at a rung of successive halving, checkpointed: goes on if promoted
    STOPPED = "stopped"  # not promoted at a rung: its metrics are that rung's evaluation
    PENDING = "pending"  # not run yet (only the leaderboard shows it)

    def __str__(self) -> str:
        return self.value


# statuses a re-run keeps; failed and interrupted runs go on, paused and stopped ones are the
# scheduler's to decide (genbench.driver.scheduler), and without one they go on to the budget
FINISHED = (Status.OK, Status.DIVERGED)
TRANSIENT = ("trajectory", "samples", "pictures")  # sent to the driver, not kept in result.json


@dataclass
class RunResult:
    """One run's outcome. The trainer fills every field; a failed run keeps its step, its trajectory
    up to that step and its traceback."""

    status: Status
    steps: int = 0
    train_seconds: float = 0.0
    wall_seconds: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    extras: dict[str, list] = field(default_factory=dict)  # list outputs (e.g. mode_counts)
    last_losses: dict[str, float] = field(default_factory=dict)
    protocol: dict[str, Any] | None = None
    metric_protocols: dict[str, dict] = field(default_factory=dict)
    eval_seconds: float = 0.0  # all evaluations of the worker's process, the final one included
    final_eval_seconds: float = 0.0
    error: str | None = None
    traceback: str = ""
    resumed_at: list[int] = field(default_factory=list)  # steps at which it continued from a checkpoint
    checkpoints: dict[str, Any] = field(default_factory=dict)
    restarts: int = 0  # workers lost on the way (the driver's count)
    restarted: str | None = None  # why the run started again from step 0 (an unreadable checkpoint)
    vectorized: dict[str, Any] | None = None  # seeds trained together: the group and its losses
    spec_version: int = 1  # the spec format the run was stored under (1: before formats were numbered)
    trajectory: list[dict] = field(default_factory=list)
    samples: Any = None  # toy runs: the final evaluation's samples (numpy), for the scatter plot
    pictures: dict[str, Any] = field(default_factory=dict)  # image runs: grids, VAE figures

    @classmethod
    def ok(cls, **fields: Any) -> RunResult:
        """A run that trained to its budget and was evaluated."""
        return cls(Status.OK, **fields)

    @classmethod
    def diverged(cls, **fields: Any) -> RunResult:
        """A run stopped by a non-finite loss or non-finite weights."""
        steps = fields.get("steps", 0)
        return cls(Status.DIVERGED, **{"error": f"non-finite loss or parameters at step {steps}", **fields})

    @classmethod
    def interrupted(cls, error: str, **fields: Any) -> RunResult:
        """A run stopped on request (or lost while stopping); `error` says how it goes on."""
        return cls(Status.INTERRUPTED, error=error, **fields)

    @classmethod
    def paused(cls, **fields: Any) -> RunResult:
        """A run that reached the rung it was asked to train to (`train(until=...)`)."""
        steps = fields.get("steps", 0)
        return cls(Status.PAUSED, error=f"paused at step {steps}, a rung of successive halving", **fields)

    @classmethod
    def failed(cls, error: str, details: str = "") -> RunResult:
        """A run that raised (`details`: the traceback) or whose worker was lost."""
        return cls(Status.FAILED, error=error, traceback=details)

    @property
    def finished(self) -> bool:
        """Whether a re-run keeps this result (ok or diverged)."""
        return self.status in FINISHED

    def replace(self, **changes: Any) -> RunResult:
        """A copy with `changes`."""
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """The stored summary (result.json): every field but the trajectory and the pictures."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in TRANSIENT}
        out["status"] = self.status.value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        """A stored summary read back (keys of other genbench versions are ignored)."""
        known = {f.name for f in dataclasses.fields(cls)} - set(TRANSIENT)
        values = {k: v for k, v in data.items() if k in known}
        for key in ("metrics", "last_losses"):  # non-finite numbers are stored as null
            values[key] = {k: math.nan if v is None else v for k, v in values.get(key, {}).items()}
        for key in ("train_seconds", "wall_seconds", "eval_seconds", "final_eval_seconds"):
            values[key] = math.nan if values.get(key, 0.0) is None else values.get(key, 0.0)
        return cls(**{**values, "status": Status(data["status"])})
