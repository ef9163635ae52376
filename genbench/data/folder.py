"""The `image_folder` data set: a folder of PNG/JPEG images, optionally one subfolder per class
(the labels, numbered in sorted order of the subfolders' names).

Deterministic whatever the file system: the files are taken in sorted order of their relative
paths and split by a permutation seeded with `data_seed` (`test_fraction` of them held out).
Every image is centre-cropped to a square and resized once to `size` x `size` with the resize of
`genbench.data.load_images` (PIL bicubic per channel, clean-fid's); the data set is grey (one
channel) when every image is grey, else in colour (grey images repeated to three channels).

The decoded, resized images are cached once per machine in `$GENBENCH_CACHE/image_folder/`,
keyed by the folder's content sha256, the size and the resize: one process decodes them (under a
file lock), writes them atomically, and every process (each Ray worker) reads them memory-mapped.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import uuid
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from genbench.data.cache import cache_dir, locked
from genbench.data.images import DataMissing, ImageDataset
from genbench.data.load_images import (
    RESIZE,
    InputError,
    center_square,
    checked_sha256,
    content_sha256,
    image_files,
    is_grey,
    read_image,
    resize,
    resolve_path,
)
from genbench.registry import register_dataset

CACHE_FORMAT = 1  # the layout of a cached folder (one uint8 .npy, N x C x size x size); in its key


class ImageFolderParams(BaseModel):
    """A folder of PNG/JPEG images (class subfolders: labels), split by a seeded permutation."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # inf and NaN are no parameters

    path: str = Field(
        "",
        validate_default=True,
        description="the folder (relative: to the suite file); class subfolders: labels",
    )
    size: int = Field(
        64, ge=8, le=256, description="side: centre-cropped to a square, resized once (PIL bicubic)"
    )
    test_fraction: float = Field(0.1, gt=0, lt=1, description="share of the images held out for evaluation")
    data_seed: int = Field(0, ge=0, description="seed of the split (a permutation of the sorted file names)")
    content_sha256: str = Field(
        "",
        validate_default=True,
        description="sha256 of the folder's files' sha256sum lines; computed when the suite is read",
    )

    @field_validator("path")
    @classmethod
    def _path(cls, value: str, info: ValidationInfo) -> str:
        path = resolve_path(value, info, "path: a folder of PNG/JPEG images")
        if path and not Path(path).is_dir():
            raise ValueError(f"{path} is not a folder (path: a folder of PNG/JPEG images)")
        return path

    @field_validator("content_sha256")
    @classmethod
    def _content(cls, value: str, info: ValidationInfo) -> str:
        return checked_sha256(value, info.data.get("path", ""), "path")


def class_labels(folder: Path, files: list[Path]) -> torch.Tensor:
    """Each file's class: the index of its top subfolder among the sorted subfolder names; all 0
    when every image lies directly in `folder`."""
    tops = [f.relative_to(folder).parts[0] if len(f.relative_to(folder).parts) > 1 else None for f in files]
    if all(top is None for top in tops):
        return torch.zeros(len(files), dtype=torch.int64)
    loose = next((f for f, top in zip(files, tops, strict=True) if top is None), None)
    if loose is not None:
        raise DataMissing(
            f"{folder}: {loose.name} lies directly in it while other images are in class subfolders; "
            "put every image in a class subfolder, or none"
        )
    classes = sorted(set(tops))
    return torch.tensor([classes.index(top) for top in tops], dtype=torch.int64)


def square_images(images: list[np.ndarray], size: int) -> np.ndarray:
    """uint8 images (C, H, W) as one uint8 array (N, C', size, size): C' = 1 when every image is
    grey, else 3; each centre-cropped to a square and resized once when its side is not `size`."""
    grey = all(is_grey(image[None]) for image in images)
    out = np.empty((len(images), 1 if grey else 3, size, size), dtype=np.uint8)
    for i, image in enumerate(images):
        image = image[:1] if grey else np.broadcast_to(image, (3, *image.shape[1:]))
        image = center_square(image)
        if image.shape[-1] != size:
            image = np.clip(np.round(resize(image[None].astype(np.float32), size)[0]), 0, 255)
        out[i] = image
    return out


