"""The Markdown report of tools/bench_ray.py."""

from __future__ import annotations

import statistics

from bench_common import cell, header, peak_by_role

SPEEDUP_TARGET = 1.8
FIXED_TARGET_S = 10.0
PER_RUN_TARGET_S = 0.2

SPLIT_ROWS = [  # (key of split(), label)
    ("total", "**CLI start to leaderboard written**"),
    ("imports", "process start + imports"),
    ("setup", "setup: suite, preflight checks, manifest (`setup_s` less Ray)"),
    ("ray_start", "Ray start-up (`ray_start_s`)"),
    ("dispatch", "dispatch (`dispatch_s`)"),
    ("training", "- training: sum of runs' `wall_seconds` / workers"),
    ("scheduling", "- scheduling, transfer, storing: the rest"),
    ("leaderboard", "leaderboard"),
    ("after_leaderboard", "after the leaderboard (report, Ray shutdown, exit)"),
    ("exit", "CLI start to exit"),
    ("run_wall", "one run's `wall_seconds` (loop + final evaluation)"),
    ("run_train", "one run's `train_seconds` (optimizer steps)"),
    ("per_run", "overhead per run (gap between a worker's results less `wall_seconds`)"),
    ("first_run_extra", "first run's extra (worker start, first set-up)"),
    ("worker_start", "worker start: process seen to actor `__init__` done (sampled)"),
    ("worker_cpu_share", "cores a worker got over its life (its CPU s / wall s)"),
]


def _by_workers(raw: dict) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for inv in raw["invocations"]:
        out.setdefault(inv["workers"], []).append(inv)
    return out


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _speedups(groups: dict[int, list[dict]], one: int, many: int) -> list[float]:
    """Per repeat, wall time with `one` worker over wall time with `many` (the same repeat's pair)."""
    pairs = zip(groups[one], groups[many], strict=False)
    return [a["split"]["total"] / b["split"]["total"] for a, b in pairs]


def _targets(groups: dict[int, list[dict]]) -> tuple[list[str], dict]:
    counts = sorted(groups)
    one, many = counts[0], counts[-1]
    med = {
        w: {k: statistics.median(i["split"][k] for i in groups[w]) for k in ("fixed", "total")}
        for w in counts
    }
    per_run = {
        w: [i["split"]["per_run"] for i in groups[w] if i["split"]["per_run"] is not None] for w in counts
    }
    speed = _speedups(groups, one, many)
    found = {
        "speedup": statistics.median(speed),
        "fixed": max(med[w]["fixed"] for w in counts),
        "per_run": max((statistics.median(v) for v in per_run.values() if v), default=None),
    }
    head = " | ".join(f"{w} worker{'s' if w > 1 else ''}" for w in counts)
    lines = [
        f"| measure | {head} | target | |",
        "|---|" + "---:|" * len(counts) + "---|---|",
        "| CLI start to leaderboard, s | "
        + " | ".join(cell(i["split"]["total"] for i in groups[w]) for w in counts)
        + " | | |",
        f"| speed-up, {one} / {many} workers (per repeat) | "
        + " | " * (len(counts) - 1)
        + f"{cell(speed)} | >= {SPEEDUP_TARGET} | {_verdict(found['speedup'] >= SPEEDUP_TARGET)} |",
        "| fixed overhead per suite, s | "
        + " | ".join(cell(i["split"]["fixed"] for i in groups[w]) for w in counts)
        + f" | <= {FIXED_TARGET_S:.0f} | {_verdict(found['fixed'] <= FIXED_TARGET_S)} |",
    ]
    if found["per_run"] is not None:
        lines.append(
            "| overhead per run, s | "
            + " | ".join(cell(per_run[w]) for w in counts)
            + f" | <= {PER_RUN_TARGET_S} | {_verdict(found['per_run'] <= PER_RUN_TARGET_S)} |"
        )
    return lines, found


def _split_table(groups: dict[int, list[dict]]) -> list[str]:
    counts = sorted(groups)
    lines = ["| seconds | " + " | ".join(f"{w} worker{'s' if w > 1 else ''}" for w in counts) + " |"]
    lines.append("|---|" + "---:|" * len(counts))
    for key, label in SPLIT_ROWS:
        lines.append(
            f"| {label} | " + " | ".join(cell(i["split"][key] for i in groups[w]) for w in counts) + " |"
        )
    return lines


