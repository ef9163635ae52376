"""Paired timings of feature extraction + FID, to separate genbench's cost from the machine's
noise (bench_features.py runs each configuration in a fresh process; on a 2-core virtual machine
its repeats of one configuration spread by +-20 %). Here everything runs in one process, the
configurations alternate (the order reverses every pair), and each pair gives one ratio:

- genbench's streaming extraction in this process against torch-fidelity's `calculate_metrics`
  (same extractor, same images; both build their extractor inside the timed work);
- one warm Ray pool of two one-CPU actors, extracting with one of its actors and with both, with
  the CPU seconds each actor spent (read from /proc): if the two actors' CPU seconds add up to
  the one actor's, the work was split evenly and what the speed-up misses is wall-clock time in
  which the actors did not run.

    python tools/bench_features_paired.py --data-dir DIR --counts 10000 50000 --pairs 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_common import header, machine, write_results
from bench_features import _keys, mnist, prepare, run_genbench, run_torch_fidelity
from scipy.stats import binomtest

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "results" / "bench" / "features_paired.md"


def cpu_seconds(pids: list[int]) -> list[float]:
    """User + system CPU seconds of each process so far (/proc/PID/stat fields 14 and 15)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = []
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        out.append((int(fields[11]) + int(fields[12])) / tick)
    return out


def pool_run(pool, actors: list, pids: list[int], n: int, train, test, weights_hash: str) -> dict:
    """Extract both sets (nothing cached) with the pool's first `len(actors)` actors."""
    from genbench.metrics import feature_cache
    from genbench.metrics.image_sources import TensorSource

    cache = Path(tempfile.mkdtemp(prefix="paired-"))
    pool.actors = actors
    before, tick = cpu_seconds(pids), time.perf_counter()
    for key, images in zip(_keys(n, weights_hash), (train[:n], test), strict=True):
        pool.extract(feature_cache.cache_path(key["split"], key, root=cache), key, TensorSource(images))
    seconds = time.perf_counter() - tick
    return {"seconds": seconds, "cpu": [b - a for a, b in zip(before, cpu_seconds(pids), strict=True)]}


def ratio_line(name: str, ratios: list[float]) -> str:
    """Median [min-max] of paired ratios, the share below 1 and a two-sided sign test of median 1."""
    below = sum(r < 1 for r in ratios)
    p = binomtest(below, len(ratios)).pvalue
    return (
        f"| {name} | {statistics.median(ratios):.3f} [{min(ratios):.3f}-{max(ratios):.3f}] "
        f"| {below} of {len(ratios)} | {p:.3g} |"
    )


def measure(args, prep: dict) -> list[str]:
    import ray

    from genbench.driver.extract import ExtractorPool
    from genbench.metrics import extractors, feature_cache

    train, test = mnist(Path(prep["root"]))
    weights, weights_hash = str(prep["weights"]), prep["hash"]
    recipe = feature_cache.ExtractorRecipe(extractors.TF_MNIST, weights, "penultimate")
    pool = ExtractorPool(recipe, 2)
    both = list(pool.actors)
    pids = ray.get([a.__ray_call__.remote(lambda self: os.getpid()) for a in both])
    rows = ["| paired ratio | median [min-max] | pairs below 1 | sign test p |", "|---|---|---|---|"]
    try:
        for n in args.counts:
            speed, split, cost = [], [], []
            for i in range(args.pairs):
                scratch = Path(tempfile.mkdtemp(prefix="paired-"))
                runs = {}
                for which in ("tf", "gb") if i % 2 == 0 else ("gb", "tf"):
                    runs[which] = (
                        run_torch_fidelity(n, train, test, weights)
                        if which == "tf"
                        else run_genbench(n, train, test, weights, weights_hash, scratch)
                    )
                cost.append(runs["gb"]["seconds"] / runs["tf"]["seconds"])
                order = (1, 2) if i % 2 == 0 else (2, 1)
                runs = {k: pool_run(pool, both[:k], pids, n, train, test, weights_hash) for k in order}
                one, two = runs[1], runs[2]
                speed.append(one["seconds"] / two["seconds"])
                split.append((sum(two["cpu"]) / sum(one["cpu"]), two["seconds"] / (sum(two["cpu"]) / 2)))
                print(f"{n}: pair {i + 1}: gb/tf {cost[-1]:.3f}, speed-up {speed[-1]:.2f}", file=sys.stderr)
            rows.append(ratio_line(f"genbench / torch-fidelity, {n:,} + 10,000 images", cost))
            rows.append(ratio_line(f"1 actor / 2 actors (speed-up), {n:,} + 10,000 images", speed))
            cpu = statistics.median(s[0] for s in split)
            idle = statistics.median(s[1] for s in split)
            rows.append(
                f"| 2 actors' CPU seconds / 1 actor's, {n:,} (median) | {cpu:.3f} | - | - |\n"
                f"| 2 actors' wall seconds / their mean CPU seconds, {n:,} (median) | {idle:.3f} | - | - |"
            )
    finally:
        pool.actors = both
        pool.close()
        ray.shutdown()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"), help="holds mnist/*.gz")
    parser.add_argument("--counts", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    os.environ.pop("RAY_ADDRESS", None)
    import torch

    torch.set_num_threads(1)
    info, start_load = machine(), os.getloadavg()
    scratch = Path(tempfile.mkdtemp(prefix="bench-paired-"))
    args.threads = 1
    prep = prepare(args, scratch)
    rows = measure(args, prep)
    counts = " ".join(map(str, args.counts))
    command = f"python tools/bench_features_paired.py --data-dir DIR --counts {counts} --pairs {args.pairs}"
    loads = (start_load, os.getloadavg())
    lines = header("Feature extraction, paired timings", command, info, loads, "one torch thread")
    intro, cases = __doc__.split("\n\n")[:2]
    lines += [" ".join(intro.split()), "", cases, "", *rows, ""]
    write_results(args.out, "\n".join(lines), {"counts": args.counts, "pairs": args.pairs, "rows": rows})


if __name__ == "__main__":
    main()
