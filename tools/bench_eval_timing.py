"""The timing process of tools/bench_eval.py: one case's evaluations on its trained model, as the
trainer runs them and metric by metric, and the case's throughputs. Contexts come from
`Trainer.evaluate` itself, so sample counts and settings are genbench's as they are now."""

from __future__ import annotations

import copy
import math
import os
import time
from pathlib import Path
from types import SimpleNamespace

from genbench.registry import NoParams

NLL_DIRECT = 1_000_000  # decoder evaluations up to which a final NLL is timed, not extrapolated


def timed(fn, *args) -> tuple[float, object]:
    """(wall seconds, value) of fn(*args)."""
    tick = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - tick, value


def context(run, final: bool):
    """The EvalContext the trainer builds for an evaluation now (its sample count, settings and
    seed as genbench has them), with its samples drawn as a metric draws them: the seconds that
    took (the evaluation's sample grid included) and the context."""
    saved, run.metrics = run.metrics, {"draw": SimpleNamespace(fn=_draw, params=NoParams)}
    try:
        tick = time.perf_counter()
        ctx = run.evaluate(final=final)
        return time.perf_counter() - tick, ctx
    finally:
        run.metrics = saved
        run.trajectory.pop()


def _draw(model, dataset, ctx) -> dict:
    """A stand-in metric that only draws the evaluation's samples, as many as a metric would."""
    draw = getattr(ctx, "samples_for", None)  # image data: fewer samples in training
    draw(dataset) if draw else ctx.samples  # noqa: B018
    return {}


def fresh(ctx, key: str | None = None, params=None, **settings):
    """A copy of `ctx` sharing its drawn samples, with an empty cache, a metric entry's `key` and
    `params` (as the training loop gives each entry its own) and `settings` changed."""
    out = copy.copy(ctx)
    out.cache, out.protocols = {}, {}
    if key is not None:
        out.key, out.params = key, params
    out.__dict__["samples"] = ctx.samples
    if settings:
        out.settings = ctx.settings.model_copy(update=settings)
    return out


def entry_context(run, key: str, ctx, **settings):
    """`fresh(ctx)` for the run's metric entry `key` (`fid[inception]` where a suite lists fid
    more than once): its key and its own parameters, read by key as the training loop reads them."""
    params = run.metrics[key].params(**run.spec.metric_params.get(key, {}))
    return fresh(ctx, key, params, **settings)


def time_entry(run, key: str, ctx) -> float:
    """Seconds of the metric entry `key` alone on the draw of `ctx`."""
    return timed(run.metrics[key].fn, run.model, run.dataset, entry_context(run, key, ctx))[0]


def time_final_nll(run, key: str, ctx, quick: bool) -> dict:
    """The final evaluation's NLL (entry `key`): timed on all its examples, or on fewer and scaled
    linearly."""
    fn = run.metrics[key].fn
    probe = entry_context(run, key, ctx, nll_examples=1)
    fn(run.model, run.dataset, probe)
    k = probe.protocols[key]["k"]
    n = ctx.setting("nll_examples", None) or len(run.dataset.test)
    m = min(n, max(1, (NLL_DIRECT // 100 if quick else NLL_DIRECT) // k))
    seconds, _ = timed(fn, run.model, run.dataset, entry_context(run, key, ctx, nll_examples=m))
    return {"seconds": seconds * n / m, "k": k, "examples": n, "timed_examples": m}


def time_case(case: str, spec, checkpoint_path: Path, run_id: str, args) -> dict:
    """Per-entry evaluation times of `spec` (by entry key: the metric's name where it is listed
    once) on the model of the checkpoint that run `run_id` saved at its end, and the case's
    throughputs (one torch thread)."""
    import torch

    from genbench.metrics import metric_name
    from genbench.worker import checkpoint
    from genbench.worker.train import Trainer

    torch.set_num_threads(1)
    run = Trainer(spec)
    state = checkpoint.load(checkpoint_path, run_id)
    if state:
        run.load_state_dict(state)
    cold, _ = timed(run.evaluate)
    out: dict = {
        "from_checkpoint": state is not None,
        "cold_evaluation_s": cold,
        "all_metrics_s": [],
        "draw_s": [],
        "metric_s": {},
        "final_s": {},
    }
    for _ in range(args.repeats):
        out["all_metrics_s"].append(timed(run.evaluate)[0])
        draw, ctx = context(run, final=False)
        out["draw_s"].append(draw)
        out["samples"] = len(ctx.samples)
        for key in run.metrics:
            out["metric_s"].setdefault(key, []).append(time_entry(run, key, ctx))
    draw, ctx = context(run, final=True)
    out["final_draw_s"] = draw
    for key in run.metrics:
        if metric_name(key) == "nll":
            out["final_nll"] = time_final_nll(run, key, ctx, args.quick)
            out["final_s"][key] = out["final_nll"]["seconds"]
        else:
            out["final_s"][key] = time_entry(run, key, ctx)
    out["final_samples"] = len(ctx.samples)
    out["throughput"] = throughputs(case, run, args)
    out["peak_mib"] = peak_mib()
    return out


def throughputs(case: str, run, args) -> dict:
    """mode_coverage on many samples (toy GAN); MNIST classifier features and inception (MNIST
    GAN); the IWAE NLL (MNIST VAE)."""
    import torch

    from genbench.metrics import likelihood, mog

    out: dict = {}
    if case == "toy_gan":
        n = 10_000 if args.quick else 100_000
        draw, samples = timed(run.model.sample, n, torch.Generator().manual_seed(1))
        secs = [
            timed(mog.mode_coverage, samples, run.dataset.modes, run.dataset.std)[0]
            for _ in range(args.repeats)
        ]
        out["mode_coverage"] = {"samples": n, "seconds": secs, "draw_seconds": draw}
    if case == "mnist_gan":
        from genbench.metrics import extractors, feature_choice

        n = 500 if args.quick else 10_000
        fe, _ = extractors.get("mnist_classifier", run.dataset, run.spec.dataset_params.get("data_dir"))
        images = run.dataset.test[:n]
        secs = [timed(extractors.extract, fe, images, "cpu")[0] for _ in range(args.repeats)]
        out["mnist_classifier_features"] = {"images": n, "seconds": secs, "batch": extractors.FEATURE_BATCH}
        os.environ[feature_choice.ENV_OFFLINE] = "1"  # never probe the network from a benchmark
        problem = feature_choice.inception_weights_problem(args.inception_weights)
        if problem:
            out["inception_features"] = {"skipped": problem}
        else:
            fe, _ = extractors.get("inception", run.dataset, None, args.inception_weights)
            n = 20 if args.quick else 500
            secs = [timed(extractors.extract, fe, images[:n], "cpu")[0] for _ in range(args.repeats)]
            out["inception_features"] = {"images": n, "seconds": secs}
    if case == "mnist_vae":
        k, n, chunks = (50, 20, 2) if args.quick else (args.nll_k, args.nll_images, args.nll_chunks)
        data, secs = run.dataset.test[:n], []
        for part in data.tensor_split(chunks):
            secs.append(timed(likelihood.iwae_log_likelihood, run.model, part, k, 0)[0])
        out["iwae_nll"] = {"k": k, "images": n, "chunks": chunks, "chunk_seconds": secs, "seconds": sum(secs)}
    return out


def peak_mib() -> float:
    """Peak resident set of this process, MiB (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan
