"""Feature extraction + FID at 10,000 and 50,000 MNIST-size images: genbench's streaming
extraction into its feature cache (in one process, and across 1 and 2 Ray workers) against
torch-fidelity's own `calculate_metrics`, on the same extractor (genbench's MNIST classifier as
registered with torch-fidelity, with seeded random weights from a file) and the same images.

Each measurement is a fresh process (`--child`), whose process tree is sampled for peak resident
memory (bench_common.run_sampled; the process's own ru_maxrss is reported too). The work timed is
FID(first N MNIST training images, the 10,000 test images) from nothing cached: extractor built,
N + 10,000 images embedded, statistics, Frechet distance; not timed: interpreter start, imports,
loading MNIST, and for Ray the instance's start and the actors' start (reported apart). Both FIDs
use torch-fidelity's `fid_statistics_to_metric`; genbench's statistics are its streamed float64
moments, torch-fidelity's numpy's mean and covariance of all features. Configurations alternate
within each repeat (the order reverses every repeat) so that load from other work hits all alike.

    python tools/bench_features.py --data-dir DIR     # DIR/mnist/*.gz; 10,000 and 50,000; 3 repeats
    python tools/bench_features.py --counts 2000 --repeats 1    # quick check that it works
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_common import cell, header, machine, run_sampled, write_results

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "results" / "bench" / "features.md"
CONFIGS = ("torch-fidelity", "genbench", "genbench, 1 Ray worker", "genbench, 2 Ray workers")
BATCH = 500  # images per batch, both libraries
TARGET_MIB = 1.5 * 1024  # peak resident memory at 50,000 images
TARGET_SPEEDUP = 1.8


def mnist(root: Path):
    """MNIST's (train, test) uint8 images through genbench's loader, from a data root."""
    from genbench.data.images import MnistParams, build_torchvision

    data = build_torchvision("mnist")(MnistParams(data_dir=str(root)))
    return data.train_images, data.test_images


def make_weights(path: Path) -> str:
    """Save genbench's MNIST classifier with seeded random weights to `path`; its weights hash."""
    import torch

    from genbench.metrics import classifier

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = classifier.MnistNet().eval()
    torch.save({"state_dict": net.state_dict(), "record": {"test_accuracy": 0.1}}, path)
    return classifier.weights_hash(net.state_dict())


def fid(stats_a: dict, stats_b: dict) -> float:
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    return fid_statistics_to_metric(stats_a, stats_b, verbose=False)["frechet_inception_distance"]


def run_torch_fidelity(n: int, train, test, weights: str) -> dict:
    """torch-fidelity's calculate_metrics on uint8 3-channel tensors (one process: save_cpu_ram)."""
    import torch
    import torch_fidelity

    from genbench.metrics import extractors

    class Images(torch.utils.data.Dataset):
        def __init__(self, x):
            self.x = x

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return self.x[i].expand(3, -1, -1)

    tick = time.perf_counter()
    out = torch_fidelity.calculate_metrics(
        input1=Images(train[:n]), input2=Images(test), fid=True, cuda=False, batch_size=BATCH,
        feature_extractor=extractors.TF_MNIST, feature_extractor_weights_path=weights,
        feature_layer_fid="penultimate", cache=False, save_cpu_ram=True, verbose=False,
    )  # fmt: skip
    return {"seconds": time.perf_counter() - tick, "fid": out["frechet_inception_distance"]}


def _keys(n: int, weights_hash: str) -> tuple[dict, dict]:
    base = {"data": "mnist", "extractor": "genbench-mnist-classifier", "weights": weights_hash}
    return {**base, "split": "train", "count": n}, {**base, "split": "test", "count": 10_000}


def _fid_of(sets) -> float:
    a, b = (s.moments for s in sets)
    return fid({"mu": a.mean, "sigma": a.cov}, {"mu": b.mean, "sigma": b.cov})


