"""Shared helpers: run the real `genbench` CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

GENBENCH = [sys.executable, "-m", "genbench.cli"]


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
