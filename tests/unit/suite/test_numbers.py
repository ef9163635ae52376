"""Numbers a run cannot use are refused at validation with file, key and line: inf and NaN in
float parameters (models, data sets, eval settings, resources), and sizes whose memory estimate
exceeds this machine's (eval.samples, train_size, test_size, modes); suites that fit pass."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from genbench.suite import feasible
from genbench.suite.config import SuiteError, load_suite

BASE = {
    "name": "numbers",
    "seeds": [0],
    "budget": {"steps": 10},
    "eval": {"samples": 500},
    "datasets": [{"name": "ring8", "train_size": 2000}],
    "models": [{"name": "gan", "hidden": 16}],
    "metrics": ["mode_coverage"],
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


def refusal(path: Path) -> str:
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    return str(caught.value)


def with_line(suite: dict, section: str, key: str, value: str) -> str:
    """The suite as YAML with `key: value` (YAML text, e.g. .inf) on a line of its own in the first
    entry of `section` (or in the `section` mapping)."""
    lines = yaml.safe_dump(suite, sort_keys=False).splitlines()
    at = lines.index(f"{section}:") + (2 if isinstance(suite[section], list) else 1)
    lines.insert(at, f"  {key}: {value}")
    return "\n".join(lines) + "\n"


NON_FINITE = [
    ("datasets", "radius", ".inf"),
    ("datasets", "std", ".nan"),
    ("datasets", "std", "-.inf"),
    ("models", "lr", ".inf"),
    ("models", "beta1", ".nan"),
    ("resources", "cpus", ".inf"),
]


@pytest.mark.parametrize(("section", "key", "value"), NON_FINITE)
def test_inf_and_nan_are_refused_with_file_key_and_line(tmp_path, section, key, value):
    suite = {**BASE, "resources": {"gpus": 0}}
    path = write(tmp_path, with_line(suite, section, key, value))
    line = path.read_text().splitlines().index(f"  {key}: {value}") + 1
    where = f"{section}[0].{key}" if section != "resources" else f"resources.{key}"
    assert f"{path}:{line}: {where}: Input should be a finite number" in refusal(path)


def test_grid_std_inf_is_refused(tmp_path):
    suite = {**BASE, "datasets": [{"name": "grid25", "std": math.inf}]}
    path = write(tmp_path, yaml.safe_dump(suite, sort_keys=False))
    assert "datasets[0].std: Input should be a finite number" in refusal(path)


HUGE = [  # (case, suite change, key named, what the message says)
    ("eval", {"eval": {"samples": 10**12}}, "eval.samples", "1000000000000 samples"),
    (
        "train",
        {"datasets": [{"name": "ring8", "train_size": 10**11}]},
        "datasets[0].train_size",
        "train_size",
    ),
    ("test", {"datasets": [{"name": "ring8", "test_size": 10**11}]}, "datasets[0].test_size", "test_size"),
    ("ring modes", {"datasets": [{"name": "ring8", "n_modes": 10**9}]}, "datasets[0].n_modes", "modes"),
    ("grid modes", {"datasets": [{"name": "grid25", "side": 10**5}]}, "datasets[0].side", "modes"),
    (
        "images",
        {"datasets": [{"name": "stacked_mnist", "train_size": 10**9}]},
        "datasets[0].train_size",
        "size",
    ),
]


@pytest.mark.parametrize(("case", "change", "key", "what"), HUGE, ids=[h[0] for h in HUGE])
def test_sizes_beyond_this_machine_are_refused_with_the_estimate(tmp_path, case, change, key, what):
    path = write(tmp_path, yaml.safe_dump({**BASE, **change}, sort_keys=False))
    message = refusal(path)
    entry = key.split(".")[-1]
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if f"{entry}: " in text)
    assert f"{path}:{line}: {key}: its runs would need about " in message
    assert what in message and f"the {feasible.gib(feasible.machine_memory())} this machine has" in message
    assert "Traceback" not in message


def test_the_estimate_grows_with_the_sizes_and_suites_that_fit_pass(tmp_path):
    path = write(tmp_path, yaml.safe_dump(BASE, sort_keys=False))
    assert len(load_suite(path)[1]) == 1
    papers = {**BASE, "eval": {"samples": 10_000}, "datasets": [{"name": "grid25", "train_size": 100_000}]}
    assert len(load_suite(write(tmp_path, yaml.safe_dump(papers, sort_keys=False)))[1]) == 1
    assert 2**28 < feasible.machine_memory() < 2**50  # a real number of bytes: 256 MiB to 1 PiB
