"""Image data sets: real MNIST files from the shared data folder, digits, self-written CIFAR-10."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from genbench.data import images
from tests.helpers import SHARED, data_root_with


@pytest.fixture(scope="module")
def mnist_root(tmp_path_factory) -> Path:
    if not (SHARED / "mnist").exists():
        pytest.skip(f"MNIST files not found at {SHARED / 'mnist'}")
    return data_root_with(tmp_path_factory.mktemp("data"), "mnist", "MNIST")


def test_mnist_splits_shapes_and_range(mnist_root):
    ds = images.build_torchvision("mnist")(images.MnistParams(data_dir=str(mnist_root)))
    assert ds.train_images.shape == (60_000, 1, 28, 28) and ds.test_images.shape == (10_000, 1, 28, 28)
    assert ds.train_images.dtype == torch.uint8 and ds.shape == (1, 28, 28) and ds.dim == 784
    assert sorted(ds.train_labels.unique().tolist()) == list(range(10))
    batch = ds.batch(64, torch.Generator().manual_seed(0))
    assert batch.dtype == torch.float32 and batch.shape == (64, 1, 28, 28)
    assert batch.min() >= 0 and batch.max() <= 1 and 0 < batch.mean() < 0.5


def test_mnist_resized_to_32(mnist_root):
    ds = images.build_torchvision("mnist")(images.MnistParams(data_dir=str(mnist_root), size=32))
    assert ds.test_images.shape == (10_000, 1, 32, 32)


def test_dynamic_binarization_redraws_and_static_does_not(mnist_root):
    params = {"data_dir": str(mnist_root)}
    dynamic = images.build_torchvision("binarized_mnist")(images.BinarizedParams(**params))
    gen = torch.Generator().manual_seed(0)
    idx_gen_state = gen.get_state()
    first = dynamic.batch(32, gen)
    assert set(first.unique().tolist()) <= {0.0, 1.0}
    # the same images drawn again (same indices) get a fresh Bernoulli draw
    x = dynamic.train_images[:32]
    a, b = dynamic._to_float(x, gen), dynamic._to_float(x, gen)
    assert not torch.equal(a, b)
    static = images.build_torchvision("binarized_mnist")(
        images.BinarizedParams(binarization="static", **params)
    )
    x = static.train_images[:32]
    assert torch.equal(static._to_float(x, gen), static._to_float(x, gen))
    gen.set_state(idx_gen_state)


def test_stacked_mnist_has_three_channels_and_1000_labels(mnist_root):
    ds = images.build_stacked_mnist(
        images.StackedParams(data_dir=str(mnist_root), train_size=5000, test_size=100)
    )
    assert ds.shape == (3, 28, 28)
    assert ds.train_labels.min() >= 0 and ds.train_labels.max() <= 999
    assert len(ds.train_labels.unique()) > 900  # 5,000 draws over 1,000 equally likely triples


def test_missing_data_says_which_files_to_put_where(tmp_path):
    with pytest.raises(images.DataMissing) as err:
        images.build_torchvision("fashion_mnist")(images.MnistParams(data_dir=str(tmp_path)))
    message = str(err.value)
    assert "t10k-images-idx3-ubyte.gz" in message and str(tmp_path / "FashionMNIST" / "raw") in message
    assert "\n" not in message


def test_digits_embedded_split():
    ds = images.build_digits(images.DigitsParams())
    assert ds.train_images.shape == (1500, 1, 32, 32) and ds.test_images.shape == (297, 1, 32, 32)
    assert ds.train_images.max() == 255 and ds.train_images.min() == 0
    again = images.build_digits(images.DigitsParams())
    assert torch.equal(ds.test_labels, again.test_labels)
    other = images.build_digits(images.DigitsParams(data_seed=1))
    assert not torch.equal(ds.test_labels, other.test_labels)


def _write_cifar(root: Path, n: int = 10) -> np.ndarray:
    """Small files in the real CIFAR-10 python-pickle format (data uint8 N x 3072, labels)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    first = None
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        first = data if first is None else first
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": list(rng.integers(0, 10, n))}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, f)
    return first


def test_cifar10_loader_on_self_written_files(tmp_path):
    first = _write_cifar(tmp_path)
    params = images.CifarParams(data_dir=str(tmp_path), trust_data_files=True)
    ds = images.build_torchvision("cifar10")(params)
    assert ds.train_images.shape == (50, 3, 32, 32) and ds.test_images.shape == (10, 3, 32, 32)
    # CIFAR-10 stores each image as 1024 red, then green, then blue values, row-major
    assert torch.equal(ds.train_images[0].reshape(-1), torch.as_tensor(first[0]))
    with pytest.raises(images.DataMissing):  # the official checksums do not match these files
        images.build_torchvision("cifar10")(images.CifarParams(data_dir=str(tmp_path)))


def test_data_root_order(tmp_path, monkeypatch):
    monkeypatch.setenv(images.ENV_DATA, str(tmp_path / "env"))
    assert images.data_root(str(tmp_path / "suite")) == tmp_path / "suite"
    assert images.data_root(None) == tmp_path / "env"
    monkeypatch.delenv(images.ENV_DATA)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert images.data_root(None) == tmp_path / "cache" / "genbench" / "data"
