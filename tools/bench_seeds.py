"""Many seeds in one process: S seeds of a toy model trained as one batched model (`vectorize_seeds`)
against one seed trained alone, and whether the seeds' numbers match S runs trained alone.

For each case (toy GAN, W-GAN and VAE on grid25 with their defaults, as in bench_trainer.py) one
subprocess builds a lone Trainer and a SeedGroup for every S, then times `steps` training steps of
each, alternating them (the order reverses every repeat), on one torch thread. Reported: ms per
step, and the ratio T(S) / T(alone) per repeat (median and range); target: S = 8 in at most 2.5x
the time of one seed. Further subprocesses give the peak resident memory of a process that trains
a group of S (or one seed alone). With --check, S seeds trained alone and the same S seeds trained
as a group are compared on their final metrics by a two-sided Mann-Whitney U test (scipy).

    python tools/bench_seeds.py                    # 3 cases x S = 1, 2, 4, 8, 16, and --check
    python tools/bench_seeds.py --quick --out seeds.md
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from bench_report import load_specs, machine, run_child  # next to this script
from scipy.stats import mannwhitneyu

from genbench.worker.seed_group import SeedGroup, train_group
from genbench.worker.train import Trainer, train

CASES = {  # name -> model entry on grid25; the metric compared by --check
    "gan": ("{name: gan, loss: nonsaturating}", "mode_dist"),
    "wgan": ("{name: wgan, critic_steps: 5}", "mode_dist"),
    "vae": ("{name: vae}", "elbo"),
    # a small toy whose steps are dominated by per-operation overhead, not by its matrix products
    "gan_small": ("{name: gan, z_dim: 16, hidden: 32, batch_size: 64}", "mode_dist"),
    "vae_small": ("{name: vae, hidden: 32, batch_size: 64}", "elbo"),
}
OUT = Path(__file__).resolve().parent.parent / "results" / "bench" / "seeds.md"
TARGET_S, TARGET_RATIO = 8, 2.5
LIMITS = """What limits it: batching seeds removes per-operation overhead (Python, operator dispatch, the
optimizer's loops over parameters), not arithmetic. Where one seed's step is already dominated by
its matrix products, the group's time grows nearly S-fold: the toy GAN's and VAE's defaults
(batch 512, width 128) run their products near one core's peak alone (about 90 GFLOP/s on the
machine above for a 512 x 128 x 128 product, batched or not). The W-GAN's batch of 64 sits between; small
toys (batch 64, width 32) are mostly overhead and meet the target. With more cores per worker
(`resources.cpus`) the batched products also spread over the cores.
"""


def make_specs(case: str, seeds: int, steps: int):
    """RunSpecs of `case` for seeds 0..seeds-1 through genbench's own suite loader."""
    metrics = "[mode_coverage, elbo]" if case.startswith("vae") else "[mode_coverage]"
    text = (
        f"name: bench\nseeds: {list(range(seeds))}\nbudget: {{steps: {steps}}}\neval: {{samples: 2500}}\n"
        f"vectorize_seeds: true\ndatasets: [{{name: grid25}}]\nmodels: [{CASES[case][0]}]\n"
        f"metrics: {metrics}\n"
    )
    return load_specs(text)


