"""The results store: atomic writes, finished runs, manifest and run round trip."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from genbench.store import runs as store
from genbench.store.result import RunResult, Status
from genbench.suite.config import SPEC_VERSION, RunSpec, load_suite


def make_specs(tmp_path: Path, seeds: list[int], name: str = "s") -> list[RunSpec]:
    suite = {
        "name": name,
        "seeds": seeds,
        "budget": {"steps": 10},
        "eval": {"every": 5, "samples": 100},
        "datasets": [{"name": "ring8"}],
        "models": [{"name": "gan", "lr": [1.0e-3, 1.0e-4]}],
        "metrics": ["mode_coverage"],
    }
    path = tmp_path / f"{name}_{'_'.join(map(str, seeds))}.yaml"
    path.write_text(yaml.safe_dump(suite))
    return load_suite(path)[1]


def make_result(status: str = "ok", modes: int = 8) -> RunResult:
    """A result shaped like genbench.worker.train.train's, with its unstorable parts."""
    trajectory = [{"step": 0, "modes": 1}, {"step": 10, "modes": modes}]
    return RunResult(
        Status(status),
        steps=10,
        train_seconds=0.1,
        wall_seconds=0.2,
        metrics={"modes": modes} if status == "ok" else {},
        last_losses={"loss_d": 1.0},
        protocol={"samples": 100},
        error=None if status == "ok" else f"{status} run",
        trajectory=trajectory if status == "ok" else [],
        samples=np.zeros((3, 2)),
        pictures={"grids": {0: np.zeros((8, 8))}},
    )


