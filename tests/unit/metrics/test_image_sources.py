"""Image sources give, batch by batch and shard by shard, exactly the images of their whole:
a data set's test split as `dataset.test` gives it (plain, statically and dynamically binarized),
a tensor, and image files written with PIL."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from genbench.data.images import ImageDataset
from genbench.metrics.image_sources import (
    FileSource,
    SplitSource,
    TensorSource,
    read_image,
    source_of,
    to_unit,
)


def _dataset(binarize: str | None) -> ImageDataset:
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (4321, 1, 6, 6), generator=gen, dtype=torch.uint8)
    labels = torch.zeros(4321, dtype=torch.long)
    return ImageDataset("tiny", images, images, labels, labels, binarize=binarize)


def _all(source, start: int, stop: int, batch: int) -> torch.Tensor:
    """The batches of rows start:stop, concatenated and scaled to [0, 1]."""
    return to_unit(torch.cat(list(source.batches(start, stop, batch))))


@pytest.mark.parametrize("binarize", [None, "static", "dynamic"])
def test_split_batches_and_shards_equal_dataset_test(binarize):
    dataset = _dataset(binarize)
    whole = dataset.test
    source = source_of(dataset)
    assert isinstance(source, SplitSource) and len(source) == 4321
    assert torch.equal(_all(source, 0, 4321, 500), whole)
    assert torch.equal(_all(source, 1000, 3210, 333), whole[1000:3210])  # a draw replayed to row 1000
    shard = source.shard(2500, 4321)
    assert len(shard) == 1821 and torch.equal(_all(shard, 0, 1821, 500), whole[2500:])
    assert torch.equal(_all(shard.shard(100, 200), 0, 100, 7), whole[2600:2700])


def test_tensor_source_keeps_uint8_and_shards_copy_only_their_rows():
    images = torch.arange(5 * 3 * 2 * 2, dtype=torch.int64).remainder(256).to(torch.uint8).view(5, 3, 2, 2)
    source = TensorSource(images)
    batches = list(source.batches(1, 5, 3))
    assert [len(b) for b in batches] == [3, 1]
    assert batches[0].dtype == torch.uint8 and torch.equal(torch.cat(batches), images[1:])
    shard = source.shard(2, 4)
    assert shard.images.untyped_storage().nbytes() == 2 * 12
    assert torch.equal(_all(shard, 0, 2, 5), images[2:4].float() / 255.0)


@pytest.mark.parametrize("mode, channels", [("L", 1), ("RGB", 3)])
def test_file_source_reads_images_as_pil_wrote_them(tmp_path, mode, channels):
    rng = np.random.default_rng(1)
    shape = (9, 7) if mode == "L" else (9, 7, 3)
    arrays = [rng.integers(0, 256, size=shape, dtype=np.uint8) for _ in range(5)]
    paths = []
    for i, a in enumerate(arrays):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(a, mode=mode).save(paths[-1])
    expected = torch.from_numpy(np.stack([a if a.ndim == 3 else a[..., None] for a in arrays])).permute(
        0, 3, 1, 2
    )
    assert read_image(paths[0]).shape == (channels, 9, 7)
    source = FileSource(paths)
    assert torch.equal(_all(source, 0, 5, 2), expected.float() / 255.0)
    assert torch.equal(_all(source.shard(3, 5), 0, 2, 2), expected[3:].float() / 255.0)
