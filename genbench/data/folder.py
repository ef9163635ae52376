"""The `image_folder` data set: a folder of PNG/JPEG images, optionally one subfolder per class
(the labels, numbered in sorted order of the subfolders' names).

Deterministic whatever the file system: the files are taken in sorted order of their relative
paths and split by a permutation seeded with `data_seed` (`test_fraction` of them held out).
Every image is centre-cropped to a square and resized once to `size` x `size` with the resize of
`genbench.data.load_images` (PIL bicubic per channel, clean-fid's); the data set is grey (one
channel) when every image is grey, else in colour (grey images repeated to three channels).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from genbench.data.images import DataMissing, ImageDataset
from genbench.data.load_images import (
    InputError,
    center_square,
    checked_sha256,
    image_files,
    is_grey,
    read_image,
    resize,
    resolve_path,
)
from genbench.registry import register_dataset


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
def load_folder(
    path: str, content_sha256: str, size: int, test_fraction: float, data_seed: int
) -> ImageDataset:
    """The images of `path` (of that content), split: a seeded permutation of the sorted files."""
    folder = Path(path)
    files = image_files(folder)
    if len(files) < 2:
        raise DataMissing(f"{folder}: {len(files)} PNG or JPEG files; an image folder needs at least 2")
    labels = class_labels(folder, files)
    try:
        images = torch.from_numpy(square_images([read_image(f) for f in files], size))
    except InputError as exc:
        raise DataMissing(str(exc)) from None
    n_test = max(1, round(len(files) * test_fraction))
    if n_test >= len(files):
        raise DataMissing(f"{folder}: test_fraction {test_fraction} leaves no training image of {len(files)}")
    order = torch.randperm(len(files), generator=torch.Generator().manual_seed(data_seed))
    test, train = order[:n_test], order[n_test:]
    return ImageDataset("image_folder", images[train], images[test], labels[train], labels[test])


def build_image_folder(params: ImageFolderParams) -> ImageDataset:
    """The image folder of `params` (read once per process for each content)."""
    if not params.path:
        raise DataMissing("image_folder: give path, a folder of PNG/JPEG images")
    return load_folder(
        params.path, params.content_sha256, params.size, params.test_fraction, params.data_seed
    )


register_dataset(
    "image_folder",
    params=ImageFolderParams,
    build=build_image_folder,
    kind="image",
    doc="a folder of PNG/JPEG images (class subfolders: labels)",
    evaluation="the held-out images, test_fraction of the folder (samples vs. them; elbo, nll, parzen)",
)
