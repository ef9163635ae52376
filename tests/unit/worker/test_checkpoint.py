"""Checkpoints and resume without Ray: bit-exact round trips, stop requests, suite-level resume."""

from __future__ import annotations

import io
import json
import os
import re
import signal
from pathlib import Path

import pandas as pd
import pytest
import torch
from rich.console import Console

from genbench.analysis.csvfiles import strip_id_prefixes
from genbench.driver import runner
from genbench.driver.cli import main
from genbench.driver.suite_run import EXIT_INTERRUPTED, run_suite
from genbench.store import runs as store
from genbench.suite.config import RunSpec, load_suite
from genbench.worker import checkpoint
from genbench.worker.train import train
from tests.helpers import StopAfter, canon, suite_dict, write_suite

GAN = {"name": "gan", "z_dim": 8, "hidden": 16, "batch_size": 64}
VAE = {"name": "vae", "hidden": 16, "batch_size": 64}
WGAN = {"name": "wgan", "z_dim": 8, "hidden": 16}

pytestmark = pytest.mark.usefixtures("one_thread")


def make_specs(tmp_path: Path, *args, **kwargs) -> list[RunSpec]:
    return load_suite(write_suite(tmp_path, suite_dict(*args, **kwargs)))[1]


@pytest.mark.parametrize(
    ("model", "stop_at"),
    [(GAN, 0), (GAN, 37), (GAN, 50), (VAE, 63), (WGAN, 41)],
    ids=["gan-at-0", "gan-mid-interval", "gan-at-checkpoint", "vae", "wgan"],
)
def test_stopped_and_resumed_run_equals_the_uninterrupted_run(tmp_path, model, stop_at):
    (spec,) = make_specs(tmp_path, [model], steps=100)
    plain = train(spec)
    path = tmp_path / "checkpoint.pt"
    part = train(spec, checkpoint_path=path, stop=StopAfter(stop_at))
    assert part.status == "interrupted" and part.steps == stop_at
    assert part.metrics == {} and "resumes from its checkpoint" in part.error
    # a fresh process would do this: a new Trainer, restored from the file alone
    rest = train(spec, checkpoint_path=path)
    assert rest.resumed_at == [stop_at]
    assert canon(rest) == canon(plain)
    assert (rest.samples == plain.samples).all()
    assert rest.train_seconds >= part.train_seconds


def test_an_image_run_keeps_its_sample_grids_across_a_resume(tmp_path):
    suite = {**suite_dict([VAE], steps=20, every=5, ckpt=10), "datasets": [{"name": "digits"}]}
    suite["metrics"] = ["elbo"]
    (spec,) = load_suite(write_suite(tmp_path, suite))[1]
    plain = train(spec)
    path = tmp_path / "checkpoint.pt"
    assert train(spec, checkpoint_path=path, stop=StopAfter(12)).status == "interrupted"
    rest = train(spec, checkpoint_path=path)
    assert rest.resumed_at == [12] and canon(rest) == canon(plain)
    grids = rest.pictures["grids"]
    assert sorted(grids) == sorted(plain.pictures["grids"]) == [0, 5, 10, 15, 20]
    assert all((grids[k] == plain.pictures["grids"][k]).all() for k in grids)


def test_checkpointing_does_not_change_numbers_and_saves_at_the_end(tmp_path):
    (spec,) = make_specs(tmp_path, [GAN], steps=60, ckpt=25)
    path = tmp_path / "checkpoint.pt"
    saved = train(spec, checkpoint_path=path)
    assert canon(saved) == canon(train(spec))
    assert saved.checkpoints["written"] == 3  # steps 25, 50 and the end (60)
    assert saved.checkpoints["bytes"] == path.stat().st_size
    # resuming a finished run repeats only the final evaluation, with the same numbers
    again = train(spec, checkpoint_path=path)
    assert again.resumed_at == [60] and canon(again) == canon(saved)


def test_checkpoint_is_plain_data_with_every_state(tmp_path):
    (spec,) = make_specs(tmp_path, [GAN], steps=30, ckpt=30)
    path = tmp_path / "checkpoint.pt"
    train(spec, checkpoint_path=path)
    state = torch.load(path, weights_only=True)  # no pickled classes
    assert state["format"] == checkpoint.FORMAT and state["run_id"] == spec.run_id
    assert state["step"] == 30 and state["train_seconds"] > 0
    assert set(state["optimizers"]) == {"opt_d", "opt_g"}
    assert set(state["rng"]) == {"torch", "cuda", "numpy", "python"}
    assert isinstance(state["data_rng"], torch.Tensor)
    assert [row["step"] for row in state["trajectory"]] == [0]  # the final evaluation comes after


def test_foreign_or_torn_checkpoints_are_not_resumed(tmp_path):
    spec_a, spec_b = make_specs(tmp_path, [GAN], steps=20, seeds=(0, 1))
    path = tmp_path / "checkpoint.pt"
    train(spec_a, checkpoint_path=path, stop=StopAfter(10))
    stale = tmp_path / ".checkpoint.pt.abc123"  # what a writer killed mid-write leaves
    stale.write_bytes(b"torn")
    hours_ago = stale.stat().st_mtime - 2 * checkpoint.STALE_TEMP_S  # older than a save can take
    os.utime(stale, (hours_ago, hours_ago))
    other = train(spec_b, checkpoint_path=path)  # another run's checkpoint: start afresh
    assert other.resumed_at == [] and canon(other) == canon(train(spec_b))
    assert other.restarted.startswith(f"checkpoint unreadable: belongs to run {spec_a.run_id!r}")
    assert not stale.exists()


