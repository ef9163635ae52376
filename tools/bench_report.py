"""The Markdown report of tools/bench_trainer.py and the machine it ran on."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import torch

import genbench

VARIANTS = ["train", "trainer", "model", "bare+diag", "bare"]


def load_specs(text: str) -> list:
    """The RunSpecs of a suite file's text, through genbench's own suite loader."""
    from genbench.suite.config import load_suite

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "suite.yaml"
        path.write_text(text)
        return load_suite(path)[1]


def machine() -> dict[str, str]:
    """CPU model and cores, Python, torch and genbench versions, UTC date."""
    cpu = "unknown"
    try:
        models = [ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")]
        cpu = models[0] if models else platform.processor() or cpu
    except OSError:
        cpu = platform.processor() or cpu
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores ({platform.machine()})",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "genbench": genbench.__version__,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _ratio(times: dict, a: str, b: str, k: int) -> str:
    """Median over repeats of the per-repeat ratio a / b of clock `k` (0 wall, 1 CPU), with its range."""
    rs = [x[k] / y[k] for x, y in zip(times[a], times[b], strict=True)]
    return f"{statistics.median(rs):.3f} [{min(rs):.3f}-{max(rs):.3f}]"


def _tables(results: dict, k: int) -> list[str]:
    """Per-step times and ratios of every case, by clock `k` (0 wall, 1 CPU)."""
    head = ["train / bare+diag", "train / bare", "bare+diag / bare", "same, of the minima"]
    lines = [
        "| case | steps | " + " | ".join(f"{v} ms" for v in VARIANTS) + " | " + " | ".join(head) + " |",
        "|---|" + "---:|" * (len(VARIANTS) + len(head) + 1),
    ]
    for case, res in results.items():
        t = res["times"]
        cells = [f"{statistics.median(x[k] for x in t[v]) * 1e3:.3f}" for v in VARIANTS]
        cells += [_ratio(t, "train", "bare+diag", k), _ratio(t, "train", "bare", k)]
        fastest = {v: min(x[k] for x in t[v]) for v in VARIANTS}
        pairs = [("train", "bare+diag"), ("train", "bare"), ("bare+diag", "bare")]
        cells += [
            _ratio(t, "bare+diag", "bare", k),
            " / ".join(f"{fastest[a] / fastest[b]:.3f}" for a, b in pairs),
        ]
        lines.append(f"| {case} | {res['steps']} | " + " | ".join(cells) + " |")
    chain = list(zip(VARIANTS, VARIANTS[1:], strict=False))
    lines += ["", "| case | " + " | ".join(f"{a} / {b}" for a, b in chain) + " |"]
    lines.append("|---|" + "---:|" * len(chain))
    for case, res in results.items():
        lines.append(f"| {case} | " + " | ".join(_ratio(res["times"], a, b, k) for a, b in chain) + " |")
    return lines


def _machinery_rows(results: dict) -> list[str]:
    rows = []
    for case, res in results.items():
        m, step_us = res["machinery_us"], statistics.median(x[1] * 1e6 for x in res["times"]["bare+diag"])
        cells = [f"{m[k]:.1f}" for k in ("train", "trainer", "stub")] + [f"{m['train'] / step_us:.2%}"]
        rows.append(f"| {case} | " + " | ".join(cells) + " |")
    return rows


def report(args: argparse.Namespace, info: dict, loads: tuple, results: dict, mem: dict) -> str:
    """The results as Markdown."""
    load = [", ".join(f"{x:.2f}" for x in avg) for avg in loads]
    lines = [
        "# Trainer overhead",
        "",
        f"`python tools/bench_trainer.py --steps {args.steps} --repeats {args.repeats} "
        f"--warmup {args.warmup}` (one torch thread; `steps` per repeat; `dcgan` takes a quarter of them).",
        "",
        f"Machine: {info['cpu']}; Python {info['python']}, torch {info['torch']}, "
        f"genbench {info['genbench']}; {info['date']}. Load average (1, 5, 15 min): "
        f"{load[0]} at start, {load[1]} at end.",
        "",
        "Variants (all from the same seed; after the warm-up every variant's parameters equal "
        "`train`'s to the bit in every case, max abs difference "
        f"{max(max(r['max_param_diff'].values()) for r in results.values()):.1e}): `train` is "
        "`genbench.worker.train.train()` as a worker runs it (progress callback, stop event, "
        "checkpoint path, "
        "no evaluation or checkpoint inside the budget; only its loop is timed); `trainer` calls "
        "`Trainer.train_step()` in a loop; `model` calls the model's `train_step` with a hand-written "
        "batch function; `bare+diag` is a hand-written PyTorch loop on the same nets, batches, "
        "optimizers and losses that also computes what the model returns every step; `bare` is that "
        "loop without it. Times are medians over repeats (ms per generator or VAE step); a ratio is "
        "the median of the per-repeat ratios of two variants timed back to back (range over repeats "
        "in brackets); the last column gives the three ratios of the fastest repeats instead, which "
        "interference from other work on the machine (it only adds time) disturbs least. "
        "`train / bare+diag` is the cost of genbench's machinery, `bare+diag / bare` "
        "the cost of the per-step diagnostics.",
        "",
        "## CPU time of the process",
        "",
        "The primary measure: other work on the machine slows the wall clock, not the CPU time.",
        "",
        *_tables(results, 1),
        "",
        "## Wall-clock time",
        "",
        *_tables(results, 0),
        "",
        "## Machinery alone",
        "",
        "CPU µs per step that `train()` and a `Trainer.train_step()` loop add to a model whose "
        "`train_step` only draws its batches and returns fixed outputs (median of 9 × 2,000 steps, "
        "less that stub called in a plain loop), and that cost as a share of the `bare+diag` step:",
        "",
        "| case | train() µs | Trainer.train_step µs | stub µs | train() share |",
        "|---|---:|---:|---:|---:|",
        *_machinery_rows(results),
        "",
        "## Cost of one call of each per-step diagnostic",
        "",
        "CPU µs per call on the case's model after a few steps:",
        "",
    ]
    for case, res in results.items():
        lines.append(f"- {case}: " + ", ".join(f"{k} {v:.1f}" for k, v in res["diag_us"].items()))
    lines += [
        "",
        "## Peak resident memory",
        "",
        "VmHWM of a fresh process per row (MiB): `train` runs `genbench.worker.train.train()` "
        "for the case's "
        "steps with its final evaluation and checkpoint; `bare` runs the bare loop with diagnostics; "
        "`timing` is the process that timed all variants above. A process that only imports torch and "
        f"genbench peaks at {mem['baseline']:.0f} MiB.",
        "",
        "| case | train | bare | timing |",
        "|---|---:|---:|---:|",
    ]
    for case, res in results.items():
        lines.append(
            f"| {case} | {mem[case]['train']:.0f} | {mem[case]['bare']:.0f} | {res['peak_mib']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def run_child(script: str, *args: str) -> dict:
    """Run `script` with `args` in a fresh interpreter and return the JSON it prints last."""
    done = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
