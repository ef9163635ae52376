"""Preflight against a real local Ray instance: a suite that asks for GPUs stops before anything
is scheduled on a CPU-only cluster (tests/unit/driver/test_preflight.py: the checks in-process)."""

from __future__ import annotations

import pytest

from tests.helpers import run_cli

VALID = """\
name: t
seeds: [0]
budget: {{steps: 1}}
resources: {resources}
eval: {{samples: 10}}
datasets: [{{name: ring8, train_size: 100, test_size: 10}}]
models: [{{name: gan, z_dim: 2, hidden: 4}}]
metrics: [mode_coverage]
"""
TRACEBACK = "Traceback (most recent call last)"


def suite(resources: str) -> str:
    return VALID.format(resources=resources)


@pytest.mark.slow
@pytest.mark.e2e
def test_gpu_suite_on_cpu_only_ray_stops_before_scheduling(tmp_path):
    (tmp_path / "s.yaml").write_text(suite(resources="{cpus: 1, gpus: 0.25}"))
    proc = run_cli("run", "s.yaml", cwd=tmp_path, timeout=180)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output[-3000:]
    assert "GPU" in proc.stderr and "resources.gpus" in proc.stderr and TRACEBACK not in output
    assert not (tmp_path / "results").exists(), "results were written for a suite that cannot run"
