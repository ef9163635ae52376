"""The results folder's lock in one process (flock conflicts between two open files of one process
as between two processes); the CLI's cases are in tests/e2e/driver/test_lock.py."""

from __future__ import annotations

import json
import os
import socket

import pytest

from genbench.driver.lock import LOCK_NAME, RunLock, SuiteLocked


def test_a_held_lock_refuses_a_second_naming_its_holder_and_is_released(tmp_path):
    folder = tmp_path / "results" / "s"
    first = RunLock(folder)
    assert first.note is None
    record = json.loads((folder / LOCK_NAME).read_text())
    assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
    with pytest.raises(SuiteLocked, match=f"pid {os.getpid()} on host {socket.gethostname()} since "):
        RunLock(folder)
    assert (folder / LOCK_NAME).read_text().startswith("{")  # the refused one truncated nothing
    first.release()
    assert not (folder / LOCK_NAME).exists()
    RunLock(folder).release()  # free again


def test_a_stale_lock_file_is_taken_over_with_a_note(tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    stale = {"pid": 999_999_999, "host": "elsewhere", "started": "2020-01-01 00:00:00 UTC"}
    (folder / LOCK_NAME).write_text(json.dumps(stale))  # left by a killed driver: nobody locks it
    lock = RunLock(folder)
    assert lock.note.startswith(f"took over the lock {folder / LOCK_NAME} of pid 999999999 on host elsewhere")
    assert json.loads((folder / LOCK_NAME).read_text())["pid"] == os.getpid()
    lock.release()


def test_folders_made_for_the_lock_go_when_it_is_released_empty(tmp_path):
    lock = RunLock(tmp_path / "results" / "s")
    lock.release()
    assert list(tmp_path.iterdir()) == []  # a preflight that fails leaves no folder


def test_a_folder_moved_aside_hands_the_lock_to_a_new_folder(tmp_path):
    folder = tmp_path / "s"
    lock = RunLock(folder)
    (folder / "kept.txt").write_text("old")
    moved = tmp_path / "s.old"
    folder.rename(moved)
    lock = lock.moved(moved)
    assert not (moved / LOCK_NAME).exists() and (moved / "kept.txt").exists()
    with pytest.raises(SuiteLocked):
        RunLock(folder)
    lock.release()
