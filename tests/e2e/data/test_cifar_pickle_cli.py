"""Through the real CLI: CIFAR-10 files that are not the official ones (a hostile pickle) stop
`genbench run` in preflight (exit 2, the file named) without being unpickled; `verify_md5` is
refused at validation with what to write instead."""

from __future__ import annotations

import pickle
from pathlib import Path

from tests.helpers import run_cli

SUITE = """\
name: cifar
seeds: [0]
budget: {steps: 2}
resources: {cpus: 1, gpus: 0}
datasets:
  - {name: cifar10, data_dir: data}
models:
  - {name: gan, arch: dcgan, width: 0.125, z_dim: 8, batch_size: 4}
metrics: [parzen]
"""
FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]


class Hostile:
    """Unpickling this creates `marker`: what a hostile data file could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_run_refuses_a_hostile_pickle_without_unpickling_it(tmp_path):
    folder, marker = tmp_path / "data" / "cifar-10-batches-py", tmp_path / "unpickled-marker"
    folder.mkdir(parents=True)
    for name in FILES:
        (folder / name).write_bytes(pickle.dumps(Hostile(marker)))
    (tmp_path / "suite.yaml").write_text(SUITE)
    done = run_cli("run", "suite.yaml", "--results", "results", "--serial", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{folder / 'data_batch_1'}: its MD5 checksum" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert not marker.exists()
    assert "will be unpickled" not in done.stdout  # checked files: no warning


def test_validate_refuses_verify_md5_and_warns_about_trusted_files(tmp_path):
    (tmp_path / "suite.yaml").write_text(SUITE.replace("data_dir: data", "verify_md5: false"))
    done = run_cli("validate", "suite.yaml", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "suite.yaml:6: datasets[0].verify_md5: verify_md5 is no longer read" in done.stderr
    (tmp_path / "suite.yaml").write_text(SUITE.replace("data_dir: data", "trust_data_files: true"))
    done = run_cli("validate", "suite.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (
        "warning: cifar10 with trust_data_files: true" in done.stdout and "will be unpickled" in done.stdout
    )