def time_steps(run, steps: int) -> tuple[float, float]:
    """Wall and CPU seconds per step of `steps` calls of run.train_step()."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        run.train_step()
    return (time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps


def worker(case: str, sizes: list[int], steps: int, repeats: int, warmup: int) -> dict:
    """Per-step times of one seed alone and of a group of each size, alternating, one thread."""
    torch.set_num_threads(1)
    specs = make_specs(case, max(sizes), 10**9)
    runs = {"alone": Trainer(specs[0])} | {f"S={s}": SeedGroup(specs[:s]) for s in sizes}
    for run in runs.values():
        time_steps(run, warmup)
    times: dict[str, list] = {name: [] for name in runs}
    for repeat in range(repeats):
        for name in list(runs)[:: 1 if repeat % 2 == 0 else -1]:
            times[name].append(time_steps(runs[name], steps))
    return {"steps": steps, "times": times}


def memory(case: str, seeds: int, steps: int) -> dict:
    """Peak resident memory (MiB) of this process after training a group of `seeds` (0: alone)."""
    torch.set_num_threads(1)
    specs = make_specs(case, max(1, seeds), steps)
    run = Trainer(specs[0]) if seeds == 0 else SeedGroup(specs)
    time_steps(run, steps)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return {"peak_mib": int(line.split()[1]) / 1024}
    return {"peak_mib": float("nan")}


def check(case: str, seeds: int, steps: int) -> dict:
    """Final metric of `seeds` seeds alone and as one group; Mann-Whitney U p-value."""
    torch.set_num_threads(1)
    specs = make_specs(case, seeds, steps)
    metric = CASES[case][1]
    alone = [train(spec).metrics[metric] for spec in specs]
    grouped = [r.metrics[metric] for r in train_group(specs)]
    p = mannwhitneyu(alone, grouped, alternative="two-sided").pvalue
    return {"metric": metric, "steps": steps, "alone": alone, "grouped": grouped, "p": float(p)}


def _child(*args: str) -> dict:
    """Run this script with `args` in a fresh interpreter and return the JSON it prints last."""
    return run_child(str(Path(__file__).resolve()), *args)


def _ratio(times: dict, name: str, k: int) -> tuple[float, str]:
    rs = [x[k] / y[k] for x, y in zip(times[name], times["alone"], strict=True)]
    return statistics.median(rs), f"{statistics.median(rs):.2f} [{min(rs):.2f}-{max(rs):.2f}]"


def report(args, info: dict, load: tuple, results: dict, mem: dict, checks: dict) -> str:
    """The Markdown page: timing per case and S, the target, memory, the statistical check."""
    sizes = [f"S={s}" for s in args.sizes]
    lines = [
        "# Many seeds in one process",
        "",
        f"`python tools/bench_seeds.py {' '.join(args.argv)}`".replace(" `", "`"),
        "",
        f"Machine: {info['cpu']}; Python {info['python']}, torch {info['torch']}, genbench "
        f"{info['genbench']}; {info['date']}; one torch thread. Load average (1, 5, 15 min): "
        + ", ".join(f"{x:.2f}" for x in load[0])
        + " at start, "
        + ", ".join(f"{x:.2f}" for x in load[1])
        + " at end.",
        "",
        "CPU ms per training step (every seed of the group takes one step), medians over "
        f"{args.repeats} repeats of {args.steps} steps; `alone` is one seed trained by the ordinary "
        "Trainer. Ratio: T(S) / T(alone), median of per-repeat ratios [range]. Target: S = 8 in at "
        f"most {TARGET_RATIO}x the time of one seed.",
        "",
        "| case | alone ms | "
        + " | ".join(f"{s} ms" for s in sizes)
        + " | "
        + " | ".join(f"{s} / alone" for s in sizes)
        + " | S = 8 target |",
        "|---|" + "---:|" * (2 * len(sizes) + 1) + "---|",
    ]
    for case, res in results.items():
        t = res["times"]
        cells = [f"{statistics.median(x[1] for x in t[n]) * 1e3:.2f}" for n in ["alone", *sizes]]
        cells += [_ratio(t, n, 1)[1] for n in sizes]
        met = "–"
        if f"S={TARGET_S}" in t:
            met = "met" if _ratio(t, f"S={TARGET_S}", 1)[0] <= TARGET_RATIO else "missed"
        lines.append(f"| {case} | " + " | ".join(cells) + f" | {met} |")
    lines += ["", "Wall-clock ratios (same runs): ", ""]
    lines += ["| case | " + " | ".join(f"{s} / alone" for s in sizes) + " |", "|---|" + "---:|" * len(sizes)]
    for case, res in results.items():
        lines.append(f"| {case} | " + " | ".join(_ratio(res["times"], n, 0)[1] for n in sizes) + " |")
    lines += ["", "Peak resident memory of a process that trains the case (MiB):", ""]
    lines += ["| case | alone | " + " | ".join(sizes) + " |", "|---|" + "---:|" * (len(sizes) + 1)]
    for case, row in mem.items():
        lines.append(f"| {case} | " + " | ".join(f"{row[k]:.0f}" for k in ["alone", *sizes]) + " |")
    lines += ["", *LIMITS.strip().splitlines()]
    if checks:
        lines += [
            "",
            "Same numbers? Final metric of seeds trained alone and of the same seeds trained as one "
            "group (two-sided Mann-Whitney U; a small p would mean the group changes the results):",
            "",
            "| case | metric | steps | seeds | alone, median | group, median | p |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for case, c in checks.items():
            lines.append(
                f"| {case} | {c['metric']} | {c['steps']} | {len(c['alone'])} | "
                f"{statistics.median(c['alone']):.3f} | {statistics.median(c['grouped']):.3f} | "
                f"{c['p']:.2f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Parse arguments; as a child run one probe, else run every case and write the page."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--sizes", nargs="+", type=int, default=[1, 2, 4, 8, 16])
    parser.add_argument("--steps", type=int, default=50, help="steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=9, help="timed repeats of every variant")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up steps per variant")
    parser.add_argument("--check-steps", type=int, default=500, help="steps of the --check runs (0: none)")
    parser.add_argument("--check-seeds", type=int, default=8, help="seeds of the --check runs")
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny sizes, steps and repeats")
    parser.add_argument("--out", type=Path, default=OUT, help="Markdown file to write")
    parser.add_argument("--probe", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = argv
    if args.quick:
        args.sizes, args.steps, args.repeats, args.warmup, args.check_steps = [1, 2], 3, 2, 2, 20
        args.check_seeds = 3
    if args.probe:
        kind, case = args.probe
        out = {
            "time": lambda: worker(case, args.sizes, args.steps, args.repeats, args.warmup),
            "check": lambda: check(case, args.check_seeds, args.check_steps),
        }.get(kind, lambda: memory(case, int(kind), args.steps))()
        print(json.dumps(out))
        return 0
    common = ["--sizes", *map(str, args.sizes), "--steps", str(args.steps), "--repeats", str(args.repeats)]
    common += ["--warmup", str(args.warmup), "--check-steps", str(args.check_steps)]
    common += ["--check-seeds", str(args.check_seeds)]
    start_load, results, mem, checks = os.getloadavg(), {}, {}, {}
    for case in args.cases:
        print(f"timing {case} ...", flush=True)
        results[case] = _child("--probe", "time", case, *common)
        mem[case] = {"alone": _child("--probe", "0", case, *common)["peak_mib"]}
        mem[case] |= {f"S={s}": _child("--probe", str(s), case, *common)["peak_mib"] for s in args.sizes}
        if args.check_steps:
            checks[case] = _child("--probe", "check", case, *common)
    text = report(args, machine(), (start_load, os.getloadavg()), results, mem, checks)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    raw = {"machine": machine(), "results": results, "memory": mem, "checks": checks}
    args.out.with_suffix(".json").write_text(json.dumps(raw, indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
