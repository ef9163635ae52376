"""The feature cache: running moments merged over uneven shards against numpy and a hand
computation; features streamed into the memory-mapped cache equal direct extraction, bit for bit;
a second call reads instead of computing; the key separates weights and image sizes; a damaged
entry is reported and computed again, never used; the reference features of the FID equal
today's whole-split extraction (a random-weight classifier pinned by its weights hash)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from genbench.data.images import DigitsParams, build_digits
from genbench.metrics import classifier, extractors, feature_cache, fidelity
from genbench.metrics.feature_cache import Moments
from genbench.metrics.image_sources import TensorSource, to_unit


def test_exact_merge_of_two_halves_by_hand():
    """[0, 2] and [4, 6]: means 1 and 5, M2 2 and 2; the union's mean 3, M2 2 + 2 + 4^2 * 2 * 2 / 4 = 20."""
    merged = Moments.of(np.array([[0.0], [2.0]])).merge(Moments.of(np.array([[4.0], [6.0]])))
    assert merged.count == 4 and merged.mean.tolist() == [3.0] and merged.m2.tolist() == [[20.0]]
    assert merged.cov.tolist() == [[20.0 / 3.0]]


@pytest.mark.parametrize("edges", [[0, 1, 40, 41, 103], [0, 100, 103], [0, 103]])
def test_moments_of_uneven_shards_merge_to_numpy_mean_and_cov(edges):
    x = np.random.default_rng(0).normal(loc=3.0, scale=[1.0, 5.0, 0.1, 2.0, 1.0], size=(103, 5))
    x[:, 4] = 2 * x[:, 0] - x[:, 1]  # a singular direction too
    merged = Moments.merge_all(Moments.of(x[a:b]) for a, b in zip(edges, edges[1:], strict=False))
    assert merged.count == 103
    np.testing.assert_allclose(merged.mean, x.mean(axis=0), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(merged.cov, np.cov(x, rowvar=False), rtol=1e-12, atol=1e-12)


def _net_embed(calls: list[int]):
    """A small convolutional net with seeded random weights; counts the batches it embeds."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten()).eval()

    def embed(x: torch.Tensor) -> torch.Tensor:
        calls.append(len(x))
        return net(to_unit(x))  # sources give uint8 images as they are

    return net, embed


def _images(n: int = 1234) -> torch.Tensor:
    return torch.randint(0, 256, (n, 1, 8, 8), generator=torch.Generator().manual_seed(3), dtype=torch.uint8)


def _cached(tmp_path, images, embed, key_extra=None, batch=100):
    key = {"count": len(images), "what": "test images"} | (key_extra or {})
    path = feature_cache.cache_path("set", key, root=tmp_path)
    source = TensorSource(images)
    return feature_cache.cached_features(path, key, lambda: source.batches(0, len(images), batch), embed)


def test_cached_features_equal_direct_extraction_and_are_read_back_memory_mapped(tmp_path):
    calls: list[int] = []
    net, embed = _net_embed(calls)
    images = _images()
    found = _cached(tmp_path, images, embed)
    with torch.no_grad():
        direct = net(images.float() / 255.0)
    assert torch.equal(found.tensor(), direct)
    assert isinstance(found.features, np.memmap) and found.path.suffix == ".npy"
    assert calls == [100] * 12 + [34]  # batch by batch
    d = direct.double().numpy()
    np.testing.assert_allclose(found.moments.mean, d.mean(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(found.moments.cov, np.cov(d, rowvar=False), rtol=1e-10, atol=1e-12)
    assert not list(tmp_path.glob("features/*tmp*"))  # no temporary file left


def test_a_second_call_reads_the_cache_without_computing(tmp_path):
    calls: list[int] = []
    _, embed = _net_embed(calls)
    images = _images()
    first = _cached(tmp_path, images, embed)
    stamp = os.stat(first.path).st_mtime_ns
    calls.clear()
    second = _cached(tmp_path, images, embed)
    assert calls == [] and os.stat(second.path).st_mtime_ns == stamp
    assert np.array_equal(second.features, first.features)
    assert np.array_equal(second.moments.m2, first.moments.m2)


def test_features_from_a_generator_of_batches(tmp_path):
    calls: list[int] = []
    net, embed = _net_embed(calls)
    images = _images(250)
    key = {"count": 250, "what": "generated"}
    path = feature_cache.cache_path("gen", key, root=tmp_path)
    found = feature_cache.cached_features(
        path, key, lambda: (images[i : i + 64].float() / 255 for i in range(0, 250, 64)), embed
    )
    with torch.no_grad():
        assert torch.equal(found.tensor(), net(images.float() / 255.0))


def test_the_key_separates_weights_and_image_sizes():
    small, large = build_digits(DigitsParams(size=16)), build_digits(DigitsParams(size=32))
    key = feature_cache.key_of(small, "test", "net", "a" * 64, 100)
    path = feature_cache.cache_path("digits", key)
    assert path == feature_cache.cache_path(
        "digits", feature_cache.key_of(small, "test", "net", "a" * 64, 100)
    )
    others = [
        feature_cache.key_of(small, "test", "net", "b" * 64, 100),  # other weights
        feature_cache.key_of(large, "test", "net", "a" * 64, 100),  # other size (and data)
        feature_cache.key_of(small, "test", "net", "a" * 64, 99),  # other count
        feature_cache.key_of(small, "test", "other-net", "a" * 64, 100),
        {**key, "data": "0" * 64},  # other data, same size
        {**key, "resize": [1, 28, 28]},  # same data, other size
    ]
    assert len({feature_cache.cache_path("digits", k) for k in [key, *others]}) == 7


def _damage_truncate(path):
    path.write_bytes(path.read_bytes()[:-37])


def _damage_flip(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _damage_stats(path):
    feature_cache.stats_path(path).write_bytes(b"not a zip file")


def _damage_no_stats(path):
    feature_cache.stats_path(path).unlink()


@pytest.mark.parametrize("damage", [_damage_truncate, _damage_flip, _damage_stats, _damage_no_stats])
def test_a_damaged_entry_is_reported_and_computed_again(tmp_path, capsys, damage):
    calls: list[int] = []
    _, embed = _net_embed(calls)
    images = _images()
    good = np.array(_cached(tmp_path, images, embed).features)
    path = next(tmp_path.glob("features/*.npy"))
    damage(path)
    calls.clear()
    again = _cached(tmp_path, images, embed)
    assert sum(calls) == len(images)  # computed again
    assert np.array_equal(again.features, good)
    assert f"feature cache file {path}" in capsys.readouterr().err


def test_an_entry_of_another_key_is_not_used(tmp_path, capsys):
    calls: list[int] = []
    _, embed = _net_embed(calls)
    images = _images()
    first = _cached(tmp_path, images, embed)
    other = feature_cache.cache_path("set", {"count": len(images), "what": "other"}, root=tmp_path)
    other.write_bytes(first.path.read_bytes())
    feature_cache.stats_path(other).write_bytes(feature_cache.stats_path(first.path).read_bytes())
    assert feature_cache.load(other, {"count": len(images), "what": "other"}) is None
    assert "its key differs" in capsys.readouterr().err


@pytest.fixture
def digits_with_classifier(tmp_path, monkeypatch):
    """Digits at 28 x 28 and a torch-fidelity MNIST-classifier extractor with seeded random
    weights, saved to a file and pinned by their hash; the cache in `tmp_path`."""
    monkeypatch.setenv("GENBENCH_CACHE", str(tmp_path / "cache"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        net = classifier.MnistNet().eval()
    weights = tmp_path / "net.pt"
    torch.save({"state_dict": net.state_dict(), "record": {"test_accuracy": 0.1}}, weights)
    from torch_fidelity.utils import create_feature_extractor

    layers = ["penultimate", "logits"]
    fe = create_feature_extractor(
        extractors.TF_MNIST, layers, cuda=False, feature_extractor_weights_path=str(weights), verbose=False
    )
    info = {"extractor": "mnist_classifier", "weights_hash": classifier.weights_hash(net.state_dict())}
    return build_digits(DigitsParams(size=28)), fe, info


def test_reference_features_equal_whole_split_extraction(digits_with_classifier, one_thread):
    dataset, fe, info = digits_with_classifier
    n = 290  # not a multiple of the batch
    real = fidelity.reference_features(dataset, fe, info, n, "cpu")
    assert torch.equal(real, extractors.extract(fe, dataset.test[:n], "cpu")[0])
    path = fidelity.reference_path(dataset, fe, info, n)
    assert path.suffix == ".npy" and path.parent.name == "features" and path.exists()
    stored = feature_cache.load(
        path, feature_cache.key_of(dataset, "test", fe.get_name(), info["weights_hash"], n)
    )
    assert stored is not None and torch.equal(stored.tensor(), real)
    radii = fidelity.reference_radii(path, real, "prc")
    assert torch.equal(radii, fidelity.prc_radii(real))


def test_two_writers_at_once_compute_the_set_once(tmp_path):
    """Two threads (each its own open file, as two processes) ask for one set at the same time:
    the lock lets one compute it and the other read it."""
    import threading
    import time

    calls: list[int] = []
    _, slow_embed = _net_embed(calls)

    def embed(x: torch.Tensor) -> torch.Tensor:
        time.sleep(0.01)  # both threads are inside `cached_features` before the first finishes
        return slow_embed(x)

    images, results = _images(), []
    threads = [
        threading.Thread(target=lambda: results.append(_cached(tmp_path, images, embed))) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(calls) == len(images) and len(results) == 2
    assert np.array_equal(results[0].features, results[1].features)
    assert sorted(p.suffix for p in (tmp_path / "features").iterdir()) == [".lock", ".npy", ".npz"]
