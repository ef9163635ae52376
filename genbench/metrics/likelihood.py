"""Likelihood metrics of models with an explicit density bound: the ELBO and the
importance-weighted estimate of -log p(x) (IWAE, Burda et al. 2015, eq. 8)."""

from __future__ import annotations

import math

import torch

from genbench.registry import register_metric

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


LOG2_LEVELS = math.log2(255)  # 8-bit pixels k / 255: bins of width 1 / 255 on [0, 1]


def bits_per_dim(nats: float, dataset, decoder: str | None = None) -> float:
    """-log p(x) in nats per example -> bits per dimension. Binary data: nats / (D ln 2), the
    code length of a distribution on {0, 1}^D. 8-bit images scaled to [0, 1] (levels k / 255)
    under a continuous density p: the 256-level discretisation has P(x) ~ p(x) / 255^D, so
    nats / (D ln 2) + log2 255 (= 7.994; the usual + 8 is for data scaled by 1 / 256). A
    Bernoulli decoder on 8-bit levels has no density on [0, 1]^D (its cross-entropy is not a
    log-likelihood; Loaiza-Ganem & Cunningham 2019), so there are no bits per dimension: NaN."""
    bpd = nats / (dataset.dim * math.log(2))
    if getattr(dataset, "binarize", None):
        return bpd
    return math.nan if decoder == "bernoulli" else bpd + LOG2_LEVELS


def _decoder(model) -> str | None:
    """The likelihood p(x|z) of a model with an ELBO ("bernoulli", "gaussian"), as it declares it."""
    return getattr(model, "likelihood", None)


def _data(model, dataset) -> str:
    if dataset.kind != "image":
        return "continuous"
    binary = bool(getattr(dataset, "binarize", None))
    kind = "binary" if binary else "8-bit levels k / 255"
    if _decoder(model) == "bernoulli" and not binary:
        return kind + " (Bernoulli decoder: a cross-entropy, not a log-likelihood; no bits/dim)"
    return kind


def _elbo(model, dataset, ctx) -> float:
    if "elbo" not in ctx.cache:
        n = ctx.example_count(dataset, len(dataset.test))
        ctx.cache["elbo"] = mean_elbo(model, dataset.test[:n], int(ctx.generator.initial_seed()))

        def protocol(final: bool) -> dict:
            return {
                "split": "test",
                "n_examples": ctx.example_count(dataset, len(dataset.test), final),
                "mc_samples": getattr(getattr(model, "hp", None), "mc_samples", 1),
                "decoder": _decoder(model),
                "data": _data(model, dataset),
            }

        ctx.cache["elbo_protocol"] = protocol
    return ctx.cache["elbo"]


def _elbo_metric(model, dataset, ctx) -> dict[str, float]:
    out = {"elbo": _elbo(model, dataset, ctx)}
    ctx.record("elbo", ctx.cache["elbo_protocol"])
    return out


def _elbo_bpd_metric(model, dataset, ctx) -> dict[str, float]:
    elbo = _elbo(model, dataset, ctx)
    offset = 0.0 if getattr(dataset, "binarize", None) else LOG2_LEVELS
    bits = f"-elbo / (D ln 2) + {offset:.4f}, D = {dataset.dim}"
    ctx.record("elbo_bpd", lambda final: {**ctx.cache["elbo_protocol"](final), "bits_per_dim": bits})
    return {"elbo_bpd": bits_per_dim(-elbo, dataset, _decoder(model))}


def _nll_metric(model, dataset, ctx) -> dict[str, float]:
    n_all = min(ctx.setting("nll_examples", len(dataset.test)), len(dataset.test))

    def protocol(final: bool) -> dict:
        return {
            "estimator": "IWAE (Burda et al. 2015)",
            "k": ctx.setting("nll_k", NLL_K_FINAL) if final else ctx.setting("nll_k_train", NLL_K_TRAIN),
            "n_examples": ctx.example_count(dataset, n_all, final),
            "split": "test",
            "binarization": getattr(dataset, "binarize", None),
            "decoder": _decoder(model),
            "data": _data(model, dataset),
        }

    proto = protocol(ctx.final)
    ctx.record("nll", protocol)
    data = dataset.test[: proto["n_examples"]]
    nll = float(-iwae_log_likelihood(model, data, proto["k"], int(ctx.generator.initial_seed())).mean())
    out = {"nll": nll}
    if dataset.kind == "image":
        out["nll_bpd"] = bits_per_dim(nll, dataset, _decoder(model))
    return out


register_metric(
    "elbo",
    fn=_elbo_metric,
    outputs={"elbo": "max"},
    doc="mean ELBO on the held-out test draw, nats per example (eq. 13.21)",
    needs="elbo",
)
register_metric(
    "elbo_bpd",
    fn=_elbo_bpd_metric,
    outputs={"elbo_bpd": "min"},
    doc="-ELBO on the held-out test split in bits per dimension (images)",
    needs="elbo",
    dataset_kinds={"image"},
)
register_metric(
    "nll",
    fn=_nll_metric,
    outputs={"nll": "min", "nll_bpd": "min"},
    doc="importance-weighted -log p(x) on the test split, nats (Burda et al. 2015); images: bits/dim",
    needs="elbo",
)
