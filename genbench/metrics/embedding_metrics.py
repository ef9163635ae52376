"""CMMD, the Vendi score and authenticity (`genbench.metrics.embedding_scores`) as metrics: on
the features of the evaluation's shared draw, of the real test images (CMMD) and of training
images (authenticity), in the space a metric entry names (`features:`), in that space's columns."""

from __future__ import annotations

import json
from collections.abc import Callable

import torch
from pydantic import Field, field_validator

from genbench.metrics import classifier, fidelity  # fidelity's names used at call time (import cycle)
from genbench.metrics.feature_choice import FeatureParams, Space, checker, columns_of, spaces_of
from genbench.registry import register_metric

CMMD_SPACE = "clip_vitl14"  # Jayasumana et al. 2024 embed with CLIP ViT-L/14 (at 336 px; here 224)
CMMD_SIGMA, CMMD_SCALE = 10.0, 1000.0  # the paper's bandwidth and scale
_PREPARED: set[str] = set()  # data sets whose MNIST classifier this process prepared


class CmmdParams(FeatureParams):
    """CMMD's space: CLIP ViT-L/14 by default (its own column `cmmd`), or any named space."""

    features: Space = Field(CMMD_SPACE, description="feature space; other than clip_vitl14: cmmd_<space>")

    @field_validator("features")
    @classmethod
    def _named_space(cls, value: str) -> str:
        if value == "auto":
            raise ValueError(f"cmmd's space is named ({CMMD_SPACE} by default), not auto")
        return value


class AuthenticityParams(FeatureParams):
    """Authenticity's space (auto: the data set's) and how many training images it compares with."""

    train_examples: int = Field(10_000, ge=2, description="the first training images compared with")


def _info(ctx, dataset) -> dict:
    """The protocol fields of the metric's space (extractor, weights hash, layer, resize)."""
    _, _, info = fidelity.generated_features(dataset, ctx)
    return {k: v for k, v in info.items() if k != "fe"}


def _cmmd(model, dataset, ctx) -> dict[str, float]:
    from genbench.metrics.embedding_scores import cmmd  # on first use

    real, fake, _, protocol = fidelity.space_features(dataset, ctx)
    kernel = {"kernel": f"Gaussian RBF, sigma {CMMD_SIGMA:g}, unit-norm rows", "scale": CMMD_SCALE}
    ctx.record("cmmd", lambda final: {**protocol(final), **kernel, "estimator": "biased (V-statistic)"})
    value = cmmd(real.to(fake.device), fake, sigma=CMMD_SIGMA, scale=CMMD_SCALE)
    return fidelity.named(ctx, {"cmmd": value}, CMMD_SPACE)


def _vendi(model, dataset, ctx) -> dict[str, float]:
    from genbench.metrics.embedding_scores import vendi_score  # on first use

    fake, _, _ = fidelity.generated_features(dataset, ctx)
    info = _info(ctx, dataset)
    kernel = "cosine similarity (unit-norm rows)"
    ctx.record(
        "vendi", lambda final: {**info, "n_generated": ctx.sample_count(dataset, final), "kernel": kernel}
    )
    return fidelity.named(ctx, {"vendi": vendi_score(fake)})


def train_images(dataset, n: int) -> torch.Tensor:
    """The first `n` training images as floats in [0, 1]: `dataset.train`, else its uint8
    `train_images` (0/1 where binarized)."""
    train = getattr(dataset, "train", None)
    if train is not None:
        return train[:n]
    images = dataset.train_images[:n]
    return images.float() if int(images.max()) <= 1 else images.float() / 255


def train_features(dataset, ctx, n: int) -> torch.Tensor:
    """Features of the first `n` training images in the metric's space, cached on disk by data
    set content, space, weights hash and count."""
    from genbench.metrics.extractors import extract  # torch-fidelity: on first use

    _, _, info = fidelity.generated_features(dataset, ctx)
    fe, weights = info["fe"], info["weights_hash"][:12]
    name = f"{dataset.name}-{classifier.data_hash(dataset)[:12]}-train-{fe.get_name()}-{weights}-n{n}.pt"
    path = classifier.cache_dir() / "reference" / name
    batch = ctx.params.batch()
    return fidelity.cached_tensor(
        path, lambda: extract(fe, train_images(dataset, n), ctx.model.device, batch)[0]
    )


def _authenticity(model, dataset, ctx) -> dict[str, float]:
    from genbench.metrics.embedding_scores import authenticity  # on first use

    fake, _, _ = fidelity.generated_features(dataset, ctx)
    n = min(ctx.params.train_examples, len(dataset.train_images))
    train = train_features(dataset, ctx, n)
    info = _info(ctx, dataset)
    fields = {"n_train": n, "split": "train", "distance": "Euclidean, nearest neighbour"}
    ctx.record(
        "authenticity", lambda final: {**info, **fields, "n_generated": ctx.sample_count(dataset, final)}
    )
    return fidelity.named(ctx, {"authenticity": authenticity(train.to(fake.device), fake)})


EMBEDDING_METRICS = ("cmmd", "vendi", "authenticity")


def prepare(specs: list, dataset_of: Callable) -> None:
    """On the driver: the backbones' weights load, and the MNIST classifier is trained (or
    loaded) once per data set where a metric's space is the classifier's."""
    fidelity.check_weights_load(specs, EMBEDDING_METRICS)
    for spec in specs:
        if "mnist_classifier" not in spaces_of(spec, EMBEDDING_METRICS).values():
            continue
        key = json.dumps([spec.dataset, spec.dataset_params], sort_keys=True)
        if key not in _PREPARED:
            classifier.prepare(dataset_of(spec), spec.dataset_params.get("data_dir"))
            _PREPARED.add(key)


_ENTRIES = {
    "cmmd": (
        _cmmd,
        {"cmmd": "min"},
        CmmdParams,
        "CMMD: 1000 x MMD^2 with a Gaussian kernel (sigma 10) of unit-norm CLIP embeddings "
        "(Jayasumana et al. 2024)",
    ),
    "vendi": (
        _vendi,
        {"vendi": "max"},
        FeatureParams,
        "Vendi score of the generated samples: exp of the entropy of the cosine kernel's eigenvalues "
        "(Friedman & Dieng 2023)",
    ),
    "authenticity": (
        _authenticity,
        {"authenticity": "max"},
        AuthenticityParams,
        "authenticity: share of generated samples farther from their nearest training image than it "
        "is from its own nearest (Alaa et al. 2022); 1 - authenticity: memorised copies",
    ),
}

for _name, (_fn, _outputs, _params, _doc) in _ENTRIES.items():
    _default = CMMD_SPACE if _name == "cmmd" else "auto"
    register_metric(
        _name,
        fn=_fn,
        outputs=_outputs,
        params=_params,
        doc=_doc,
        dataset_kinds={"image"},
        check=checker(_name),
        prepare=prepare,
        outputs_of=columns_of(_outputs, _default),
    )
