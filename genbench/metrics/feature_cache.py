"""Feature sets on disk: images produced batch by batch (a tensor, a data set's test split, image
files, or any iterable of batches), their features written batch by batch into a preallocated
`.npy` file and summarized by float64 running moments (count, mean, co-moment matrix) that merge
exactly across shards. Each set is cached under a hash of what it is made of (data content,
split, extractor, weights, image size, count), written atomically and read back memory-mapped,
so that every run and every worker on the machine shares the same pages."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sys
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import reduce
from pathlib import Path

import numpy as np
import torch
from numpy.lib.format import open_memmap

from genbench.data.cache import locked
from genbench.metrics.image_sources import Source, source_of

FEATURE_BATCH = 500  # images per batch (metrics/extractors.py's FEATURE_BATCH)
FORMAT = 1  # the layout of a cached set (features .npy + stats .npz); part of every key
HASH_BLOCK = 1 << 22  # bytes read at a time when a set's sha256 is computed

Embed = Callable[[torch.Tensor], torch.Tensor]  # [0, 1] images (N, C, H, W) -> features (N, D)

__all__ = [
    "FEATURE_BATCH",
    "BackboneRecipe",
    "ExtractorRecipe",
    "FeatureSet",
    "Moments",
    "Source",
    "cached",
    "cached_features",
    "source_of",
]


@dataclass(frozen=True)
class Moments:
    """Count, mean and co-moment matrix M2 = sum_i (x_i - mean)(x_i - mean)^T of feature rows,
    float64; `merge` combines two disjoint sets' moments (Chan, Golub & LeVeque 1979)."""

    count: int
    mean: np.ndarray
    m2: np.ndarray

    @classmethod
    def of(cls, rows: np.ndarray) -> Moments:
        """The moments of `rows` (N, D), computed directly in float64 (by torch, on its threads:
        numpy's BLAS threads on a loaded machine made this cost as much as the extraction)."""
        x = torch.as_tensor(np.asarray(rows), dtype=torch.float64)
        mean = x.mean(dim=0)
        centered = x - mean
        return cls(len(x), mean.numpy(), (centered.T @ centered).numpy())

    def merge(self, other: Moments) -> Moments:
        """Moments of the union: n = n_a + n_b, d = mean_b - mean_a, mean = mean_a + d n_b / n,
        M2 = M2_a + M2_b + d d^T n_a n_b / n (Chan, Golub & LeVeque 1979, pairwise update, per entry)."""
        n = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / n)
        m2 = self.m2 + other.m2 + np.outer(delta, delta) * (self.count * other.count / n)
        return Moments(n, mean, m2)

    @staticmethod
    def merge_all(parts: Iterable[Moments]) -> Moments:
        """The moments of the union of disjoint sets, merged in order."""
        return reduce(Moments.merge, parts)

    @property
    def cov(self) -> np.ndarray:
        """The unbiased covariance M2 / (n - 1), as numpy.cov(rowvar=False)."""
        return self.m2 / (self.count - 1)


@dataclass(frozen=True)
class FeatureSet:
    """A cached feature set: its file, the features memory-mapped (copy on write) and their moments."""

    path: Path
    features: np.ndarray
    moments: Moments

    def tensor(self) -> torch.Tensor:
        """The features as a float32 tensor on the same memory-mapped pages."""
        return torch.from_numpy(self.features)


@dataclass(frozen=True)
class ExtractorRecipe:
    """A torch-fidelity feature extractor to build in any process (a Ray worker): its registered
    name (genbench's own are registered by `genbench.metrics.extractors`), weights file and the
    layer whose outputs are the features. Calling it builds the extractor and returns its `Embed`."""

    name: str
    weights: str | None
    layer: str
    device: str = "cpu"

    def __call__(self) -> Embed:
        from torch_fidelity.utils import create_feature_extractor  # torch-fidelity: on first use

        from genbench.metrics.extractors import extract  # registers genbench's extractors

        fe = create_feature_extractor(
            self.name, [self.layer], cuda=False, feature_extractor_weights_path=self.weights, verbose=False
        )
        return lambda x: extract(fe, x, self.device)[0]


