"""The results store: one directory per run, written atomically, read back by the leaderboard.

Layout: <root>/<suite>/suite.json (the run ids of the current suite file) and
<root>/<suite>/runs/<run_id>/{spec.json, trajectory.jsonl, result.json, samples.png, checkpoint.pt}.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from genbench.registry import DATASETS, MODELS
from genbench.store import jsonio
from genbench.store.atomic import write_atomic
from genbench.store.reading import (
    StoredRun,
    StoreError,
    check_suite_folders,
    damage_notes,
    read_run,
    read_suite_file,
    run_dir,
    writable_run_dir,
)
from genbench.store.result import RunResult
from genbench.store.schema import spec_of
from genbench.suite.config import SPEC_VERSION, RunSpec

__all__ = ["StoreError", "StoredRun", "damage_notes", "read_run", "run_dir", "spec_of"]
RUN_ID = re.compile(r"[0-9a-f]{8,64}")  # a run folder's name (schema.RunId)


def write_json(path: Path, obj: Any) -> None:
    """Write `obj` as indented strict JSON (non-finite numbers as null), atomically."""
    write_atomic(path, (jsonio.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: Path) -> Any:
    """Read a JSON file (not one of a run folder's: those are read by `read_run`)."""
    return json.loads(path.read_text())


def suite_dir(root: Path, suite: str) -> Path:
    """The directory of one suite's results."""
    return Path(root) / suite


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
    manifest["labels"] = {s.run_id: s.label for s in specs}  # each variant's name (`label:`), as now given
    write_atomic(suite_path / "suite.json", (jsonio.dumps(manifest, indent=2) + "\n").encode())
    for spec in specs:
        path = writable_run_dir(suite_path, spec.run_id) / "spec.json"
        if not path.exists() and not path.is_symlink():
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


def read_result(suite_path: Path, run_id: str) -> RunResult | None:
    """The stored result of a run, None if it has none yet or its folder is damaged (`read_run`)."""
    return read_run(suite_path, run_id).result


def finished_result(suite_path: Path, run_id: str) -> RunResult | None:
    """The stored result of a run that finished (ok or diverged) under the current spec format,
    else None (a run stored by an older format is run again, not reused). The driver's read:
    StoreError when the run's folder could not be written (a symbolic link on the way)."""
    check_suite_folders(suite_path)
    result = read_result(suite_path, run_id)
    current = result is not None and result.spec_version == SPEC_VERSION
    return result if current and result.finished else None


def write_run(suite_path: Path, spec: RunSpec, result: RunResult) -> Path:
    """Store a run's trajectory and final result; return its directory."""
    path = writable_run_dir(suite_path, spec.run_id)
    lines = "".join(jsonio.dumps(row, sort_keys=True) + "\n" for row in result.trajectory)
    write_atomic(path / "trajectory.jsonl", lines.encode())
    write_result(suite_path, spec, result)
    return path


def write_result(suite_path: Path, spec: RunSpec, result: RunResult) -> None:
    """Store a run's result.json alone (its trajectory stays as it is), with its run id and the
    sha256 of its trajectory.jsonl (so that a file copied from another run folder is caught)."""
    folder = writable_run_dir(suite_path, spec.run_id)
    stored = {"run_id": spec.run_id, **result.replace(spec_version=SPEC_VERSION).to_json()}
    trajectory = folder / "trajectory.jsonl"
    if trajectory.is_file() and not trajectory.is_symlink():
        stored["trajectory_sha256"] = hashlib.sha256(trajectory.read_bytes()).hexdigest()
    write_json(folder / "result.json", stored)


def read_manifest(suite_path: Path) -> dict:
    """The suite's manifest: its run ids, source file and metric outputs with directions
    (StoreError naming suite.json when it is missing or damaged)."""
    return read_suite_file(suite_path)


def manifest_runs(suite_path: Path) -> list[str]:
    """The run ids of the suite's manifest; StoreError when its `runs` folder is a symbolic link
    (other than the one of an `all_runs_view`, whose manifest names the suite it shows)."""
    manifest = read_manifest(suite_path)
    runs = Path(suite_path) / "runs"
    view_of = manifest.get("view_of")
    if runs.is_symlink() and not (view_of and runs.resolve() == Path(view_of) / "runs"):
        raise StoreError(f"{runs} is a symbolic link (to {os.readlink(runs)}): genbench does not follow it")
    return manifest["runs"]


def load_runs(suite_path: Path) -> list[dict]:
    """Spec (a dict) and RunResult of every run of the current suite file (result None if not yet
    run, or damaged); a run whose spec.json is missing or damaged is left out (`damage_notes`)."""
    runs = []
    for run_id in manifest_runs(suite_path):
        stored = read_run(suite_path, run_id)
        if stored.spec is not None:
            runs.append({"spec": stored.spec, "result": stored.result})
    return runs


def not_done_notes(suite_path: Path) -> list[str]:
    """The files moved aside as damaged in the folders of the current suite's runs that are not
    done (no result, or no spec), one 'runs/<run_id>/<name>.corrupt-<time>' each."""
    todo = [r for r in manifest_runs(suite_path) if read_run(suite_path, r).result is None]
    return damage_notes(suite_path, todo)


def read_trajectory(suite_path: Path, run_id: str) -> list[dict]:
    """A run's checked trajectory rows, null read back as NaN ([] when it has none or it is damaged)."""
    return read_run(suite_path, run_id).trajectory


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
    stored = [p for p in runs.iterdir() if RUN_ID.fullmatch(p.name) and not p.is_symlink()]
    others = sorted(p.name for p in stored if (p / "spec.json").exists())  # no .corrupt-* links
    manifest["runs"] += [r for r in others if r not in manifest["runs"]]  # the current file's first
    with tempfile.TemporaryDirectory(prefix="genbench-all-") as tmp:
        view = Path(tmp) / suite_path.resolve().name
        view.mkdir()
        (view / "runs").symlink_to(runs, target_is_directory=True)
        write_json(view / "suite.json", manifest | {"view_of": str(suite_path.resolve())})
        yield view


def value_at(suite_path, run_id: str, step: int, metric: str) -> float:
    """A run's `metric` at its evaluation at `step`, from its stored trajectory (NaN if it has none)."""
    for row in read_trajectory(suite_path, run_id):
        if row.get("step") == step:
            value = row.get(metric)
            return float(value) if isinstance(value, int | float) else math.nan
    return math.nan