def run_genbench(n: int, train, test, weights: str, weights_hash: str, cache: Path) -> dict:
    """Streaming extraction into the feature cache, in this process; then the same read back."""
    from genbench.metrics import extractors, feature_cache
    from genbench.metrics.image_sources import TensorSource

    def both(embed):
        out = []
        for key, images in zip(_keys(n, weights_hash), (train[:n], test), strict=True):
            source = TensorSource(images)
            path = feature_cache.cache_path(key["split"], key, root=cache)
            out.append(
                feature_cache.cached_features(path, key, lambda s=source: s.batches(0, len(s), BATCH), embed)
            )
        return out

    tick = time.perf_counter()
    value = _fid_of(both(feature_cache.ExtractorRecipe(extractors.TF_MNIST, weights, "penultimate")()))
    seconds = time.perf_counter() - tick
    tick = time.perf_counter()
    cached = _fid_of(both(None))  # read back: nothing embedded
    return {
        "seconds": seconds,
        "fid": value,
        "cached_seconds": time.perf_counter() - tick,
        "cached_fid": cached,
    }


def run_ray(n: int, workers: int, train, test, weights: str, weights_hash: str, cache: Path) -> dict:
    """The same through genbench.driver.extract's pool of `workers` warm Ray actors."""
    import ray

    from genbench.driver.extract import ExtractorPool
    from genbench.metrics import extractors, feature_cache
    from genbench.metrics.image_sources import TensorSource

    tick = time.perf_counter()
    pool = ExtractorPool(feature_cache.ExtractorRecipe(extractors.TF_MNIST, weights, "penultimate"), workers)
    start = time.perf_counter() - tick
    try:
        tick = time.perf_counter()
        sets = [
            pool.extract(feature_cache.cache_path(key["split"], key, root=cache), key, TensorSource(images))
            for key, images in zip(_keys(n, weights_hash), (train[:n], test), strict=True)
        ]
        value = _fid_of(sets)
        seconds = time.perf_counter() - tick
    finally:
        pool.close()
        ray.shutdown()
    return {"seconds": seconds, "fid": value, "ray_and_actors_start_seconds": start}


def child(args) -> None:
    """One measurement in this process; prints a RESULT line (JSON)."""
    import torch

    torch.set_num_threads(args.threads)  # in this process; each Ray actor has one thread
    train, test = mnist(Path(args.root))
    cache = Path(tempfile.mkdtemp(prefix="features-", dir=args.scratch))
    weights, weights_hash = args.weights, args.weights_hash
    if args.child == "torch-fidelity":
        out = run_torch_fidelity(args.n, train, test, weights)
    elif args.child == "genbench":
        out = run_genbench(args.n, train, test, weights, weights_hash, cache)
    else:
        workers = int(args.child.split(", ")[1].split()[0])  # "genbench, 2 Ray workers"
        out = run_ray(args.n, workers, train, test, weights, weights_hash, cache)
    shutil.rmtree(cache, ignore_errors=True)
    out["images"] = args.n + len(test)
    out["ru_maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["torch_threads"] = torch.get_num_threads()
    print("RESULT " + json.dumps(out), flush=True)


def measure(config: str, n: int, args, scratch: Path, prep: dict) -> dict:
    """Run one configuration in a fresh process; its result with the tree's peaks by role."""
    cmd = [sys.executable, __file__, "--child", config, "--n", str(n), "--root", str(prep["root"])]
    cmd += ["--weights", str(prep["weights"]), "--weights-hash", prep["hash"], "--scratch", str(scratch)]
    cmd += ["--threads", str(args.threads)]
    log = scratch / f"log-{config.replace(' ', '_').replace(',', '')}-{n}.txt"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    sampled = run_sampled(cmd, env, ROOT, log)
    lines = [ln for ln in log.read_text().splitlines() if ln.startswith("RESULT ")]
    if sampled["returncode"] != 0 or not lines:
        raise SystemExit(f"{config} at {n} failed:\n{log.read_text()[-3000:]}")
    out = json.loads(lines[-1][7:])
    workers = [p["peak_mib"] for p in sampled["processes"] if p["role"] == "worker"]
    out["driver_peak_mib"] = max(
        [p["peak_mib"] for p in sampled["processes"] if p["role"] == "driver"] or [0]
    )
    out["worker_peak_mib"] = max(workers or [0])
    return out


def prepare(args, scratch: Path) -> dict:
    """A data root linking the MNIST files (extracted once here), and the random-weight classifier."""
    root = scratch / "data"
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in sorted((Path(args.data_dir) / "mnist").glob("*.gz")):
        (raw / f.name).symlink_to(f.resolve())
    mnist(root)
    weights = scratch / "classifier.pt"
    return {"root": root, "weights": weights, "hash": make_weights(weights)}


def _median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def _config_rows(results: dict, counts: list[int]) -> list[str]:
    lines = [
        "| configuration | images | images / s | seconds | peak RSS, process MiB | peak RSS, Ray worker MiB "
        "| FID | FID - torch-fidelity's | time / torch-fidelity's |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in counts:
        tf = results[("torch-fidelity", n)]
        for config in CONFIGS:
            rows = results[(config, n)]
            rate = [r["images"] / r["seconds"] for r in rows]
            ratio = [r["seconds"] / t["seconds"] for r, t in zip(rows, tf, strict=True)]
            diff = rows[0]["fid"] - tf[0]["fid"]
            worker = cell([r["worker_peak_mib"] for r in rows], "{:.0f}") if "Ray" in config else "-"
            seconds, peak = (
                cell([r["seconds"] for r in rows]),
                cell([r["driver_peak_mib"] for r in rows], "{:.0f}"),
            )
            lines.append(
                f"| {config} | {n:,} + 10,000 | {cell(rate, '{:,.0f}')} | {seconds} | {peak} | {worker} "
                f"| {rows[0]['fid']:.10g} | {diff:.2e} | {cell(ratio)} |"
            )
    return lines


def _targets(results: dict, counts: list[int]) -> list[str]:
    big, small = max(counts), min(counts)
    lines = ["| target | measured | verdict |", "|---|---|---|"]
    peak = max(
        max(r["driver_peak_mib"], r["worker_peak_mib"]) for c in CONFIGS[1:] for r in results[(c, big)]
    )
    lines.append(
        f"| peak memory at {big:,} images <= 1.5 GB (any genbench process, Ray's included) "
        f"| {peak:.0f} MiB | {_verdict(peak <= TARGET_MIB)} |"
    )
    for config in CONFIGS[:2]:
        a, b = (_median(results[(config, n)], "driver_peak_mib") for n in (small, big))
        lines.append(
            f"| peak memory independent of the count: {config} (medians) | {a:.0f} MiB at {small:,}, "
            f"{b:.0f} at {big:,} ({b - a:+.0f}) | - |"
        )
    for n in counts:
        ratio = statistics.median(
            g["seconds"] / t["seconds"]
            for g, t in zip(results[("genbench", n)], results[("torch-fidelity", n)], strict=True)
        )
        lines.append(
            f"| not slower than torch-fidelity ({n:,}; fresh processes, see the paired timings) "
            f"| time ratio {ratio:.2f} | {_verdict(ratio <= 1.0)} |"
        )
        speedups = [
            a["seconds"] / b["seconds"]
            for a, b in zip(results[(CONFIGS[2], n)], results[(CONFIGS[3], n)], strict=True)
        ]
        met = _verdict(statistics.median(speedups) >= TARGET_SPEEDUP)
        lines.append(f"| 2-worker speed-up >= 1.8 ({n:,}) | {cell(speedups)} | {met} |")
    return lines


def _verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def report(results: dict, counts: list[int], args, info: dict, loads: tuple) -> str:
    command = "python tools/bench_features.py " + " ".join(
        [
            "--data-dir DIR",
            "--counts",
            *map(str, counts),
            "--repeats",
            str(args.repeats),
            "--threads",
            str(args.threads),
        ]
    )
    threads = {r["torch_threads"] for rows in results.values() for r in rows}
    lines = header(
        "Feature extraction and FID at scale",
        command,
        info,
        loads,
        f"torch threads in process: {sorted(threads)}",
    )
    lines += [
        "No GPU. FID of the first N "
        "MNIST training images against the 10,000 test images, nothing cached, genbench's MNIST classifier "
        "with seeded random weights as the extractor of both libraries, batches of 500. Each cell: median "
        "[min-max] over repeats, each a fresh process; seconds exclude interpreter start, imports, loading "
        "MNIST and (Ray) the instance's and actors' start. torch-fidelity runs with `save_cpu_ram=True` (no "
        "loader processes); Ray workers are one-CPU actors with one torch thread each. torch-fidelity's "
        "mean is numpy's float32 mean of float32 features, genbench's a float64 running mean: the FIDs "
        "differ at float32 precision. Peak resident memory is mostly the libraries every configuration "
        "imports (torch, torchvision, torch-fidelity); genbench writes features to the cache file batch "
        "by batch (each batch through a memory map of its own rows, closed once written). The load "
        "averages are the whole machine's; Ray starts its workers at nice 15, so any normal-priority "
        "work beside the benchmark slows the Ray configurations most (bench_features_paired.py gives "
        "paired ratios).",
        "",
        "## Against the targets",
        "",
        *_targets(results, counts),
        "",
        "## Per configuration",
        "",
        *_config_rows(results, counts),
        "",
        "## The cache and Ray start-up",
        "",
        "| images | genbench: the same FID read back from the cache, s "
        "| Ray instance + actors' start, s (1 / 2 workers) |",
        "|---:|---:|---:|",
    ]
    for n in counts:
        cached = cell([r["cached_seconds"] for r in results[("genbench", n)]], "{:.3f}")
        starts = [cell([r["ray_and_actors_start_seconds"] for r in results[(c, n)]]) for c in CONFIGS[2:]]
        lines.append(f"| {n:,} + 10,000 | {cached} | {' / '.join(starts)} |")
    return "\n".join(lines) + "\n"


def write_csv(path: Path, results: dict) -> None:
    """One row per measurement: configuration, images, repeat, seconds, images/s, peaks, FID."""
    fields = ["seconds", "fid", "driver_peak_mib", "worker_peak_mib", "ru_maxrss_mib", "torch_threads"]
    lines = ["configuration,n,images,repeat,images_per_s," + ",".join(fields)]
    for (config, n), rows in results.items():
        for i, r in enumerate(rows):
            cells = [f'"{config}"', n, r["images"], i, f"{r['images'] / r['seconds']:.1f}"]
            lines.append(",".join(map(str, cells + [r[f] for f in fields])))
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"), help="holds mnist/*.gz")
    parser.add_argument("--counts", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the in-process runs")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--from-json", type=Path, help="only rewrite the tables from this run's JSON")
    for name in ("--child", "--root", "--weights", "--weights-hash", "--scratch"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    if args.from_json:
        return rewrite(args)
    info, start_load = machine(), os.getloadavg()
    scratch = Path(tempfile.mkdtemp(prefix="bench-features-"))
    try:
        prep, results = prepare(args, scratch), {}
        for repeat in range(args.repeats):
            order = [(c, n) for n in args.counts for c in CONFIGS]
            for config, n in order if repeat % 2 == 0 else order[::-1]:
                results.setdefault((config, n), []).append(measure(config, n, args, scratch, prep))
                print(f"repeat {repeat + 1}: {config}, {n}: {results[(config, n)][-1]}", file=sys.stderr)
        loads = (start_load, os.getloadavg())
        raw = {f"{c} | {n}": rows for (c, n), rows in results.items()}
        raw = {
            "machine": info,
            "counts": args.counts,
            "repeats": args.repeats,
            "loads": loads,
            "results": raw,
        }
        write_results(args.out, report(results, args.counts, args, info, loads), raw)
        write_csv(args.out.with_suffix(".csv"), results)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def rewrite(args) -> None:
    """The Markdown and CSV again from the JSON of an earlier run (`--from-json`)."""
    raw = json.loads(args.from_json.read_text())
    results = {}
    for name, rows in raw["results"].items():
        config, n = name.rsplit(" | ", 1)
        results[(config, int(n))] = rows
    args.repeats, args.counts = raw["repeats"], raw["counts"]
    text = report(results, raw["counts"], args, raw["machine"], tuple(raw["loads"]))
    write_results(args.out, text, raw)
    write_csv(args.out.with_suffix(".csv"), results)


if __name__ == "__main__":
    main()
