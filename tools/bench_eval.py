"""Evaluation share: the fraction of a run's wall time spent evaluating, at genbench's default
evaluation settings, per case and per metric; throughputs of mode coverage, feature extraction
and the IWAE NLL; peak resident memory.

Each case (a model on a data set, with every registered metric that applies to it and can run
here) is first run for real, `genbench run suite.yaml --serial` in a fresh subprocess whose
process is sampled for its peak memory, with only `eval.every` set (and, for the final
evaluation, `nll_k` lowered to the in-training `nll_k_train`: the default final protocol's NLL
is timed, or extrapolated, below): `eval_seconds`, `final_eval_seconds`, `wall_seconds` and
`train_seconds` of its result.json give the shares. Then a second subprocess loads the run's
checkpoint and times, one torch thread: a whole evaluation as the trainer does it (the first of
the process cold: classifier and reference features loaded; then warm), and each metric alone on
a shared draw of samples, in training and at the final evaluation; and the case's throughputs.
The settings are those genbench's EvalSettings and metrics have when the script runs.

    python tools/bench_eval.py --mnist-files DIR     # all cases; DIR holds MNIST's four .gz files
    python tools/bench_eval.py --quick               # toy cases only (MNIST too with --mnist-files)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_common import machine, run_sampled, write_results
from bench_eval_report import report
from bench_eval_timing import time_case

OUT = Path(__file__).resolve().parent.parent / "results" / "bench" / "eval.md"
# name -> (dataset entry, model entry, steps, eval.every); a case gets every metric that applies
CASES: dict[str, tuple[str, str, int, int]] = {
    "toy_gan": ("{name: grid25}", "{name: gan, loss: nonsaturating}", 3000, 1000),
    "toy_vae": ("{name: grid25}", "{name: vae}", 3000, 1000),
    "mnist_vae": (
        "{name: mnist}",
        "{name: vae, decoder: bernoulli, latent_dim: 16, hidden: 256, batch_size: 128}",
        2000,
        1000,
    ),
    "mnist_gan": (
        "{name: mnist}",
        "{name: gan, loss: nonsaturating, hidden: 256, z_dim: 64, batch_size: 64, lr: 2.0e-4}",
        2000,
        1000,
    ),
    "stacked_gan": (
        "{name: stacked_mnist}",
        "{name: gan, loss: nonsaturating, hidden: 256, z_dim: 64, batch_size: 64, lr: 2.0e-4}",
        2000,
        1000,
    ),
}
QUICK_EVAL = {"samples": 200, "real_samples": 1000, "nll_examples": 100, "nll_k_train": 5, "nll_k": 10}


def eval_fields() -> dict:
    """genbench's EvalSettings fields and their defaults, as they are now."""
    from genbench.metrics.settings import EvalSettings

    return EvalSettings().model_dump()


def suite_text(
    case: str, steps: int, every: int, metrics: list[str], quick: bool, cheap_final: bool = True
) -> str:
    """The suite file of one case: defaults but for eval.every (and with `cheap_final` the final
    NLL's k, see above; --quick: small evaluations)."""
    dataset, model = CASES[case][:2]
    fields = eval_fields()
    extra = {k: v for k, v in QUICK_EVAL.items() if k in fields} if quick else {}
    if cheap_final and "nll_k" in fields and "nll_k_train" in fields and "nll" in metrics:
        extra["nll_k"] = extra.get("nll_k_train", fields["nll_k_train"])
    eval_items = ", ".join(f"{k}: {v}" for k, v in {"every": every, **extra}.items())
    return (
        f"name: eval_{case}\nseeds: [0]\nbudget: {{steps: {steps}}}\nresources: {{cpus: 1, gpus: 0}}\n"
        f"eval: {{{eval_items}}}\ndatasets: [{dataset}]\nmodels: [{model}]\nmetrics: {json.dumps(metrics)}\n"
    )


def load_spec(text: str):
    """The first RunSpec of a suite file's text, through genbench's own loader."""
    from genbench.suite.config import load_suite

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "suite.yaml"
        path.write_text(text)
        return load_suite(path)[1][0]


