"""Feature metrics' extractors checked before anything trains, through the CLI: inception without
its weights file, or offline without any weights, stops with a message; the MNIST classifier
is refused on other data."""

from __future__ import annotations

import textwrap

import pytest


def _suite(tmp_path, eval_line: str) -> str:
    text = f"""
        name: inc
        seeds: [0]
        budget: {{steps: 2}}
        eval: {eval_line}
        datasets: [{{name: digits}}]
        models: [{{name: vae, decoder: bernoulli}}]
        metrics: [elbo, fid]
    """
    path = tmp_path / "suite.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


@pytest.mark.slow
def test_inception_without_weights_file_stops_before_training(tmp_path, cli):
    missing = tmp_path / "nope.pth"
    suite = _suite(tmp_path, f"{{feature_extractor: inception, feature_extractor_weights_path: {missing}}}")
    proc = cli("run", suite, "--results", str(tmp_path / "res"), "--serial", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "nope.pth" in proc.stderr and "does not exist" in proc.stderr
    assert not (tmp_path / "res" / "inc" / "runs").exists()


@pytest.mark.slow
def test_inception_offline_without_any_weights_stops_with_a_message(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("GENBENCH_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    proc = cli("validate", _suite(tmp_path, "{samples: 64}"), cwd=tmp_path)
    assert proc.returncode == 2
    assert "cannot be downloaded" in proc.stderr and "feature_extractor_weights_path" in proc.stderr


@pytest.mark.slow
def test_mnist_classifier_on_other_data_is_refused(tmp_path, cli):
    suite = _suite(tmp_path, "{feature_extractor: mnist_classifier}")
    proc = cli("validate", suite, cwd=tmp_path)
    assert proc.returncode == 2 and "applies to MNIST-like data sets only" in proc.stderr
