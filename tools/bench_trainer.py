"""Trainer overhead: genbench's training loop against a hand-written PyTorch loop doing the same work.

For each case (toy GAN, W-GAN and VAE on grid25; a small DCGAN on digits) one subprocess times
these variants, alternating them (the order reverses every repeat) so load on the machine hits
them alike, from the same seed, so all of them compute bit for bit the same parameters:

  train      genbench.worker.train.train() as a worker runs it (progress callback, stop event,
             checkpoint path with checkpoint.every beyond the budget, no eval.every); only its
             loop is timed, from the end of Trainer construction to the final save/evaluation
  trainer    Trainer.train_step() called in a plain Python loop
  model      model.train_step(next_batch, step) with a hand-written batch function
  bare+diag  hand-written PyTorch loop, same nets, batches, optimizers and losses, computing the
             same diagnostics the model returns (.item() of the losses, grad_norm_g, clip_frac)
  bare       the same loop without any diagnostics

and, in further subprocesses, the peak resident memory of a process that runs `train()` on the
case, of one that runs the bare loop, and of one that only imports torch and genbench.

    python tools/bench_trainer.py                  # all cases, 25 repeats x 100 steps
    python tools/bench_trainer.py --cases gan --steps 5 --repeats 1 --out bench.md
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import bench_loops  # next to this script
import torch
from bench_report import VARIANTS, load_specs, machine, report, run_child

from genbench.models.losses import grad_norm
from genbench.worker import train as train_mod

# name -> (dataset entry, model entry, metric, share of --steps: a DCGAN step costs ~5 toy steps)
CASES: dict[str, tuple[str, str, str, float]] = {
    "gan": ("{name: grid25}", "{name: gan, loss: nonsaturating, d_steps: 1}", "mode_coverage", 1.0),
    "wgan": ("{name: grid25}", "{name: wgan, critic_steps: 5}", "mode_coverage", 1.0),
    "vae": ("{name: grid25}", "{name: vae}", "mode_coverage", 1.0),
    "dcgan": ("{name: digits}", "{name: dcgan, width: 0.125, batch_size: 32}", "parzen", 0.25),
}
OUT = Path(__file__).resolve().parent.parent / "results" / "bench" / "trainer.md"


def make_spec(case: str, steps: int):
    """The RunSpec of `case` with a budget of `steps`, through genbench's own suite loader."""
    dataset, model, metric, _ = CASES[case]
    text = (
        f"name: bench\nseeds: [0]\nbudget: {{steps: {steps}}}\neval: {{samples: 64}}\n"
        f"checkpoint: {{every: {10 * steps + 1000}}}\ndatasets: [{dataset}]\nmodels: [{model}]\n"
        f"metrics: [{metric}]\n"
    )
    return load_specs(text)[0]


def clock() -> tuple[float, float]:
    """Wall-clock and CPU time of this process (CPU time is what other load on the machine spares)."""
    return time.perf_counter(), time.process_time()


def per_step(start: tuple[float, float], end: tuple[float, float], steps: int) -> list[float]:
    """Wall and CPU seconds per step between two `clock()` readings."""
    return [(b - a) / steps for a, b in zip(start, end, strict=True)]


class _Last:
    trainer = None  # the Trainer of the latest train() call, for the parameter check
    start: tuple[float, float] = (0.0, 0.0)
    end: tuple[float, float] | None = None
    stub = None  # when set, replaces the model's train_step in the Trainers train() builds


def _timed_trainer_class():
    """A Trainer that records when train()'s loop starts (construction done) and ends."""

    class TimedTrainer(train_mod.Trainer):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            if _Last.stub is not None:
                self.model.train_step = _Last.stub
            _Last.trainer, _Last.end, _Last.start = self, None, clock()

        def _end(self) -> None:
            if _Last.end is None:
                _Last.end = clock()

        def save(self, *args, **kwargs):
            self._end()
            return super().save(*args, **kwargs)

        def evaluate(self, *args, **kwargs):
            self._end()
            return super().evaluate(*args, **kwargs)

    return TimedTrainer


def run_variant(variant: str, case: str, steps: int, tmp: Path) -> tuple[list[float], dict]:
    """Wall and CPU seconds per step of `variant` over `steps` steps, and the model's final state."""
    spec = make_spec(case, steps)
    if variant == "train":
        ckpt = tmp / "checkpoint.pt"
        ckpt.unlink(missing_ok=True)
        progress: dict = {}
        train_mod.train(spec, "cpu", progress.update, ckpt, threading.Event())
        return per_step(_Last.start, _Last.end, steps), _Last.trainer.model.state_dict()
    if variant == "trainer":
        run = train_mod.Trainer(spec)
        tick = clock()
        for _ in range(steps):
            run.train_step()
        return per_step(tick, clock(), steps), run.model.state_dict()
    train_mod.seed_everything(spec.seed)  # as Trainer: seed, build data and model, then the data stream
    dataset, model = train_mod.build(spec)
    sample = bench_loops.batches(dataset, model.batch_size, torch.Generator().manual_seed(spec.seed))
    tick = clock()
    if variant == "model":
        for step in range(steps):
            model.train_step(sample, step)
    else:
        bench_loops.bare_loop(model, model.hp, sample, steps, diag=variant == "bare+diag")
    return per_step(tick, clock(), steps), model.state_dict()


def _max_diff(a: dict, b: dict) -> float:
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].is_floating_point())


