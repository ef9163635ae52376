"""Shared helpers: run the real `genbench` CLI in a subprocess; every pytest run's caches and data
root in a temporary directory of its own, so no test reads or writes the user's (~/.cache/genbench:
the MNIST classifier, reference features; torch's and matplotlib's caches)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

GENBENCH = [sys.executable, "-m", "genbench.driver.cli"]
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


def run_cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `genbench ARGS` in `cwd` and return the finished process (text output)."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [*GENBENCH, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def cli():
    """The `run_cli` helper as a fixture."""
    return run_cli
