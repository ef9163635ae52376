"""Fault injection through the real CLI: damaged stored files (spec.json, result.json,
trajectory.jsonl) × each damage × `run`, `leaderboard`, `report`. One small suite is trained once
(--serial, no Ray) and its results folder copied per case. Each case damages the spec of run A, the
result of run B and the trajectory of run C in the same way; run D stays healthy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from genbench.analysis.csvfiles import strip_id_prefixes
from tests.helpers import read_csv_ids, run_cli

SUITE = """\
name: sf
seeds: [0, 1]
budget: {steps: 30}
resources: {cpus: 1, gpus: 0}
eval: {every: 10, samples: 200}
checkpoint: {every: 10}
datasets:
  - {name: ring8, train_size: 500, test_size: 200}
models:
  - {name: gan, lr: 1.0e-3, z_dim: 8, hidden: 16}
  - {name: vae, hidden: 16}
metrics: [mode_coverage]
"""
FILES = {"A": "spec.json", "B": "result.json", "C": "trajectory.jsonl"}  # the damaged run: its file
DAMAGES = ["truncated", "empty", "random bytes", "{}", "[]", "wrong value", "copied", "symlink"]
WRONG = {
    "spec.json": ('"seed": ', '"seed": "zero", "was": '),
    "result.json": ('"status": "ok"', '"status": "okay"'),
}
WRONG["trajectory.jsonl"] = ('"step": 10', '"step": "ten"')


def strict_json(text: str):
    """`text` parsed strictly: bare NaN and Infinity refused (as JavaScript's JSON.parse does)."""

    def refuse(name: str):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (links followed) by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The suite trained once: (work folder, suite folder, run ids by letter A-D)."""
    work = tmp_path_factory.mktemp("faults")
    (work / "sf.yaml").write_text(SUITE)
    done = run_cli("run", "sf.yaml", "--results", "clean", "--serial", cwd=work)
    assert done.returncode == 0, done.stderr[-3000:]
    board = strip_id_prefixes(pd.read_csv(work / "clean" / "sf" / "leaderboard.csv"))
    assert (board["status"] == "ok").all() and len(board) == 4
    return work, work / "clean" / "sf", dict(zip("ABCD", board["run_id"], strict=True))


def test_every_stored_file_is_strict_json(trained):
    _, suite, ids = trained
    strict_json((suite / "suite.json").read_text())
    strict_json((suite / "timing.json").read_text())
    for run_id in ids.values():
        folder = suite / "runs" / run_id
        for name in ("spec.json", "result.json"):
            strict_json((folder / name).read_text())
        for line in (folder / "trajectory.jsonl").read_text().splitlines():
            strict_json(line)


def damaged_copy(trained, how: str, name: str) -> tuple[Path, Path, dict, dict]:
    """A copy of the trained results named `name` with A's spec, B's result and C's trajectory
    damaged by `how`; returns (results root, suite folder, ids, snapshots before)."""
    work, clean, ids = trained
    root = work / name
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(clean.parent, root, symlinks=True)
    suite = root / "sf"
    for letter, file in FILES.items():
        path, healthy = suite / "runs" / ids[letter] / file, suite / "runs" / ids["D"] / file
        data = path.read_bytes()
        if how == "truncated":
            path.write_bytes(data[: len(data) // 2])
        elif how == "empty":
            path.write_bytes(b"")
        elif how == "random bytes":
            path.write_bytes(bytes(range(255, -1, -1)) * 8)
        elif how in ("{}", "[]"):
            path.write_text(how + "\n")
        elif how == "wrong value":
            old, new = WRONG[file]
            assert old in data.decode(), (file, old)
            path.write_text(data.decode().replace(old, new, 1))
        elif how == "copied":
            shutil.copyfile(healthy, path)
        elif how == "symlink":
            path.unlink()
            path.symlink_to(healthy)
    before = {letter: snapshot(suite / "runs" / ids[letter]) for letter in "ABCD"}
    return root, suite, ids, before


def check_named_and_kept(done, suite: Path, ids: dict, before: dict) -> None:
    """Exit 0; each damaged file named on stderr; D's files untouched; in A-C every file either
    unchanged or moved aside whole as <name>.corrupt-<time>."""
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    for letter, file in FILES.items():
        assert f"runs/{ids[letter]}/{file}: damaged" in done.stderr, (letter, done.stderr[-3000:])
    assert snapshot(suite / "runs" / ids["D"]) == before["D"]


def check_left_out(suite: Path, ids: dict, before: dict, text: str) -> None:
    """The damaged files moved aside whole, the rest of A-C untouched, and `text` naming them."""
    for letter, file in FILES.items():
        after = snapshot(suite / "runs" / ids[letter])
        for name, data in before[letter].items():
            moved = [n for n in after if n.startswith(f"{name}.corrupt-")]
            assert after.get(name) == data or (name not in after and [after[m] for m in moved] == [data])
        assert f"runs/{ids[letter]}/{file}.corrupt-" in text


@pytest.mark.parametrize("how", DAMAGES)
def test_leaderboard_leaves_damaged_runs_out_and_says_so(trained, how):
    work = trained[0]
    _, suite, ids, before = damaged_copy(trained, how, "lb")
    done = run_cli("leaderboard", str(suite), cwd=work)
    check_named_and_kept(done, suite, ids, before)
    check_left_out(suite, ids, before, (suite / "leaderboard.md").read_text())
    assert "damaged stored files were moved aside" in done.stdout
    status = strip_id_prefixes(pd.read_csv(suite / "leaderboard.csv")).set_index("run_id")["status"].to_dict()
    assert status == {ids["B"]: "pending", ids["C"]: "pending", ids["D"]: "ok"}  # A: no spec, left out


@pytest.mark.parametrize("how", DAMAGES)
def test_report_leaves_damaged_runs_out_and_says_so(trained, how):
    work = trained[0]
    _, suite, ids, before = damaged_copy(trained, how, "rep")
    done = run_cli("report", str(suite), cwd=work)
    check_named_and_kept(done, suite, ids, before)
    report = (suite / "report.md").read_text()
    check_left_out(suite, ids, before, report)
    assert "Runs: 1 ok, 2 pending." in report


@pytest.mark.parametrize("how", DAMAGES)
def test_run_redoes_the_damaged_runs(trained, how):
    work, clean, _ = trained
    root, suite, ids, before = damaged_copy(trained, how, "redo")
    done = run_cli("run", "sf.yaml", "--results", root.name, "--serial", cwd=work)
    check_named_and_kept(done, suite, ids, before)
    board = read_csv_ids(suite / "leaderboard.csv")
    assert len(board) == 4 and (board["status"] == "ok").all()
    assert "damaged" not in (suite / "leaderboard.md").read_text()  # every run is done again
    for letter in "ABC":
        folder = suite / "runs" / ids[letter]
        redone = strict_json((folder / "result.json").read_text())
        original = json.loads((clean / "runs" / ids[letter] / "result.json").read_text())
        assert redone["run_id"] == ids[letter] and redone["metrics"] == original["metrics"]
        for name in ("spec.json", "result.json", "trajectory.jsonl"):
            assert not (folder / name).is_symlink()
        assert strict_json((folder / "spec.json").read_text())["run_id"] == ids[letter]


def test_a_symlinked_run_folder_is_replaced_never_written_through(trained):
    work, _, ids = trained
    root, suite, _, _ = damaged_copy(trained, "none", "linked")
    outside = work / "outside"
    shutil.rmtree(outside, ignore_errors=True)
    (suite / "runs" / ids["A"]).rename(outside)
    (suite / "runs" / ids["A"]).symlink_to(outside, target_is_directory=True)
    kept = snapshot(outside)
    done = run_cli("run", "sf.yaml", "--results", root.name, "--serial", cwd=work)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"runs/{ids['A']}: damaged: a symbolic link" in done.stderr
    assert not (suite / "runs" / ids["A"]).is_symlink() and snapshot(outside) == kept
    assert strict_json((suite / "runs" / ids["A"] / "result.json").read_text())["status"] == "ok"


def test_a_symlinked_runs_folder_is_refused_with_exit_2(trained):
    work = trained[0]
    root, suite, _, _ = damaged_copy(trained, "none", "runslink")
    outside = work / "runs-outside"
    shutil.rmtree(outside, ignore_errors=True)
    (suite / "runs").rename(outside)
    (suite / "runs").symlink_to(outside, target_is_directory=True)
    kept = snapshot(outside)
    for args in (["run", "sf.yaml", "--results", root.name, "--serial"], ["leaderboard", str(suite)]):
        done = run_cli(*args, cwd=work)
        assert done.returncode == 2 and "runs is a symbolic link" in done.stderr, done.stderr[-3000:]
    assert snapshot(outside) == kept


def test_a_damaged_manifest_is_exit_2_naming_it_and_run_rewrites_it(trained):
    work = trained[0]
    root, suite, _, _ = damaged_copy(trained, "none", "manifest")
    (suite / "suite.json").write_bytes(b'{"source": "sf.yaml", "runs": [')
    for command in ("leaderboard", "report"):
        done = run_cli(command, str(suite), cwd=work)
        assert done.returncode == 2 and "suite.json: damaged: not JSON" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    done = run_cli("run", "sf.yaml", "--results", root.name, "--serial", cwd=work)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(strict_json((suite / "suite.json").read_text())["runs"]) == 4


@pytest.mark.parametrize("how", ["truncated", "random bytes", "symlink"])
def test_damaged_leaderboard_files_are_rebuilt_from_the_store(trained, how):
    """The leaderboard is a view of the store: damaged, it is written anew, equal to the clean one."""
    work, clean, _ = trained
    root, suite, ids, before = damaged_copy(trained, "none", f"board-{how.replace(' ', '-')}")
    outside = work / f"outside-{how.replace(' ', '-')}.csv"
    outside.write_text("not a leaderboard\n")
    for name in ("leaderboard.csv", "leaderboard_summary.csv", "leaderboard.md"):
        path = suite / name
        if how == "truncated":
            path.write_bytes(path.read_bytes()[:40])
        elif how == "random bytes":
            path.write_bytes(bytes(range(255, -1, -1)) * 4)
        else:
            path.unlink()
            path.symlink_to(outside)
    for args in (
        ["leaderboard", str(suite)],
        ["report", str(suite)],
        ["run", "sf.yaml", "--results", root.name, "--serial"],
    ):
        done = run_cli(*args, cwd=work)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (args, done.stderr[-3000:])
        rebuilt = read_csv_ids(suite / "leaderboard.csv")
        expected = read_csv_ids(clean / "leaderboard.csv")
        metrics = ["run_id", "status", "steps", "modes", "kl_modes"]
        pd.testing.assert_frame_equal(rebuilt[metrics], expected[metrics])
        assert not (suite / "leaderboard.csv").is_symlink()
    assert outside.read_text() == "not a leaderboard\n"  # never written through the link
    assert {letter: snapshot(suite / "runs" / ids[letter]) for letter in "ABCD"} == before
