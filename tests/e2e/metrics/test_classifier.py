"""The MNIST classifier (>= 99 % test accuracy), mode counting on real (stacked) MNIST, and the
classifier's features through torch-fidelity. Trained once and cached in the user's cache
($GENBENCH_CACHE or ~/.cache/genbench/cache) under a hash of the data and recipe: training takes
1.5 to 5 minutes on a busy 2-core CPU, so it is not redone per test session."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genbench.data import images
from genbench.metrics import EvalContext, classifier, extractors, feature_choice, fidelity
from genbench.metrics.frechet import feature_statistics
from genbench.metrics.modes import digit_labels, kl_to, stacked_mode_counts

pytestmark = pytest.mark.slow


def test_classifier_reaches_99_percent_and_records_it(trained, mnist):
    net, record, path = trained
    acc = classifier.accuracy(net, mnist.test_images, mnist.test_labels)
    assert acc >= 0.99
    assert record["test_accuracy"] == pytest.approx(acc)
    assert record["weights_hash"] == classifier.weights_hash(net.state_dict())
    assert record["data_hash"] == classifier.data_hash(mnist) and record["recipe"] == classifier.RECIPE
    assert path == classifier.classifier_path(mnist)  # the cache name is keyed by data and recipe


def test_weights_hash_depends_on_the_weights_only(trained, tmp_path):
    """Two trainings give bitwise-equal weights but files that differ in their record (training
    time): the recorded hash is the weights', so both machines record the same protocol."""
    net, record, path = trained
    blob = torch.load(path, weights_only=True)
    copy = tmp_path / "copy.pt"
    torch.save({**blob, "record": {**blob["record"], "train_seconds": -1.0}}, copy)
    assert classifier.file_hash(copy) != classifier.file_hash(path)
    assert classifier.load_file(copy)[1]["weights_hash"] == record["weights_hash"]
    changed = {k: v + 1e-6 if k == "out.bias" else v for k, v in net.state_dict().items()}
    assert classifier.weights_hash(changed) != record["weights_hash"]


def test_mnist_digit_histogram_of_real_images_matches_the_labels(trained, mnist):
    net = trained[0]
    x = mnist.test_images[:5000].float() / 255
    counts = torch.bincount(digit_labels(net, x)[:, 0], minlength=10)
    assert int((counts > 0).sum()) == 10
    assert kl_to(counts, torch.bincount(mnist.test_labels[:5000], minlength=10)) < 1e-3


def test_stacked_mnist_real_images_cover_about_1000_modes(trained, mnist_root):
    params = images.StackedParams(data_dir=str(mnist_root), train_size=10, test_size=26_000)
    stacked = images.build_stacked_mnist(params)
    out = stacked_mode_counts(trained[0], stacked.test.float())
    assert out["stacked_modes"] >= 995  # 26,000 uniform draws miss a mode with prob. e^-26
    assert out["stacked_kl"] < 0.05  # (1000 - 1) / (2 * 26,000) = 0.019 from sampling alone


def test_classifier_features_through_torch_fidelity(trained, mnist):
    """The registered extractor gives the classifier's penultimate features; FID of the test set
    against itself is 0 and against a blurred copy is clearly not."""
    from genbench.metrics.settings import EvalSettings

    ctx = EvalContext(None, 1, 0, settings=EvalSettings())
    fe, info = fidelity.extractor_of("mnist_classifier", mnist, ctx)
    assert info["weights_hash"] == trained[1]["weights_hash"] and info["extractor"] == "mnist_classifier"
    x = mnist.test[:2000]
    feats, logits = extractors.extract(fe, x, "cpu")
    assert feats.shape == (2000, 128) and logits.shape == (2000, 10)
    expected, expected_logits = trained[0].features(x)
    assert torch.allclose(feats, expected, atol=1e-4) and torch.allclose(logits, expected_logits, atol=1e-4)
    blurred = torch.nn.functional.avg_pool2d(x, 3, 1, 1)
    # zero to rounding: float64 from float32 features whose covariance has many near-zero eigenvalues
    total_variance = float(np.trace(feature_statistics(feats)[1]))
    assert abs(fidelity.fid_from_features(feats, feats)) < 1e-7 * total_variance
    assert fidelity.fid_from_features(feats, extractors.extract(fe, blurred, "cpu")[0]) > 1.0


def test_prepare_command_reports_the_cached_classifier(trained, mnist_root, cli, tmp_path):
    proc = cli("prepare", "mnist", "--data-dir", str(mnist_root), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"test accuracy {trained[1]['test_accuracy']:.4f}" in proc.stdout
    assert trained[1]["weights_hash"][:12] in proc.stdout


def test_mode_metrics_refuse_other_data_sets(tmp_path, cli):
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: s\nseeds: [0]\nbudget: {steps: 1}\ndatasets: [{name: digits}]\n"
        "models: [{name: gan}]\nmetrics: [stacked_modes]\n"
    )
    proc = cli("validate", str(suite), cwd=tmp_path)
    assert proc.returncode == 2 and "applies to stacked_mnist only" in proc.stderr


def test_binarized_and_resized_mnist_are_judged_by_the_mnist_classifier(trained, mnist_root):
    params = images.BinarizedParams(data_dir=str(mnist_root), size=32)
    binarized = images.build_torchvision("binarized_mnist")(params)
    _, record, path = classifier.classifier_for(binarized, str(mnist_root))
    assert path == trained[2] and record["weights_hash"] == trained[1]["weights_hash"]
    assert feature_choice.extractor_name("binarized_mnist") == "mnist_classifier"
    assert feature_choice.extractor_name("cifar10") == "inception"
