"""The `image_folder` data set: a split that depends on the sorted file names and the seed only,
labels from class subfolders, one channel only when every image is grey, the one PIL bicubic
resize after a centre crop, a content hash in the run id, and a family trained on it through the
normal loop."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genbench.data.folder import ImageFolderParams, build_image_folder, load_folder
from genbench.data.images import DataMissing
from genbench.suite.config import SuiteError, load_suite
from genbench.worker.train import train


def levels_folder(folder: Path, n: int, names=None, side: int = 8) -> Path:
    """n grey images whose every pixel is 8 i (image i), saved as names[i] (default 000.png, ...)."""
    names = names or [f"{i:03d}.png" for i in range(n)]
    for i, name in enumerate(names):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((side, side), 8 * i, np.uint8)).save(folder / name)
    return folder


def dataset(folder: Path, **params):
    load_folder.cache_clear()
    return build_image_folder(ImageFolderParams(path=str(folder), **params))


def test_the_split_is_a_seeded_permutation_of_the_sorted_names_whatever_the_file_order(tmp_path):
    a = levels_folder(tmp_path / "a", 20, side=8)
    (tmp_path / "b").mkdir()
    for i in reversed(range(20)):  # the same files, written in the other order
        Image.fromarray(np.full((8, 8), 8 * i, np.uint8)).save(tmp_path / "b" / f"{i:03d}.png")
    ds = dataset(a, size=8, test_fraction=0.25, data_seed=3)
    order = torch.randperm(20, generator=torch.Generator().manual_seed(3))
    assert ds.test_images.shape == (5, 1, 8, 8) and ds.train_images.shape == (15, 1, 8, 8)
    assert (ds.test_images[:, 0, 0, 0] // 8).tolist() == order[:5].tolist()  # image i is the i-th sorted name
    assert (ds.train_images[:, 0, 0, 0] // 8).tolist() == order[5:].tolist()
    other = dataset(tmp_path / "b", size=8, test_fraction=0.25, data_seed=3)
    assert torch.equal(other.test_images, ds.test_images) and torch.equal(other.train_images, ds.train_images)
    assert not torch.equal(dataset(a, size=8, test_fraction=0.25, data_seed=4).test_images, ds.test_images)
    assert ds.kind == "image" and ds.shape == (1, 8, 8) and ds.test.dtype == torch.float32


def test_class_subfolders_are_labels_in_sorted_order(tmp_path):
    names = ["zebra/0.png", "ant/1.png", "ant/2.png", "moth/3.png"]
    ds = dataset(levels_folder(tmp_path / "f", 4, names), size=8, test_fraction=0.5)
    labels = torch.cat([ds.train_labels, ds.test_labels])
    pixels = torch.cat([ds.train_images, ds.test_images])[:, 0, 0, 0] // 8
    by_image = dict(zip(pixels.tolist(), labels.tolist(), strict=True))
    assert by_image == {0: 2, 1: 0, 2: 0, 3: 1}  # ant 0, moth 1, zebra 2
    levels_folder(tmp_path / "f", 1, ["loose.png"])
    with pytest.raises(DataMissing, match="loose.png lies directly in it while other images are in class"):
        dataset(tmp_path / "f", size=8)


def test_one_channel_only_when_every_image_is_grey(tmp_path):
    folder = levels_folder(tmp_path / "f", 3)
    Image.fromarray(np.full((8, 8, 3), 40, np.uint8)).save(folder / "rgb_grey.png")  # equal channels
    assert dataset(folder, size=8).shape == (1, 8, 8)
    colour = np.zeros((8, 8, 3), np.uint8)
    colour[..., 0] = 200
    Image.fromarray(colour).save(folder / "red.png")
    ds = dataset(folder, size=8, test_fraction=0.2)
    images = torch.cat([ds.train_images, ds.test_images])
    assert ds.shape == (3, 8, 8)
    red = images[(images[:, 0] == 200).all((1, 2))]
    assert len(red) == 1 and red[0, 1:].max() == 0
    greys = images[~(images[:, 0] == 200).all((1, 2))]
    assert torch.equal(greys[:, 0], greys[:, 1]) and torch.equal(greys[:, 1], greys[:, 2])  # grey repeated


def test_images_are_centre_cropped_and_resized_once_with_pil_bicubic(tmp_path):
    rng = np.random.default_rng(0)
    wide = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    (tmp_path / "f").mkdir()
    for i in range(2):
        Image.fromarray(wide).save(tmp_path / "f" / f"{i}.png")
    ds = dataset(tmp_path / "f", size=8, test_fraction=0.5)
    square = wide[:, 5:25].astype(np.float32)  # the centred 20 x 20
    expected = np.clip(
        np.round(np.asarray(Image.fromarray(square).resize((8, 8), Image.Resampling.BICUBIC))), 0, 255
    )
    assert np.array_equal(ds.test_images[0, 0].numpy(), expected.astype(np.uint8))


def test_the_content_hash_is_in_the_run_id_and_the_folder_is_read_from_the_suite(tmp_path):
    levels_folder(tmp_path / "f", 6)
    entry = {"name": "image_folder", "path": "f", "size": 8, "test_fraction": 0.5}
    suite = {
        "name": "folder",
        "seeds": [0],
        "budget": {"steps": 4},
        "eval": {"samples": 16},
        "datasets": [entry],
        "models": [{"name": "vae", "hidden": 8, "batch_size": 4}],
        "metrics": ["parzen"],
    }
    spec = load_suite(suite, base=tmp_path)[1][0]
    assert (
        spec.dataset_params["path"] == str(tmp_path / "f")
        and len(spec.dataset_params["content_sha256"]) == 64
    )
    shutil.copytree(tmp_path / "f", tmp_path / "g")
    assert (
        load_suite(suite | {"datasets": [entry | {"path": "g"}]}, base=tmp_path)[1][0].run_id == spec.run_id
    )
    levels_folder(tmp_path / "g", 7)
    assert (
        load_suite(suite | {"datasets": [entry | {"path": "g"}]}, base=tmp_path)[1][0].run_id != spec.run_id
    )
    with pytest.raises(SuiteError, match=r"datasets\[0\]\.path: .* is not a folder"):
        load_suite(suite | {"datasets": [entry | {"path": "g/000.png"}]}, base=tmp_path)
    result = train(spec)  # a VAE trained on the folder through the one loop
    assert result.status == "ok" and result.steps == 4 and np.isfinite(result.metrics["parzen"])


def test_too_few_images_or_no_training_image_are_refused(tmp_path):
    with pytest.raises(DataMissing, match="1 PNG or JPEG files; an image folder needs at least 2"):
        dataset(levels_folder(tmp_path / "one", 1), size=8)
    os.makedirs(tmp_path / "two")
    with pytest.raises(DataMissing, match="test_fraction 0.9 leaves no training image of 2"):
        dataset(levels_folder(tmp_path / "two", 2), size=8, test_fraction=0.9)
