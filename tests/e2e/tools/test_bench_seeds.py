"""tools/bench_seeds.py runs with a minimal setting and writes its tables (no timing checks)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import TOOLS

pytestmark = pytest.mark.slow


def test_bench_seeds_writes_timing_memory_and_the_same_numbers_check(tmp_path: Path) -> None:
    out = tmp_path / "seeds.md"
    args = ["--quick", "--cases", "vae_small", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, str(TOOLS / "bench_seeds.py"), *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| vae_small |")]
    assert len(rows) == 4  # CPU times and ratios, wall-clock ratios, memory, the check
    assert "| S=1 / alone | S=2 / alone |" in text and "Machine: " in text
    raw = json.loads(out.with_suffix(".json").read_text())
    check = raw["checks"]["vae_small"]
    assert len(check["alone"]) == len(check["grouped"]) == 3 and 0 <= check["p"] <= 1
    assert set(raw["results"]["vae_small"]["times"]) == {"alone", "S=1", "S=2"}
