"""Feature extraction of one large image set across Ray workers: the set is cut into contiguous
shards at batch boundaries (each shard's batches are the single-process batches), each shard is
extracted by a Ray actor straight into its rows of one preallocated `.npy` file, and the shards'
moments are merged exactly, in shard order (`genbench.metrics.feature_cache`). The file and its
moments then go into the feature cache like a set extracted in one process."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch

from genbench.driver.runner import start_ray
from genbench.metrics.feature_cache import (
    FEATURE_BATCH,
    Embed,
    FeatureSet,
    Moments,
    Source,
    features_of,
    load,
    locked,
    new_file,
    publish,
    write_rows,
)


def shard_bounds(count: int, shards: int, batch: int = FEATURE_BATCH) -> list[tuple[int, int]]:
    """Contiguous (start, stop) covering 0:count in at most `shards` shards of whole batches (the
    last shard ends at `count`), their numbers of batches differing by at most one."""
    batches = math.ceil(count / batch)
    shards = max(1, min(shards, batches))
    edges = [min(count, (batches * i // shards) * batch) for i in range(shards + 1)]
    return list(zip(edges, edges[1:], strict=False))


class ShardExtractor:
    """What runs in a Ray actor: the extractor, built once (`make_embed()`) on `threads` torch
    threads, extracting shards into their rows of a shared features file."""

    def __init__(self, make_embed: Callable[[], Embed], threads: int = 1) -> None:
        torch.set_num_threads(threads)
        self.embed = make_embed()

    def ready(self) -> bool:
        """True once the actor has started and built its extractor."""
        return True

    def dim(self, source: Source) -> int:
        """The number of features per image (of the first image of `source`)."""
        return next(features_of(source.batches(0, 1, 1), self.embed)).shape[1]

    def extract(self, source: Source, out_path: str, start: int, batch: int) -> Moments:
        """Write the features of every image of `source` into rows start: of the `.npy` file at
        `out_path`, batch by batch; their moments."""
        features = features_of(source.batches(0, len(source), batch), self.embed)
        return write_rows(Path(out_path), start, start + len(source), features)


class ExtractorPool:
    """`workers` Ray actors of one CPU each (at most the cluster's CPUs) holding the same
    extractor; Ray is started (or joined) with `genbench.driver.runner.start_ray`. `close` ends
    the actors."""

    def __init__(self, make_embed: Callable[[], Embed], workers: int, address: str | None = None) -> None:
        import ray  # ~1 s to import: only when features are extracted on Ray

        start_ray(address)
        workers = max(1, min(workers, int(ray.cluster_resources().get("CPU", 1))))  # all placeable
        actor = ray.remote(num_cpus=1)(ShardExtractor)
        self.actors = [actor.remote(make_embed, 1) for _ in range(workers)]
        ray.get([a.ready.remote() for a in self.actors])

    def extract(self, path: Path, key: dict, source: Source, batch: int = FEATURE_BATCH) -> FeatureSet:
        """The feature set `key` (the first `key["count"]` images of `source`) at `path`: read from
        the cache when it is there and sound, else extracted by the pool's actors and cached."""
        import ray  # ~1 s to import: only when features are extracted on Ray

        found = load(path, key)
        if found is not None:
            return found
        with locked(path):
            found = load(path, key, report=False)  # another process may have written it meanwhile
            if found is not None:
                return found
            count = key["count"]
            dim = ray.get(self.actors[0].dim.remote(source.shard(0, 1)))
            tmp = new_file(path, count, dim)  # the actors write the rows
            bounds = shard_bounds(count, len(self.actors), batch)
            try:
                refs = [
                    actor.extract.remote(source.shard(a, b), str(tmp), a, batch)
                    for actor, (a, b) in zip(self.actors, bounds, strict=False)
                ]
                moments = Moments.merge_all(ray.get(refs))
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            return publish(tmp, path, key, moments)

    def close(self) -> None:
        """End the pool's actors (only those)."""
        import ray  # ~1 s to import: only when features are extracted on Ray

        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.actors = []


def extract_parallel(
    path: Path, key: dict, source: Source, make_embed: Callable[[], Embed], workers: int = 2
) -> FeatureSet:
    """The feature set `key` of `source`, extracted by a pool of `workers` actors started for it."""
    pool = ExtractorPool(make_embed, workers)
    try:
        return pool.extract(path, key, source)
    finally:
        pool.close()
