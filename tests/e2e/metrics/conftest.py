"""The MNIST classifier, trained once per pytest run (each run has caches of its own, see
tests/conftest.py) and shared by the metrics tests that need it."""

from __future__ import annotations

from pathlib import Path

import pytest

from genbench.data import images
from genbench.metrics import classifier
from tests.helpers import SHARED, data_root_with


@pytest.fixture(scope="session")
def mnist_root(tmp_path_factory) -> Path:
    if not (SHARED / "mnist").exists():
        pytest.skip(f"MNIST files not found at {SHARED / 'mnist'}")
    return data_root_with(tmp_path_factory.mktemp("mnist-data"), "mnist", "MNIST")


@pytest.fixture(scope="session")
def mnist(mnist_root):
    return images.build_torchvision("mnist")(images.MnistParams(data_dir=str(mnist_root)))


@pytest.fixture(scope="session")
def trained(mnist):
    return classifier.load_or_train(mnist)
