"""Ray scaling: a suite of identical short runs through the real CLI, with 1 and with 2 workers.

Every invocation is `genbench run suite.yaml --workers N` in a fresh subprocess, with a fresh
results directory and a fresh local Ray instance (its own Ray temp directory, so it never joins
another Ray cluster on the machine): what a user pays. The two settings alternate (the order
reverses every repeat) so that load from other work on the machine hits both alike. Each
invocation's process tree is sampled for the peak resident memory of the driver, of each worker
(a Ray actor) and of Ray's daemons.

From the CLI start to the leaderboard written (the mtime of leaderboard.md), time splits into:
process start + imports (the wall time to the leaderboard less `to_leaderboard_s` of
timing.json), setup (suite, preflight, manifest: `setup_s` less `ray_start_s`), Ray start-up
(`ray_start_s`), dispatch (`dispatch_s`: first run handed out to last result stored) and the
leaderboard; dispatch splits
into training (each run's `wall_seconds`: its loop and final evaluation, on a worker) and
scheduling/transfer. Per-run overhead is the median gap between a worker's consecutive results
less the run's `wall_seconds` (worker start, run set-up, result transfer, storing); the fixed
overhead per suite is the rest. Separate probes, each in a fresh process, time the imports of
the driver and of a worker, Ray's start-up and shutdown, a run's set-up (`Trainer`) and the
driver's storing of one result (result.json, pictures).

    python tools/bench_ray.py                 # 8 runs x 1,500 GAN steps (~12 s each), 3 repeats
    python tools/bench_ray.py --quick         # 2 runs x 20 steps, 1 repeat: checks the script works
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import machine, run_sampled, write_results
from bench_ray_report import report

OUT = Path(__file__).resolve().parent.parent / "results" / "bench" / "ray.md"
SUITE = """name: ray_scaling
seeds: {seeds}
budget: {{steps: {steps}}}
resources: {{cpus: 1, gpus: 0}}
datasets: [{{name: grid25}}]
models: [{{name: gan, loss: nonsaturating}}]
metrics: [mode_coverage]
"""
IMPORT_PROBES = {  # name -> code run by a fresh interpreter, timed from outside
    "bare interpreter": "pass",
    "driver imports (genbench.driver.suite_run)": "import genbench.driver.suite_run",
    "worker imports (torch, genbench.worker.train)": "import torch, genbench.worker.train",
}
RAY_PROBE = """
import json, time
from genbench.driver import runner
import ray
tick = time.perf_counter(); runner.start_ray(None); up = time.perf_counter() - tick
tick = time.perf_counter(); ray.shutdown(); down = time.perf_counter() - tick
print(json.dumps([up, down]))
"""
STORE_PROBE = """
import json, pickle, statistics, sys, tempfile, time
from pathlib import Path
import torch
from genbench.store import runs as store
from genbench.worker import train
from genbench.suite.config import load_suite
from genbench.analysis.figures.runs import write_run_pictures
from genbench.driver.suite_run import toy_test_draw
torch.set_num_threads(1)
spec = load_suite(Path(sys.argv[1]))[1][0]
builds, stores = [], []
for _ in range(3):
    tick = time.perf_counter(); train.Trainer(spec); builds.append(time.perf_counter() - tick)
result = train.train(spec)
blob = pickle.dumps(result)
with tempfile.TemporaryDirectory() as tmp:
    for i in range(3):
        tick = time.perf_counter()
        path = store.write_run(Path(tmp), spec, result)
        write_run_pictures(path, result, "probe", toy_test_draw(spec))
        stores.append(time.perf_counter() - tick)
print(json.dumps([statistics.median(builds), statistics.median(stores), len(blob)]))
"""


def fresh_env(scratch: Path) -> dict:
    """This environment without RAY_ADDRESS, with a Ray temp directory of its own (a new local
    instance: ray.init would otherwise join the latest `ray start` cluster of the machine)."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAY_TMPDIR"] = str(scratch)
    env["COLUMNS"] = "200"
    return env


def invoke(workers: int, runs: int, steps: int, interval: float) -> dict:
    """One `genbench run --workers N` of the suite in a fresh directory: timings and memory."""
    root = Path(tempfile.mkdtemp(prefix="gbr"))  # short: Ray's socket paths live under it
    try:
        suite = root / "suite.yaml"
        suite.write_text(SUITE.format(seeds=list(range(runs)), steps=steps))
        cmd = [sys.executable, "-m", "genbench.driver.cli", "run", str(suite), "--workers", str(workers)]
        cmd += ["--results", str(root / "res")]
        out = run_sampled(cmd, fresh_env(root / "ray"), root, root / "log.txt", interval)
        if out["returncode"] != 0:
            raise SystemExit(f"genbench run failed:\n{(root / 'log.txt').read_text()[-3000:]}")
        return {"workers": workers, **out, **_files(root / "res" / "ray_scaling", out["started_epoch"])}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _files(suite_dir: Path, t0: float) -> dict:
    """timing.json, every run's result (with when the driver stored it) and when the leaderboard was
    written, times in seconds from the CLI start."""
    runs = []
    for path in (suite_dir / "runs").glob("*/result.json"):
        result = json.loads(path.read_text())
        stored = max(p.stat().st_mtime for p in path.parent.iterdir() if p.name != "checkpoint.pt")
        keys = ("status", "steps", "train_seconds", "wall_seconds", "eval_seconds")
        runs.append(
            {**{k: result[k] for k in keys}, "result_s": path.stat().st_mtime - t0, "stored_s": stored - t0}
        )
    return {
        "timing": json.loads((suite_dir / "timing.json").read_text()),
        "leaderboard_s": (suite_dir / "leaderboard.md").stat().st_mtime - t0,
        "runs": sorted(runs, key=lambda r: r["result_s"]),
    }


