"""A disk that fills in the middle of a suite, on a real small file system (a tmpfs mounted for the
test): the suite stops with one message naming the folder and the free space, exit code 1, no
traceback; the files stored before are byte-identical and the run in progress keeps its last good
checkpoint; once there is room again the same `genbench run` goes on from there."""

from __future__ import annotations

import json
import subprocess

import pytest
import torch

from genbench.worker import checkpoint
from tests.helpers import RING, run_cli, suite_dict, write_suite

GAN = {"name": "gan", "z_dim": 8, "hidden": 16, "batch_size": 64}
SLOW_GAN = {**GAN, "d_steps": 30}  # still training when the disk fills
STEPS = 1000
SIZE_MIB = 80  # preflight asks for 64 MiB and 2 MiB a run


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of SIZE_MIB mounted on tmp_path/disk (root only); unmounted at teardown."""
    disk = tmp_path / "disk"
    disk.mkdir()
    options = ["-t", "tmpfs", "-o", f"size={SIZE_MIB}m"]
    mount = subprocess.run(["mount", *options, "tmpfs", str(disk)], capture_output=True, text=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mount.stderr.strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


def fill(disk) -> None:
    """Fill the file system of `disk` to the last byte with a file `filler`."""
    with open(disk / "filler", "wb", buffering=0) as f:
        for chunk in (2**20, 2**12, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError:
                continue


def stored(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_disk_filling_mid_suite_stops_it_cleanly_and_the_rerun_goes_on(tmp_path, small_disk, start_driver):
    suite = {**suite_dict([GAN, SLOW_GAN], steps=STEPS, ckpt=10), "name": "full", "datasets": [RING]}
    suite["metrics"] = ["mode_coverage"]
    write_suite(tmp_path, suite)
    suite_path = small_disk / "results" / "full"
    driver = start_driver("suite.yaml", "--results", str(small_disk / "results"), "--serial")
    driver.wait_for(lambda: len(list(suite_path.glob("runs/*/result.json"))) == 1, "the first run was stored")
    (quick,) = [p.parent for p in suite_path.glob("runs/*/result.json")]
    (slow,) = [p for p in suite_path.glob("runs/*") if p != quick]
    driver.wait_for(lambda: (slow / checkpoint.FILENAME).exists(), "the second run checkpointed")
    kept = stored(quick)
    fill(small_disk)
    code, out, err = driver.finish()

    assert code == 1, out[-3000:] + err[-3000:]
    assert "Traceback" not in out + err
    assert err.count("error: ") == 1 and "No space left on device (ENOSPC)" in err
    assert str(slow) in err and "MiB free there" in err
    assert "run the same `genbench run`" in err
    assert stored(quick) == kept  # the finished run's files are untouched
    state = torch.load(slow / checkpoint.FILENAME, weights_only=True)  # the last good one, whole
    assert 10 <= state["step"] < STEPS
    assert not list(slow.glob(f".{checkpoint.FILENAME}.*"))  # no half-written temporary left
    assert not (slow / "result.json").exists()  # nothing could be recorded for it

    (small_disk / "filler").unlink()
    again = run_cli("run", "suite.yaml", "--results", str(small_disk / "results"), "--serial", cwd=tmp_path)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert stored(quick) == kept  # skipped, not redone
    result = json.loads((slow / "result.json").read_text())
    assert result["status"] == "ok" and result["steps"] == STEPS
    assert result["resumed_at"] == [state["step"]]
