"""The `samples` family: samples made elsewhere, evaluated as they are (no training). A folder of
PNG/JPEG images, an `.npz`/`.npy` array of images (uint8 (N, H, W, C), or floats in [0, 1]
(N, C, H, W)), or, on the 2-D toys, an `.npy`/`.csv` of points (N, 2).

`sample(n, generator)` draws n of them without replacement with the evaluation's generator, so
the run's seed chooses which `eval.samples` are scored and seeds give a spread. Images must have
the data set's channels (colour files with three equal channels count as grey); square images of
another size are resized once (`genbench.data.load_images.resize`), which the run's protocol
records under `input`.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from genbench.data.load_images import (
    RESIZE,
    InputError,
    array_images,
    array_shape,
    checked_sha256,
    fit_channels,
    image_files,
    read_array,
    read_image,
    read_points,
    resize,
    resolve_path,
)
from genbench.models.base import Batches, GenerativeModel
from genbench.registry import register_model

ARRAY_SUFFIXES = (".npz", ".npy")
POINT_SUFFIXES = (".npy", ".csv")
PATH_HELP = "a folder of PNG/JPEG images, an .npz/.npy of images, or (2-D toys) an .npy/.csv of points"


class SamplesHParams(BaseModel):
    """genbench's own; path is required (samples made elsewhere, scored as given)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # inf and NaN are no parameters
    trains: ClassVar[bool] = False  # made elsewhere: not trained (not grouped by vectorize_seeds)

    path: str = Field("", validate_default=True, description=PATH_HELP + " (relative: to the suite file)")
    key: str = Field("", description="the array of an .npz file that holds several")
    content_sha256: str = Field(
        "",
        validate_default=True,
        description="sha256 of the file (a folder: of its files' sha256sum lines); computed when the "
        "suite is read, checked when given",
    )

    @field_validator("path")
    @classmethod
    def _path(cls, value: str, info: ValidationInfo) -> str:
        path = resolve_path(value, info, f"path: {PATH_HELP}")
        suffix = Path(path).suffix.lower()
        if path and not Path(path).is_dir() and suffix not in ARRAY_SUFFIXES + POINT_SUFFIXES:
            raise ValueError(f"{path}: not a folder, .npz, .npy or .csv file ({PATH_HELP})")
        return path

    @field_validator("content_sha256")
    @classmethod
    def _content(cls, value: str, info: ValidationInfo) -> str:
        return checked_sha256(value, info.data.get("path", ""), "path")

    def no_effect(self) -> dict[str, str]:
        """Keys whose value changes nothing given the others (a suite setting one is refused)."""
        if Path(self.path).suffix.lower() == ".npz":
            return {}
        return {"key": "key names an array of an .npz file; path is not one"}

    def input_problem(self, dataset, n_samples: int) -> str | None:
        """Why these samples cannot be scored on `dataset` with `n_samples` of them, or None."""
        try:
            source = open_source(self, dataset)
            if dataset.kind == "image":
                fit_images(source.take(np.arange(1)), dataset.shape, self.path)
        except InputError as exc:
            return str(exc)
        if len(source) < n_samples:
            return (
                f"{self.path}: {len(source)} samples, fewer than the {n_samples} scored (eval.samples); "
                "give more samples or a smaller eval.samples"
            )
        return None


class FolderSource:
    """The image files of a folder, in sorted order, read when drawn."""

    def __init__(self, folder: Path) -> None:
        self.files = image_files(folder)
        if not self.files:
            raise InputError(f"{folder}: no PNG or JPEG files in it")
        self.shape = tuple(read_image(self.files[0]).shape)
        self.format = "PNG/JPEG folder"

    def __len__(self) -> int:
        return len(self.files)

    def take(self, index: np.ndarray) -> np.ndarray:
        """The files `index` as float32 (n, C, H, W) in [0, 1]; all must have one shape."""
        images = [read_image(self.files[i]) for i in index]
        for i, image in zip(index, images, strict=True):
            if image.shape != self.shape:
                raise InputError(
                    f"{self.files[i]}: {image.shape} (C, H, W), not {self.shape} as {self.files[0]}"
                )
        return np.stack(images).astype(np.float32) / np.float32(255)