@functools.lru_cache(maxsize=2)  # a worker's runs on one folder read it once
def load_folder(path: str, content: str, size: int, test_fraction: float, data_seed: int) -> ImageDataset:
    """The images of `path` (of content sha256 `content`), split: a seeded permutation of the
    sorted files."""
    folder = Path(path)
    files = image_files(folder)
    if len(files) < 2:
        raise DataMissing(f"{folder}: {len(files)} PNG or JPEG files; an image folder needs at least 2")
    labels = class_labels(folder, files)  # from the names alone: no file is opened
    images = cached_images(files, content or content_sha256(folder), size)
    n_test = max(1, round(len(files) * test_fraction))
    if n_test >= len(files):
        raise DataMissing(f"{folder}: test_fraction {test_fraction} leaves no training image of {len(files)}")
    order = torch.randperm(len(files), generator=torch.Generator().manual_seed(data_seed))
    test, train = order[:n_test], order[n_test:]
    train_images, test_images = (torch.from_numpy(images[i.numpy()]) for i in (train, test))  # copies
    return ImageDataset("image_folder", train_images, test_images, labels[train], labels[test])


def build_image_folder(params: ImageFolderParams) -> ImageDataset:
    """The image folder of `params` (read once per process for each content)."""
    if not params.path:
        raise DataMissing("image_folder: give path, a folder of PNG/JPEG images")
    return load_folder(
        params.path, params.content_sha256, params.size, params.test_fraction, params.data_seed
    )


def decode_folder(files: list[Path], size: int) -> np.ndarray:
    """The images of `files`, read and squared (`square_images`); an unreadable one: DataMissing."""
    try:
        return square_images([read_image(f) for f in files], size)
    except InputError as exc:
        raise DataMissing(str(exc)) from None


def cache_path(content: str, size: int) -> Path:
    """The cache file of a folder's decoded images: a readable label and the first 16 hex digits
    of the sha256 of its key (content sha256, size, resize, layout)."""
    key = {"format": CACHE_FORMAT, "content_sha256": content, "size": size, "resize": RESIZE}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / "image_folder" / f"{content[:12]}-{size}px-{digest}.npy"


def _cache_problem(path: Path, images: np.ndarray, count: int, size: int) -> str | None:
    """Why a cached array cannot be used (None when it can): dtype, shape, file size."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        return f"it holds {images.dtype} {images.shape}, not uint8 images (N, 1 or 3, H, W)"
    if images.shape[0] != count or images.shape[2:] != (size, size):
        return f"its shape {images.shape} is not ({count}, C, {size}, {size})"
    if path.stat().st_size != images.offset + images.nbytes:
        return f"its size {path.stat().st_size} bytes is not the {images.offset + images.nbytes} expected"
    return None


def read_cached(path: Path, count: int, size: int, report: bool = True) -> np.ndarray | None:
    """The cached images at `path`, memory-mapped read-only, or None when there are none or they
    cannot be used (truncated, another shape): then, when `report`, a warning naming the file."""
    if not path.exists():
        return None
    try:
        images = np.load(path, mmap_mode="r", allow_pickle=False)
        problem = _cache_problem(path, images, count, size)
    except (OSError, ValueError, EOFError) as exc:
        problem = f"it cannot be read ({type(exc).__name__}: {exc})"
    if problem is None:
        return images
    if report:
        print(f"warning: image cache file {path}: {problem}; decoding the images again", file=sys.stderr)
    return None


def write_atomic(path: Path, images: np.ndarray) -> None:
    """Write `images` as `.npy` to a temporary file beside `path`, fsync it and rename it into place."""
    tmp = path.with_name(f"{path.stem}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}.npy")
    try:
        with open(tmp, "wb") as f:
            np.save(f, images, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def cached_images(files: list[Path], content: str, size: int) -> np.ndarray:
    """The decoded images of `files` (a folder of content sha256 `content`) at `size`, read
    memory-mapped from the cache; decoded and written by one process when missing or damaged.
    A cache that cannot be written (read-only, full) is skipped with a warning."""
    path = cache_path(content, size)
    found = read_cached(path, len(files), size)
    if found is not None:
        return found
    images = None
    try:
        with locked(path):
            found = read_cached(path, len(files), size, report=False)  # another process wrote it meanwhile
            if found is None:
                images = decode_folder(files, size)
                write_atomic(path, images)
                found = read_cached(path, len(files), size)
        if found is None:
            raise OSError("it could not be read back after writing it")
        return found
    except OSError as exc:
        print(f"warning: image cache file {path}: not cached ({exc}); decoded in memory", file=sys.stderr)
        return decode_folder(files, size) if images is None else images


register_dataset(
    "image_folder",
    params=ImageFolderParams,
    build=build_image_folder,
    kind="image",
    doc="a folder of PNG/JPEG images (class subfolders: labels)",
    evaluation="the held-out images, test_fraction of the folder (samples vs. them; elbo, nll, parzen)",
)
