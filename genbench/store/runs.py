"""The results store: one directory per run, written atomically, read back by the leaderboard.

Layout: <root>/<suite>/suite.json (the run ids of the current suite file) and
<root>/<suite>/runs/<run_id>/{spec.json, trajectory.jsonl, result.json, samples.png, checkpoint.pt}.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from genbench.registry import DATASETS, MODELS
from genbench.store.atomic import write_atomic
from genbench.store.result import RunResult
from genbench.suite.config import SPEC_VERSION, RunSpec


def write_json(path: Path, obj: Any) -> None:
    """Write `obj` as indented JSON, atomically."""
    write_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: Path) -> Any:
    """Read a JSON file."""
    return json.loads(path.read_text())


def suite_dir(root: Path, suite: str) -> Path:
    """The directory of one suite's results."""
    return Path(root) / suite


def run_dir(suite_path: Path, run_id: str) -> Path:
    """The directory of one run."""
    return suite_path / "runs" / run_id


def write_manifest(
    suite_path: Path,
    specs: list[RunSpec],
    source: str,
    metrics: dict[str, str],
    target: float | None = None,
    reference: list | None = None,
) -> None:
    """Record the runs of the current suite file (the leaderboard shows only these), its metric
    outputs in suite order with their directions (the first one is the primary), its target, its
    published reference rows and the diagnostics its model families declare; and each run's spec
    with its format version and what its data set's entry says (kind, modes, collapse rule)."""
    manifest = {"source": source, "runs": [s.run_id for s in specs], "metrics": metrics, "target": target}
    manifest["reference"] = reference or []  # the suite's published rows (genbench.analysis.verdicts)
    manifest["diagnostics"] = diagnostics(specs)
    write_atomic(suite_path / "suite.json", (json.dumps(manifest, indent=2) + "\n").encode())
    for spec in specs:
        path = run_dir(suite_path, spec.run_id) / "spec.json"
        if not path.exists():
            info = DATASETS.get(spec.dataset).info(spec.dataset_params)
            record = {"run_id": spec.run_id, "spec_version": SPEC_VERSION, "dataset_info": info}
            write_json(path, {**record, **spec.model_dump(mode="json")})


def diagnostics(specs: list[RunSpec]) -> dict[str, dict]:
    """The trajectory columns (train.<key>) the runs' model families declare as diagnostics, with
    their title, equation and scale, in the order of the families' declarations."""
    out: dict[str, dict] = {}
    for model in dict.fromkeys(spec.model for spec in specs):
        for d in MODELS.get(model).diagnostics:
            out.setdefault(f"train.{d.key}", {"title": d.title, "equation": d.equation, "log": d.log})
    return out


def spec_of(record: dict) -> RunSpec:
    """The RunSpec of a stored spec.json (what the store adds to it removed)."""
    return RunSpec(**{k: v for k, v in record.items() if k not in ("run_id", "spec_version", "dataset_info")})


def read_result(suite_path: Path, run_id: str) -> RunResult | None:
    """The stored result of a run, None if it has none yet."""
    path = run_dir(suite_path, run_id) / "result.json"
    return RunResult.from_json(read_json(path)) if path.exists() else None


def finished_result(suite_path: Path, run_id: str) -> RunResult | None:
    """The stored result of a run that finished (ok or diverged) under the current spec format,
    else None (a run stored by an older format is run again, not reused)."""
    result = read_result(suite_path, run_id)
    current = result is not None and result.spec_version == SPEC_VERSION
    return result if current and result.finished else None


def write_run(suite_path: Path, spec: RunSpec, result: RunResult) -> Path:
    """Store a run's trajectory and final result; return its directory."""
    path = run_dir(suite_path, spec.run_id)
    lines = "".join(json.dumps(row, sort_keys=True) + "\n" for row in result.trajectory)
    write_atomic(path / "trajectory.jsonl", lines.encode())
    write_result(suite_path, spec, result)
    return path


def write_result(suite_path: Path, spec: RunSpec, result: RunResult) -> None:
    """Store a run's result.json alone (its trajectory stays as it is)."""
    stored = result.replace(spec_version=SPEC_VERSION).to_json()
    write_json(run_dir(suite_path, spec.run_id) / "result.json", {"run_id": spec.run_id, **stored})


def read_manifest(suite_path: Path) -> dict:
    """The suite's manifest: its run ids, source file and metric outputs with directions."""
    return read_json(suite_path / "suite.json")


def load_runs(suite_path: Path) -> list[dict]:
    """Spec (a dict) and RunResult of every run of the current suite file (result None if not yet run)."""
    manifest = read_manifest(suite_path)
    specs = {run_id: read_json(run_dir(suite_path, run_id) / "spec.json") for run_id in manifest["runs"]}
    return [{"spec": spec, "result": read_result(suite_path, run_id)} for run_id, spec in specs.items()]


def move_aside(suite_path: Path) -> Path | None:
    """Rename a suite's results directory to <suite>.old-<timestamp>[-n]; return the new path."""
    if not suite_path.exists():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target, n = suite_path.with_name(f"{suite_path.name}.old-{stamp}"), 1
    while target.exists():
        target, n = suite_path.with_name(f"{suite_path.name}.old-{stamp}-{n}"), n + 1
    os.rename(suite_path, target)
    return target


@contextlib.contextmanager
def all_runs_view(suite_path: Path) -> Iterator[Path]:
    """A temporary suite directory whose manifest lists every run directory of `suite_path`
    (older suite files' runs too), its runs linked, not copied; removed on exit."""
    manifest = read_manifest(suite_path)
    runs = suite_path.resolve() / "runs"
    others = sorted(p.name for p in runs.iterdir() if (p / "spec.json").exists())
    manifest["runs"] += [r for r in others if r not in manifest["runs"]]  # the current file's first
    with tempfile.TemporaryDirectory(prefix="genbench-all-") as tmp:
        view = Path(tmp) / suite_path.resolve().name
        view.mkdir()
        (view / "runs").symlink_to(runs, target_is_directory=True)
        write_json(view / "suite.json", manifest)
        yield view


def value_at(suite_path, run_id: str, step: int, metric: str) -> float:
    """A run's `metric` at its evaluation at `step`, from its stored trajectory (NaN if it has none)."""
    path = run_dir(suite_path, run_id) / "trajectory.jsonl"
    if not path.exists():
        return math.nan
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if row.get("step") == step:
            value = row.get(metric)
            return float(value) if isinstance(value, int | float) else math.nan
    return math.nan
