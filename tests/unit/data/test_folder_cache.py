"""The `image_folder` cache: a folder's images are decoded and resized once per machine, kept in
$GENBENCH_CACHE keyed by the folder's content, size and resize, and read back memory-mapped; a
damaged file is rebuilt with a warning naming it."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genbench.data.folder import (
    ImageFolderParams,
    build_image_folder,
    cache_path,
    cached_images,
    load_folder,
    square_images,
)
from genbench.data.load_images import content_sha256, image_files, read_image


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """$GENBENCH_CACHE in the test's own folder; the per-process memo emptied before and after."""
    monkeypatch.setenv("GENBENCH_CACHE", str(tmp_path / "cache"))
    load_folder.cache_clear()
    yield tmp_path / "cache"
    load_folder.cache_clear()


@pytest.fixture
def opens(monkeypatch) -> list[str]:
    """The files PIL opens from now on (PIL's own `Image.open`, wrapped to record its argument)."""
    seen: list[str] = []
    real_open = Image.open

    def recording_open(fp, *args, **kwargs):
        seen.append(str(fp))
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", recording_open)
    return seen


def colour_folder(folder: Path, n: int = 6) -> Path:
    """n random colour images of different sides, two class subfolders."""
    rng = np.random.default_rng(1)
    for i in range(n):
        side = 12 + 3 * i
        path = folder / ("a" if i % 2 else "b") / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (side, side + i, 3), dtype=np.uint8)).save(path)
    return folder


def build(folder: Path, **params):
    load_folder.cache_clear()  # as a new process would: only the cache on disk is shared
    params = {"size": 10, "test_fraction": 0.5} | params
    return build_image_folder(ImageFolderParams(path=str(folder), **params))


def all_images(ds) -> torch.Tensor:
    """Held-out then training images: the folder's images in the order of the split's permutation."""
    return torch.cat([ds.test_images, ds.train_images])


def test_the_cache_holds_the_pixels_of_a_fresh_decode_and_is_memory_mapped(tmp_path, cache):
    folder = colour_folder(tmp_path / "f")
    files = image_files(folder)
    fresh = square_images([read_image(f) for f in files], 10)
    ds = build(folder, data_seed=2)
    order = torch.randperm(len(files), generator=torch.Generator().manual_seed(2))
    assert torch.equal(all_images(ds), torch.from_numpy(fresh[order.numpy()]))
    labels = [int(j >= 3) for j in order.tolist()]  # sorted: a/1, a/3, a/5 (class 0), b/0, b/2, b/4
    assert ds.test_labels.tolist() + ds.train_labels.tolist() == labels
    path = cache_path(content_sha256(folder), 10)
    assert path.parent == cache / "image_folder" and path.exists()
    mapped = cached_images(files, content_sha256(folder), 10)
    assert isinstance(mapped, np.memmap) and not mapped.flags.writeable
    assert np.array_equal(mapped, fresh)


def test_a_second_construction_opens_no_image_file(tmp_path, cache, opens):
    folder = colour_folder(tmp_path / "f")
    first = build(folder)
    assert sorted(opens) == sorted(str(f) for f in image_files(folder))  # each decoded once
    opens.clear()
    second = build(folder)
    other_split = build(folder, data_seed=5)  # the split is not in the key: the same entry
    assert opens == []
    assert torch.equal(first.train_images, second.train_images)
    assert torch.equal(first.test_images, second.test_images)
    assert torch.equal(all_images(first).sum(0), all_images(other_split).sum(0))
    assert len(list((cache / "image_folder").glob("*.npy"))) == 1


def test_two_builders_at_once_decode_once(tmp_path, cache, opens):
    folder = colour_folder(tmp_path / "f")
    files, content = image_files(folder), content_sha256(folder)
    results: list[np.ndarray] = []
    threads = [
        threading.Thread(target=lambda: results.append(cached_images(files, content, 10))) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(opens) == len(files) and len(results) == 2
    assert np.array_equal(results[0], results[1])


def test_a_changed_file_or_size_gives_a_new_entry(tmp_path, cache):
    folder = colour_folder(tmp_path / "f")
    before = build(folder)
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(folder / "a" / "1.png")
    after = build(folder)
    assert len(list((cache / "image_folder").glob("*.npy"))) == 2
    assert not torch.equal(all_images(before), all_images(after))
    assert (all_images(after) == 0).all(dim=(1, 2, 3)).sum() == 1  # the black image, read anew
    assert build(folder, size=12).shape == (3, 12, 12)
    assert len(list((cache / "image_folder").glob("*.npy"))) == 3


@pytest.mark.parametrize("damage", ["truncated", "another shape"])
def test_a_damaged_cache_file_is_rebuilt_with_a_warning(tmp_path, cache, opens, capsys, damage):
    folder = colour_folder(tmp_path / "f")
    expected = build(folder)
    path = cache_path(content_sha256(folder), 10)
    size = path.stat().st_size
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: size // 2])
    else:
        np.save(path, np.zeros((6, 3, 10, 11), np.uint8))
    opens.clear()
    capsys.readouterr()
    rebuilt = build(folder)
    err = capsys.readouterr().err
    assert f"warning: image cache file {path}: " in err and "decoding the images again" in err
    assert len(opens) == 6 and path.stat().st_size == size
    assert torch.equal(all_images(rebuilt), all_images(expected))
    opens.clear()
    build(folder)
    assert opens == [] and capsys.readouterr().err == ""


def test_a_cache_that_cannot_be_written_is_skipped_with_a_warning(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("GENBENCH_CACHE", str(blocker))
    folder = colour_folder(tmp_path / "f")
    ds = build(folder)
    load_folder.cache_clear()
    fresh = square_images([read_image(f) for f in image_files(folder)], 10)
    assert torch.equal(all_images(ds).sum(0), torch.from_numpy(fresh).sum(0))
    assert "warning: image cache file" in capsys.readouterr().err