@dataclass(frozen=True)
class BackboneRecipe:
    """A DINOv2 or CLIP backbone (`genbench.metrics.backbones`) to build in any process from its
    space, weights file and pinned sha256; calling it returns its `Embed`."""

    name: str
    weights: str | None
    sha256: str | None
    device: str = "cpu"

    def __call__(self) -> Embed:
        from genbench.metrics import backbones  # timm / open_clip: on first use
        from genbench.metrics.feature_choice import BACKBONE_BATCH

        extractor, _ = backbones.load(self.name, self.weights, self.sha256)
        return lambda x: extractor.features(x, self.device, BACKBONE_BATCH)


def key_of(dataset, split: str, extractor: str, weights_hash: str, count: int) -> dict:
    """What a feature set of `count` images of a data set's `split` is made of: the data's sha256,
    the extractor and its weights' sha256, the size the images are given at, the count."""
    from genbench.metrics import classifier  # after genbench.data.images (see `cache_path`)

    return {
        "format": FORMAT,
        "dataset": dataset.name,
        "data": classifier.data_hash(dataset),
        "split": split,
        "extractor": extractor,
        "weights": weights_hash,
        "resize": list(dataset.shape[1:]),
        "count": count,
    }


def cache_path(label: str, key: dict, root: Path | None = None) -> Path:
    """The features file of `key` under the cache (`$GENBENCH_CACHE/features/`): a readable label
    and the first 16 hex digits of the key's sha256."""
    # imported here, not at the top: importing the classifier before genbench.data.images (which this
    # module's image sources import) would run the built-ins' registration halfway through its import
    from genbench.metrics import classifier

    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return (root or classifier.cache_dir()) / "features" / f"{label}-{digest}.npy"


def stats_path(path: Path) -> Path:
    """The moments file beside a features file (`x.npy` -> `x.stats.npz`)."""
    return path.with_suffix(".stats.npz")


def features_of(batches: Iterable[torch.Tensor], embed: Embed) -> Iterator[np.ndarray]:
    """The features of each batch, as float32 NumPy arrays."""
    with torch.no_grad():
        for x in batches:
            yield embed(x).detach().to("cpu", torch.float32).numpy()


def write_rows(path: Path, start: int, stop: int, features: Iterable[np.ndarray]) -> Moments:
    """Write feature batches, in order, into rows start:stop of the preallocated `.npy` at `path`
    (they must fill them exactly), each through a memory map of its own rows that is closed once
    written, so that resident memory holds one batch whatever the count; their moments, merged
    batch by batch."""
    whole = np.load(path, mmap_mode="r")
    offset, row_bytes, dtype = whole.offset, whole.strides[0], whole.dtype
    del whole
    row, total = start, None
    for f in features:
        if row + len(f) > stop:
            raise ValueError(f"more feature rows than the {stop - start} expected")
        window = np.memmap(path, dtype=dtype, mode="r+", offset=offset + row * row_bytes, shape=f.shape)
        window[:] = f
        del window  # unmapped: the rows stay in the file (and the page cache), not in this process
        part = Moments.of(f)
        total = part if total is None else total.merge(part)
        row += len(f)
    if row != stop:
        raise ValueError(f"{row - start} feature rows for the {stop - start} expected")
    return total


def new_file(path: Path, count: int, dim: int) -> Path:
    """A preallocated float32 (count, dim) `.npy` (`open_memmap`) at a temporary name beside `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}.npy")
    out = open_memmap(tmp, mode="w+", dtype=np.float32, shape=(count, dim))
    del out  # header written, data preallocated; rows are written by `write_rows`
    return tmp


def extract_to_file(
    path: Path, count: int, batches: Iterable[torch.Tensor], embed: Embed
) -> tuple[Path, Moments]:
    """Stream the features of `count` images into a new temporary file beside `path`; the file and
    the moments. Only one batch of images and of features is in memory at a time."""
    feats = features_of(batches, embed)
    first = next(feats, None)
    if first is None or count <= 0:
        raise ValueError(f"no images to extract features of for {path.name}")
    tmp = new_file(path, count, first.shape[1])
    try:
        moments = write_rows(tmp, 0, count, itertools.chain([first], feats))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, moments


def data_sha256(path: Path, offset: int) -> str:
    """sha256 of a `.npy` file's data (the bytes after its header), read a block at a time (not
    mapped: checking a file adds nothing to resident memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(offset)
        while block := f.read(HASH_BLOCK):
            h.update(block)
    return h.hexdigest()


