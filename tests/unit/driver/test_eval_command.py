"""`genbench eval --metrics`: NAME[SPACE] gives a feature metric in a space, so that one metric can
be asked for in several spaces."""

from __future__ import annotations

import argparse

import numpy as np

from genbench.driver.eval_command import metric_entry, suite_dict
from genbench.suite.config import load_suite


def test_a_metric_in_a_space_becomes_an_entry_with_features(tmp_path, monkeypatch):
    assert metric_entry("fid[inception]") == {"name": "fid", "features": "inception"}
    assert metric_entry("precision_recall") == "precision_recall"
    assert metric_entry("fid[") == "fid["  # no entry: the suite names it an unknown metric
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "s.npy", np.zeros((4, 1, 28, 28), np.float32))
    options = dict(metrics="fid[mnist_classifier],fid[inception],kid", seeds="0", samples=4, label=None)
    options |= dict(name=None, data_dir=None, z_dim=None, weights=None, output_range=None)
    built = suite_dict(argparse.Namespace(path="s.npy", dataset="mnist", **options))
    assert built["metrics"] == [
        {"name": "fid", "features": "mnist_classifier"},
        {"name": "fid", "features": "inception"},
        "kid",
    ]
    # after the built-ins (suite_dict loads them): feature_choice imported first finds fidelity half-imported
    from genbench.metrics.feature_choice import hub_weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # inception's weights "in the cache"
    hub_weights().parent.mkdir(parents=True)
    hub_weights().write_bytes(b"weights")
    suite, _, _ = load_suite(built, base=tmp_path)
    assert list(suite.metric_params) == ["fid[mnist_classifier]", "fid[inception]", "kid"]
