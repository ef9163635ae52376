"""Which extractor feature metrics use, and whether inception's weights are here (no download)."""

from __future__ import annotations

import pytest

from genbench.metrics import feature_choice
from genbench.metrics.feature_choice import extractor_name, hub_weights, inception_weights_problem


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [
        ("mnist", "mnist_classifier"),
        ("binarized_mnist", "mnist_classifier"),
        ("stacked_mnist", "mnist_classifier"),
        ("fashion_mnist", "inception"),
        ("cifar10", "inception"),
        ("digits", "inception"),
    ],
)
def test_auto_picks_the_classifier_for_mnist_like_data(dataset, expected):
    assert extractor_name(dataset) == expected


def test_an_explicit_choice_is_kept():
    assert extractor_name("mnist", "inception") == "inception"
    assert extractor_name("cifar10", "mnist_classifier") == "mnist_classifier"


def test_a_given_weights_file_must_exist(tmp_path):
    missing = tmp_path / "nope.pth"
    problem = inception_weights_problem(str(missing))
    assert str(missing) in problem and "eval.feature_extractor_weights_path" in problem
    missing.write_bytes(b"weights")
    assert inception_weights_problem(str(missing)) is None


def test_offline_without_weights_is_a_problem_until_the_hub_has_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv(feature_choice.ENV_OFFLINE, "1")
    cached = hub_weights()
    assert cached.is_relative_to(tmp_path / "torch")  # torch's hub cache, as torch-fidelity uses it
    problem = inception_weights_problem(None)
    assert "cannot be downloaded (offline)" in problem and str(cached) in problem
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"weights")
    assert inception_weights_problem(None) is None
