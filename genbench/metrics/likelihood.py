"""Likelihood metrics of models with an explicit density bound."""

from __future__ import annotations

import torch

from genbench.registry import METRICS, MetricEntry

EVAL_BATCH = 4096


@torch.no_grad()
def mean_elbo(model, data: torch.Tensor, seed: int) -> float:
    """Mean per-example ELBO (nats) of `data` under `model`, batched (eq. 13.21)."""
    fork_devices = [] if model.device.type == "cpu" else [model.device]
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        total = 0.0
        for chunk in data.split(EVAL_BATCH):
            total += float(model.elbo(chunk.to(model.device)).sum())
    return total / len(data)


def _elbo_metric(model, dataset, ctx) -> dict[str, float]:
    return {"elbo": mean_elbo(model, dataset.test, int(ctx.generator.initial_seed()))}


METRICS.register(
    "elbo",
    MetricEntry(
        _elbo_metric,
        outputs={"elbo": "max"},
        doc="mean ELBO on the held-out test draw, nats per example (eq. 13.21)",
        needs="elbo",
    ),
)
