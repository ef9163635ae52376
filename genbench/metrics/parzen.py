"""Parzen-window log-likelihood: the protocol of the original GAN paper (Goodfellow et al. 2014,
table 1; Breuleux et al. 2011). A poor likelihood estimate in high dimension (Theis et al. 2016)."""

from __future__ import annotations

import math

import torch

from genbench.registry import register_metric

SIGMAS = torch.logspace(-3, 1, 41, dtype=torch.float64)  # the grid sigma is chosen from
N_VALID = 1000  # validation points drawn from the training split
ROWS = 500


@torch.no_grad()
def parzen_log_density(
    samples: torch.Tensor, x: torch.Tensor, sigmas: torch.Tensor, rows: int = ROWS
) -> torch.Tensor:
    """log p(x) under the Gaussian kernel density of `samples`, one column per sigma:
    logsumexp_i(-|x - s_i|^2 / (2 sigma^2)) - log n - (D/2) log(2 pi sigma^2)."""
    s = samples.flatten(1).double()
    sigmas = sigmas.double()
    d = s.shape[1]
    out = []
    for chunk in x.flatten(1).double().split(rows):
        sq = torch.cdist(chunk, s).pow(2)  # (rows, n)
        lse = torch.stack([torch.logsumexp(-sq / (2 * sig**2), dim=1) for sig in sigmas], dim=1)
        out.append(lse - math.log(len(s)) - 0.5 * d * torch.log(2 * math.pi * sigmas**2))
    return torch.cat(out)


def parzen(samples, test, valid, sigmas: torch.Tensor = SIGMAS) -> dict[str, float]:
    """Sigma maximising the mean validation log-likelihood, then the test mean and its standard error."""
    best = int(parzen_log_density(samples, valid, sigmas).mean(0).argmax())
    ll = parzen_log_density(samples, test, sigmas[best : best + 1])[:, 0]
    return {
        "parzen": float(ll.mean()),
        "parzen_se": float(ll.std() / math.sqrt(len(ll))),
        "parzen_sigma": float(sigmas[best]),
    }


def _parzen_metric(model, dataset, ctx) -> dict[str, float]:
    samples = ctx.samples_for(dataset)
    n_test = len(dataset.test)
    ctx.record(
        "parzen",
        lambda final: {
            "n_generated": ctx.sample_count(dataset, final),
            "n_test": ctx.example_count(dataset, n_test, final),
            "n_valid": ctx.example_count(dataset, N_VALID, final),
            "sigma_grid": "logspace(-3, 1, 41)",
            "split": "test; sigma on a draw from the training split",
        },
    )
    if not torch.isfinite(samples).all():
        return {"parzen": math.nan, "parzen_se": math.nan, "parzen_sigma": math.nan}
    valid = dataset.batch(ctx.example_count(dataset, N_VALID), torch.Generator().manual_seed(777))
    return parzen(samples, dataset.test[: ctx.example_count(dataset, n_test)], valid)


register_metric(
    "parzen",
    fn=_parzen_metric,
    outputs={"parzen": "max"},
    doc="Parzen-window log-likelihood of the test split, sigma chosen on validation (Goodfellow 2014)",
)
