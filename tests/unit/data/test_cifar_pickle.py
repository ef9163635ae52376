"""CIFAR-10's python-pickle files: a file whose checksum is not the official one is never
unpickled (a hostile pickle runs no code), unless the suite says `trust_data_files: true`, which
validation warns about; the old `verify_md5` key is refused with what to write instead."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import yaml

from genbench.data import images
from genbench.driver.preflight import PreflightError, check_data
from genbench.suite.config import SuiteError, load_suite

FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]


class Hostile:
    """Unpickling this opens (creates) `marker`: what a hostile data file could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def hostile_data_dir(tmp_path: Path) -> tuple[Path, Path]:
    """A data root whose every CIFAR-10 file is a hostile pickle; and the marker it would create."""
    root, marker = tmp_path / "data", tmp_path / "unpickled-marker"
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in FILES:
        (folder / name).write_bytes(pickle.dumps(Hostile(marker)))
    return root, marker


def cifar_suite(tmp_path: Path, **entry) -> Path:
    suite = {
        "name": "cifar",
        "seeds": [0],
        "budget": {"steps": 2},
        "datasets": [{"name": "cifar10", **entry}],
        "models": [{"name": "gan", "arch": "dcgan", "width": 0.125, "z_dim": 8, "batch_size": 4}],
        "metrics": ["parzen"],
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def test_a_hostile_pickle_is_never_unpickled(tmp_path):
    root, marker = hostile_data_dir(tmp_path)
    with pytest.raises(images.DataMissing) as caught:
        images.build_torchvision("cifar10")(images.CifarParams(data_dir=str(root)))
    message = str(caught.value)
    assert str(root / "cifar-10-batches-py" / "data_batch_1") in message
    assert "is not the official CIFAR-10 file's" in message and "trust_data_files: true" in message
    assert not marker.exists()
    left = sorted(p.name for p in (root / "cifar-10-batches-py").iterdir())
    assert left == sorted(FILES)  # left as they are


def test_preflight_refuses_a_hostile_pickle(tmp_path):
    root, marker = hostile_data_dir(tmp_path)
    _, specs, notes = load_suite(cifar_suite(tmp_path, data_dir=str(root)))
    assert notes == []  # files are checked: no warning
    with pytest.raises(PreflightError, match="data_batch_1: its MD5 checksum"):
        check_data(specs)
    assert not marker.exists()


def test_trusting_data_files_warns_that_they_will_be_unpickled(tmp_path):
    _, specs, notes = load_suite(cifar_suite(tmp_path, data_dir="data", trust_data_files=True))
    assert specs[0].dataset_params["trust_data_files"] is True
    (note,) = notes
    assert note.startswith("warning: cifar10 with trust_data_files: true")
    assert str(tmp_path / "data" / "cifar-10-batches-py") in note and "will be unpickled" in note


def test_verify_md5_is_refused_with_what_to_write_instead(tmp_path):
    path = cifar_suite(tmp_path, verify_md5=False)
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    line = path.read_text().splitlines().index("- name: cifar10") + 2  # the key under the name
    assert f"{path}:{line}: datasets[0].verify_md5: verify_md5 is no longer read" in str(caught.value)
    assert "set trust_data_files: true" in str(caught.value)