def listing(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


def test_write_atomic_creates_dirs_and_replaces_whole_content(tmp_path):
    target = tmp_path / "a" / "b" / "file.txt"
    store.write_atomic(target, b"a long first content\n" * 10)
    assert target.read_bytes() == b"a long first content\n" * 10
    store.write_atomic(target, b"short")
    assert target.read_bytes() == b"short"  # no tail of the longer old content
    assert listing(target.parent) == ["file.txt"]  # no temporary file left behind


def test_failed_rename_keeps_old_content_and_leaves_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "result.json"
    store.write_json(target, {"status": "ok"})

    def broken_replace(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        store.write_json(target, {"status": "failed", "padding": "x" * 1000})
    monkeypatch.undo()
    assert store.read_json(target) == {"status": "ok"}
    assert listing(tmp_path) == ["result.json"]


def test_unserialisable_object_keeps_old_content(tmp_path):
    target = tmp_path / "result.json"
    store.write_json(target, {"status": "ok"})
    with pytest.raises(TypeError):
        store.write_json(target, {"status": "failed", "bad": object()})
    assert store.read_json(target) == {"status": "ok"}
    assert listing(tmp_path) == ["result.json"]


def test_write_json_is_sorted_indented_and_newline_terminated(tmp_path):
    target = tmp_path / "x.json"
    store.write_json(target, {"b": 1, "a": [1, 2]})
    text = target.read_text()
    assert text.endswith("}\n") and text.index('"a"') < text.index('"b"') and "\n  " in text
    assert json.loads(text) == {"a": [1, 2], "b": 1}


def test_finished_result_only_for_ok_and_diverged(tmp_path):
    suite_path = store.suite_dir(tmp_path, "s")
    specs = make_specs(tmp_path, [0, 1])
    ok, diverged, failed, missing = specs
    store.write_run(suite_path, ok, make_result("ok"))
    store.write_run(suite_path, diverged, make_result("diverged"))
    store.write_run(suite_path, failed, make_result("failed"))
    assert store.finished_result(suite_path, missing.run_id) is None
    assert store.finished_result(suite_path, failed.run_id) is None
    got_ok = store.finished_result(suite_path, ok.run_id)
    assert got_ok.status == Status.OK == "ok" and got_ok.metrics == {"modes": 8}
    assert got_ok.steps == 10 and got_ok.trajectory == [] and got_ok.samples is None  # not stored
    assert store.finished_result(suite_path, diverged.run_id).status == Status.DIVERGED
    store.write_run(suite_path, missing, make_result("interrupted"))
    assert store.finished_result(suite_path, missing.run_id) is None  # interrupted runs go on
    assert store.read_result(suite_path, missing.run_id).status == Status.INTERRUPTED


def test_a_result_of_an_older_spec_format_is_not_reused(tmp_path):
    suite_path = store.suite_dir(tmp_path, "s")
    (ok, *_) = make_specs(tmp_path, [0])
    path = store.write_run(suite_path, ok, make_result("ok")) / "result.json"
    assert store.finished_result(suite_path, ok.run_id).spec_version == SPEC_VERSION
    old = {k: v for k, v in store.read_json(path).items() if k != "spec_version"}  # as format 1 wrote it
    store.write_json(path, old)
    assert store.finished_result(suite_path, ok.run_id) is None


def test_write_run_stores_trajectory_and_summary_without_arrays(tmp_path):
    suite_path = store.suite_dir(tmp_path, "s")
    spec = make_specs(tmp_path, [0])[0]
    path = store.write_run(suite_path, spec, make_result("ok", modes=6))
    assert path == suite_path / "runs" / spec.run_id
    rows = [json.loads(line) for line in (path / "trajectory.jsonl").read_text().splitlines()]
    assert rows == [{"step": 0, "modes": 1}, {"step": 10, "modes": 6}]
    result = store.read_json(path / "result.json")
    assert not {"trajectory", "samples", "pictures"} & set(result)
    assert result["status"] == "ok"  # the JSON keeps the plain string
    assert result["run_id"] == spec.run_id and result["metrics"] == {"modes": 6}
    assert result["last_losses"] == {"loss_d": 1.0} and result["protocol"] == {"samples": 100}


def test_manifest_and_runs_round_trip(tmp_path):
    suite_path = store.suite_dir(tmp_path, "s")
    old = make_specs(tmp_path, [5])  # an earlier version of the suite file
    store.write_manifest(suite_path, old, "old.yaml", {"modes": "max"})
    store.write_run(suite_path, old[0], make_result("ok"))

    current = make_specs(tmp_path, [0, 1])
    metrics = {"modes": "max", "kl_modes": "min", "hq_frac": "max"}
    store.write_manifest(suite_path, current, "s.yaml", metrics)
    store.write_run(suite_path, current[0], make_result("ok", modes=7))
    store.write_run(suite_path, current[2], make_result("failed"))

    manifest = store.read_manifest(suite_path)
    assert manifest["source"] == "s.yaml"
    assert manifest["runs"] == [s.run_id for s in current]
    assert list(manifest["metrics"].items()) == list(metrics.items())  # order: the first is primary

    runs = store.load_runs(suite_path)
    assert [r["spec"]["run_id"] for r in runs] == [s.run_id for s in current]  # not the old run
    assert (suite_path / "runs" / old[0].run_id / "result.json").exists()  # kept, just not listed
    for run, spec in zip(runs, current, strict=True):
        info = {"kind": "toy2d", "n_modes": 8, "collapse": {"output": "modes", "below": 4.0}}  # ring8's entry
        stored = {"run_id": spec.run_id, "spec_version": SPEC_VERSION, "dataset_info": info}
        assert run["spec"] == {**stored, **spec.model_dump(mode="json")}
        assert store.spec_of(run["spec"]).run_id == spec.run_id
    assert runs[0]["result"].metrics == {"modes": 7}
    assert runs[1]["result"] is None and runs[3]["result"] is None
    assert runs[2]["result"].status == Status.FAILED


def test_write_manifest_keeps_existing_spec_files(tmp_path):
    suite_path = store.suite_dir(tmp_path, "s")
    specs = make_specs(tmp_path, [0])
    store.write_manifest(suite_path, specs, "s.yaml", {"modes": "max"})
    spec_path = suite_path / "runs" / specs[0].run_id / "spec.json"
    before = spec_path.stat().st_mtime_ns
    original = spec_path.read_text()
    store.write_manifest(suite_path, specs, "s.yaml", {"modes": "max"})
    assert spec_path.read_text() == original and spec_path.stat().st_mtime_ns == before
    assert sorted(p.name for p in suite_path.iterdir()) == ["runs", "suite.json"]


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        store.write_atomic(tmp_path / "leaderboard.md", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "leaderboard.md").stat().st_mode & 0o777 == 0o644
