"""The reference features a suite's runs read are extracted by the driver before any run starts:
through the real CLI, a 10,000-image reference is extracted across two Ray workers, and its cache
file is the one a `--serial` run writes in one process, bit for bit, with the same score; a second
run finds it cached and extracts nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import SHARED, data_root_with, read_csv_ids, run_cli, stand_in_classifier

SUITE = """\
name: pool
seeds: [0]
budget: {steps: 1}
eval: {samples: 200}
data_dir: data
datasets: [{name: mnist}]
models: [{name: samples, path: samples.npz}]
metrics: [{name: cmmd, features: mnist_classifier}]
"""
ANNOUNCED = "reference features: mnist test, mnist_classifier, 10,000 images"


@pytest.fixture
def work(tmp_path, monkeypatch) -> Path:
    if not (SHARED / "mnist").exists():
        pytest.skip(f"MNIST files not found at {SHARED / 'mnist'}")
    from genbench.data import images

    data_root_with(tmp_path / "data", "mnist", "MNIST")
    mnist = images.build_torchvision("mnist")(images.MnistParams(data_dir=str(tmp_path / "data")))
    np.savez(tmp_path / "samples.npz", mnist.train_images[:300].numpy().transpose(0, 2, 3, 1))
    (tmp_path / "suite.yaml").write_text(SUITE)
    for cache in ("cache-ray", "cache-serial"):  # the same stand-in classifier in two caches
        stand_in_classifier(mnist, tmp_path / cache)
    return tmp_path


def _run(work: Path, monkeypatch, cache: str, *options: str) -> tuple[str, float]:
    monkeypatch.setenv("GENBENCH_CACHE", str(work / cache))
    done = run_cli("run", "suite.yaml", "--results", f"results-{cache}", *options, cwd=work, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    board = read_csv_ids(work / f"results-{cache}" / "pool" / "leaderboard.csv")
    return done.stdout, float(board["cmmd_mnist_classifier"].iloc[0])


def _features(work: Path, cache: str) -> list[Path]:
    return sorted((work / cache / "features").glob("mnist-test-*.npy"))


def test_a_large_reference_is_extracted_across_ray_workers_as_in_one_process(work, monkeypatch):
    said, on_ray = _run(work, monkeypatch, "cache-ray", "--workers", "2")
    assert f"{ANNOUNCED} on 2 Ray workers" in said
    said_serial, serial = _run(work, monkeypatch, "cache-serial", "--serial")
    assert ANNOUNCED in said_serial and "Ray workers" not in said_serial
    assert on_ray == serial
    (ray_file,), (serial_file,) = _features(work, "cache-ray"), _features(work, "cache-serial")
    assert ray_file.name == serial_file.name  # the same key
    assert ray_file.read_bytes() == serial_file.read_bytes()
    again, _ = _run(work, monkeypatch, "cache-ray", "--workers", "2", "--fresh")
    assert "reference features:" not in again  # cached: nothing extracted again
