"""Reading the store defensively (genbench.store.reading): every damage of a run folder's files is
caught, moved aside with a one-line warning naming it, and the run counts as not done; the other
runs' files are untouched. Real files, real damaged bytes, real symbolic links."""

from __future__ import annotations

import json
import math
import os
import threading
from pathlib import Path

import pytest

from genbench.store import reading
from genbench.store import runs as store
from genbench.store.result import RunResult, Status
from tests.helpers import leaderboard_protocol, leaderboard_specs

KINDS = {"spec": "spec.json", "result": "result.json", "trajectory": "trajectory.jsonl"}
WRONG_VALUE = {  # a file of the right shape with one wrong value
    "spec": lambda d: {**d, "seed": "zero"},
    "result": lambda d: {**d, "status": "okay"},
}


def strict_json(text: str):
    """`text` parsed by a strict reader: bare NaN and Infinity refused, as JavaScript's JSON.parse does."""

    def refuse(name: str):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def result_of(spec, kl: float = math.nan) -> RunResult:
    """An ok result with a trajectory, a NaN metric (a collapsed GAN's kl_modes) and a NaN loss."""
    trajectory = [
        {"step": 0, "modes": 1, "kl_modes": kl, "mode_counts": [1, 0], "train_seconds": 0.0},
        {"step": 10, "modes": 2, "kl_modes": kl, "mode_counts": [1, 1], "train_seconds": spec.seed + 0.5},
    ]
    metrics = {"modes": 2, "kl_modes": kl}
    protocol = leaderboard_protocol(spec)
    return RunResult(
        Status.OK,
        steps=10,
        metrics=metrics,
        last_losses={"loss_g": math.inf},
        protocol=protocol,
        trajectory=trajectory,
    )


@pytest.fixture
def suite(tmp_path):
    """A stored suite of three finished runs; returns its folder and specs."""
    specs = leaderboard_specs(tmp_path)[:3]
    suite_path = store.suite_dir(tmp_path / "results", "lb")
    store.write_manifest(suite_path, specs, "lb.yaml", {"modes": "max", "kl_modes": "min"})
    for spec in specs:
        store.write_run(suite_path, spec, result_of(spec))
    return suite_path, specs


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def damage(suite_path: Path, specs, kind: str, how: str) -> Path:
    """Damage the `kind` file of the first run in the way `how`; return its path."""
    path = store.run_dir(suite_path, specs[0].run_id) / KINDS[kind]
    other = store.run_dir(suite_path, specs[1].run_id) / KINDS[kind]
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "random bytes":
        path.write_bytes(bytes(range(256)) * 4)
    elif how in ("{}", "[]"):
        path.write_text(how + "\n")
    elif how == "wrong value":
        if kind == "trajectory":
            path.write_text(data.decode().replace('"step": 10', '"step": "ten"'))
        else:
            path.write_text(json.dumps(WRONG_VALUE[kind](json.loads(data))))
    elif how == "copied":
        path.write_bytes(other.read_bytes())
    elif how == "symlink":
        path.unlink()
        path.symlink_to(other)
    return path


DAMAGES = ["truncated", "empty", "random bytes", "{}", "[]", "wrong value", "copied", "symlink"]


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_file_is_moved_aside_and_the_run_counts_as_not_done(suite, kind, how, capsys):
    suite_path, specs = suite
    path = damage(suite_path, specs, kind, how)
    others = {s.run_id: snapshot(store.run_dir(suite_path, s.run_id)) for s in specs[1:]}
    link_target = path.resolve().read_bytes() if how == "symlink" else None

    assert store.finished_result(suite_path, specs[0].run_id) is None
    warning = capsys.readouterr().err
    assert str(path) in warning and "warning:" in warning and reading.CORRUPT in warning
    assert not path.exists() and not path.is_symlink()
    moved = list(path.parent.glob(f"{path.name}{reading.CORRUPT}*"))
    assert len(moved) == 1
    if how == "symlink":  # the link itself was moved, its target neither followed nor touched
        assert moved[0].is_symlink() and moved[0].resolve().read_bytes() == link_target
    for spec in specs[1:]:
        assert snapshot(store.run_dir(suite_path, spec.run_id)) == others[spec.run_id]
        assert store.finished_result(suite_path, spec.run_id) is not None
    runs = {r["spec"]["run_id"]: r["result"] for r in store.load_runs(suite_path)}
    assert runs.get(specs[0].run_id) is None  # left out (spec) or pending (result, trajectory)
    assert any(specs[0].run_id in note for note in store.not_done_notes(suite_path))


