"""The MNIST classifier genbench trains itself: features for FID & co. on MNIST-like data and
labels for mode counting. Cached on disk under a hash of the data and the training recipe."""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
import weakref
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from genbench.data.cache import cache_dir
from genbench.data.images import DataMissing, MnistParams, build_torchvision
from genbench.registry import PrepareError

RECIPE = {
    "arch": "c16k5bn-c32k5bn-fc128",
    "epochs": 3,
    "batch": 64,
    "lr": 2e-3,  # Adam, decayed linearly to 0
    "seed": 0,
    "version": 3,
}
SIDE = 28  # the classifier's input side; other sizes are resized bilinearly


class MnistNet(nn.Module):
    """LeNet-like: two 5x5 conv layers (16, 32 channels) with batch norm and 2x2 max-pooling,
    a 128-unit hidden layer (the penultimate features) and 10 logits."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 16, 5), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 5), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        )  # fmt: skip
        self.hidden = nn.Sequential(nn.Linear(32 * 4 * 4, 128), nn.ReLU())
        self.out = nn.Linear(128, 10)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(penultimate features, logits) of grey images in [0, 1], (N, 1, H, W)."""
        if x.shape[-1] != SIDE:
            x = F.interpolate(x, size=(SIDE, SIDE), mode="bilinear", align_corners=False)
        h = self.hidden(self.conv(x))
        return h, self.out(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[1]


def data_hash(dataset) -> str:
    """sha256 of a data set's images and labels, both splits (what the classifier is trained on);
    computed once per data set object (0.06 s for MNIST, asked for at every evaluation)."""
    if dataset in _HASHES:
        return _HASHES[dataset]
    h = hashlib.sha256()
    for t in (dataset.train_images, dataset.train_labels, dataset.test_images, dataset.test_labels):
        h.update(t.contiguous().numpy().tobytes())
    _HASHES[dataset] = h.hexdigest()
    return _HASHES[dataset]


_HASHES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # data sets are never changed in place


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes (the inception weights' hash recorded with every number)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def weights_hash(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 of a network's parameters and buffers (names, dtypes, shapes, values): the same
    for bitwise-equal weights whatever else their file holds (e.g. the training time)."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


@torch.no_grad()
def accuracy(net: MnistNet, images: torch.Tensor, labels: torch.Tensor, batch: int = 2000) -> float:
    """Fraction of uint8 images (N, 1, H, W) classified correctly."""
    net.eval()
    hits = sum(
        int((net(x.float() / 255).argmax(1) == y).sum())
        for x, y in zip(images.split(batch), labels.split(batch), strict=True)
    )
    return hits / len(images)


def train_classifier(dataset) -> tuple[MnistNet, dict]:
    """Train MnistNet on the training split with Adam (RECIPE), deterministic; return it and
    its record (test accuracy, seconds, data hash, recipe)."""
    tick = time.perf_counter()
    gen = torch.Generator().manual_seed(RECIPE["seed"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RECIPE["seed"])
        net = MnistNet()
        opt = torch.optim.Adam(net.parameters(), lr=RECIPE["lr"])
        x_all, y_all = dataset.train_images, dataset.train_labels
        total = RECIPE["epochs"] * math.ceil(len(x_all) / RECIPE["batch"])
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1 - i / total)
        for _ in range(RECIPE["epochs"]):
            net.train()
            for idx in torch.randperm(len(x_all), generator=gen).split(RECIPE["batch"]):
                loss = F.cross_entropy(net(x_all[idx].float() / 255), y_all[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
    net.eval()
    record = {
        "test_accuracy": accuracy(net, dataset.test_images, dataset.test_labels),
        "train_seconds": round(time.perf_counter() - tick, 1),
        "data_hash": data_hash(dataset),
        "recipe": RECIPE,
        "torch": str(torch.__version__),
    }
    return net, record


def classifier_path(dataset, root: Path | None = None) -> Path:
    """The cache file of the classifier of `dataset`: named by a hash of its data and the recipe."""
    key = hashlib.sha256((data_hash(dataset) + json.dumps(RECIPE, sort_keys=True)).encode()).hexdigest()[:16]
    return (root or cache_dir()) / "classifiers" / f"{dataset.name}-{key}.pt"


def load_or_train(dataset, root: Path | None = None) -> tuple[MnistNet, dict, Path]:
    """The cached classifier of `dataset` (trained and written on the first call), its record
    (with `weights_hash`), and its file."""
    path = classifier_path(dataset, root)
    if not path.exists():
        net, record = train_classifier(dataset)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save({"state_dict": net.state_dict(), "record": record}, tmp)
        os.replace(tmp, path)
    net, record = load_file(path)
    return net, record, path


def load_file(path: Path) -> tuple[MnistNet, dict]:
    """A classifier and its record (plus `weights_hash`, the sha256 of its weights) from a cache file."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    net = MnistNet()
    net.load_state_dict(blob["state_dict"])
    return net.eval(), {**blob["record"], "weights_hash": weights_hash(blob["state_dict"])}


def mnist_source(dataset_name: str) -> str:
    """The data set whose classifier judges `dataset_name` (binarized and stacked MNIST: MNIST's)."""
    return "mnist" if dataset_name in ("mnist", "binarized_mnist", "stacked_mnist") else dataset_name


def _source(dataset, data_dir: str | None):
    """The data set the classifier of `dataset` is trained on: itself when it is plain MNIST at
    28 x 28, else MNIST (or Fashion-MNIST) from `data_dir`."""
    name = mnist_source(dataset.name)
    plain = dataset.name == name and dataset.shape[-1] == SIDE
    return dataset if plain else build_torchvision(name)(MnistParams(data_dir=data_dir))


def is_cached(dataset, data_dir: str | None = None) -> bool:
    """Whether the classifier that judges `dataset` is loaded or in the cache (no training needed)."""
    key = (mnist_source(dataset.name), data_dir)
    return key in _LOADED or classifier_path(_source(dataset, data_dir)).exists()


def classifier_for(dataset, data_dir: str | None = None) -> tuple[MnistNet, dict, Path]:
    """The classifier that judges samples of `dataset` (loaded or trained once per process): the
    data set's own when it is plain MNIST at 28 x 28, else MNIST's from `data_dir`."""
    key = (mnist_source(dataset.name), data_dir)
    if key not in _LOADED:
        _LOADED[key] = load_or_train(_source(dataset, data_dir))
    return _LOADED[key]


_LOADED: dict = {}


def prepare(dataset, data_dir: str | None) -> None:
    """On the driver: load the classifier that judges `dataset`, training it once if it is not
    cached (a few minutes on a CPU), so that workers only read it. Raises PrepareError."""
    try:
        if not is_cached(dataset, data_dir):
            print(
                "training the MNIST classifier once for the suite's metrics (a few minutes on a CPU; "
                f"cached in {cache_dir()}; `genbench prepare mnist` does it ahead)",
                file=sys.stderr,
                flush=True,
            )
        classifier_for(dataset, data_dir)
    except DataMissing as exc:
        raise PrepareError(f"the MNIST classifier needs MNIST: {exc}") from None


def prepare_runs(specs: list, dataset_of) -> None:
    """The `prepare` of the metrics that count modes with the classifier (mnist_modes, stacked_modes)."""
    for key in dict.fromkeys(json.dumps([s.dataset, s.dataset_params], sort_keys=True) for s in specs):
        spec = next(s for s in specs if json.dumps([s.dataset, s.dataset_params], sort_keys=True) == key)
        prepare(dataset_of(spec), spec.dataset_params.get("data_dir"))