def applicable_metrics(case: str) -> tuple[list[str], dict[str, str]]:
    """Every registered metric that applies to the case's model and data and can run here, and
    why each other one with a check does not (e.g. inception weights missing)."""
    from genbench.builtins import load_builtins
    from genbench.registry import DATASETS, METRICS, MODELS

    load_builtins()
    spec, keep, skipped = load_spec(suite_text(case, 1, 1, ["parzen"], False)), [], {}  # parzen: any run
    model, dataset = MODELS.get(spec.model), DATASETS.get(spec.dataset)
    for name, entry in METRICS.items():
        if not entry.applies_to(model, dataset):
            continue
        problem = entry.check(spec) if entry.check else None
        if problem:
            skipped[name] = problem
        else:
            keep.append(name)
    return keep, skipped


def real_run(
    case: str, steps: int, every: int, metrics: list[str], quick: bool, env: dict, root: Path
) -> dict:
    """Run the case through the CLI (--serial, a fresh process); its result.json and peak memory."""
    suite = root / f"{case}.yaml"
    suite.write_text(suite_text(case, steps, every, metrics, quick))
    cmd = [
        sys.executable,
        "-m",
        "genbench.driver.cli",
        "run",
        str(suite),
        "--serial",
        "--results",
        str(root / "res"),
    ]
    out = run_sampled(cmd, env, root, root / f"{case}.log")
    if out["returncode"] != 0:
        raise SystemExit(f"{case}: genbench run failed:\n{(root / f'{case}.log').read_text()[-3000:]}")
    run_dir = next((root / "res" / f"eval_{case}" / "runs").glob("*/result.json")).parent
    result = json.loads((run_dir / "result.json").read_text())
    keys = ("status", "steps", "train_seconds", "wall_seconds", "eval_seconds", "final_eval_seconds")
    return {
        **{k: result.get(k) for k in keys},
        "evaluations": len(result.get("trajectory", [])) or _count_lines(run_dir / "trajectory.jsonl"),
        "metric_protocols": result.get("metric_protocols", {}),
        "cli_wall_s": out["wall_s"],
        "peak_mib": max(p["peak_mib"] for p in out["processes"] if p["role"] == "driver"),
        "checkpoint": str(run_dir / "checkpoint.pt"),
    }


def _count_lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


def mnist_root(args, scratch: Path) -> tuple[Path | None, str]:
    """A genbench data root holding MNIST (None and why not): --mnist-files linked into a scratch
    root, else --data-dir, $GENBENCH_DATA or genbench's default root."""
    from genbench.data.images import data_root

    if args.mnist_files:
        raw = scratch / "data" / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for f in Path(args.mnist_files).glob("*-ubyte*"):
            (raw / f.name).symlink_to(f.resolve())
        root = scratch / "data"
    else:
        root = data_root(args.data_dir)
    if not any((root / "MNIST" / "raw").glob("t10k-images-idx3-ubyte*")):
        return None, "MNIST files not found: pass --mnist-files DIR (the four .gz files) or --data-dir"
    return root, ""


def classifier_ready(root: Path, quick: bool) -> str:
    """Why the MNIST classifier is not there ('' when it is): trained now (`genbench prepare
    mnist`, minutes on a CPU) unless --quick."""
    if not quick:
        cmd = [sys.executable, "-m", "genbench.driver.cli", "prepare", "mnist", "--data-dir", str(root)]
        subprocess.run(cmd, check=True, capture_output=True)
        return ""
    from genbench.data.images import MnistParams, build_torchvision
    from genbench.metrics import classifier

    path = classifier.classifier_path(build_torchvision("mnist")(MnistParams(data_dir=str(root))))
    return (
        "" if path.exists() else "--quick does not train the MNIST classifier: run `genbench prepare mnist`"
    )