class ArraySource:
    """An array of images from an .npz or .npy file."""

    def __init__(self, path: Path, key: str) -> None:
        self.array = read_array(path, key)
        self.where = str(path)
        self.shape = array_shape(self.array, self.where)
        self.format = f"{path.suffix.lower()} {self.array.dtype}"

    def __len__(self) -> int:
        return len(self.array)

    def take(self, index: np.ndarray) -> np.ndarray:
        return array_images(self.array, index, self.where)


class PointSource:
    """2-D points from an .npy or .csv file."""

    def __init__(self, path: Path) -> None:
        self.points = read_points(path)
        self.shape = (2,)
        self.format = f"{path.suffix.lower()} points"

    def __len__(self) -> int:
        return len(self.points)

    def take(self, index: np.ndarray) -> np.ndarray:
        return self.points[index]


def open_source(hp: SamplesHParams, dataset):
    """The source of `hp.path` for `dataset`'s kind: points for the 2-D toys, else images."""
    path = Path(hp.path)
    if not hp.path:
        raise InputError(f"samples: give path ({PATH_HELP})")
    if dataset.kind == "toy2d":
        if path.is_dir() or path.suffix.lower() not in POINT_SUFFIXES:
            raise InputError(f"{path}: {dataset.name} takes 2-D points, an .npy or .csv file of shape (N, 2)")
        return PointSource(path)
    if path.is_dir():
        return FolderSource(path)
    if path.suffix.lower() not in ARRAY_SUFFIXES:
        raise InputError(f"{path}: images are a folder of PNG/JPEG files or an .npz/.npy array")
    return ArraySource(path, hp.key)


def fit_images(images: np.ndarray, shape: tuple[int, ...], where: str) -> np.ndarray:
    """Images (n, C, H, W) in [0, 1] fitted to a data set's shape (C, S, S): the same channels
    (`fit_channels`), and square images of another side resized once (`resize`), clipped to [0, 1]."""
    images = fit_channels(images, shape[0], where)
    side = shape[-1]
    height, width = images.shape[-2:]
    if (height, width) == (side, side):
        return images
    if height != width:
        raise InputError(
            f"{where}: the images are {height} x {width}, not square like the data set's {side} x {side}"
        )
    return np.clip(resize(images, side), 0.0, 1.0)


class SamplesModel(GenerativeModel):
    """Samples made elsewhere: `sample` draws without replacement; nothing to train."""

    trains = False  # the training loop takes no step: the run is evaluated at step 0

    def __init__(self, hp: SamplesHParams, dataset, device: str = "cpu") -> None:
        super().__init__()
        self.source = open_source(hp, dataset)
        self.where = hp.path
        self.target = tuple(dataset.shape) if dataset.kind == "image" else None
        self.batch_size = 1
        self._device = torch.device(device)
        side = self.source.shape[-1]
        resized = self.target is not None and side != self.target[-1]
        self.input_protocol = {
            "input": {
                "family": "samples",
                "format": self.source.format,
                "count": len(self.source),
                "shape": list(self.source.shape),
                "content_sha256": hp.content_sha256,
                "resize": f"{RESIZE}, {side} -> {self.target[-1]}" if resized else "none",
            }
        }

    @property
    def device(self) -> torch.device:
        """Where samples are handed out (there are no parameters)."""
        return self._device

    def train_step(self, next_batch: Batches, step: int) -> dict[str, float]:
        raise RuntimeError("samples made elsewhere are evaluated as given; they take no training step")

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n of the samples, drawn without replacement with `generator`."""
        if n > len(self.source):
            raise InputError(f"{self.where}: {len(self.source)} samples, fewer than the {n} asked for")
        index = torch.randperm(len(self.source), generator=generator)[:n].numpy()
        drawn = self.source.take(index)
        if self.target is not None:
            drawn = fit_images(drawn, self.target, self.where)
        return torch.from_numpy(np.ascontiguousarray(drawn, dtype=np.float32)).to(self._device)


def build(hp: SamplesHParams, dataset, device: str = "cpu") -> SamplesModel:
    """The samples of `hp.path` for `dataset` on `device`."""
    return SamplesModel(hp, dataset, device)


register_model(
    "samples",
    hparams=SamplesHParams,
    build=build,
    doc="samples made elsewhere (image folder, .npz/.npy, or points), evaluated as given: no training",
)
