"""Fixtures of both lanes. Every pytest run keeps its caches and data root in a temporary
directory of its own, so no test reads or writes the user's (~/.cache/genbench: the MNIST
classifier, reference features; torch's and matplotlib's caches).

The lanes: tests/unit (no Ray, no subprocess, no classifier training; its conftest checks the
first) and tests/e2e (Ray instances, loopback clusters, the CLI in subprocesses, the benchmark
scripts, the MNIST classifier; all marked `slow`). Helpers the modules share: the tests/helpers package."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

# where genbench, torch (hub weights) and matplotlib (font cache) keep files between runs
ISOLATED = {
    "GENBENCH_CACHE": "genbench-cache",
    "GENBENCH_DATA": "genbench-data",
    "TORCH_HOME": "torch",
    "MPLCONFIGDIR": "matplotlib",
    "XDG_CACHE_HOME": "xdg-cache",
}
_SCRATCH: list[Path] = []


def pytest_configure(config) -> None:
    """Point every cache and the data root at a fresh directory for this run (and its subprocesses)."""
    root = Path(tempfile.mkdtemp(prefix="genbench-tests-"))
    _SCRATCH.append(root)
    for name, sub in ISOLATED.items():
        (root / sub).mkdir()
        os.environ[name] = str(root / sub)
    # the tests' own local Ray instances: a token in the environment, not in ~/.ray/auth_token
    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))


def pytest_unconfigure(config) -> None:
    """Remove this run's caches."""
    for root in _SCRATCH:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def one_thread():
    """One intra-op thread, as a one-CPU worker: bitwise reproducible float sums."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def report_suite(tmp_path_factory) -> Path:
    """The report's tiny suite run serially in-process, once per module: its suite folder."""
    from tests.helpers import run_report_suite

    return run_report_suite(tmp_path_factory.mktemp("report"))