def diag_costs(case: str) -> dict[str, float]:
    """Microseconds per call of each per-step diagnostic of `case`'s model, on a stepped model."""
    run = train_mod.Trainer(make_spec(case, 10))
    for _ in range(3):
        run.train_step()
    model, out = run.model, {}
    calls = {"grad_norm_g": lambda: grad_norm(model.generator)} if hasattr(model, "generator") else {}
    if hasattr(model, "clip_fraction"):
        calls["clip_frac"] = model.clip_fraction
    loss = torch.ones(()).requires_grad_() * 2.0
    calls["one .item()"] = loss.item
    for name, fn in calls.items():
        fn()
        tick, n = time.process_time(), 300
        for _ in range(n):
            fn()
        out[name] = (time.process_time() - tick) / n * 1e6
    return out


def machinery_us(case: str, tmp: Path, steps: int = 2000, repeats: int = 9) -> dict[str, float]:
    """CPU µs per step of genbench's machinery alone: train() and a Trainer.train_step() loop on a
    model whose train_step only draws its batches and returns fixed outputs, minus that same stub
    called in a plain loop with the hand-written batch function."""
    spec = make_spec(case, steps)
    run = train_mod.Trainer(spec)
    outputs, hp = run.train_step(), run.model.hp
    inner = getattr(hp, "d_steps", None) or getattr(hp, "critic_steps", None) or 1

    def stub(next_batch, step: int) -> dict[str, float]:
        for _ in range(inner):
            next_batch()
        return dict(outputs)

    sample = bench_loops.batches(run.dataset, run.model.batch_size, torch.Generator().manual_seed(0))
    times: dict[str, list[float]] = {"train": [], "trainer": [], "stub": []}
    _Last.stub = stub
    for _ in range(repeats):
        ckpt = tmp / "stub.pt"
        ckpt.unlink(missing_ok=True)
        train_mod.train(spec, "cpu", {}.update, ckpt, threading.Event())
        times["train"].append(per_step(_Last.start, _Last.end, steps)[1])
        trainer = train_mod.Trainer(spec)
        tick = clock()
        for _ in range(steps):
            trainer.train_step()
        times["trainer"].append(per_step(tick, clock(), steps)[1])
        tick = clock()
        for step in range(steps):
            stub(sample, step)
        times["stub"].append(per_step(tick, clock(), steps)[1])
    _Last.stub = None
    med = {k: statistics.median(v) * 1e6 for k, v in times.items()}
    return {"train": med["train"] - med["stub"], "trainer": med["trainer"] - med["stub"], "stub": med["stub"]}


def worker(case: str, steps: int, repeats: int, warmup: int) -> dict:
    """Time every variant of `case` in this process: warm-up with a parameter check, then repeats."""
    torch.set_num_threads(1)
    bench_loops.check({case: CASES[case][:2]})  # a bare loop that drifted stops it, naming the family
    train_mod.Trainer = _timed_trainer_class()  # train() builds its Trainer by this module name
    times: dict[str, list[list[float]]] = {v: [] for v in VARIANTS}  # [wall, cpu] per repeat
    steps = max(1, round(steps * CASES[case][3]))
    with tempfile.TemporaryDirectory() as tmp:
        states = {v: run_variant(v, case, warmup, Path(tmp))[1] for v in VARIANTS}
        identical = {v: _max_diff(states["train"], states[v]) for v in VARIANTS[1:]}
        for r in range(repeats):
            for v in VARIANTS if r % 2 == 0 else VARIANTS[::-1]:
                times[v].append(run_variant(v, case, steps, Path(tmp))[0])
        machinery = machinery_us(case, Path(tmp))
    return {
        "machinery_us": machinery,
        "steps": steps,
        "times": times,
        "max_param_diff": identical,
        "diag_us": diag_costs(case),
        "peak_mib": peak_mib(),
    }


def memory(case: str, variant: str, steps: int) -> dict:
    """Peak resident memory of a process that imports genbench and runs `variant` (or nothing)."""
    torch.set_num_threads(1)
    if variant == "train":
        with tempfile.TemporaryDirectory() as tmp:
            train_mod.train(make_spec(case, steps), "cpu", None, Path(tmp) / "checkpoint.pt")
    elif variant == "bare":
        with tempfile.TemporaryDirectory() as tmp:
            run_variant("bare+diag", case, steps, Path(tmp))
    return {"peak_mib": peak_mib()}


def peak_mib() -> float:
    """Peak resident set size of this process in MiB (VmHWM, else ru_maxrss)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(*args: str) -> dict:
    """Run this script with `args` in a fresh interpreter and return the JSON it prints last."""
    return run_child(str(Path(__file__).resolve()), *args)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments; as a child run one case or one memory probe, else run them all and write."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--steps", type=int, default=100, help="steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=25, help="timed repeats of every variant")
    parser.add_argument("--warmup", type=int, default=30, help="warm-up steps per variant")
    parser.add_argument("--out", type=Path, default=OUT, help="Markdown file to write")
    parser.add_argument("--worker", choices=list(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--memory", nargs=2, metavar=("CASE", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.steps, args.repeats, args.warmup)))
        return 0
    if args.memory:
        print(json.dumps(memory(args.memory[0], args.memory[1], args.steps)))
        return 0
    start_load, results, mem = os.getloadavg(), {}, {}
    common = ["--steps", str(args.steps), "--repeats", str(args.repeats), "--warmup", str(args.warmup)]
    for case in args.cases:
        print(f"timing {case} ...", flush=True)
        results[case] = _child("--worker", case, *common)
        steps = ["--steps", str(results[case]["steps"])]
        mem[case] = {v: _child("--memory", case, v, *common, *steps)["peak_mib"] for v in ("train", "bare")}
    mem["baseline"] = _child("--memory", args.cases[0], "none", *common)["peak_mib"]
    text = report(args, machine(), (start_load, os.getloadavg()), results, mem)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    raw = {"machine": machine(), "load": [start_load, os.getloadavg()], "results": results, "memory": mem}
    args.out.with_suffix(".json").write_text(json.dumps(raw, indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
