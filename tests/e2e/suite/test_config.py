"""Run ids across interpreters: a fresh Python process (another hash seed) gives the same ids
(tests/unit/suite/test_config.py: everything else of load_suite)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from genbench.suite.config import load_suite

SUITE = """\
name: t
seeds: [0, 1]
budget: {steps: 10}
resources: {cpus: 1, gpus: 0}
eval: {every: 5, samples: 100}
datasets: [{name: ring8}]
models: [{name: gan}, {name: vae}]
metrics: [mode_coverage]
"""


def ids(specs) -> list[str]:
    return [s.run_id for s in specs]


@pytest.mark.slow
def test_run_ids_stable_across_processes(tmp_path):
    """The id must not depend on the interpreter (e.g. on hash randomization)."""
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE)
    code = (
        "import json, sys; from genbench.suite.config import load_suite; "
        "print(json.dumps([s.run_id for s in load_suite(sys.argv[1])[1]]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == ids(load_suite(path)[1])
