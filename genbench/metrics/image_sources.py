"""Where the images of a feature set come from, batch by batch (N, C, H, W), as they are stored:
uint8 in 0..255, or floats in [0, 1] (`to_unit` scales either to [0, 1]): a tensor, a data set's
test split as `dataset.test` gives it (up to that scaling), or image files read with PIL. uint8
images stay uint8, since the extractors take them so (torch-fidelity's contract) and scaling them
to floats and back costs a pass over every image. Only one batch is converted at a time, and
every source hands a contiguous shard of itself to another process (`shard`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from genbench.data.images import ImageDataset

TEST_DRAW_SEED = 12345  # the seed of a dynamically binarized test split's one draw (ImageDataset.test)
REPLAY_ROWS = 2000  # rows drawn at a time when a shard replays the draws of the rows before it


class Source(Protocol):
    """Images by row number: `len`, batches of rows start:stop, and a shard (rows start:stop,
    numbered from 0) that can be sent to another process."""

    def __len__(self) -> int: ...

    def batches(self, start: int, stop: int, batch: int) -> Iterator[torch.Tensor]: ...

    def shard(self, start: int, stop: int) -> Source: ...


def spans(start: int, stop: int, batch: int) -> Iterator[tuple[int, int]]:
    """(a, b) of consecutive batches of at most `batch` rows covering start:stop."""
    for a in range(start, stop, batch):
        yield a, min(a + batch, stop)


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 images scaled to [0, 1] floats (as ImageDataset.test scales them); floats as floats."""
    return images.float() / 255.0 if images.dtype == torch.uint8 else images.float()


class TensorSource:
    """The rows of an image tensor, uint8 in [0, 255] or floats in [0, 1], as they are."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def batches(self, start: int, stop: int, batch: int) -> Iterator[torch.Tensor]:
        for a, b in spans(start, stop, batch):
            yield self.images[a:b]

    def shard(self, start: int, stop: int) -> TensorSource:
        return TensorSource(self.images[start:stop].clone())  # a copy: only the shard's rows are sent


@dataclass(frozen=True)
class SplitSource:
    """An image data set's test split, row by row, as `ImageDataset.test` gives it: its uint8
    images (`to_unit` gives dataset.test's [0, 1] floats), a static binarization's 0/1 floats,
    or a dynamic binarization's one seeded draw, replayed
    batch by batch (torch.bernoulli draws element after element from its generator, so the
    batches' draws are the whole split's draw; a shard draws and drops the rows before it)."""

    images: torch.Tensor  # the whole split, uint8
    binarize: str | None
    scaled: bool  # pixels in 0..255 (else already 0/1): ImageDataset's _bernoulli, over the whole split
    offset: int = 0
    length: int | None = None

    @classmethod
    def of(cls, dataset: ImageDataset) -> SplitSource:
        images = dataset.test_images
        return cls(images, dataset.binarize, bool(images.max() > 1), 0, len(images))

    def __len__(self) -> int:
        return len(self.images) - self.offset if self.length is None else self.length

    def _to_float(self, images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if self.binarize == "dynamic":
            probs = images.float() / 255.0 if self.scaled else images.float()
            return torch.bernoulli(probs, generator=generator).to(torch.uint8).float()
        return images.float() if self.binarize == "static" else images

    def _generator(self, rows: int) -> torch.Generator | None:
        """The split's generator after the draws of its first `rows` rows (None: no draws)."""
        if self.binarize != "dynamic":
            return None
        generator = torch.Generator().manual_seed(TEST_DRAW_SEED)
        for a, b in spans(0, rows, REPLAY_ROWS):
            self._to_float(self.images[a:b], generator)
        return generator

    def batches(self, start: int, stop: int, batch: int) -> Iterator[torch.Tensor]:
        generator = self._generator(self.offset + start)
        for a, b in spans(self.offset + start, self.offset + stop, batch):
            yield self._to_float(self.images[a:b], generator)

    def shard(self, start: int, stop: int) -> SplitSource:
        return SplitSource(self.images, self.binarize, self.scaled, self.offset + start, stop - start)


def read_image(path: str | Path) -> np.ndarray:
    """An image file as uint8 (C, H, W): grey files (PIL modes L and 1) one channel, others RGB."""
    from PIL import Image  # only when images come from files

    with Image.open(path) as image:
        pixels = np.asarray(image.convert("L" if image.mode in ("L", "1") else "RGB"))
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


class FileSource:
    """Image files of one size, read batch by batch."""

    def __init__(self, paths: Sequence[str | Path]) -> None:
        self.paths = [str(p) for p in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def batches(self, start: int, stop: int, batch: int) -> Iterator[torch.Tensor]:
        for a, b in spans(start, stop, batch):
            yield torch.from_numpy(np.stack([read_image(p) for p in self.paths[a:b]]))

    def shard(self, start: int, stop: int) -> FileSource:
        return FileSource(self.paths[start:stop])


def source_of(dataset) -> Source:
    """The test split of `dataset` as a source: streamed from its uint8 images when it is an
    ImageDataset, else its `test` tensor."""
    if isinstance(dataset, ImageDataset):
        return SplitSource.of(dataset)
    return TensorSource(dataset.test)
