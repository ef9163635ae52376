"""Reading the store defensively: every stored file goes through `load_file` (size, regular file,
UTF-8, JSON, shape) and every run folder through `read_run` (the files belong to the folder and to
each other). A file that fails is moved aside (`<name>.corrupt-<UTC time>`), a one-line warning on
stderr names it and says what was wrong, and the run counts as not done. Symbolic links (a run
folder or a file in one) are never followed: they are moved aside too, and never written through."""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from genbench.store import schema
from genbench.store.jsonio import nan_for_none
from genbench.store.result import RunResult
from genbench.suite.reader import SuiteError

CORRUPT = ".corrupt-"  # what a file moved aside has in its name, before the UTC time
MAX_BYTES = {"spec": 64 * 2**20, "result": 64 * 2**20, "suite": 64 * 2**20, "trajectory": 2**30}
MODELS: dict[str, type[BaseModel]] = {
    "spec": schema.SpecFile,
    "result": schema.ResultFile,
    "suite": schema.SuiteFile,
    "trajectory": schema.TrajectoryLine,
}
FILES = {"spec": "spec.json", "result": "result.json", "trajectory": "trajectory.jsonl"}
RACE_PAUSE_S = 0.2  # a driver writes trajectory.jsonl, then result.json: a reader between the two
RACE_LOOKS = 4  # sees them disagree, so a disagreement is looked at again, this many times in all


class StoreError(SuiteError):
    """A results folder genbench will not read or write (exit code 2, like a bad suite file)."""


class Damaged(Exception):
    """A stored file that cannot be used; the message says what is wrong with it."""


@dataclass
class StoredRun:
    """What a run folder holds, each part checked (None: missing or moved aside as damaged)."""

    spec: dict | None = None
    result: RunResult | None = None
    trajectory: list[dict] = field(default_factory=list)  # rows, null read back as NaN
    moved: list[str] = field(default_factory=list)  # the warnings of what was moved aside


def run_dir(suite_path: Path, run_id: str) -> Path:
    """The directory of one run."""
    return Path(suite_path) / "runs" / run_id


def load_file(path: Path, kind: str) -> tuple[Any, bytes]:
    """The validated content of a stored file of `kind` (spec, result, suite: a dict; trajectory:
    its rows) and its bytes; raises FileNotFoundError when it is missing, Damaged otherwise."""
    data = _read_regular(path, MAX_BYTES[kind])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Damaged(f"not UTF-8 text (bad byte at offset {exc.start})") from None
    if kind != "trajectory":
        return _validated(_parse(text, ""), kind, ""), data
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            rows.append(_validated(_parse(line, f"line {number}"), kind, f"line {number}"))
    if text and not text.endswith("\n"):
        raise Damaged(f"line {len(text.splitlines())} is cut short (no line end: half-written)")
    return [nan_for_none(row) for row in rows], data


def _read_regular(path: Path, limit: int) -> bytes:
    """The bytes of `path`, a regular file that is not a symbolic link and not over `limit`."""
    info = os.lstat(path)  # FileNotFoundError: missing
    if stat.S_ISLNK(info.st_mode):
        raise Damaged(f"a symbolic link (to {os.readlink(path)}), not followed")
    if not stat.S_ISREG(info.st_mode):
        raise Damaged("not a regular file")
    if info.st_size > limit:
        raise Damaged(f"{info.st_size} bytes, over the {limit // 2**20} MiB a stored file may have")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as f:
        return f.read(limit + 1)


