"""Trainer overhead on a CUDA GPU: the cases of tools/bench_trainer.py and tools/bench_seeds.py on
the device, and fractional-GPU packing through the runner.

  overhead   per case (toy GAN, W-GAN and VAE on grid25; a small DCGAN on digits): ms per step of
             genbench's Trainer.train_step() loop and of the hand-written loop of tools/bench_loops.py
             on the same nets, data and noise (both on the GPU), alternating; and the largest
             parameter difference between them after the warm-up (0 where the GPU computes
             deterministically)
  seeds      ms per step of S seeds trained together (vectorize_seeds) at S = 1, 2, 4, ..., 64
  packed     four toy GAN runs through runner.run_on_ray with `gpus: 0.25` on a local Ray instance
             (all on the one GPU at once) against one run alone: seconds each and steps/s summed

Where torch sees no CUDA device it prints "no GPU" and exits 0, writing nothing. `--device cpu`
runs every code path on the CPU (a dry run for tests; its numbers say nothing about a GPU).

    python tools/bench_gpu.py                      # all, to results/bench/gpu.md
    python tools/bench_gpu.py --steps 20 --repeats 1 --out bench.md
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import bench_loops  # next to this script
import torch
from bench_report import load_specs, machine
from bench_trainer import CASES

from genbench.worker import train as train_mod

OUT = Path(__file__).resolve().parent.parent / "results" / "bench" / "gpu.md"
SEEDS = [1, 2, 4, 8, 16, 32, 64]
DEVICE = "cuda"  # --device


def sync() -> None:
    """Wait for the device's queue (a no-op on the CPU)."""
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def spec_text(dataset: str, model: str, seeds: int, steps: int, extra: str = "") -> str:
    """A suite file of `seeds` runs of one model on one data set, on the GPU."""
    return (
        f"name: bench_gpu\nseeds: {list(range(seeds))}\nbudget: {{steps: {steps}}}\neval: {{samples: 256}}\n"
        f"datasets: [{dataset}]\nmodels: [{model}]\nmetrics: [mode_coverage]\n{extra}"
    )


def timed(fn, steps: int, loop: bool = True) -> float:
    """Milliseconds per step of `steps` calls of `fn` (or, with loop=False, of one call `fn(steps)`),
    the GPU's queue drained on both ends."""
    sync()
    tick = time.perf_counter()
    if loop:
        for _ in range(steps):
            fn()
    else:
        fn(steps)
    sync()
    return (time.perf_counter() - tick) / steps * 1e3


def overhead(case: str, steps: int, repeats: int, warmup: int) -> dict:
    """genbench's loop against the bare loop on the GPU for one case of tools/bench_trainer.py."""
    dataset, model, metric, share = CASES[case]
    spec = load_specs(spec_text(dataset, model, 1, 10**9).replace("mode_coverage", metric))[0]
    steps = max(1, round(steps * share))

    def bare():
        train_mod.seed_everything(spec.seed)  # as Trainer: seed, build data and model, data stream
        data, net = train_mod.build(spec, DEVICE)
        rng = torch.Generator(getattr(data, "device", "cpu")).manual_seed(spec.seed)
        return net, bench_loops.batches(data, net.batch_size, rng, DEVICE)

    run = train_mod.Trainer(spec, DEVICE)
    for _ in range(warmup):
        run.train_step()
    net, sample = bare()  # after the run's warm-up: both draw their noise from the global generator
    bench_loops.bare_loop(net, net.hp, sample, warmup, diag=True)
    diff = max(
        float((a.double() - b.double()).abs().max())
        for a, b in zip(run.model.state_dict().values(), net.state_dict().values(), strict=True)
        if a.is_floating_point()
    )
    times: dict[str, list[float]] = {"genbench": [], "bare": []}
    for r in range(repeats):
        order = ["genbench", "bare"] if r % 2 == 0 else ["bare", "genbench"]
        for name in order:
            if name == "genbench":
                times[name].append(timed(run.train_step, steps))
            else:  # one call of the bare loop: its optimizers are made once, as a run's are
                times[name].append(
                    timed(lambda n: bench_loops.bare_loop(net, net.hp, sample, n, True), steps, False)
                )
    return {"steps": steps, "max_param_diff": diff, "ms": {k: statistics.median(v) for k, v in times.items()}}


