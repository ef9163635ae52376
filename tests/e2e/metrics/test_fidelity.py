"""The Inception Score on the MNIST classifier's logits, stacked MNIST's per-channel features,
in-training evaluations under their own protocol, and the classifier prepared on the driver (the
classifier fixtures: tests/e2e/metrics/conftest.py; known values: tests/unit/metrics/test_fidelity.py)."""

from __future__ import annotations

import re
import textwrap

import pytest
import torch
import torch_fidelity

from genbench.data import images
from genbench.metrics import EvalContext, classifier, extractors, fidelity
from genbench.metrics.modes import digit_labels
from genbench.metrics.settings import EvalSettings
from genbench.registry import METRICS


class _Images(torch.utils.data.Dataset):
    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.x[i]


class _Real:
    """A 'model' whose samples are given images (in [0, 1])."""

    pixel_range = (0.0, 1.0)
    device = torch.device("cpu")

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.x[:n]


@pytest.mark.slow
def test_isc_of_real_mnist_through_torch_fidelity(trained, mnist, mnist_root):
    """The `isc` metric on real test images: close to 10 (a 99 % classifier on balanced digits),
    equal to torch-fidelity's own `calculate_metrics(isc=True)` with the registered extractor;
    the digit 1 alone scores about 1."""
    x = mnist.test
    ctx = EvalContext(
        _Real(x), len(x), 0, final=True, settings=EvalSettings(every=10), data_dir=str(mnist_root)
    )
    out = METRICS.get("isc").fn(ctx.model, mnist, ctx)
    assert 9.5 < out["isc"] <= 10.0  # 9.73 with the cached classifier
    reference = torch_fidelity.calculate_metrics(
        input1=_Images(extractors.to_uint8_rgb(x)),
        isc=True,
        feature_extractor=extractors.TF_MNIST,
        feature_extractor_weights_path=str(trained[2]),
        cuda=False,
        cache=False,
        save_cpu_ram=True,  # no DataLoader worker processes
        batch_size=500,
        verbose=False,
    )
    assert out["isc"] == pytest.approx(reference["inception_score_mean"], rel=1e-5)
    proto = ctx.protocols["isc"]
    assert proto["extractor"] == "mnist_classifier" and proto["weights_hash"] == trained[1]["weights_hash"]
    assert (proto["n_generated"], proto["splits"], proto["logits"]) == (10_000, 10, "10 classes")
    assert proto["in_training"] == {"n_generated": 1000}  # eval.train_samples, the default
    ones = x[mnist.test_labels == 1]
    ctx = EvalContext(_Real(ones), len(ones), 0, final=True, data_dir=str(mnist_root))
    score = METRICS.get("isc").fn(ctx.model, mnist, ctx)["isc"]
    assert score >= 1.0  # the minimum: every sample predicted as the same class
    assert score < 1.1


@pytest.mark.slow  # its FID trains the MNIST classifier
def test_in_training_evaluations_draw_fewer_samples_and_examples(mnist, mnist_root):
    settings = EvalSettings(every=10, samples=3000, train_samples=700, train_examples=300)
    model = _Real(mnist.test)
    train = EvalContext(model, 3000, 0, final=False, settings=settings, data_dir=str(mnist_root))
    final = EvalContext(model, 3000, 0, final=True, settings=settings, data_dir=str(mnist_root))
    assert len(train.samples_for(mnist)) == 700 and len(final.samples_for(mnist)) == 3000
    assert train.example_count(mnist, 10_000) == 300 and final.example_count(mnist, 10_000) == 10_000
    METRICS.get("fid").fn(model, mnist, train)
    assert train.protocols["fid"]["n_generated"] == 700 and "in_training" not in train.protocols["fid"]
    toy = type("Toy", (), {"kind": "toy2d"})()
    assert train.sample_count(toy) == 3000  # toys: mode coverage's protocol keeps its sample count
    assert train.example_count(toy, 10_000) == 300 and final.example_count(toy, 10_000) == 10_000


@pytest.fixture(scope="module")
def stacked(mnist_root):
    params = images.StackedParams(data_dir=str(mnist_root), train_size=5000, test_size=5000)
    return images.build_stacked_mnist(params)


