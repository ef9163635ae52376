"""The shapes of the files in a run folder (pydantic models of spec.json, result.json and a
trajectory line, and of the suite's suite.json) and the checks that a file belongs to its folder."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, ValidationError

from genbench.numerics import NUMERICS_VERSION
from genbench.store.result import Status
from genbench.suite.config import SPEC_VERSION, RunSpec

RunId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{8,64}$")]
Number = float | None  # None: a non-finite number (stored as null)
NOT_RECORDED = "it is not the trajectory result.json recorded (sha256 differs: changed or copied?)"
StatusName = Literal[tuple(s.value for s in Status if s != Status.PENDING)]


class _Stored(BaseModel):
    """A stored file: strict types, keys of other genbench versions allowed."""

    model_config = ConfigDict(strict=True, extra="allow")


class SpecFile(_Stored):
    """spec.json: the run's resolved spec and what the store adds (run id, format, data set info)."""

    run_id: RunId
    spec_version: StrictInt = 1
    model: str
    variant: str
    dataset: str
    dataset_variant: str
    seed: StrictInt
    hparams: dict[str, Any]
    dataset_params: dict[str, Any]
    budget: dict[str, Any]
    eval: dict[str, Any]
    metrics: list[str]


class ResultFile(_Stored):
    """result.json: a RunResult's stored fields, its run id and its trajectory's sha256."""

    status: StatusName
    run_id: RunId | None = None  # absent in files of older versions
    trajectory_sha256: str | None = None  # absent in files of older versions
    steps: StrictInt = Field(0, ge=0)
    train_seconds: Number = 0.0
    wall_seconds: Number = 0.0
    eval_seconds: Number = 0.0
    final_eval_seconds: Number = 0.0
    metrics: dict[str, Number] = {}
    extras: dict[str, list] = {}
    last_losses: dict[str, Number] = {}
    protocol: dict[str, Any] | None = None
    metric_protocols: dict[str, dict] = {}
    error: str | None = None
    traceback: str = ""
    resumed_at: list[StrictInt] = []
    checkpoints: dict[str, Any] = {}
    restarts: StrictInt = 0
    restarted: str | None = None
    vectorized: dict[str, Any] | None = None
    spec_version: StrictInt = 1


class TrajectoryLine(_Stored):
    """One line of trajectory.jsonl: an evaluation at `step` (numbers, lists such as mode_counts)."""

    step: StrictInt = Field(ge=0)
    __pydantic_extra__: dict[str, float | None | list | str]


class SuiteFile(_Stored):
    """suite.json: the current suite file's run ids, metric directions, target and reference rows."""

    source: str
    runs: list[RunId]
    metrics: dict[str, Literal["max", "min"]]
    target: float | dict[str, float | str] | None = None  # genbench.suite.targets
    reference: list = []
    diagnostics: dict[str, dict] = {}
    labels: dict[str, str] = {}  # run id -> its variant's name (absent in files of older versions)


def first_error(err: ValidationError) -> str:
    """The first problem of a failed validation, as 'key: message'."""
    e = err.errors()[0]
    where = ".".join(str(part) for part in e["loc"]) or "the whole file"
    return f"{where}: {e['msg']}" + (f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else "")


def spec_of(record: dict) -> RunSpec:
    """The RunSpec of a stored spec.json (what the store adds to it removed)."""
    return RunSpec(**{k: v for k, v in record.items() if k not in ("run_id", "spec_version", "dataset_info")})


def spec_problem(record: dict, folder: str) -> str | None:
    """Why a validated spec.json does not belong to the run folder `folder` (None if it does): its
    run id differs, or (current spec format) its contents hash to another run id."""
    if record["run_id"] != folder:
        return f"it holds run {record['run_id']}, not {folder} (copied from another run folder?)"
    if record.get("spec_version", 1) != SPEC_VERSION:
        return None  # an older format: its hash cannot be recomputed by this genbench
    try:
        spec = spec_of(record)
    except ValidationError as err:
        return f"not a valid run spec: {first_error(err)}"
    payload = spec.id_payload()
    for numerics in range(NUMERICS_VERSION, -1, -1):  # stored by this or an earlier numerics version
        if _hash(payload | {"numerics_version": numerics}) == folder:
            return None
    return f"its contents hash to run {spec.run_id}, not {folder} (edited or copied?)"


def _hash(payload: dict) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def result_problem(result: dict, folder: str, spec: dict | None) -> str | None:
    """Why a validated result.json does not belong to the run folder `folder` (None if it does):
    its run id differs, or (older files without one) its protocol's seed or data set differ."""
    if result.get("run_id") is not None:
        if result["run_id"] != folder:
            return f"it holds run {result['run_id']}, not {folder} (copied from another run folder?)"
        return None
    protocol = result.get("protocol") or {}
    for key in ("seed", "dataset"):
        if spec is not None and key in protocol and protocol[key] != spec[key]:
            return f"its {key} {protocol[key]!r} is not the spec's {spec[key]!r} (copied from another run?)"
    return None


def trajectory_problem(data: bytes, result: dict | None) -> str | None:
    """Why trajectory.jsonl does not go with result.json (None if it does): the sha256 recorded in
    result.json differs, or (older files) a finished ok run has no evaluation."""
    if result is None:
        return None
    recorded = result.get("trajectory_sha256")
    if recorded is not None:
        if hashlib.sha256(data).hexdigest() != recorded:
            return NOT_RECORDED
        return None
    if result["status"] == Status.OK.value and not data.strip():
        return "empty, but result.json says the run finished ok"
    return None
