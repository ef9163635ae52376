"""One `genbench run` per results folder: a second driver on the folder is refused (exit 2, naming
the holder), two started together leave one running, a killed driver's lock is taken over with a
note, and `leaderboard` reads while a run holds the lock. Runs go --serial: the lock is the same."""

from __future__ import annotations

import json
import signal
import socket

from genbench.driver.lock import LOCK_NAME
from tests.helpers import RING, run_cli, suite_dict, write_suite

GAN = {"name": "gan", "z_dim": 8, "hidden": 16, "batch_size": 64}


def suites(tmp_path) -> tuple[str, str]:
    """Two suite files with one results folder (`results/lockd`): a long run and a short one."""
    long = {**suite_dict([GAN], steps=200_000, ckpt=1000), "name": "lockd", "datasets": [RING]}
    short = {**suite_dict([GAN], steps=30, ckpt=10), "name": "lockd", "datasets": [RING]}
    write_suite(tmp_path, long, "long.yaml")
    write_suite(tmp_path, short, "short.yaml")
    return "long.yaml", "short.yaml"


def holder(lock_path) -> dict | None:
    """The holder recorded in a lock file, None while it is missing or being written."""
    try:
        return json.loads(lock_path.read_text())
    except (OSError, ValueError):
        return None


def listing(folder) -> dict[str, bytes | None]:
    """Every file under `folder` with its bytes (None: the lock, and the checkpoint that the
    running driver rewrites)."""
    files = (p for p in sorted(folder.rglob("*")) if p.is_file())
    moving = (LOCK_NAME, "checkpoint.pt")
    return {str(p.relative_to(folder)): None if p.name in moving else p.read_bytes() for p in files}


def test_a_second_driver_is_refused_naming_the_holder_and_leaderboard_reads(tmp_path, start_driver):
    long, short = suites(tmp_path)
    folder = tmp_path / "results" / "lockd"
    first = start_driver(long, "--results", "results", "--serial")
    first.wait_for(lambda: (holder(folder / LOCK_NAME) or {}).get("pid") == first.pid, "took the lock")
    first.wait_for(lambda: any(folder.glob("runs/*/checkpoint.pt")), "was training")
    before = listing(folder)

    second = run_cli("run", short, "--results", "results", "--serial", cwd=tmp_path)
    assert second.returncode == 2, second.stdout + second.stderr
    assert f"pid {first.pid} on host {socket.gethostname()} since " in second.stderr
    assert "in use by another `genbench run`" in second.stderr and "Traceback" not in second.stderr
    assert listing(folder) == before  # the refused driver wrote nothing

    board = run_cli("leaderboard", "results/lockd", cwd=tmp_path)  # reads without the lock
    assert board.returncode == 0 and "pending" in board.stdout, board.stderr
    assert first.proc.poll() is None  # the holder runs on, untouched

    first.proc.send_signal(signal.SIGTERM)
    code, out, err = first.finish()
    assert code == 143, out[-2000:] + err[-2000:]
    assert not (folder / LOCK_NAME).exists()  # released on the way out


def test_two_drivers_started_together_one_runs_the_other_is_refused(tmp_path, start_driver):
    _, short = suites(tmp_path)
    drivers = [start_driver(short, "--results", "results", "--serial") for _ in range(2)]
    ends = [d.finish() for d in drivers]
    assert sorted(code for code, _, _ in ends) == [0, 2], ends
    (winner,) = [d for d, (code, _, _) in zip(drivers, ends, strict=True) if code == 0]
    (refused,) = [err for code, _, err in ends if code == 2]
    assert f"pid {winner.pid} on host" in refused and "Traceback" not in refused
    result = json.loads(next((tmp_path / "results" / "lockd" / "runs").glob("*/result.json")).read_text())
    assert result["status"] == "ok" and result["steps"] == 30


def test_a_killed_drivers_lock_is_taken_over_with_a_note(tmp_path, start_driver):
    long, short = suites(tmp_path)
    folder = tmp_path / "results" / "lockd"
    first = start_driver(long, "--results", "results", "--serial")
    first.wait_for(lambda: (holder(folder / LOCK_NAME) or {}).get("pid") == first.pid, "took the lock")
    first.proc.send_signal(signal.SIGKILL)  # no chance to release: the lock file stays behind
    first.finish()
    assert holder(folder / LOCK_NAME)["pid"] == first.pid

    done = run_cli("run", short, "--results", "results", "--serial", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"note: took over the lock results/lockd/{LOCK_NAME} of pid {first.pid} on host" in done.stdout
    assert not (folder / LOCK_NAME).exists()
