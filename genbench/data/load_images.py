"""Reading what was made elsewhere: folders of PNG/JPEG images, `.npz`/`.npy` arrays of images,
`.npy`/`.csv` files of 2-D points; the one resize every image read here goes through; content
hashes of files and folders; and the checks of the `path` parameters that name them.

The resize is clean-fid's (Parmar et al., "On Aliased Resizing and Surprising Subtleties in GAN
Evaluation", CVPR 2022): one PIL bicubic resize per channel on float32 values, anti-aliased when
it shrinks, never a chain of resizes and never torch's interpolate.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pydantic import ValidationInfo

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
RESIZE = "PIL bicubic, one resize per channel in float32, anti-aliased (clean-fid)"
_GREY_MODES = ("1", "L", "LA")
_COLOUR_MODES = ("RGB", "RGBA", "P", "PA", "CMYK", "YCbCr")
_HASHES: dict[tuple, str] = {}  # (path, sizes and times of its files) -> content sha256


class InputError(ValueError):
    """Files that cannot be read as the samples or images asked for; the message names the file."""


def image_files(folder: Path) -> list[Path]:
    """Every PNG/JPEG file below `folder` (hidden ones left out), sorted by relative path, so that
    the order never depends on the file system's."""
    found = [
        p
        for p in Path(folder).rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.is_file()
    ]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def read_image(path: Path) -> np.ndarray:
    """An 8-bit image file as uint8 (C, H, W): C = 1 for grey modes, else 3 (alpha dropped)."""
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in _GREY_MODES:
                return np.asarray(image.convert("L"))[None]
            if image.mode in _COLOUR_MODES:
                return np.asarray(image.convert("RGB")).transpose(2, 0, 1)
            mode = image.mode
    except OSError as exc:
        raise InputError(f"{path}: not a readable PNG or JPEG image ({exc})") from None
    raise InputError(f"{path}: PIL mode {mode} is not 8-bit grey or colour; save it as 8-bit")


def is_grey(images: np.ndarray) -> bool:
    """Whether images (N, C, H, W) are grey: one channel, or three equal ones."""
    return images.shape[1] == 1 or bool((images == images[:, :1]).all())


def fit_channels(images: np.ndarray, channels: int, where: str) -> np.ndarray:
    """Images (N, C, H, W) with `channels` channels: colour images whose three channels are equal
    count as grey; any other mismatch is an InputError."""
    have = images.shape[1]
    if have == channels:
        return images
    if have == 3 and channels == 1 and is_grey(images):
        return images[:, :1]
    what = "grey (1 channel)" if have == 1 else f"in colour ({have} channels)"
    want = "grey (1 channel)" if channels == 1 else f"in colour ({channels} channels)"
    raise InputError(f"{where}: the images are {what} and the data set's are {want}")


def resize(images: np.ndarray, size: int) -> np.ndarray:
    """Float images (N, C, H, W) resized to size x size: each channel of each image one PIL
    bicubic resize in mode F (clean-fid's `make_resizer("PIL", False, "bicubic")`); not clipped."""
    n, c = images.shape[:2]
    out = np.empty((n, c, size, size), dtype=np.float32)
    for i in range(n):
        for j in range(c):
            channel = Image.fromarray(np.ascontiguousarray(images[i, j], dtype=np.float32))
            out[i, j] = np.asarray(channel.resize((size, size), Image.Resampling.BICUBIC))
    return out


def center_square(images: np.ndarray) -> np.ndarray:
    """The largest centred square of images (..., H, W)."""
    h, w = images.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return images[..., top : top + side, left : left + side]


