"""Feature extraction across Ray workers on a real local Ray instance: two actors writing their
shards into one shared file give the single-process features bit for bit and its moments to
float64 rounding; the result goes into the feature cache and is read back, not recomputed."""

from __future__ import annotations

import os

import numpy as np
import pytest
import ray
import torch

from genbench.data.images import ImageDataset
from genbench.driver.extract import ExtractorPool, extract_parallel
from genbench.metrics import classifier, extractors, feature_cache
from genbench.metrics.image_sources import SplitSource, TensorSource

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def ray_instance():
    """A private local Ray instance for this module (2 CPUs: two one-CPU extractors)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> feature_cache.ExtractorRecipe:
    """genbench's MNIST-classifier extractor with seeded random weights, saved to a file."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        net = classifier.MnistNet().eval()
    path = tmp_path_factory.mktemp("weights") / "net.pt"
    torch.save({"state_dict": net.state_dict(), "record": {"test_accuracy": 0.1}}, path)
    return feature_cache.ExtractorRecipe(extractors.TF_MNIST, str(path), "penultimate")


def _single_process(tmp_path, key, source, recipe) -> feature_cache.FeatureSet:
    path = feature_cache.cache_path("single", key, root=tmp_path / "single")
    batches = lambda: source.batches(0, key["count"], feature_cache.FEATURE_BATCH)  # noqa: E731
    return feature_cache.cached_features(path, key, batches, recipe())


def _assert_same(parallel: feature_cache.FeatureSet, single: feature_cache.FeatureSet) -> None:
    assert parallel.features.shape == single.features.shape
    assert np.array_equal(parallel.features, single.features)  # bit for bit
    assert parallel.moments.count == single.moments.count
    np.testing.assert_allclose(parallel.moments.mean, single.moments.mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(parallel.moments.cov, single.moments.cov, rtol=1e-10, atol=1e-12)
    whole = np.asarray(single.features, dtype=np.float64)
    np.testing.assert_allclose(parallel.moments.cov, np.cov(whole, rowvar=False), rtol=1e-9, atol=1e-10)


def test_two_workers_give_the_single_process_features_and_a_cached_second_call(tmp_path, recipe):
    images = torch.randint(
        0, 256, (2345, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8
    )
    source, key = TensorSource(images), {"count": 2345, "what": "random images"}
    path = feature_cache.cache_path("parallel", key, root=tmp_path / "parallel")
    pool = ExtractorPool(recipe, workers=2)
    try:
        parallel = pool.extract(path, key, source)  # shards of 1,000 and 1,345 rows
        _assert_same(parallel, _single_process(tmp_path, key, source, recipe))
        stamp = os.stat(path).st_mtime_ns
        again = pool.extract(path, key, TensorSource(images[:0]))  # an empty source: it must not be read
        assert os.stat(path).st_mtime_ns == stamp and np.array_equal(again.features, parallel.features)
    finally:
        pool.close()
    assert sorted(p.name for p in path.parent.iterdir() if "tmp" in p.name) == []


def test_a_dynamically_binarized_split_in_shards_equals_one_process(tmp_path, recipe):
    gen = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (1500, 1, 28, 28), generator=gen, dtype=torch.uint8)
    labels = torch.zeros(1500, dtype=torch.long)
    dataset = ImageDataset("tiny", images, images, labels, labels, binarize="dynamic")
    key = {"count": 1200, "what": "binarized split"}
    parallel = extract_parallel(tmp_path / "p.npy", key, SplitSource.of(dataset), recipe, workers=2)
    _assert_same(parallel, _single_process(tmp_path, key, SplitSource.of(dataset), recipe))
    with torch.no_grad():
        direct = recipe()(dataset.test[:1200])
    assert np.array_equal(parallel.features, direct.numpy())
