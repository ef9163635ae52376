"""The benchmark scripts under tools/ run with a minimal setting and write their tables (no timing checks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import SHARED, TOOLS

pytestmark = pytest.mark.slow


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


def _run_tool(script: str, *args: str, timeout: float = 600) -> None:
    done = subprocess.run(
        [sys.executable, str(TOOLS / script), *args], capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


def _table_rows(text: str, first_cell: str) -> list[list[str]]:
    """The cells of every Markdown table row whose first cell is `first_cell`."""
    rows = [line.strip("|").split("|") for line in text.splitlines() if line.startswith(f"| {first_cell} |")]
    return [[c.strip() for c in row] for row in rows]


def test_bench_ray_quick_writes_its_tables(tmp_path: Path) -> None:
    out = tmp_path / "ray.md"
    _run_tool("bench_ray.py", "--quick", "--out", str(out))
    text = out.read_text()
    assert "Machine: " in text and "Load average" in text and "one torch thread" in text
    for heading in ("Against the targets", "Where the time goes", "Peak resident memory", "What limits it"):
        assert f"## {heading}" in text
    for label in ("CLI start to leaderboard, s", "fixed overhead per suite, s"):
        assert len(_table_rows(text, label)[0]) == 5  # measure, 1 worker, 2 workers, target, verdict
    assert _table_rows(text, "speed-up, 1 / 2 workers (per repeat)")[0][4] in ("met", "**missed**")
    for label in (
        "process start + imports",
        "dispatch (`dispatch_s`)",
        "driver (the CLI)",
        "worker, largest",
    ):
        assert len(_table_rows(text, label)[0]) == 3
    raw = json.loads(out.with_suffix(".json").read_text())
    assert sorted(i["workers"] for i in raw["invocations"]) == [1, 2]
    for inv in raw["invocations"]:
        assert [r["status"] for r in inv["runs"]] == ["ok", "ok"] and inv["left_running"] == 0
        assert {"driver", "worker"} <= {p["role"] for p in inv["processes"]}
        assert inv["split"]["total"] > inv["split"]["dispatch"] > 0


def test_bench_eval_quick_writes_its_tables(tmp_path: Path) -> None:
    out = tmp_path / "eval.md"
    mnist = SHARED / "mnist"
    args = ["--quick", "--cases", "toy_gan", "mnist_vae", "--out", str(out)]
    _run_tool("bench_eval.py", *args, *(["--mnist-files", str(mnist)] if mnist.exists() else []))
    text = out.read_text()
    assert "Machine: " in text and "Load average" in text and "Default evaluation settings" in text
    for heading in (
        "Share of a run's wall time",
        "Seconds per evaluation",
        "Throughputs",
        "Peak resident memory",
    ):
        assert f"## {heading}" in text
    raw = json.loads(out.with_suffix(".json").read_text())
    cases = ["toy_gan"] + (["mnist_vae"] if "mnist_vae" in raw["results"] else [])
    assert set(raw["results"]) | set(raw["skipped"]) == {"toy_gan", "mnist_vae"}
    for case in cases:
        assert len(_table_rows(text, case)[0]) == 12  # the share table's columns
        metrics = {row[1] for row in _table_rows(text, case) if len(row) == 7}
        assert set(raw["results"][case]["metrics"]) <= metrics  # one row per metric
        assert raw["results"][case]["run"]["status"] == "ok"
        assert raw["results"][case]["timing"]["from_checkpoint"]
    assert "mode_coverage" in raw["results"]["toy_gan"]["metrics"]
    assert any(line.startswith("| mode_coverage, 10,000 samples |") for line in text.splitlines())
    if "mnist_vae" in cases:
        assert {"fid", "elbo", "nll"} <= set(raw["results"]["mnist_vae"]["metrics"])
        assert any(line.startswith("| IWAE NLL, k = 50 on 20") for line in text.splitlines())


def test_bench_gpu_without_a_gpu_says_so_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "gpu.md"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, str(TOOLS / "bench_gpu.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "no GPU" in done.stdout and not out.exists()


def test_bench_gpu_dry_run_on_the_cpu_writes_its_tables(tmp_path: Path) -> None:
    """--device cpu runs every code path of the GPU benchmark (numbers meaningless, not checked)."""
    out = tmp_path / "gpu.md"
    args = ["--device", "cpu", "--steps", "2", "--repeats", "1", "--warmup", "2", "--cases", "vae"]
    _run_tool("bench_gpu.py", *args, "--seeds", "1", "2", "--out", str(out))
    text = out.read_text()
    diff = _table_rows(text, "vae")[0][-1]
    assert float(diff) == 0.0  # genbench and the bare loop reach the same parameters
    assert _table_rows(text, "2") and "slots on this GPU: 4" in text
    assert [row[-1] for row in _table_rows(text, "four")] == ["ok"]


def test_bench_features_writes_its_tables_with_agreeing_fids(tmp_path: Path) -> None:
    if not (SHARED / "mnist").exists():
        pytest.skip(f"MNIST files not found at {SHARED / 'mnist'}")
    out = tmp_path / "features.md"
    _run_tool(
        "bench_features.py", "--data-dir", str(SHARED), "--counts", "500", "--repeats", "1", "--out", str(out)
    )
    raw = json.loads(out.with_suffix(".json").read_text())["results"]
    fids = {name.split(" | ")[0]: rows[0]["fid"] for name, rows in raw.items()}
    assert set(fids) == {"torch-fidelity", "genbench", "genbench, 1 Ray worker", "genbench, 2 Ray workers"}
    assert all(abs(f - fids["torch-fidelity"]) <= 1e-6 * fids["torch-fidelity"] for f in fids.values())
    # one pool's shards or one process's batches: the same features; moments merged in another
    # order (shard by shard) agree to float64 rounding
    for config in ("genbench, 1 Ray worker", "genbench, 2 Ray workers"):
        assert fids[config] == pytest.approx(fids["genbench"], rel=1e-12)
    assert "## Against the targets" in out.read_text()


def test_bench_features_paired_writes_one_row_per_ratio(tmp_path: Path) -> None:
    if not (SHARED / "mnist").exists():
        pytest.skip(f"MNIST files not found at {SHARED / 'mnist'}")
    out = tmp_path / "paired.md"
    _run_tool(
        "bench_features_paired.py",
        "--data-dir",
        str(SHARED),
        "--counts",
        "500",
        "--pairs",
        "2",
        "--out",
        str(out),
    )
    text = out.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and "500" in line]
    assert len(rows) == 4  # cost ratio, speed-up, CPU split, wall over CPU
    cpu_split = float(rows[2].split("|")[2])
    assert 0.5 < cpu_split < 2.0  # two actors together do about the work of one