def test_run_serial_stops_between_runs_and_records_interrupted(tmp_path):
    specs = make_specs(tmp_path, [GAN], steps=40, seeds=(0, 1))
    stop, results = StopAfter(15), {}
    runner.run_serial(
        specs,
        lambda spec: None,
        lambda spec, result: results.update({spec.run_id: result}),
        lambda spec: str(tmp_path / f"{spec.run_id}.pt"),
        stop,
    )
    assert list(results) == [specs[0].run_id]  # the second run never starts
    assert results[specs[0].run_id].status == "interrupted"
    assert results[specs[0].run_id].restarts == 0


def states(out: str) -> list[str]:
    """The state of each run in `genbench run`'s output (one line per run off a terminal)."""
    return re.findall(r"^\[\d+/\d+\] (\w+) ", out, flags=re.M)


def board(suite_path: Path) -> pd.DataFrame:
    return strip_id_prefixes(pd.read_csv(suite_path / "leaderboard.csv")).set_index("run_id")


def test_suite_sigint_then_rerun_resumes_skips_and_starts(tmp_path, monkeypatch):
    """Serial mode: a SIGINT during the second run stops it; the re-run finishes the suite."""
    suite_file = write_suite(tmp_path, suite_dict([GAN], steps=300, seeds=(0, 1, 2), ckpt=50))
    first, second, third = load_suite(suite_file)[1]
    console = Console(file=io.StringIO())
    sent: list[int] = []
    running: list[RunSpec] = []
    run, set_progress = runner.RunWorker.run, runner.RunWorker._set_progress

    def note_run(self, spec: RunSpec, *args) -> dict:
        running.append(spec)
        return run(self, spec, *args)

    def interrupt_second(self, info: dict) -> None:  # SIGINT to this process, once, mid-run
        set_progress(self, info)
        if running[-1] == second and info.get("step", 0) > 60 and not sent:
            sent.append(info["step"])
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(runner.RunWorker, "run", note_run)
    monkeypatch.setattr(runner.RunWorker, "_set_progress", interrupt_second)
    monkeypatch.setattr("genbench.worker.train.REPORT_EVERY_S", 0.0)
    code = run_suite(suite_file, tmp_path / "results", console, serial=True)
    monkeypatch.undo()
    assert code == EXIT_INTERRUPTED and sent
    suite_path = tmp_path / "results" / "resume"
    partial = board(suite_path)
    assert partial["status"].to_dict() == {
        first.run_id: "ok",
        second.run_id: "interrupted",
        third.run_id: "pending",
    }
    assert (store.run_dir(suite_path, second.run_id) / checkpoint.FILENAME).exists()
    before = (store.run_dir(suite_path, first.run_id) / "result.json").read_bytes()

    assert run_suite(suite_file, tmp_path / "results", console, serial=True) == 0
    final = board(suite_path)
    assert len(final) == 3 and (final["status"] == "ok").all()
    assert (store.run_dir(suite_path, first.run_id) / "result.json").read_bytes() == before  # skipped
    resumed = store.read_json(store.run_dir(suite_path, second.run_id) / "result.json")
    assert resumed["resumed_at"] and resumed["resumed_at"][0] >= 50
    started = store.read_json(store.run_dir(suite_path, third.run_id) / "result.json")
    assert started["resumed_at"] == []
    plain = train(second)
    assert json.dumps(resumed["metrics"], sort_keys=True) == store.jsonio.dumps(plain.metrics, sort_keys=True)


def test_fresh_moves_old_results_aside_and_changed_suite_keeps_old_runs(tmp_path, capsys):
    results = tmp_path / "results"
    old_file = write_suite(tmp_path, suite_dict([GAN], steps=20, seeds=(0,), every=None), "old.yaml")
    new_file = write_suite(tmp_path, suite_dict([GAN], steps=20, seeds=(0, 1), every=None), "new.yaml")
    assert main(["run", str(old_file), "--results", str(results), "--serial"]) == 0
    assert main(["run", str(new_file), "--results", str(results), "--serial"]) == 0
    assert states(capsys.readouterr().out) == ["ok", "skipped", "ok"]  # seed 0: the same run in both
    suite_path = results / "resume"
    assert len(board(suite_path)) == 2

    old_run = load_suite(write_suite(tmp_path, suite_dict([VAE], steps=20, every=None), "vae.yaml"))[1][0]
    assert main(["run", str(tmp_path / "vae.yaml"), "--results", str(results), "--serial"]) == 0
    assert list(board(suite_path).index) == [old_run.run_id]  # only the current file's runs
    capsys.readouterr()
    assert main(["leaderboard", str(suite_path), "--all"]) == 0
    shown = capsys.readouterr().out
    assert old_run.run_id in shown and all(r in shown for r in board(suite_path).index)
    assert list(board(suite_path).index) == [old_run.run_id]  # --all leaves the files alone

    assert main(["run", str(new_file), "--results", str(results), "--serial", "--fresh"]) == 0
    (moved,) = results.glob("resume.old-*")
    kept = {p.name for p in (moved / "runs").iterdir()}
    assert kept == {p.name for p in (suite_path / "runs").iterdir()} | {old_run.run_id}
    assert states(capsys.readouterr().out) == ["ok", "ok"]  # started over
    assert (board(suite_path)["status"] == "ok").all() and len(board(suite_path)) == 2
