"""The benchmark scripts under tools/ run with a minimal setting and write their tables (no timing checks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parent.parent / "tools"


def test_bench_trainer_writes_its_tables(tmp_path: Path) -> None:
    out = tmp_path / "trainer.md"
    args = ["--cases", "vae", "--steps", "3", "--repeats", "1", "--warmup", "2", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, str(TOOLS / "bench_trainer.py"), *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| vae |")]
    assert len(rows) == 6  # CPU times and ratios, wall-clock times and ratios, machinery, memory
    for heading in ("CPU time of the process", "Wall-clock time", "Machinery alone", "Peak resident memory"):
        assert f"## {heading}" in text
    assert "Machine: " in text and "Load average" in text
    # the bare loop does the model's computation: same parameters to the bit
    assert "max abs difference 0.0e+00" in text
