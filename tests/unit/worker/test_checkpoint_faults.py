"""Damaged checkpoints and temporary files: an unreadable checkpoint is moved aside and the run
starts from step 0 with a note; a load never removes another writer's save in progress."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest
import torch

from genbench.suite.config import load_suite
from genbench.worker import checkpoint
from genbench.worker.train import train
from tests.helpers import StopAfter, canon, suite_dict, write_suite

GAN = {"name": "gan", "z_dim": 8, "hidden": 16, "batch_size": 64}
DEAD_PID = 2**31 - 1  # above any pid_max: no process has it

pytestmark = pytest.mark.usefixtures("one_thread")


def _spec(tmp_path: Path, steps: int = 30):
    return load_suite(write_suite(tmp_path, suite_dict([GAN], steps=steps, ckpt=10)))[1][0]


def _half(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _list_checkpoint(path: Path) -> None:
    torch.save([1, 2, 3], path)  # readable with weights_only, but not a checkpoint


def _old_format(path: Path) -> None:
    state = torch.load(path, weights_only=True)
    torch.save({**state, "format": checkpoint.FORMAT - 1}, path)


DAMAGES = {
    "truncated": (_half, "not a whole checkpoint file"),
    "empty": (lambda p: p.write_bytes(b""), "not a whole checkpoint file (0 bytes"),
    "random bytes": (lambda p: p.write_bytes(os.urandom(4096)), "not a whole checkpoint file (4096 bytes"),
    "a list": (_list_checkpoint, "holds a list, not a checkpoint"),
    "old format": (_old_format, f"this genbench reads {checkpoint.FORMAT}"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_checkpoint_is_moved_aside_and_the_run_starts_again(tmp_path, damage):
    spec = _spec(tmp_path)
    path = tmp_path / checkpoint.FILENAME
    assert train(spec, checkpoint_path=path, stop=StopAfter(15)).status == "interrupted"
    damage_file, reason = DAMAGES[damage]
    damage_file(path)
    damaged = path.read_bytes()
    rerun = train(spec, checkpoint_path=path)
    assert rerun.status == "ok" and rerun.steps == 30 and rerun.resumed_at == []
    assert canon(rerun) == canon(train(spec))  # the numbers of a run that never stopped
    (aside,) = tmp_path.glob(f"{checkpoint.FILENAME}.corrupt-*")
    assert aside.read_bytes() == damaged  # kept as it was, for a look
    assert rerun.restarted.startswith("checkpoint unreadable: ") and reason in rerun.restarted
    assert str(aside) in rerun.restarted and "started again from step 0" in rerun.restarted
    assert rerun.to_json()["restarted"] == rerun.restarted  # stored in result.json
    again = train(spec, checkpoint_path=path)  # the new checkpoint resumes as any other
    assert again.resumed_at == [30] and again.restarted is None and canon(again) == canon(rerun)


def test_a_checkpoint_that_does_not_fit_the_run_is_moved_aside(tmp_path):
    spec = _spec(tmp_path)
    path = tmp_path / checkpoint.FILENAME
    train(spec, checkpoint_path=path, stop=StopAfter(10))
    state = torch.load(path, weights_only=True)
    del state["model"]  # right run and format, no weights
    torch.save(state, path)
    rerun = train(spec, checkpoint_path=path)
    assert rerun.status == "ok" and rerun.resumed_at == [] and canon(rerun) == canon(train(spec))
    assert "its contents do not fit this run (KeyError" in rerun.restarted
    assert len(list(tmp_path.glob(f"{checkpoint.FILENAME}.corrupt-*"))) == 1


def test_load_names_the_unreadable_file_and_leaves_it_in_place(tmp_path):
    path = tmp_path / checkpoint.FILENAME
    path.write_bytes(b"not a zip")
    with pytest.raises(checkpoint.Unreadable, match=rf"^{path}: checkpoint unreadable: "):
        checkpoint.load(path, "abc")
    assert path.read_bytes() == b"not a zip"  # only a training run moves it aside


def _temp(folder: Path, host: str, pid: int, age_s: float) -> Path:
    temp = folder / f".{checkpoint.FILENAME}.{host}.{pid}.abcd1234"
    temp.write_bytes(b"half a save")
    then = temp.stat().st_mtime - age_s
    os.utime(temp, (then, then))
    return temp


def test_only_old_temporary_files_of_gone_writers_are_removed(tmp_path):
    host, old, young = socket.gethostname(), 2 * checkpoint.STALE_TEMP_S, 10.0
    gone_old = _temp(tmp_path, host, DEAD_PID, old)
    mine_old = _temp(tmp_path, host, os.getpid(), old)  # a live writer: a very slow save
    gone_young = _temp(tmp_path, host, DEAD_PID - 1, young)  # a save of moments ago
    elsewhere_old = _temp(tmp_path, "another-host.example", 1, old)
    elsewhere_young = _temp(tmp_path, "another-host.example", 2, young)
    unnamed_old = tmp_path / f".{checkpoint.FILENAME}.xyz"  # an older genbench's name
    unnamed_old.write_bytes(b"")
    os.utime(unnamed_old, (0, 0))
    assert checkpoint.load(tmp_path / checkpoint.FILENAME, "abc") is None
    assert not gone_old.exists() and not elsewhere_old.exists() and not unnamed_old.exists()
    assert mine_old.exists() and gone_young.exists() and elsewhere_young.exists()


def test_a_save_names_its_temporary_file_after_its_writer(tmp_path, monkeypatch):
    seen: list[str] = []
    replace = os.replace

    def note(src, dst):
        seen.append(Path(src).name)
        return replace(src, dst)

    monkeypatch.setattr(os, "replace", note)
    checkpoint.save(tmp_path / checkpoint.FILENAME, {"run_id": "abc"})
    (name,) = seen
    assert name.startswith(f".{checkpoint.FILENAME}.{socket.gethostname()}.{os.getpid()}.")
    assert [p.name for p in tmp_path.iterdir()] == [checkpoint.FILENAME]


def test_saves_and_loads_racing_in_two_threads_lose_nothing(tmp_path):
    """Two writers of one checkpoint, each loading (which cleans up) between its saves: before,
    a load deleted the other's save in progress (FileNotFoundError at its rename)."""
    path = tmp_path / checkpoint.FILENAME
    state = {"run_id": "race", "weights": torch.randn(20_000)}  # big enough to take a while
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def writer() -> None:
        start.wait()
        for _ in range(100):
            try:
                checkpoint.save(path, state)
                assert checkpoint.load(path, "race")["weights"].equal(state["weights"])
            except BaseException as exc:  # noqa: BLE001 - every failure counts
                errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [p.name for p in tmp_path.iterdir()] == [checkpoint.FILENAME]  # no temporary file left
