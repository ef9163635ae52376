"""Likelihood metrics of models with an explicit density bound: the ELBO and the
importance-weighted estimate of -log p(x) (IWAE, Burda et al. 2015, eq. 8)."""

from __future__ import annotations

import math

import torch

from genbench.registry import METRICS, MetricEntry

EVAL_BATCH = 4096
IWAE_ROWS = 8192  # decoder evaluations (examples x importance samples) per forward pass
NLL_K_FINAL, NLL_K_TRAIN = 5000, 100  # importance samples at the final / an in-training evaluation


def _forked(model, seed: int):
    fork_devices = [] if model.device.type == "cpu" else [model.device]
    ctx = torch.random.fork_rng(devices=fork_devices)
    ctx.__enter__()
    torch.manual_seed(seed)
    return ctx


@torch.no_grad()
def mean_elbo(model, data: torch.Tensor, seed: int) -> float:
    """Mean per-example ELBO (nats) of `data` under `model`, batched (eq. 13.21)."""
    fork = _forked(model, seed)
    try:
        total = 0.0
        for chunk in data.split(EVAL_BATCH):
            total += float(model.elbo(chunk.to(model.device)).sum())
    finally:
        fork.__exit__(None, None, None)
    return total / len(data)


def _log_normal(z: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    return (-0.5 * ((z - mu) / sigma).pow(2) - sigma.log() - 0.5 * math.log(2 * math.pi)).sum(-1)


@torch.no_grad()
def iwae_log_likelihood(model, data: torch.Tensor, k: int, seed: int, rows: int = IWAE_ROWS) -> torch.Tensor:
    """Per-example importance-weighted estimate of log p(x) with k samples z_i ~ q(z|x):
    log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x) (Burda et al. 2015, eq. 8), float64 logsumexp
    accumulated over chunks of importance samples so any k fits in memory. Its expectation is a
    lower bound of log p(x) that rises with k and equals the ELBO at k = 1."""
    fork = _forked(model, seed)
    out = []
    try:
        kb = min(k, rows)
        for xb in data.split(max(1, rows // kb)):
            xb = xb.to(model.device)
            mu, sigma = model.encode(xb)
            lse = torch.full((len(xb),), -math.inf, dtype=torch.float64, device=xb.device)
            for start in range(0, k, kb):
                m = min(kb, k - start)
                z = mu + sigma * torch.randn((m, *mu.shape), device=mu.device, dtype=mu.dtype)
                x_rep = xb.expand(m, *xb.shape).flatten(0, 1)
                log_px = model.log_likelihood(x_rep, z.flatten(0, 1)).view(m, len(xb))
                log_w = (
                    log_px
                    + _log_normal(z, torch.zeros_like(mu), torch.ones_like(sigma))
                    - _log_normal(z, mu, sigma)
                )
                lse = torch.logaddexp(lse, torch.logsumexp(log_w.double(), 0))
            out.append((lse - math.log(k)).cpu())
    finally:
        fork.__exit__(None, None, None)
    return torch.cat(out)


def bits_per_dim(nats: float, dataset) -> float:
    """-log p(x) in nats per example -> bits per dimension. Binary data: nats / (D ln 2). 8-bit
    images scaled to [0, 1]: the density of the 256-level discretisation, nats / (D ln 2) + 8
    (a continuous density on undequantised pixels, so only a rough comparison with published
    dequantised numbers)."""
    bpd = nats / (dataset.dim * math.log(2))
    return bpd if getattr(dataset, "binarize", None) else bpd + 8.0


def _elbo(model, dataset, ctx) -> float:
    if "elbo" not in ctx.cache:
        ctx.cache["elbo"] = mean_elbo(model, dataset.test, int(ctx.generator.initial_seed()))
    return ctx.cache["elbo"]


def _elbo_metric(model, dataset, ctx) -> dict[str, float]:
    return {"elbo": _elbo(model, dataset, ctx)}


def _elbo_bpd_metric(model, dataset, ctx) -> dict[str, float]:
    return {"elbo_bpd": bits_per_dim(-_elbo(model, dataset, ctx), dataset)}


def _nll_metric(model, dataset, ctx) -> dict[str, float]:
    k = ctx.setting("nll_k", NLL_K_FINAL) if ctx.final else ctx.setting("nll_k_train", NLL_K_TRAIN)
    n = ctx.setting("nll_examples", len(dataset.test))
    data = dataset.test[:n]
    nll = float(-iwae_log_likelihood(model, data, k, int(ctx.generator.initial_seed())).mean())
    ctx.protocols["nll"] = {
        "estimator": "IWAE (Burda et al. 2015)",
        "k": k,
        "n_examples": len(data),
        "split": "test",
        "binarization": getattr(dataset, "binarize", None),
        "final": ctx.final,
    }
    out = {"nll": nll}
    if dataset.kind == "image":
        out["nll_bpd"] = bits_per_dim(nll, dataset)
    return out


METRICS.register(
    "elbo",
    MetricEntry(
        _elbo_metric,
        outputs={"elbo": "max"},
        doc="mean ELBO on the held-out test draw, nats per example (eq. 13.21)",
        needs="elbo",
    ),
)
METRICS.register(
    "elbo_bpd",
    MetricEntry(
        _elbo_bpd_metric,
        outputs={"elbo_bpd": "min"},
        doc="-ELBO on the held-out test split in bits per dimension (images)",
        needs="elbo",
        dataset_kinds=frozenset({"image"}),
    ),
)
METRICS.register(
    "nll",
    MetricEntry(
        _nll_metric,
        outputs={"nll": "min", "nll_bpd": "min"},
        doc="importance-weighted -log p(x) on the test split, nats (Burda et al. 2015); images: bits/dim",
        needs="elbo",
    ),
)
