"""Mode counting on images with genbench's MNIST classifier: `mnist_modes` (10 digits) and
`stacked_modes` (1,000 digit triples of stacked MNIST; VEEGAN, Srivastava et al. 2017; PacGAN,
Lin et al. 2018)."""

from __future__ import annotations

import math

import torch

from genbench.metrics import classifier
from genbench.registry import register_metric


@torch.no_grad()
def digit_labels(net: classifier.MnistNet, images: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    """The classifier's digit for every channel of [0, 1] images (N, C, H, W): labels (N, C)."""
    device = next(net.parameters()).device
    out = []
    for chunk in images.split(batch):
        n, c = chunk.shape[:2]
        logits = net(chunk.reshape(n * c, 1, *chunk.shape[2:]).to(device))
        out.append(logits.argmax(1).view(n, c).cpu())
    return torch.cat(out)


def kl_to(counts: torch.Tensor, reference: torch.Tensor) -> float:
    """KL(p || q) of the histogram `counts` to the distribution `reference` (empty bins add 0)."""
    p = counts.double() / counts.sum()
    q = reference.double() / reference.sum()
    keep = p > 0
    return float((p[keep] * (p[keep] / q[keep]).log()).sum()) if counts.sum() else math.nan


def stacked_mode_counts(net, images: torch.Tensor) -> dict[str, object]:
    """Triples 100a + 10b + c of the channels' digits: modes covered (of 1,000), KL(p || uniform)."""
    labels = digit_labels(net, images)
    counts = torch.bincount((labels * torch.tensor([100, 10, 1])).sum(1), minlength=1000)
    return {"stacked_modes": int((counts > 0).sum()), "stacked_kl": kl_to(counts, torch.ones(1000))}


def _record(net_record: dict, dataset, ctx, **extra):
    def protocol(final: bool) -> dict:
        return {
            "classifier": "mnist_classifier",
            "weights_hash": net_record["weights_hash"],
            "classifier_test_accuracy": net_record["test_accuracy"],
            "n_generated": ctx.sample_count(dataset, final),
            **extra,
        }

    return protocol


def _stacked(model, dataset, ctx) -> dict[str, object]:
    net, record, _ = classifier.classifier_for(dataset, ctx.data_dir)
    ctx.record("stacked_modes", _record(record, dataset, ctx))
    return stacked_mode_counts(net, ctx.samples_for(dataset))


def _mnist(model, dataset, ctx) -> dict[str, object]:
    net, record, _ = classifier.classifier_for(dataset, ctx.data_dir)
    counts = torch.bincount(digit_labels(net, ctx.samples_for(dataset))[:, 0], minlength=10)
    ctx.record("mnist_modes", _record(record, dataset, ctx, reference="test labels"))
    return {
        "classes": int((counts > 0).sum()),
        "kl_classes": kl_to(counts, torch.bincount(dataset.test_labels, minlength=10)),
        "class_counts": counts.tolist(),
    }


def _only(*names: str):
    def check(spec) -> str | None:
        return None if spec.dataset in names else f"applies to {', '.join(names)} only"

    return check


register_metric(
    "stacked_modes",
    fn=_stacked,
    outputs={"stacked_modes": "max", "stacked_kl": "min"},
    doc="stacked MNIST: digit triples covered (of 1,000) and KL to uniform (VEEGAN, PacGAN)",
    dataset_kinds={"image"},
    check=_only("stacked_mnist"),
    prepare=classifier.prepare_runs,
)
register_metric(
    "mnist_modes",
    fn=_mnist,
    outputs={"classes": "max", "kl_classes": "min"},
    doc="MNIST: digit classes covered (of 10) and KL to the test labels' distribution",
    dataset_kinds={"image"},
    check=_only("mnist", "binarized_mnist"),
    prepare=classifier.prepare_runs,
)
