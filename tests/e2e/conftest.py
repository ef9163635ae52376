"""The e2e lane: every test here is `slow` (it starts Ray instances or loopback clusters, runs the
CLI or a benchmark script in a subprocess, or trains the MNIST classifier), so
`pytest -m "not slow"` is the unit lane."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import loopback_cluster, run_cli

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def cli():
    """The `run_cli` helper as a fixture."""
    return run_cli


@pytest.fixture
def cluster(tmp_path):
    """A head node and a worker node of one CPU each; yields (address, env, worker process)."""
    with loopback_cluster(tmp_path, [["--num-cpus", "1"], ["--num-cpus", "1"]]) as (address, env, procs):
        yield address, env, procs[1]
