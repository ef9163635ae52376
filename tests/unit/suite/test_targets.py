"""A suite's `target:`: a number or a mapping of metric outputs to thresholds (shares of the modes
where an output counts them), checked with file, key and line; resolved per run; read back from
suite.json; `--target` on the command line."""

from __future__ import annotations

import argparse
import hashlib
import math

import pytest

from genbench.store import runs as store
from genbench.suite.config import SuiteError, load_suite
from genbench.suite.targets import conditions_of, default_conditions, met, parse_target_text

HEAD = """\
name: targets
seeds: [0]
budget: {steps: 10}
datasets: [{name: ring8}, {name: grid25}]
models: [{name: gan}]
metrics: [mode_coverage]
"""
MODES = {"modes": "max", "hq_frac": "max", "kl_modes": "min", "mode_dist": "min"}


def load(tmp_path, target: str):
    path = tmp_path / "suite.yaml"
    path.write_text(HEAD + f"target: {target}\n")
    return path, load_suite(path)


@pytest.mark.parametrize(
    ("target", "key", "message"),
    [
        ("{mode: 4}", "target.mode", "'mode' is not an output of the suite's metrics (hq_frac, kl_modes"),
        ("{modes: 150%}", "target.modes", "a share of the modes must be in (0%, 100%], not 150%"),
        ("{hq_frac: 50%}", "target.hq_frac", "a share of the modes (50%) needs an output that counts modes"),
        ("{modes: half}", "target.modes", "'half' is neither a number nor a share of the modes"),
        ("{modes: true}", "target", "modes: give a finite number or a share of the modes"),
        ("{}", "target", "give at least one metric output and its threshold"),
        (".inf", "target", "a finite value, not inf"),
        ("[4]", "target", "give a number (the primary metric's value) or a mapping"),
    ],
)
def test_a_bad_target_is_refused_with_file_key_and_line(tmp_path, target, key, message):
    path = tmp_path / "suite.yaml"
    path.write_text(HEAD + f"target: {target}\n")
    with pytest.raises(SuiteError) as err:
        load_suite(path)
    assert f"{path}:7: {key}: {message}" in str(err.value)


def test_a_compound_target_reaches_suite_json_and_resolves_per_data_set(tmp_path):
    path, (suite, specs, _) = load(tmp_path, "{modes: 50%, hq_frac: 0.5, kl_modes: 1}")
    assert suite.target == {"modes": "50%", "hq_frac": 0.5, "kl_modes": 1.0}
    suite_path = store.suite_dir(tmp_path / "results", "targets")
    store.write_manifest(suite_path, specs, str(path), MODES, suite.target)
    target = store.read_manifest(suite_path)["target"]  # checked by the store's schema
    assert target == suite.target
    ring = conditions_of(target, "modes", MODES, 8, None)
    assert ring == {"modes": ("max", 4.0), "hq_frac": ("max", 0.5), "kl_modes": ("min", 1.0)}
    assert conditions_of(target, "modes", MODES, 25, None)["modes"] == ("max", 12.5)
    assert conditions_of(4, "modes", MODES, 8, None) == {"modes": ("max", 4.0)}  # a number: the primary


STAND_IN = b"inception weights"  # validation checks the weights file's sha256, not the network
FIDS = f"""\
name: fids
seeds: [0]
budget: {{steps: 10}}
datasets: [{{name: mnist}}]
models: [{{name: vae, decoder: bernoulli}}]
metrics:
  - {{name: fid, features: mnist_classifier}}
  - {{name: fid, features: inception, weights: w.pth, sha256: "{hashlib.sha256(STAND_IN).hexdigest()}"}}
"""


def test_a_target_may_name_a_column_a_features_parameter_makes(tmp_path):
    (tmp_path / "w.pth").write_bytes(STAND_IN)
    path = tmp_path / "suite.yaml"
    path.write_text(FIDS + "target: {fd_inception: 40, fd_mnist_classifier: 5}\n")
    suite, _, _ = load_suite(path)
    assert suite.target == {"fd_inception": 40.0, "fd_mnist_classifier": 5.0}


@pytest.mark.parametrize("column", ["fd_dinov2_vitl14", "fid", "fd_inceptoin"])
def test_a_target_on_a_column_no_entry_writes_is_refused_with_key_and_line(tmp_path, column):
    (tmp_path / "w.pth").write_bytes(STAND_IN)
    path = tmp_path / "suite.yaml"
    path.write_text(FIDS + f"target:\n  fd_inception: 40\n  {column}: 5\n")
    with pytest.raises(SuiteError) as err:
        load_suite(path)
    # fid (auto's column) is no column here: both entries name their space
    known = "(fd_inception, fd_mnist_classifier)"
    line = path.read_text().splitlines().index(f"  {column}: 5") + 1
    expected = f"{path}:{line}: target.{column}: {column!r} is not an output of the suite's metrics {known}"
    assert expected in str(err.value) and "target.fd_inception" not in str(err.value)


def test_the_default_is_compound_on_the_toys_only():
    toys = {"output": "modes", "below": 4.0}
    assert default_conditions("modes", toys) == {"modes": ("max", 4.0), "hq_frac": ("max", 0.5)}
    assert default_conditions("classes", {"output": "classes", "below": 5.0}) == {"classes": ("max", 5.0)}
    assert default_conditions("fid", {"output": "classes", "below": 5.0}) == {}  # not the primary metric
    assert default_conditions("modes", None) == {}


def test_every_condition_must_hold_and_a_missing_value_never_does():
    both = {"modes": ("max", 4.0), "kl_modes": ("min", 0.5)}
    assert met({"modes": 4, "kl_modes": 0.5}, both)  # thresholds are inclusive
    assert not met({"modes": 8, "kl_modes": 0.6}, both) and not met({"modes": 3, "kl_modes": 0.1}, both)
    assert not met({"modes": 8}, both) and not met({"modes": 8, "kl_modes": math.nan}, both)
    assert not met({"modes": 8}, {"modes": ("max", math.nan)})  # a share of unknown modes
    assert not met({"modes": 8}, {})  # no target is never reached


def test_target_on_the_command_line():
    assert parse_target_text("2") == 2.0
    assert parse_target_text("{modes: 50%, hq_frac: 0.5}") == {"modes": "50%", "hq_frac": 0.5}
    for bad in ("abc", "{modes: [1]}", "nan", "{modes: 1"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_target_text(bad)