def read_array(path: Path, key: str = "") -> np.ndarray:
    """The array of an `.npy` file (memory-mapped) or of an `.npz` file (its only one, or `key`)."""
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, mmap_mode="r", allow_pickle=False)
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            if key and key not in names:
                raise InputError(f"{path}: no array {key!r} (it holds {', '.join(names)})")
            if not key and len(names) != 1:
                raise InputError(f"{path}: it holds the arrays {', '.join(names)}; name one with key:")
            return archive[key or names[0]]
    except (OSError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{path}: not a readable NumPy file ({exc})") from None


def array_shape(array: np.ndarray, where: str) -> tuple[int, int, int]:
    """(C, H, W) of an array of images: uint8 (N, H, W, C) or (N, H, W), or floats in [0, 1]
    (N, C, H, W) or (N, H, W), with C 1 or 3."""
    if array.dtype == np.uint8 and array.ndim == 4 and array.shape[3] in (1, 3):
        return array.shape[3], array.shape[1], array.shape[2]
    if np.issubdtype(array.dtype, np.floating) and array.ndim == 4 and array.shape[1] in (1, 3):
        return array.shape[1], array.shape[2], array.shape[3]
    if (array.dtype == np.uint8 or np.issubdtype(array.dtype, np.floating)) and array.ndim == 3:
        return 1, array.shape[1], array.shape[2]
    raise InputError(
        f"{where}: an array of images is uint8 (N, H, W, C) or float (N, C, H, W) in [0, 1], "
        f"C 1 or 3; this one is {array.dtype} {tuple(array.shape)}"
    )


def array_images(array: np.ndarray, index: np.ndarray, where: str) -> np.ndarray:
    """The images `index` of an array of images (`array_shape`) as float32 (n, C, H, W) in [0, 1]."""
    picked = np.asarray(array[index])
    if array.ndim == 3:
        picked = picked[:, None]
    elif array.dtype == np.uint8:
        picked = picked.transpose(0, 3, 1, 2)
    if array.dtype == np.uint8:
        return picked.astype(np.float32) / np.float32(255)
    picked = picked.astype(np.float32)
    low, high = float(picked.min()), float(picked.max())
    if not (np.isfinite(low) and np.isfinite(high)) or low < -1e-6 or high > 1 + 1e-6:
        raise InputError(
            f"{where}: float images must be in [0, 1]; these are in [{low:.4g}, {high:.4g}] "
            "(images in [-1, 1]: save (x + 1) / 2)"
        )
    return np.clip(picked, 0.0, 1.0)


def read_points(path: Path) -> np.ndarray:
    """2-D points (N, 2) from an `.npy` file or a `.csv` file of two columns (a header line is skipped)."""
    try:
        if path.suffix.lower() == ".npy":
            points = np.load(path, allow_pickle=False)
        else:
            try:
                points = np.loadtxt(path, delimiter=",", ndmin=2)
            except ValueError:
                points = np.loadtxt(path, delimiter=",", ndmin=2, skiprows=1)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable array of points ({exc})") from None
    if points.ndim != 2 or points.shape[1] != 2 or not np.issubdtype(points.dtype, np.number):
        raise InputError(
            f"{path}: points are an (N, 2) array of numbers; this is {points.dtype} {points.shape}"
        )
    if not np.isfinite(points).all():
        raise InputError(f"{path}: some points are not finite (NaN or inf)")
    return points.astype(np.float32)


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes (what `sha256sum` prints)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_sha256(path: Path) -> str:
    """sha256 of a file's bytes; of a folder, sha256 of its image files' `sha256sum` lines
    ("<sha256>  <relative path>\\n", sorted by path). Kept per process while sizes and times hold."""
    path = Path(path)
    files = image_files(path) if path.is_dir() else [path]
    stats = [(f.relative_to(path).as_posix() if path.is_dir() else "", f.stat()) for f in files]
    key = (str(path), tuple((name, s.st_size, s.st_mtime_ns) for name, s in stats))
    if key not in _HASHES:
        if path.is_dir():
            lines = "".join(f"{file_sha256(f)}  {f.relative_to(path).as_posix()}\n" for f in files)
            _HASHES[key] = hashlib.sha256(lines.encode()).hexdigest()
        else:
            _HASHES[key] = file_sha256(path)
    return _HASHES[key]


def resolve_path(value: str, info: ValidationInfo, what: str, required: bool = True) -> str:
    """A `path` parameter as an absolute path that exists: a relative one is taken from the suite
    file's folder (the validation context's `base`), else from the working directory. Empty is
    refused when the parameters are read from a suite (a context) and `required`."""
    context: dict[str, Any] = info.context or {}
    if not value:
        if required and info.context is not None:
            raise ValueError(f"give {what}")
        return ""
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = Path(context.get("base") or Path.cwd()) / path
    if not path.exists():
        raise ValueError(f"{path} does not exist ({what})")
    return str(path.resolve())


def checked_sha256(given: str, path: str, what: str) -> str:
    """The content sha256 of `path` (empty when no path); a given one must equal it."""
    if not path:
        return ""
    found = content_sha256(Path(path))
    if given and given != found:
        raise ValueError(
            f"{what} has sha256 {found}, not the {given} given (or recorded when the suite was read): "
            "the files changed"
        )
    return found