def _memory_table(groups: dict[int, list[dict]]) -> list[str]:
    counts = sorted(groups)
    lines = [
        "| process | "
        + " | ".join(f"{w} worker{'s' if w > 1 else ''}: peak MiB, CPU s (sum)" for w in counts)
        + " |",
        "|---|" + "---:|" * len(counts),
    ]
    for name, key in [
        ("driver (the CLI)", "driver"),
        ("worker, largest", "worker"),
        ("Ray daemons, sum", "ray daemon"),
    ]:
        cells = []
        for w in counts:
            roles = [peak_by_role(i["processes"]).get(key) for i in groups[w]]
            roles = [r for r in roles if r]
            peak = "sum_peaks_mib" if key == "ray daemon" else "peak_mib"
            count = f" ({roles[0]['count']} processes)" if key == "ray daemon" and roles else ""
            mib, cpu = cell((r[peak] for r in roles), "{:.0f}"), cell((r["cpu_s"] for r in roles), "{:.1f}")
            cells.append(f"{mib}{count}, {cpu}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _limits(groups: dict[int, list[dict]], found: dict, probes: list[dict]) -> list[str]:
    """Sentences that say what limits the speed-up and the overheads, from the numbers above."""
    counts = sorted(groups)
    one, many = counts[0], counts[-1]

    def med(w: int, key: str) -> float:
        return statistics.median(i["split"][key] for i in groups[w] if i["split"][key] is not None)

    probe = {k: statistics.median(p[k] for p in probes) for k in probes[0]}
    parts = {k: med(many, k) for k in ("imports", "setup", "ray_start", "leaderboard")}
    parts["first run's extra"] = med(many, "first_run_extra")
    biggest = sorted(parts.items(), key=lambda kv: -kv[1])
    runs = len(groups[one][0]["runs"])
    quiet = max(zip(groups[one], groups[many], strict=False), key=lambda p: p[1]["split"]["worker_cpu_share"])
    cycle = med(one, "run_wall") + (found["per_run"] or 0.0)
    idle_speedup = med(one, "total") / (med(many, "fixed") + runs / many * cycle)
    fixed_for_target = med(one, "total") / SPEEDUP_TARGET - runs / many * cycle
    slower = med(many, "run_wall") / med(one, "run_wall")
    lines = [
        f"- Other work on the machine: with {many} workers each worker process got "
        f"{med(many, 'worker_cpu_share'):.2f} of a core over its life (CPU s / wall s; with {one}: "
        f"{med(one, 'worker_cpu_share'):.2f}), so a run took {slower:.2f}x as long as alone. In the repeat "
        f"where the workers got the most ({quiet[1]['split']['worker_cpu_share']:.2f} of a core each) the "
        f"speed-up was {quiet[0]['split']['total'] / quiet[1]['split']['total']:.2f}x.",
        f"- The fixed overhead: with runs as long as with {one} worker and the overheads measured here, "
        f"the speed-up would be {idle_speedup:.2f}x; {SPEEDUP_TARGET}x needs a fixed overhead of at most "
        f"{fixed_for_target:.1f} s with {many} workers ({med(many, 'fixed'):.1f} s here).",
        f"- Fixed overhead ({many} workers), largest parts: "
        + ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in biggest[:4])
        + f". Fresh interpreters: bare start {probe['bare interpreter']:.1f} s, the driver's imports "
        f"{probe['driver imports (genbench.driver.suite_run)']:.1f} s, "
        "a worker's torch + genbench.worker.train "
        f"{probe['worker imports (torch, genbench.worker.train)']:.1f} s, Ray start-up "
        f"{probe['Ray start-up (runner.start_ray)']:.1f} s, Ray shutdown {probe['Ray shutdown']:.1f} s.",
    ]
    if found["per_run"] is not None:
        lines.append(
            f"- Per run ({found['per_run']:.2f} s, the larger median of the worker counts): the worker sets "
            f"up the run (`Trainer`, {probe['run set-up (Trainer)']:.2f} s in the probe) and sends back its "
            f"result ({probe['result size, MB (pickled)'] * 1024:.0f} kB pickled); the driver stores it and "
            f"draws its pictures ({probe['storing a result (write_run + pictures)']:.2f} s in the probe) "
            "after it has handed that worker its next run."
        )
    return lines


def report(raw: dict) -> str:
    """The results of tools/bench_ray.py as Markdown."""
    args, groups = raw["args"], _by_workers(raw)
    command = "python tools/bench_ray.py" + (
        " --quick"
        if args["quick"]
        else f" --runs {args['runs']} --steps {args['steps']} --repeats {args['repeats']}"
    )
    target_lines, found = _targets(groups)
    lines = header("Ray scaling", command, raw["machine"], raw["load"], "one torch thread per run, `cpus: 1`")
    lines += [
        f"A suite of {args['runs']} identical runs (a non-saturating GAN on grid25, {args['steps']} steps, "
        "the final `mode_coverage` evaluation at the default sample count) run by the real CLI, "
        "`genbench run suite.yaml --workers N`, each time in a fresh subprocess with a fresh results "
        "directory and a fresh local Ray instance; the worker counts alternate, the order reversing every "
        f"repeat ({args['repeats']} repeats). Cells are medians over repeats with [min-max]. The time from "
        "the CLI start to the leaderboard written (leaderboard.md's mtime) splits as the table below says; "
        "the overhead per run is the median gap between one worker's consecutive results less the run's "
        "`wall_seconds`, and the fixed overhead is the rest of the wall time after the training and the "
        "per-run overheads.",
        "",
        "## Against the targets",
        "",
        *target_lines,
        "",
        "## Where the time goes",
        "",
        *_split_table(groups),
        "",
        "## Peak resident memory and CPU time",
        "",
        "VmHWM of every process of the CLI's tree, sampled every "
        f"{args['interval']} s (the last reading of each process); CPU seconds from /proc.",
        "",
        *_memory_table(groups),
        "",
        "## Probes",
        "",
        "Each in a fresh interpreter, once per repeat: imports timed from outside (interpreter start "
        "included), the rest inside.",
        "",
        "| probe | seconds |",
        "|---|---:|",
        *[f"| {k} | {cell(p[k] for p in raw['probes'])} |" for k in raw["probes"][0]],
        "",
        "## What limits it",
        "",
        *_limits(groups, found, raw["probes"]),
    ]
    return "\n".join(lines) + "\n"