def publish(tmp: Path, path: Path, key: dict, moments: Moments) -> FeatureSet:
    """Put a finished temporary features file in place with its moments: the moments are written
    to a temporary name and renamed first, then the features (a reader that finds the features
    finds their moments; several writers of one key write the same bytes)."""
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())  # the rows, written through memory maps, on disk before the rename
    digest = data_sha256(tmp, np.load(tmp, mmap_mode="r").offset)
    stats_tmp = tmp.with_suffix(".stats.npz")
    with open(stats_tmp, "wb") as f:
        np.savez(
            f,
            count=np.int64(moments.count),
            mean=moments.mean,
            m2=moments.m2,
            key=np.str_(json.dumps(key, sort_keys=True)),
            sha256=np.str_(digest),
        )
        f.flush()
        os.fsync(f.fileno())
    os.replace(stats_tmp, stats_path(path))
    os.replace(tmp, path)
    found = load(path, key)
    if found is None:
        raise OSError(f"the feature cache file {path} could not be read back after writing it")
    return found


def _problem(path: Path, features: np.ndarray, stats, key: dict) -> str | None:
    """Why a cache entry cannot be used (None when it can): another key, shape, size, checksum."""
    count, dim = int(stats["count"]), len(stats["mean"])
    if json.loads(str(stats["key"])) != key:
        return "it was written for other features (its key differs)"
    if features.dtype != np.float32 or features.shape != (count, dim) or count != key["count"]:
        return f"its shape {features.shape} {features.dtype} is not ({key['count']}, {dim}) float32"
    if stats["m2"].shape != (dim, dim):
        return "its moments have the wrong shape"
    if path.stat().st_size != features.offset + features.nbytes:
        return f"its size {path.stat().st_size} bytes is not the {features.offset + features.nbytes} expected"
    if data_sha256(path, features.offset) != str(stats["sha256"]):
        return "its contents do not match their sha256"
    return None


def load(path: Path, key: dict, report: bool = True) -> FeatureSet | None:
    """The cached set at `path`, memory-mapped, or None when there is none or it cannot be used
    (truncated, damaged, of another key, its moments missing): then, when `report`, a warning
    naming the file goes to stderr and the caller computes the set again."""
    if not path.exists():
        return None
    try:
        with np.load(stats_path(path), allow_pickle=False) as stats:
            features = np.load(path, mmap_mode="c", allow_pickle=False)
            problem = _problem(path, features, stats, key)
            moments = Moments(int(stats["count"]), stats["mean"], stats["m2"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        problem = f"it cannot be read ({type(exc).__name__}: {exc})"
    if problem is None:
        return FeatureSet(path, features, moments)
    if report:
        print(f"warning: feature cache file {path}: {problem}; computing it again", file=sys.stderr)
    return None


def cached(path: Path, key: dict, compute: Callable[[], tuple[Path, Moments]]) -> FeatureSet:
    """The feature set `key` at `path`: read memory-mapped when it is cached and sound, else
    computed by `compute()` (a finished temporary file beside `path` and its moments), published
    and read back. One process computes it; others wanting it meanwhile wait and read it."""
    found = load(path, key)
    if found is not None:
        return found
    with locked(path):
        found = load(path, key, report=False)  # another process may have written it meanwhile
        if found is not None:
            return found
        tmp, moments = compute()
        return publish(tmp, path, key, moments)


def cached_features(
    path: Path, key: dict, batches: Callable[[], Iterable[torch.Tensor]], embed: Embed
) -> FeatureSet:
    """The feature set `key` at `path` (`cached`), extracted in this process when it is not
    cached: images from `batches()` (in [0, 1], `key["count"]` in all) embedded by `embed`."""
    return cached(path, key, lambda: extract_to_file(path, key["count"], batches(), embed))
