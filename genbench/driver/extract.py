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
    cached,
    features_of,
    new_file,
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
    """`workers` Ray actors of one CPU each, on this machine's node (they write into a file here;
    at most its CPUs), holding the same extractor; Ray is started (or joined) with
    `genbench.driver.runner.start_ray`. `close` ends the actors."""

    def __init__(self, make_embed: Callable[[], Embed], workers: int, address: str | None = None) -> None:
        import ray  # ~1 s to import: only when features are extracted on Ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        start_ray(address)
        node = ray.get_runtime_context().get_node_id()  # the actors write a file of this machine
        cpus = next((n["Resources"].get("CPU", 1) for n in ray.nodes() if n["NodeID"] == node), 1)
        workers = max(1, min(workers, int(cpus)))  # all placeable on this node
        here = NodeAffinitySchedulingStrategy(node_id=node, soft=False)
        actor = ray.remote(num_cpus=1, scheduling_strategy=here)(ShardExtractor)
        self.actors = [actor.remote(make_embed, 1) for _ in range(workers)]
        ray.get([a.ready.remote() for a in self.actors])

    def extract(self, path: Path, key: dict, source: Source, batch: int = FEATURE_BATCH) -> FeatureSet:
        """The feature set `key` (the first `key["count"]` images of `source`) at `path`: read from
        the cache when it is there and sound, else extracted by the pool's actors and cached."""
        return cached(path, key, lambda: self._extract_shards(path, key["count"], source, batch))

    def _extract_shards(self, path: Path, count: int, source: Source, batch: int) -> tuple[Path, Moments]:
        """The first `count` images of `source` cut into one shard per actor, each written by its
        actor into its rows of a new temporary file beside `path`; the file and the merged moments."""
        import ray  # ~1 s to import: only when features are extracted on Ray

        dim = ray.get(self.actors[0].dim.remote(source.shard(0, 1)))
        tmp = new_file(path, count, dim)  # the actors write the rows
        bounds = shard_bounds(count, len(self.actors), batch)
        try:
            refs = [
                actor.extract.remote(source.shard(a, b), str(tmp), a, batch)
                for actor, (a, b) in zip(self.actors, bounds, strict=False)
            ]
            return tmp, Moments.merge_all(ray.get(refs))
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

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


PARALLEL_MIN = 5_000  # images of a reference set from which it is extracted across Ray actors


def extract_references(sets: list, workers: int, on_ray: bool, say: Callable[[str], None]) -> None:
    """Put every reference feature set (`genbench.metrics.reference_sets.ReferenceSet`) the runs
    will read into the cache before they start: one of at least PARALLEL_MIN images across a pool
    of `workers` Ray actors when `on_ray` (Ray started), others in this process."""
    for ref in sets:
        if ref.cached():
            continue
        parallel = on_ray and workers > 1 and ref.count >= PARALLEL_MIN
        say(f"reference features: {ref.label}" + (f" on {workers} Ray workers" if parallel else ""))
        if not parallel:
            ref.extract_here()
            continue
        pool = ExtractorPool(ref.recipe, workers)
        try:
            pool.extract(ref.path, ref.key, ref.source)
        finally:
            pool.close()