def split(inv: dict) -> dict:
    """The invocation's time split (seconds) and its overheads; see the module's docstring."""
    timing, runs, w = inv["timing"], inv["runs"], inv["workers"]
    board = inv["leaderboard_s"]
    suite_start = board - timing["to_leaderboard_s"]
    dispatch_end = max(r["stored_s"] for r in runs)
    setup = timing.get("setup_s", dispatch_end - timing["dispatch_s"] - suite_start)  # older timing.json
    dispatch_start = suite_start + setup
    work = sum(r["wall_seconds"] for r in runs)
    # a worker's consecutive results: with identical runs the w workers finish in turn
    gaps = [
        runs[i]["result_s"] - runs[i - w]["result_s"] - runs[i]["wall_seconds"] for i in range(w, len(runs))
    ]
    firsts = [r["result_s"] - dispatch_start - r["wall_seconds"] for r in runs[:w]]
    per_run = statistics.median(gaps) if gaps else None
    workers = [p for p in inv["processes"] if p["role"] == "worker"]
    return {
        "total": board,
        "imports": suite_start,
        "setup": setup - timing["ray_start_s"],
        "ray_start": timing["ray_start_s"],
        "dispatch": timing["dispatch_s"],
        "training": work / w,
        "scheduling": timing["dispatch_s"] - work / w,
        "leaderboard": timing["to_leaderboard_s"] - setup - timing["dispatch_s"],
        "after_leaderboard": inv["wall_s"] - board,
        "exit": inv["wall_s"],
        "run_wall": statistics.median(r["wall_seconds"] for r in runs),
        "run_train": statistics.median(r["train_seconds"] for r in runs),
        "per_run": per_run,
        "first_run_extra": statistics.median(firsts) - (per_run or 0.0),
        "fixed": board - work / w - len(runs) / w * (per_run or 0.0),
        "worker_start": statistics.median(_worker_start(p) for p in workers) if workers else None,
        "worker_cpu_share": sum(p["cpu_s"] for p in workers)
        / sum(p["last_s"] - p["first_s"] for p in workers),
    }


def _worker_start(proc: dict) -> float:
    """Seconds from a worker process's first sighting to its actor's __init__ being done (the
    first title that is neither ray::IDLE nor __init__ nor the bare command line)."""
    done = [
        s
        for t, s in proc["titles"].items()
        if t.startswith("ray::") and "IDLE" not in t and "__init__" not in t
    ]
    return (min(done) if done else proc["last_s"]) - proc["first_s"]


def probes(scratch: Path) -> dict[str, float]:
    """Seconds of the driver's and a worker's imports and of Ray's start-up and shutdown, each in
    a fresh interpreter (imports: the whole interpreter's run, start included)."""
    out = {}
    for name, code in IMPORT_PROBES.items():
        tick = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        out[name] = time.perf_counter() - tick
    done = subprocess.run(
        [sys.executable, "-c", RAY_PROBE], env=fresh_env(scratch), capture_output=True, text=True, check=True
    )
    up, down = json.loads(done.stdout.strip().splitlines()[-1])
    out["Ray start-up (runner.start_ray)"], out["Ray shutdown"] = up, down
    suite = scratch / "probe.yaml"
    suite.write_text(SUITE.format(seeds=[0], steps=20))
    done = subprocess.run(
        [sys.executable, "-c", STORE_PROBE, str(suite)], capture_output=True, text=True, check=True
    )
    build, stored, size = json.loads(done.stdout.strip().splitlines()[-1])
    out["run set-up (Trainer)"], out["storing a result (write_run + pictures)"] = build, stored
    out["result size, MB (pickled)"] = size / 1e6
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the suite with each worker count, alternating, `--repeats` times; write the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=8, help="identical runs in the suite")
    parser.add_argument("--steps", type=int, default=1500, help="GAN steps per run")
    parser.add_argument("--repeats", type=int, default=3, help="invocations of each worker count")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to compare")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between memory samples")
    parser.add_argument("--quick", action="store_true", help="2 runs x 20 steps, 1 repeat")
    parser.add_argument("--out", type=Path, default=OUT, help="Markdown file to write (JSON beside it)")
    parser.add_argument("--rewrite", action="store_true", help="only render the Markdown again from the JSON")
    args = parser.parse_args(argv)
    if args.rewrite:
        raw = json.loads(args.out.with_suffix(".json").read_text())
        for inv in raw["invocations"]:
            inv["split"] = split(inv)
        write_results(args.out, report(raw), raw)
        return 0
    if args.quick:
        args.runs, args.steps, args.repeats = 2, 20, 1
    start_load = os.getloadavg()
    invocations: list[dict] = []
    probe_runs: list[dict] = []
    for rep in range(args.repeats):
        for workers in args.workers if rep % 2 == 0 else args.workers[::-1]:
            print(f"repeat {rep + 1}/{args.repeats}: {args.runs} runs, --workers {workers} ...", flush=True)
            invocations.append(invoke(workers, args.runs, args.steps, args.interval))
        scratch = Path(tempfile.mkdtemp(prefix="gbr"))
        try:
            probe_runs.append(probes(scratch))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    for inv in invocations:
        inv["split"] = split(inv)
    loads = (start_load, os.getloadavg())
    raw = {
        "machine": machine(),
        "load": loads,
        "args": vars(args),
        "invocations": invocations,
        "probes": probe_runs,
    }
    write_results(args.out, report(raw), raw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