def seeds(steps: int, repeats: int, sizes: list[int]) -> dict[int, float]:
    """ms per step of a seed group of each size in `sizes` (toy GAN on grid25)."""
    from genbench.worker.seed_group import SeedGroup

    model = "{name: gan, loss: nonsaturating, d_steps: 1}"
    specs = load_specs(spec_text("{name: grid25}", model, max(sizes), 10**9, "vectorize_seeds: true\n"))
    out = {}
    for s in sizes:
        group = SeedGroup(specs[:s], DEVICE)
        timed(group.train_step, 5)
        out[s] = statistics.median(timed(group.train_step, steps) for _ in range(repeats))
    return out


def packed(steps: int) -> dict:
    """Four runs sharing the GPU at gpus: 0.25 against one alone, through the runner."""
    import ray

    from genbench.driver import runner

    model = "{name: gan, loss: nonsaturating, d_steps: 1}"
    extra = "resources: {cpus: 1, gpus: 0.25}\n"
    specs = load_specs(spec_text("{name: grid25}", model, 4, steps, extra))
    ray.init(num_cpus=4, num_gpus=1, include_dashboard=False, log_to_driver=False)
    try:
        out = {"slots": runner.slots(specs[0].resources, runner.cluster_nodes())}
        for name, batch in (("alone", specs[:1]), ("four", specs)):
            results: list = []
            tick = time.perf_counter()
            runner.run_on_ray(batch, lambda spec: None, lambda spec, r, into=results: into.append(r))
            wall = time.perf_counter() - tick
            out[name] = {
                "wall_s": wall,
                "status": sorted({r.status.value for r in results}),
                "steps_per_s": sum(r.steps / r.train_seconds for r in results if r.train_seconds),
            }
    finally:
        ray.shutdown()
    return out


def report(info: dict, raw: dict) -> str:
    """The Markdown tables of one measurement."""
    lines = ["# Trainer overhead on a GPU", "", f"Machine: {json.dumps(info)}", ""]
    lines += ["## genbench against the bare loop (ms per step)", ""]
    lines += ["| case | steps | genbench | bare | ratio | max param diff |", "|---|---|---|---|---|---|"]
    for case, r in raw["overhead"].items():
        g, b = r["ms"]["genbench"], r["ms"]["bare"]
        lines.append(
            f"| {case} | {r['steps']} | {g:.3f} | {b:.3f} | {g / b:.2f} | {r['max_param_diff']:.1e} |"
        )
    lines += ["", "## Seeds trained together (toy GAN, ms per step of the group)", ""]
    lines += ["| S | ms per step | ms per seed-step |", "|---|---|---|"]
    lines += [f"| {s} | {ms:.3f} | {ms / s:.4f} |" for s, ms in raw["seeds"].items()]
    p = raw["packed"]
    lines += ["", f"## Four runs at gpus: 0.25 (slots on this GPU: {p['slots']})", ""]
    lines += ["| runs | wall s | steps/s summed | statuses |", "|---|---|---|---|"]
    for name in ("alone", "four"):
        r = p[name]
        lines.append(f"| {name} | {r['wall_s']:.1f} | {r['steps_per_s']:.0f} | {', '.join(r['status'])} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Measure everything on the GPU and write the report; without CUDA say so and exit 0."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    ap.add_argument("--seeds", nargs="+", type=int, default=SEEDS, help="group sizes S")
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda", help="cpu: a dry run of the code")
    args = ap.parse_args(argv)
    global DEVICE
    DEVICE = args.device
    if DEVICE == "cuda" and not torch.cuda.is_available():
        print("no GPU: torch sees no CUDA device; nothing measured")
        return 0
    raw = {
        "overhead": {case: overhead(case, args.steps, args.repeats, args.warmup) for case in args.cases},
        "seeds": seeds(args.steps, args.repeats, args.seeds),
        "packed": packed(round(args.steps * 2.5)),
    }
    info = {**machine(), "gpu": torch.cuda.get_device_name(0) if DEVICE == "cuda" else "none (dry run)"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(info, raw))
    args.out.with_suffix(".json").write_text(json.dumps({"machine": info, **raw}, indent=2, default=str))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