def test_every_stored_file_is_strict_json_and_reads_back_nan(suite):
    suite_path, specs = suite
    (suite_path / "timing.json").unlink(missing_ok=True)
    store.write_json(suite_path / "timing.json", {"dispatch_s": math.nan, "runs": 3})
    strict_json((suite_path / "suite.json").read_text())
    strict_json((suite_path / "timing.json").read_text())
    for spec in specs:
        folder = store.run_dir(suite_path, spec.run_id)
        strict_json((folder / "spec.json").read_text())
        stored = strict_json((folder / "result.json").read_text())
        assert stored["metrics"]["kl_modes"] is None and stored["last_losses"]["loss_g"] is None
        assert stored["run_id"] == spec.run_id
        for line in (folder / "trajectory.jsonl").read_text().splitlines():
            assert strict_json(line)["kl_modes"] is None
        read = store.read_run(suite_path, spec.run_id)
        assert math.isnan(read.result.metrics["kl_modes"]) and read.result.metrics["modes"] == 2
        assert math.isnan(read.trajectory[1]["kl_modes"]) and read.trajectory[1]["mode_counts"] == [1, 1]


def test_a_half_written_trajectory_line_counts_as_damaged(suite, capsys):
    suite_path, specs = suite
    path = store.run_dir(suite_path, specs[0].run_id) / "trajectory.jsonl"
    path.write_bytes(path.read_bytes().rstrip(b"\n"))  # the last line's end is missing
    os.remove(store.run_dir(suite_path, specs[0].run_id) / "result.json")  # no recorded sha256
    assert store.read_run(suite_path, specs[0].run_id).trajectory == []
    assert "cut short" in capsys.readouterr().err


def test_an_older_result_without_run_id_is_checked_by_its_seed(suite, capsys):
    suite_path, specs = suite
    own, other = (store.run_dir(suite_path, s.run_id) / "result.json" for s in specs[:2])
    old = json.loads(own.read_text())
    del old["run_id"], old["trajectory_sha256"]
    old["metrics"]["kl_modes"] = math.nan  # older versions stored a bare NaN
    own.write_text(json.dumps(old))
    assert math.isnan(store.finished_result(suite_path, specs[0].run_id).metrics["kl_modes"])
    copied = {k: v for k, v in json.loads(other.read_text()).items() if k != "run_id"}
    copied["protocol"]["seed"] = 7
    own.write_text(json.dumps(copied))
    assert store.finished_result(suite_path, specs[0].run_id) is None
    assert "seed 7 is not the spec's 0" in capsys.readouterr().err


def test_a_symlinked_run_folder_is_moved_aside_never_written_through(suite, tmp_path, capsys):
    suite_path, specs = suite
    folder = store.run_dir(suite_path, specs[0].run_id)
    outside = tmp_path / "outside"
    folder.rename(outside)
    folder.symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    with pytest.raises(store.StoreError, match="symbolic link"):
        store.write_run(suite_path, specs[0], result_of(specs[0]))
    assert store.read_run(suite_path, specs[0].run_id).result is None
    assert "not followed" in capsys.readouterr().err and not folder.exists()
    assert snapshot(outside) == before
    store.write_run(suite_path, specs[0], result_of(specs[0]))  # a new, real folder
    assert not folder.is_symlink() and store.finished_result(suite_path, specs[0].run_id)


def test_a_symlinked_runs_folder_is_refused(suite, tmp_path):
    suite_path, specs = suite
    (suite_path / "runs").rename(tmp_path / "elsewhere")
    (suite_path / "runs").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(store.StoreError, match="runs is a symbolic link"):
        store.load_runs(suite_path)
    with pytest.raises(store.StoreError, match="symbolic link"):
        store.finished_result(suite_path, specs[0].run_id)


@pytest.mark.parametrize("text", ["", "{", "[]", '{"runs": ["../x"]}'])
def test_a_damaged_manifest_is_a_store_error_naming_it(suite, text):
    suite_path, _ = suite
    (suite_path / "suite.json").write_text(text)
    with pytest.raises(store.StoreError, match="suite.json: damaged"):
        store.load_runs(suite_path)


def test_a_reader_racing_a_writer_moves_nothing_aside(suite):
    """A driver rewrites a run (trajectory, then result) while a reader reads it."""
    suite_path, specs = suite
    done = threading.Event()

    def write() -> None:
        for i in range(20):
            store.write_run(suite_path, specs[0], result_of(specs[0], kl=float(i)))
            done.wait(0.02)
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    while not done.is_set():
        assert store.read_run(suite_path, specs[0].run_id).moved == []
    writer.join()
    assert not list(store.run_dir(suite_path, specs[0].run_id).glob(f"*{reading.CORRUPT}*"))


def test_a_result_whose_trajectory_is_missing_counts_as_not_done(suite, capsys):
    suite_path, specs = suite
    os.remove(store.run_dir(suite_path, specs[0].run_id) / "trajectory.jsonl")
    assert store.finished_result(suite_path, specs[0].run_id) is None
    assert "trajectory.jsonl it records is missing" in capsys.readouterr().err