def _parse(text: str, where: str) -> Any:
    """JSON `text` (bare NaN of older files accepted); Damaged naming `where` (a line, or '': the
    whole file) if it is not JSON."""
    at = f"{where}: " if where else ""
    if not text.strip():
        raise Damaged(f"{at}empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Damaged(f"{at}not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None


def _validated(value: Any, kind: str, where: str) -> dict:
    """`value` checked against the model of `kind`; Damaged naming the first wrong key."""
    at = f"{where}: " if where else ""
    if not isinstance(value, dict):
        raise Damaged(f"{at}a JSON {type(value).__name__}, not an object")
    try:
        MODELS[kind].model_validate(value)
    except ValidationError as err:
        raise Damaged(f"{at}{schema.first_error(err)}") from None
    return value


def read_run(suite_path: Path, run_id: str) -> StoredRun:
    """A run folder's spec, result and trajectory, each checked against its shape, the folder and
    the others; what fails is moved aside (with result.json when spec.json or trajectory.jsonl
    fails, so that the run counts as not done until it is trained again)."""
    folder = run_dir(suite_path, run_id)
    if folder.is_symlink():
        note = f"a symbolic link (to {os.readlink(folder)}), not followed"
        return StoredRun(moved=[_move_aside(folder, f"damaged: {note}")])
    if not folder.is_dir():
        return StoredRun()
    found, problems = _check_run(folder, run_id)
    for _ in range(RACE_LOOKS - 1):
        if problems.get("trajectory") != schema.NOT_RECORDED:  # the one problem a writer can cause
            break
        time.sleep(RACE_PAUSE_S)
        found, problems = _check_run(folder, run_id)
    moved = []
    if ("spec" in problems or "trajectory" in problems) and "result" in found:
        beside = " and ".join(FILES[k] for k in ("spec", "trajectory") if k in problems)
        problems["result"] = f"set aside: {beside} beside it is damaged"
    for kind, problem in problems.items():
        why = problem if problem.startswith("set aside") else f"damaged: {problem}"
        moved.append(_move_aside(folder / FILES[kind], why))
        found.pop(kind, None)
    result = found.get("result")
    return StoredRun(
        spec=found.get("spec"),
        result=RunResult.from_json(result) if result is not None else None,
        trajectory=found.get("trajectory", []),
        moved=moved,
    )


def _check_run(folder: Path, run_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The files of a run folder that load (by kind) and the problems of the others."""
    found, problems, data = {}, {}, {}
    for kind in ("spec", "result", "trajectory"):
        try:
            found[kind], data[kind] = load_file(folder / FILES[kind], kind)
        except FileNotFoundError:
            continue
        except (Damaged, OSError) as exc:
            problems[kind] = str(exc)
    checks = {
        "spec": lambda: schema.spec_problem(found["spec"], run_id),
        "result": lambda: schema.result_problem(found["result"], run_id, found.get("spec")),
        "trajectory": lambda: schema.trajectory_problem(data["trajectory"], found.get("result")),
    }
    for kind, check in checks.items():
        problem = check() if kind in found else None
        if problem:
            problems[kind] = problem
            del found[kind]
    missing = "trajectory" not in data and "trajectory" not in problems
    if missing and (found.get("result") or {}).get("trajectory_sha256"):
        problems["result"] = "the trajectory.jsonl it records is missing"
        del found["result"]
    return found, problems


def _move_aside(path: Path, why: str) -> str:
    """Rename `path` (a link itself, never its target) to `<name>.corrupt-<UTC time>[-n]`, warn on
    stderr in one line naming it and saying `why`; return the warning."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target, n = path.with_name(f"{path.name}{CORRUPT}{stamp}"), 1
    while target.exists() or target.is_symlink():
        target, n = path.with_name(f"{path.name}{CORRUPT}{stamp}-{n}"), n + 1
    shown = Path(os.path.realpath(path.parent)) / path.name
    try:
        os.rename(path, target)
        where = f"moved to {target.name}"
    except OSError as exc:
        where = f"could not be moved aside ({exc.strerror}); left where it is"
    warning = f"warning: {shown}: {why}; {where}; the run counts as not done"
    print(warning, file=sys.stderr, flush=True)
    return warning


def read_suite_file(suite_path: Path) -> dict:
    """The suite's manifest (suite.json), checked; StoreError naming it when it is damaged."""
    path = Path(suite_path) / "suite.json"
    try:
        return load_file(path, "suite")[0]
    except FileNotFoundError:
        raise StoreError(f"{suite_path}: no suite results here (no suite.json)") from None
    except (Damaged, OSError) as exc:
        raise StoreError(
            f"{path}: damaged: {exc}; `genbench run` on the suite file writes it again"
        ) from None


def check_suite_folders(suite_path: Path) -> None:
    """StoreError when the suite's folder or its `runs` folder is a symbolic link (genbench does
    not write through one; a symbolic link as a run's folder is moved aside by `read_run`)."""
    for path in (Path(suite_path), Path(suite_path) / "runs"):
        if path.is_symlink():
            raise StoreError(
                f"{path} is a symbolic link (to {os.readlink(path)}): genbench does not write "
                "through links; replace it with a folder (or move it away)"
            )


def writable_run_dir(suite_path: Path, run_id: str) -> Path:
    """The directory of one run, to write into: StoreError when it, its `runs` folder or the
    suite's folder is a symbolic link, or it resolves outside the suite's results folder."""
    suite_path = Path(suite_path)
    folder = run_dir(suite_path, run_id)
    check_suite_folders(suite_path)
    if folder.is_symlink():
        raise StoreError(
            f"{folder} is a symbolic link (to {os.readlink(folder)}): genbench does not write "
            "through links; replace it with a folder (or move it away)"
        )
    if not folder.resolve().is_relative_to(suite_path.resolve()):
        raise StoreError(f"{folder} resolves outside the results folder {suite_path}")
    return folder


def damage_notes(suite_path: Path, run_ids: list[str]) -> list[str]:
    """One line per file moved aside in the folders of `run_ids` (runs not done), naming it."""
    runs = Path(suite_path) / "runs"
    notes = []
    for run_id in run_ids:
        folder = run_dir(suite_path, run_id)
        links = sorted(p.name for p in runs.glob(f"{run_id}{CORRUPT}*")) if runs.is_dir() else []
        files = sorted(p.name for p in folder.glob(f"*{CORRUPT}*")) if not folder.is_symlink() else []
        notes += [f"runs/{name}" for name in links] + [f"runs/{run_id}/{name}" for name in files]
    return notes
