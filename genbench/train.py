"""The one training loop: budget, step, maybe evaluate, stop on divergence. No Ray here."""

from __future__ import annotations

import math
import platform
import random
import time
from collections.abc import Callable

import numpy as np
import torch

import genbench
from genbench.config import RunSpec
from genbench.metrics import EvalContext
from genbench.registry import DATASETS, METRICS, MODELS, load_builtins

ProgressFn = Callable[[dict], None]
REPORT_EVERY_S = 0.5


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build(spec: RunSpec, device: str = "cpu"):
    """Build the dataset and the model of a run."""
    load_builtins()
    ds_entry = DATASETS.get(spec.dataset)
    dataset = ds_entry.build(ds_entry.params(**spec.dataset_params))
    model_entry = MODELS.get(spec.model)
    model = model_entry.build(model_entry.hparams(**spec.hparams), dataset, device)
    return dataset, model


def protocol(spec: RunSpec, dataset) -> dict:
    """What a stored number depends on besides the model: evaluation data, samples, versions."""
    return {
        "dataset": spec.dataset,
        "dataset_params": spec.dataset_params,
        "split": "test draw (elbo); model samples vs. fixed modes (mode_coverage)",
        "samples": spec.eval.samples,
        "eval_seed": "seed * 100003 + step",
        "genbench": genbench.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "budget": spec.budget.model_dump(exclude_none=True),
        "seed": spec.seed,
    }


def _finite(values: dict[str, float]) -> bool:
    return all(math.isfinite(v) for v in values.values())


class Budget:
    """Steps (exact) or training seconds (the run stops at the first step after the deadline)."""

    def __init__(self, spec: RunSpec) -> None:
        self.steps, self.seconds = spec.budget.steps, spec.budget.seconds

    def spent(self, step: int, train_seconds: float) -> bool:
        if self.steps is not None:
            return step >= self.steps
        return train_seconds >= self.seconds


def train(spec: RunSpec, device: str = "cpu", progress: ProgressFn | None = None) -> dict:
    """Train one run to its budget and evaluate it; return status, metrics and trajectory.

    Evaluation time does not count against a seconds budget, so variants with costlier
    metrics are not penalised; evaluation draws its noise from its own generator, so how
    often a run is evaluated does not change its training.
    """
    seed_everything(spec.seed)
    dataset, model = build(spec, device)
    data_rng = torch.Generator().manual_seed(spec.seed)
    budget = Budget(spec)
    metrics = {name: METRICS.get(name) for name in spec.metrics}

    def next_batch() -> torch.Tensor:
        return dataset.batch(model.batch_size, data_rng).to(device)

    def evaluate(step: int) -> EvalContext:
        ctx = EvalContext(model, spec.eval.samples, seed=spec.seed * 100003 + step)
        row = {"step": step, "train_seconds": round(train_seconds, 4)}
        model.eval()
        for metric in metrics.values():
            row.update(metric.fn(model, dataset, ctx))
        model.train()
        trajectory.append(row)
        return ctx

    trajectory: list[dict] = []
    step, train_seconds, status, losses = 0, 0.0, "ok", {}
    started = last_report = time.perf_counter()
    if spec.eval.every:
        evaluate(0)  # the untrained model: the start of every anytime curve
    while not budget.spent(step, train_seconds):
        tick = time.perf_counter()
        losses = model.train_step(next_batch, step)
        train_seconds += time.perf_counter() - tick
        step += 1
        if not _finite(losses):
            status = "diverged"
            break
        if spec.eval.every and step % spec.eval.every == 0 and not budget.spent(step, train_seconds):
            if not model.is_finite():
                status = "diverged"
                break
            evaluate(step)
        if progress and time.perf_counter() - last_report > REPORT_EVERY_S:
            last_report = time.perf_counter()
            progress(_progress(step, spec, train_seconds, trajectory))
    samples = None
    if status == "ok" and not model.is_finite():
        status = "diverged"
    if status == "ok":
        samples = evaluate(step).samples  # the final evaluation's draw, for the scatter plot
    directions = {k: d for m in metrics.values() for k, d in m.outputs.items()}
    final = trajectory[-1] if trajectory and status == "ok" else {}
    return {
        "status": status,
        "steps": step,
        "train_seconds": train_seconds,
        "wall_seconds": time.perf_counter() - started,
        "metrics": {k: final[k] for k in directions if k in final},
        "extras": {k: v for k, v in final.items() if k not in directions and isinstance(v, list)},
        "last_losses": losses,
        "protocol": protocol(spec, dataset),
        "error": f"non-finite loss or parameters at step {step}" if status == "diverged" else None,
        "trajectory": trajectory,
        "samples": None if samples is None else samples.numpy(),
        "real": dataset.test[: spec.eval.samples].numpy() if dataset.kind == "toy2d" else None,
    }


def _progress(step: int, spec: RunSpec, train_seconds: float, trajectory: list[dict]) -> dict:
    latest = {k: v for k, v in trajectory[-1].items() if isinstance(v, int | float)} if trajectory else {}
    return {
        "step": step,
        "total": spec.budget.steps,
        "steps_per_s": step / train_seconds if train_seconds else 0.0,
        "latest": {k: v for k, v in latest.items() if k not in ("step", "train_seconds")},
    }