def _child(env: dict, *args: str) -> dict:
    """Run this script with `args` in a fresh interpreter and return the JSON it prints last."""
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_case(case: str, schedule: tuple[int, int], args, env: dict, scratch: Path) -> dict:
    """The real run of `case`, then its timing process; what both measured."""
    print(f"{case}: real run ...", flush=True)
    defaults = eval_fields()  # as the run finds them (others may change them between cases)
    metrics, unavailable = applicable_metrics(case)
    steps, every = schedule
    run = real_run(case, steps, every, metrics, args.quick, env, scratch)
    print(f"{case}: timing each metric ...", flush=True)
    flags = ["--quick"] if args.quick else []
    flags += ["--inception-weights", args.inception_weights] if args.inception_weights else []
    for name in ("repeats", "nll_k", "nll_images", "nll_chunks"):
        flags += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    checkpoint = run.pop("checkpoint")
    timing = _child(env, "--worker", case, "--checkpoint", checkpoint, "--metrics", ",".join(metrics), *flags)
    return {
        "dataset": CASES[case][0],
        "model": CASES[case][1],
        "steps": steps,
        "every": every,
        "metrics": metrics,
        "unavailable": unavailable,
        "eval_defaults": defaults,
        "run": run,
        "timing": timing,
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments; as a child time one case, else run every case and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats of every evaluation")
    parser.add_argument("--mnist-files", help="folder with MNIST's four .gz files")
    parser.add_argument(
        "--data-dir", help="genbench data root with MNIST (default: $GENBENCH_DATA or ~/.cache)"
    )
    parser.add_argument("--inception-weights", help="inception weights file (else torch's hub cache)")
    parser.add_argument("--nll-k", type=int, default=5000, help="importance samples of the NLL throughput")
    parser.add_argument("--nll-images", type=int, default=1000, help="test images of the NLL throughput")
    parser.add_argument("--nll-chunks", type=int, default=5, help="timed parts of the NLL throughput")
    parser.add_argument("--quick", action="store_true", help="20 steps, small evaluations, 1 repeat")
    parser.add_argument("--out", type=Path, default=OUT, help="Markdown file to write (JSON beside it)")
    parser.add_argument("--rewrite", action="store_true", help="only render the Markdown again from the JSON")
    parser.add_argument("--worker", choices=list(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", help=argparse.SUPPRESS)
    parser.add_argument("--metrics", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rewrite:
        raw = json.loads(args.out.with_suffix(".json").read_text())
        write_results(args.out, report(raw), raw)
        return 0
    if args.quick:
        args.repeats = 1
    schedule = {c: (20, 10) if args.quick else CASES[c][2:] for c in CASES}
    if args.worker:
        steps, every = schedule[args.worker]
        metrics = args.metrics.split(",")
        text = {cheap: suite_text(args.worker, steps, every, metrics, args.quick, cheap) for cheap in (1, 0)}
        real_run_id = load_spec(text[1]).run_id  # the real run's spec, its checkpoint's; defaults to time
        print(
            json.dumps(time_case(args.worker, load_spec(text[0]), Path(args.checkpoint), real_run_id, args))
        )
        return 0
    start_load, scratch = os.getloadavg(), Path(tempfile.mkdtemp(prefix="gbe"))
    results, skipped = {}, {}
    try:
        root, why = mnist_root(args, scratch)
        if root is not None and any(c not in ("toy_gan", "toy_vae") for c in args.cases):
            why = classifier_ready(root, args.quick)
            root = None if why else root
        env = {**os.environ, "COLUMNS": "200"}
        if root is not None:
            env["GENBENCH_DATA"] = str(root)
        for case in args.cases:
            if root is None and "grid25" not in CASES[case][0]:
                skipped[case] = why
            else:
                results[case] = run_case(case, schedule[case], args, env, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    raw = {
        "machine": machine(),
        "load": (start_load, os.getloadavg()),
        "args": {
            k: v
            for k, v in vars(args).items()
            if k not in ("mnist_files", "data_dir", "inception_weights", "out", "rewrite")
        },
        "eval_defaults": eval_fields(),
        "cases": {c: CASES[c] for c in results},
        "results": results,
        "skipped": skipped,
    }
    write_results(args.out, report(raw), raw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
