"""Image datasets: digits (embedded), MNIST, Fashion-MNIST, CIFAR-10, binarized and stacked MNIST.

Every image dataset holds uint8 tensors (N, C, H, W) and hands out float batches in [0, 1];
a model family that wants another range (tanh generators: [-1, 1]) converts in
`genbench.data.pixels`, the one place where pixel scaling happens.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, field_validator

from genbench.registry import Modes, register_dataset

ENV_DATA = "GENBENCH_DATA"


class DataMissing(Exception):
    """A data set is not on disk and cannot be downloaded; the message says what to put where."""


def data_root(data_dir: str | None = None) -> Path:
    """Where data sets live: the suite's data_dir, else $GENBENCH_DATA, else a per-user cache."""
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get(ENV_DATA):
        return Path(os.environ[ENV_DATA]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "genbench" / "data"


class _ImageParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # inf and NaN are no parameters

    data_dir: str | None = Field(None, description="data root (else $GENBENCH_DATA, else ~/.cache)")


class MnistParams(_ImageParams):
    """MNIST-format sets (60,000 train / 10,000 test, 28x28 grey)."""

    size: int = Field(28, ge=8, le=64, description="side in pixels (28 native; 32, 64 resized)")


class BinarizedParams(MnistParams):
    """MNIST with Bernoulli-sampled pixels (IWAE's dynamic binarization, or one fixed draw)."""

    binarization: Literal["dynamic", "static"] = Field("dynamic", description="dynamic or static")
    binarize_seed: int = Field(0, ge=0, description="seed of the static draw")


class StackedParams(MnistParams):
    """Stacked MNIST (VEEGAN, PacGAN): fixed draws of digit triples."""

    train_size: int = Field(60_000, gt=0, description="stacked training images (a fixed draw)")
    test_size: int = Field(10_000, gt=0, description="stacked test images (a fixed draw)")
    data_seed: int = Field(0, ge=0, description="seed of the draws")


class CifarParams(_ImageParams):
    """CIFAR-10 (50,000 train / 10,000 test, 32x32 RGB), python-pickle batches."""

    size: int = Field(32, ge=8, le=64, description="side in pixels")
    trust_data_files: bool = Field(
        False, description="unpickle the files without checking their checksums (files you made yourself)"
    )
    verify_md5: None = Field(None, exclude=True, description="removed: set trust_data_files instead")

    @field_validator("verify_md5", mode="before")
    @classmethod
    def _removed(cls, value: object) -> None:
        raise ValueError(
            "verify_md5 is no longer read: CIFAR-10 files whose MD5 checksum is not the official one "
            "are never unpickled (unpickling a file can run any code in it); for files you made "
            "yourself, set trust_data_files: true"
        )

    def notes(self) -> list[str]:
        """What validation says about these parameters: a warning when files are trusted."""
        if not self.trust_data_files:
            return []
        folder = data_root(self.data_dir) / _CIFAR_FOLDER
        return [
            f"warning: cifar10 with trust_data_files: true: the files in {folder} "
            "will be unpickled without checking their checksums, and unpickling a file can run any "
            "code in it; use this only for files you made or trust"
        ]


class DigitsParams(BaseModel):
    """scikit-learn's 8x8 digits (1,797 images, shipped with the package: no download)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # inf and NaN are no parameters

    size: int = Field(32, ge=8, le=64, description="side after bilinear upsampling (8 native)")
    test_size: int = Field(297, gt=0, description="held-out images (a fixed, seeded split)")
    data_seed: int = Field(0, ge=0, description="seed of the train/test split")


class ImageDataset:
    """uint8 images (N, C, H, W) with labels; float batches in [0, 1] (or binarized)."""

    kind = "image"

    def __init__(
        self,
        name: str,
        train,
        test,
        train_labels,
        test_labels,
        binarize: str | None = None,
        binarize_seed: int = 0,
    ) -> None:
        self.name = name
        self.train_images, self.test_images = train, test
        self.train_labels, self.test_labels = train_labels, test_labels
        self.shape = tuple(train.shape[1:])
        self.dim = int(torch.tensor(self.shape).prod())
        self.binarize = binarize
        if binarize == "static":
            gen = torch.Generator().manual_seed(binarize_seed)
            self.train_images = _bernoulli(self.train_images, gen)
            self.test_images = _bernoulli(self.test_images, torch.Generator().manual_seed(binarize_seed + 1))

    def _to_float(self, images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if self.binarize == "dynamic":
            return _bernoulli(images, generator).float()
        if self.binarize == "static":
            return images.float()
        return images.float() / 255.0

    def batch(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """A minibatch drawn with replacement from the training split, floats in [0, 1]."""
        idx = torch.randint(len(self.train_images), (batch_size,), generator=generator)
        return self._to_float(self.train_images[idx], generator)

    @property
    def test(self) -> torch.Tensor:
        """The test split as floats in [0, 1] (dynamic binarization: one draw with a fixed seed)."""
        return self._to_float(self.test_images, torch.Generator().manual_seed(12345))


def _bernoulli(images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Each pixel 1 with probability intensity/255 (binarized images stay 0/1 uint8)."""
    probs = images.float() / 255.0 if images.max() > 1 else images.float()
    return torch.bernoulli(probs, generator=generator).to(torch.uint8)


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize of uint8 images to size x size (no-op when already that size)."""
    if images.shape[-1] == size:
        return images
    out = F.interpolate(images.float(), size=(size, size), mode="bilinear", align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


_TV_FOLDERS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
_CIFAR_FOLDER = "cifar-10-batches-py"
_CIFAR_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]


def _refuse_unofficial_cifar(folder: Path) -> None:
    """Raise DataMissing if a CIFAR-10 file in `folder` is not the official one (its MD5 differs):
    such a file is never unpickled, as unpickling can run code. Missing files are downloaded later."""
    from torchvision import datasets  # ~0.5 s to import: only when an image data set is built

    official = dict(datasets.CIFAR10.train_list + datasets.CIFAR10.test_list)
    official[datasets.CIFAR10.meta["filename"]] = datasets.CIFAR10.meta["md5"]
    for name, md5 in official.items():
        path = folder / name
        if not path.is_file():
            continue
        digest = hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(2**20), b""):
                digest.update(block)
        found = digest.hexdigest()
        if found != md5:
            raise DataMissing(
                f"{path}: its MD5 checksum {found} is not the official CIFAR-10 file's ({md5}), so it "
                "is not read (unpickling a file can run any code in it); put the official file there, "
                "or, for files you made yourself, set trust_data_files: true on the cifar10 entry"
            )


def _dataset_class(name: str, verify_md5: bool):
    from torchvision import datasets  # ~0.5 s to import: only when an image data set is built

    if name != "cifar10":
        return datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    if verify_md5:
        return datasets.CIFAR10

    class UncheckedCIFAR10(datasets.CIFAR10):
        """CIFAR-10 that checks its files exist rather than their MD5 (for self-written files)."""

        train_list = [[f, None] for f, _ in datasets.CIFAR10.train_list]
        test_list = [[f, None] for f, _ in datasets.CIFAR10.test_list]
        meta = {**datasets.CIFAR10.meta, "md5": None}

    return UncheckedCIFAR10


def _torchvision_split(name: str, root: Path, train: bool, verify_md5: bool = True):
    """(images uint8 NCHW, labels) of one split via torchvision's dataset classes; files already
    on disk with the right checksums are used as they are, and a failed download is DataMissing
    that leaves behind no folder it created (torchvision makes them before downloading)."""
    if name == "cifar10" and verify_md5:
        _refuse_unofficial_cifar(root / _CIFAR_FOLDER)  # before torchvision unpickles anything
    folder = root / _CIFAR_FOLDER if name == "cifar10" else root / _TV_FOLDERS[name] / "raw"
    created = _first_missing(folder)
    try:
        ds = _dataset_class(name, verify_md5)(str(root), train=train, download=True)
    except Exception as exc:  # no network, or a corrupt file
        if created is not None:  # it did not exist before this call: all of it is this call's
            shutil.rmtree(created, ignore_errors=True)
        raise DataMissing(_missing_message(name, root, exc)) from None
    data = torch.as_tensor(ds.data)
    images = data.permute(0, 3, 1, 2) if data.ndim == 4 else data.unsqueeze(1)
    return images.contiguous(), torch.as_tensor(ds.targets)


def _first_missing(folder: Path) -> Path | None:
    """The topmost of `folder` and its parents that does not exist (None: `folder` exists)."""
    missing = None
    while not folder.exists() and folder != folder.parent:
        missing, folder = folder, folder.parent
    return missing


def _missing_message(name: str, root: Path, exc: Exception) -> str:
    if name == "cifar10":
        where, files = root / _CIFAR_FOLDER, ", ".join(_CIFAR_FILES) + " (from cifar-10-python.tar.gz)"
    else:
        where = root / _TV_FOLDERS[name] / "raw"
        files = (
            "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
            "t10k-labels-idx1-ubyte.gz"
        )
    return (
        f"data set {name!r} is not under {root} and could not be downloaded "
        f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); put {files} in {where}, "
        f"or set the suite's data_dir or ${ENV_DATA} to a root that has them"
    )


def build_torchvision(name: str):
    """A builder for a torchvision-backed data set (mnist, fashion_mnist, cifar10, binarized)."""

    def build(params) -> ImageDataset:
        root = data_root(params.data_dir)
        source = "mnist" if name == "binarized_mnist" else name
        verify = not getattr(params, "trust_data_files", False)
        train, train_y = _torchvision_split(source, root, True, verify)
        test, test_y = _torchvision_split(source, root, False, verify)
        binarize = getattr(params, "binarization", None)
        return ImageDataset(
            name,
            _resize(train, params.size),
            _resize(test, params.size),
            train_y,
            test_y,
            binarize,
            getattr(params, "binarize_seed", 0),
        )

    return build


def build_stacked_mnist(params: StackedParams) -> ImageDataset:
    """Three independently drawn MNIST digits as the R, G, B channels: 1,000 modes (label 100a+10b+c)."""
    root = data_root(params.data_dir)
    splits = []
    for train, n, seed in (
        (True, params.train_size, 2 * params.data_seed),
        (False, params.test_size, 2 * params.data_seed + 1),
    ):
        images, labels = _torchvision_split("mnist", root, train)
        idx = torch.randint(len(images), (n, 3), generator=torch.Generator().manual_seed(seed))
        stacked = images[idx].squeeze(2)  # (n, 3, 28, 28)
        splits.append((_resize(stacked, params.size), (labels[idx] * torch.tensor([100, 10, 1])).sum(1)))
    (train_x, train_y), (test_x, test_y) = splits
    return ImageDataset("stacked_mnist", train_x, test_x, train_y, test_y)


def build_digits(params: DigitsParams) -> ImageDataset:
    """scikit-learn's digits, intensities 0..16 scaled to 0..255, split with a fixed seed."""
    from sklearn.datasets import load_digits  # scikit-learn: only for the digits data set

    digits = load_digits()
    images = torch.as_tensor(digits.images * (255.0 / 16.0)).round().to(torch.uint8).unsqueeze(1)
    labels = torch.as_tensor(digits.target)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(params.data_seed))
    test_idx, train_idx = order[: params.test_size], order[params.test_size :]
    images = _resize(images, params.size)
    return ImageDataset("digits", images[train_idx], images[test_idx], labels[train_idx], labels[test_idx])


