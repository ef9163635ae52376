"""FID in two feature spaces in one suite, through the real CLI (`genbench run`): the MNIST
classifier's and inception's (random weights saved by the test and pinned by sha256) on MNIST
samples; the leaderboard has both columns with different values, each entry keeps its own
protocol, and the classifier entry's number is the one a suite listing FID once in that space gives.

The MNIST classifier is a stand-in with seeded random weights in this module's own cache (the
feature metrics' code is the same; training the real one takes minutes)."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tests.helpers import SHARED, data_root_with, read_csv_ids, run_cli, stand_in_classifier

SUITE = """\
name: {name}
seeds: [0]
budget: {{steps: 1}}
eval: {{samples: 12, real_samples: 12}}
data_dir: data
datasets: [{{name: mnist}}]
models: [{{name: samples, path: samples.npz, label: npz}}]
metrics:
{metrics}"""
CLASSIFIER = "  - {name: fid, features: mnist_classifier}\n"
INCEPTION = '  - {{name: fid, features: inception, weights: inception.pth, sha256: "{sha}"}}\n'


def random_inception(path: Path) -> str:
    """torch-fidelity's Inception graph with random weights saved at `path`; returns the file's
    sha256. He initialisation (He et al. 2015) keeps the activations from vanishing through its
    ~90 layers (with the default one the features are ~1e-8 and every FD ~1e-15)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class Unloaded(FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):  # keep the random init
            return None

    empty = path.with_name("empty.pth")
    torch.save({}, empty)
    torch.manual_seed(0)
    net = Unloaded("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(empty))
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    torch.save(net.state_dict(), path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> tuple[Path, str]:
    if not (SHARED / "mnist").exists():
        pytest.skip(f"MNIST files not found at {SHARED / 'mnist'}")
    from genbench.data import images

    work = tmp_path_factory.mktemp("spaces")
    data_root_with(work / "data", "mnist", "MNIST")
    mnist = images.build_torchvision("mnist")(images.MnistParams(data_dir=str(work / "data")))
    np.savez(work / "samples.npz", mnist.train_images[:16].numpy().transpose(0, 2, 3, 1))
    sha = random_inception(work / "inception.pth")
    with pytest.MonkeyPatch.context() as patch:  # the CLI's subprocesses read this module's cache
        patch.setenv("GENBENCH_CACHE", str(work / "cache"))
        stand_in_classifier(mnist, work / "cache")
        yield work, sha


def run_suite(work: Path, name: str, metrics: str) -> tuple[dict, dict]:
    """`genbench run` of a suite with `metrics`: its leaderboard row and its run's result.json."""
    (work / f"{name}.yaml").write_text(SUITE.format(name=name, metrics=metrics))
    done = run_cli("run", f"{name}.yaml", "--results", "results", "--serial", cwd=work, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (row,) = read_csv_ids(work / "results" / name / "leaderboard.csv").to_dict("records")
    result = json.loads((work / "results" / name / "runs" / row["run_id"] / "result.json").read_text())
    return row, result


def test_one_suite_gives_fid_in_two_spaces(work):
    work, sha = work
    row, result = run_suite(work, "two-spaces", CLASSIFIER + INCEPTION.format(sha=sha))
    assert row["status"] == "ok" and "fid" not in row
    classifier_fd, inception_fd = row["fd_mnist_classifier"], row["fd_inception"]
    assert math.isfinite(classifier_fd) and math.isfinite(inception_fd)
    assert classifier_fd > 1e-3 and inception_fd > 1e-3  # features with signal, not ~0
    assert classifier_fd != pytest.approx(inception_fd, rel=1e-3)
    protocols = result["metric_protocols"]
    assert set(protocols) == {"fid[mnist_classifier]", "fid[inception]"}
    assert protocols["fid[inception]"]["weights_hash"] == sha
    assert protocols["fid[inception]"]["extractor"] == "inception"
    assert protocols["fid[mnist_classifier]"]["extractor"] == "mnist_classifier"
    spec = json.loads((work / "results" / "two-spaces" / "runs" / row["run_id"] / "spec.json").read_text())
    assert spec["metrics"] == ["fid"] and list(spec["metric_params"]) == list(protocols)
    once, once_result = run_suite(work, "classifier-only", CLASSIFIER)  # listed once: key "fid"
    assert once["fd_mnist_classifier"] == pytest.approx(classifier_fd, rel=1e-9)  # same samples and space
    assert once_result["metric_protocols"]["fid"] == protocols["fid[mnist_classifier]"]