@pytest.mark.slow
def test_stacked_mnist_features_are_each_channels(stacked, mnist_root, trained):
    """Real stacked images against a disjoint real draw (the training split's digits) are close;
    images whose three channels are one digit are far, though their first channel is real: the
    first-channel protocol cannot tell them apart from real images at all."""
    fe, info = extractors.get("mnist_classifier", stacked, str(mnist_root))
    assert fe.get_name() == extractors.TF_MNIST_3CH and "3 x 128" in info["feature_layer"]
    train = stacked.train_images.float() / 255
    test, logits = extractors.extract(fe, stacked.test, "cpu")
    other = extractors.extract(fe, train, "cpu")[0]
    copies = extractors.extract(fe, train[:, :1].repeat(1, 3, 1, 1), "cpu")[0]
    assert test.shape == (5000, 384) and logits.shape == (5000, 1000)
    assert fidelity.fid_from_features(test, other) < 30  # 12.0
    assert fidelity.fid_from_features(test, copies) > 500  # 1,625
    first = slice(0, 128)  # the old protocol: R only, where the copies are the real training digits
    assert fidelity.fid_from_features(test[:, first], copies[:, first]) == pytest.approx(
        fidelity.fid_from_features(test[:, first], other[:, first]), rel=1e-6
    )
    assert "-3ch-" in fidelity.reference_path(stacked, fe, info, 5000).name  # its own cache name


@pytest.mark.slow
def test_stacked_logits_are_the_product_of_the_channels(stacked, mnist_root, trained):
    """softmax over the 1,000 triples of l_R[a] + l_G[b] + l_B[c] = p_R(a) p_G(b) p_B(c): the
    triple of largest probability is the channels' digits, i.e. stacked_modes' label."""
    fe, _ = extractors.get("mnist_classifier", stacked, str(mnist_root))
    x = stacked.test[:500]
    _, logits = extractors.extract(fe, x, "cpu")
    per_channel = trained[0](x.reshape(1500, 1, 28, 28)).log_softmax(1).view(500, 3, 10)
    labels = digit_labels(trained[0], x)
    triple = (labels * torch.tensor([100, 10, 1])).sum(1)
    expected = per_channel.gather(2, labels[:, :, None]).sum((1, 2))
    got = logits.log_softmax(1).gather(1, triple[:, None])[:, 0]
    assert torch.allclose(got, expected, atol=1e-4)
    assert torch.equal(logits.argmax(1), triple)
    assert (triple == stacked.test_labels[:500]).float().mean() > 0.95  # 99 % per digit, cubed


@pytest.mark.slow
def test_run_prepares_the_classifier_and_reference_on_the_driver(
    tmp_path,
    monkeypatch,
    trained,
    mnist,
    mnist_root,
):
    """`genbench run` loads the classifier and writes the reference features and radii to the
    cache before the first run starts (the worker only reads them). The cache starts with the
    already trained classifier only (training one takes minutes)."""
    from genbench.driver import cli
    from genbench.worker import train

    cache = tmp_path / "cache"
    (cache / "classifiers").mkdir(parents=True)
    (cache / "classifiers" / trained[2].name).symlink_to(trained[2])
    monkeypatch.setenv("GENBENCH_CACHE", str(cache))
    calls: list[str] = []
    real_for, real_train = classifier.classifier_for, train.train

    def classifier_for(*args, **kwargs):
        calls.append("classifier")
        return real_for(*args, **kwargs)

    def train_run(spec, *args, **kwargs):
        found = sorted(p.name for p in (cache / "features").iterdir() if not p.name.endswith(".lock"))
        calls.append("train: " + " ".join(found))
        return real_train(spec, *args, **kwargs)

    monkeypatch.setattr(classifier, "classifier_for", classifier_for)
    monkeypatch.setattr(train, "train", train_run)
    suite = tmp_path / "s.yaml"
    suite.write_text(
        textwrap.dedent(f"""
        name: prep
        seeds: [0]
        budget: {{steps: 1}}
        eval: {{samples: 64, real_samples: 300}}
        datasets: [{{name: mnist, data_dir: {mnist_root}}}]
        models: [{{name: gan, batch_size: 16}}]
        metrics: [fid, precision_recall, mnist_modes]
        """)
    )
    assert cli.main(["run", str(suite), "--results", str(tmp_path / "res"), "--serial"]) == 0
    assert calls[0] == "classifier"
    started = next(c for c in calls if c.startswith("train: "))
    # the features (.npy), their moments and the 3-NN radii; no density/coverage radii: not asked for
    name = r"mnist-test-mnist_classifier-n300-[0-9a-f]{16}"
    assert re.fullmatch(f"train: {name}-prc3.pt {name}.npy {name}.stats.npz", started), started