TEST = "the test split (samples vs. its images; elbo, nll, parzen on its examples)"
DIGITS = Modes(lambda p: 10, "classes")  # collapsed: fewer than half of the classes (mnist_modes)
register_dataset(
    "digits",
    params=DigitsParams,
    build=build_digits,
    kind="image",
    doc="8x8 digits of scikit-learn",
    evaluation=TEST,
)
register_dataset(
    "mnist",
    params=MnistParams,
    build=build_torchvision("mnist"),
    kind="image",
    doc="MNIST digits",
    modes=DIGITS,
    evaluation=TEST,
)
register_dataset(
    "fashion_mnist",
    params=MnistParams,
    build=build_torchvision("fashion_mnist"),
    kind="image",
    doc="Fashion-MNIST (Zalando)",
    evaluation=TEST,
)
register_dataset(
    "cifar10",
    params=CifarParams,
    build=build_torchvision("cifar10"),
    kind="image",
    doc="CIFAR-10",
    evaluation=TEST,
)
register_dataset(
    "binarized_mnist",
    params=BinarizedParams,
    build=build_torchvision("binarized_mnist"),
    kind="image",
    doc="MNIST, Bernoulli pixels",
    modes=DIGITS,
    evaluation=TEST,
)
register_dataset(
    "stacked_mnist",
    params=StackedParams,
    build=build_stacked_mnist,
    kind="image",
    doc="3 MNIST digits as RGB: 1,000 modes",
    modes=Modes(lambda p: 1000, "stacked_modes"),  # collapsed: fewer than 500 triples (stacked_modes)
    evaluation=TEST,
)
