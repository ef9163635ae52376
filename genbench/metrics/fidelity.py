"""FID, KID, improved precision/recall and the Inception Score (through torch-fidelity) and
density/coverage on the features of a registered extractor (`genbench.metrics.extractors`);
reference features of the real test images and what is derived from them, cached on disk."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import torch

from genbench.metrics import EvalContext, classifier
from genbench.metrics.density import density_coverage, knn_radii
from genbench.metrics.feature_choice import extractor_name, inception_weights_problem
from genbench.registry import register_metric

# torch-fidelity (and torchvision under it) is imported on first use, not when metrics register

PRC_BATCH = 10_000  # torch-fidelity's default prc_batch_size
KID_SUBSETS_TRAIN = 10  # KID subsets at in-training evaluations (100 at the final one)
ISC_SPLITS = 10  # Salimans et al. 2016, and torch-fidelity's default isc_splits
_MEMO: dict = {}  # path of a cached tensor -> the tensor, for the process


def _extractor(name: str, dataset, ctx):
    """The extractor `name` for `dataset` under the evaluation's settings, and its protocol fields."""
    from genbench.metrics import extractors  # torch-fidelity costs a worker ~1.2 s: imported on first use

    weights = ctx.setting("feature_extractor_weights_path", "") or None
    return extractors.get(name, dataset, ctx.data_dir, weights)


def cached_tensor(path: Path, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
    """A tensor kept in memory and on disk at `path` (written atomically): computed once, by
    whichever process gets there first (the driver, before any run: `genbench.driver.preflight`)."""
    key = str(path)
    if key not in _MEMO:
        if path.exists():
            _MEMO[key] = torch.load(path, weights_only=True)
        else:
            value = compute()
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            torch.save(value, tmp)
            os.replace(tmp, path)
            _MEMO[key] = value
    return _MEMO[key]


def reference_path(dataset, fe, info: dict, n_real: int) -> Path:
    """Cache file of the real features: data set, data hash, split, extractor (and its per-channel
    variant), weights hash and count (torch-fidelity's own cache ignores the last two)."""
    from genbench.metrics import extractors  # torch-fidelity: on first use

    data = classifier.data_hash(dataset)[:12]
    tag = "-3ch" if fe.get_name() == extractors.TF_MNIST_3CH else ""
    name = f"{dataset.name}-{data}-test-{info['extractor']}{tag}-{info['weights_hash'][:12]}-n{n_real}.pt"
    return classifier.cache_dir() / "reference" / name


def reference_features(dataset, fe, info: dict, n_real: int, device) -> torch.Tensor:
    """Features of the first n_real test images, cached in memory and on disk."""
    from genbench.metrics.extractors import extract  # torch-fidelity: on first use

    return cached_tensor(
        reference_path(dataset, fe, info, n_real), lambda: extract(fe, dataset.test[:n_real], device)[0]
    )


def reference_radii(ref_path: Path, real: torch.Tensor, metric: str) -> torch.Tensor:
    """k-NN radii of the real features, cached beside them: `prc` (k = 3, as torch-fidelity
    computes them) or `dc` (k = 5, float64)."""
    stem = ref_path.with_suffix("")
    if metric == "prc":
        return cached_tensor(stem.with_name(stem.name + "-prc3.pt"), lambda: prc_radii(real))
    return cached_tensor(stem.with_name(stem.name + "-dc5.pt"), lambda: knn_radii(real.double(), 5).cpu())


def prepare_reference(dataset, settings, metrics: set[str], data_dir: str | None) -> None:
    """Compute and cache, on this process, the real features (and radii) the metrics of a run
    with `settings` need on `dataset` with the MNIST classifier: done by the driver before runs
    are dispatched so that workers only read them."""
    ctx = EvalContext(None, 1, 0, settings=settings, data_dir=data_dir)
    fe, info = _extractor("mnist_classifier", dataset, ctx)
    n_real = min(ctx.setting("real_samples", len(dataset.test)), len(dataset.test))
    real = reference_features(dataset, fe, info, n_real, "cpu")
    path = reference_path(dataset, fe, info, n_real)
    for metric, key in (("precision_recall", "prc"), ("density_coverage", "dc")):
        if metric in metrics:
            reference_radii(path, real, key)


def _generated(dataset, ctx) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(features, logits, protocol) of this evaluation's samples, extracted once per evaluation."""
    from genbench.metrics.extractors import extract  # torch-fidelity: on first use

    if "generated" not in ctx.cache:
        name = extractor_name(dataset.name, ctx.setting("feature_extractor", "auto"))
        fe, info = _extractor(name, dataset, ctx)
        feats, logits = extract(fe, ctx.samples_for(dataset), ctx.model.device)
        ctx.cache["generated"] = (feats, logits, {**info, "fe": fe})
    return ctx.cache["generated"]


def _features(dataset, ctx) -> tuple[torch.Tensor, torch.Tensor, Path, Callable[[bool], dict]]:
    """(real features, generated features, the reference's cache file, protocol(final))."""
    import torch_fidelity  # torch-fidelity: on first use

    fake, _, info = _generated(dataset, ctx)
    info = dict(info)
    fe = info.pop("fe")
    n_real = min(ctx.setting("real_samples", len(dataset.test)), len(dataset.test))
    real = reference_features(dataset, fe, info, n_real, ctx.model.device)

    def protocol(final: bool) -> dict:
        return {
            **info,
            "n_real": len(real),
            "n_generated": ctx.sample_count(dataset, final),
            "split": "test",
            "torch_fidelity": torch_fidelity.__version__,
        }

    return real, fake, reference_path(dataset, fe, info, n_real), protocol


def fid_from_features(real: torch.Tensor, fake: torch.Tensor, real_stats: dict | None = None) -> float:
    """FID (Heusel et al. 2017) of two feature sets by torch-fidelity: |mu_r - mu_g|^2 +
    tr(S_r + S_g - 2 (S_r S_g)^(1/2)); `real_stats`: the real set's mean and covariance, if known."""
    from torch_fidelity.metric_fid import (  # torch-fidelity: on first use
        fid_features_to_statistics,
        fid_statistics_to_metric,
    )

    stats = fid_features_to_statistics(fake.double()), real_stats or fid_features_to_statistics(real.double())
    return fid_statistics_to_metric(*stats, verbose=False)["frechet_inception_distance"]


def kid_from_features(
    real: torch.Tensor, fake: torch.Tensor, seed: int = 2020, subsets: int = 100
) -> dict[str, float]:
    """KID (Binkowski et al. 2018): unbiased MMD^2 with the cubic kernel, mean and std over
    `subsets` subsets of min(1000, n) by torch-fidelity (the mean is unbiased for any count)."""
    from torch_fidelity.metric_kid import kid_features_to_metric  # torch-fidelity: on first use

    size = min(1000, len(real), len(fake))
    kw = {"kid_subset_size": size, "kid_subsets": subsets, "rng_seed": seed, "verbose": False}
    out = kid_features_to_metric(fake, real, **kw)
    return {"kid": out["kernel_inception_distance_mean"], "kid_std": out["kernel_inception_distance_std"]}


def prc_from_features(real: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
    """Improved precision and recall, k = 3 (Kynkaanniemi et al. 2019), by torch-fidelity."""
    from torch_fidelity.metric_prc import prc_features_to_metric  # torch-fidelity: on first use

    out = prc_features_to_metric(fake, real, prc_neighborhood=3, save_cpu_ram=True, verbose=False)
    return {"precision": out["precision"], "recall": out["recall"]}


def prc_with_radii(
    real: torch.Tensor, fake: torch.Tensor, real_radii: torch.Tensor, k: int = 3
) -> dict[str, float]:
    """The same numbers as `prc_from_features` from torch-fidelity's distance blocks
    (`calc_cdist_part`), with the real set's k-NN radii computed once (`prc_radii`) rather than
    at every evaluation."""
    from torch_fidelity.metric_prc import calc_cdist_part  # torch-fidelity: on first use

    fake_radii = torch.cat(
        [calc_cdist_part(b, fake, PRC_BATCH).kthvalue(k + 1).values for b in fake.split(PRC_BATCH)]
    )
    recall = torch.cat(
        [(calc_cdist_part(b, fake, PRC_BATCH) <= fake_radii).any(1) for b in real.split(PRC_BATCH)]
    )
    precision = torch.cat(
        [(calc_cdist_part(b, real, PRC_BATCH) <= real_radii).any(1) for b in fake.split(PRC_BATCH)]
    )
    return {"precision": precision.float().mean().item(), "recall": recall.float().mean().item()}


def prc_radii(real: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Distance of every real point to its k-th nearest real neighbour, as torch-fidelity computes it."""
    from torch_fidelity.metric_prc import calc_cdist_part  # torch-fidelity: on first use

    return torch.cat(
        [calc_cdist_part(b, real, PRC_BATCH).kthvalue(k + 1).values for b in real.split(PRC_BATCH)]
    )


def isc_from_logits(logits: torch.Tensor, splits: int = ISC_SPLITS, seed: int = 2020) -> dict[str, float]:
    """Inception Score (Salimans et al. 2016, sec. 4): exp(E_x KL(p(y|x) || p(y))), p(y) the mean
    of p(y|x) over a split; mean and std over `splits` splits of the shuffled samples, by
    torch-fidelity. At most the number of classes, and at most the split size."""
    from torch_fidelity.metric_isc import (  # torch-fidelity: on first use
        KEY_METRIC_ISC_MEAN,
        KEY_METRIC_ISC_STD,
        isc_features_to_metric,
    )

    out = isc_features_to_metric(logits, splits=min(splits, len(logits)), shuffle=True, rng_seed=seed)
    return {"isc": out[KEY_METRIC_ISC_MEAN], "isc_std": out[KEY_METRIC_ISC_STD]}


def _fid(model, dataset, ctx) -> dict[str, float]:
    from torch_fidelity.metric_fid import fid_features_to_statistics  # torch-fidelity: on first use

    real, fake, path, protocol = _features(dataset, ctx)
    ctx.record("fid", protocol)
    key = ("fid statistics", str(path))
    if key not in _MEMO:  # the real set's mean and covariance, once per process
        _MEMO[key] = fid_features_to_statistics(real.double())
    return {"fid": fid_from_features(real, fake, _MEMO[key])}


def _kid(model, dataset, ctx) -> dict[str, float]:
    real, fake, _, protocol = _features(dataset, ctx)

    def kid_protocol(final: bool) -> dict:
        proto = protocol(final)
        size = min(1000, proto["n_real"], proto["n_generated"])
        subsets = 100 if final else KID_SUBSETS_TRAIN
        return {**proto, "kid_subsets": subsets, "kid_subset_size": size, "kernel": "poly d3"}

    ctx.record("kid", kid_protocol)
    return kid_from_features(real, fake, subsets=100 if ctx.final else KID_SUBSETS_TRAIN)


def _prc(model, dataset, ctx) -> dict[str, float]:
    real, fake, path, protocol = _features(dataset, ctx)
    ctx.record("precision_recall", lambda final: {**protocol(final), "k": 3})
    return prc_with_radii(real, fake, reference_radii(path, real, "prc"))


def _dc(model, dataset, ctx) -> dict[str, float]:
    real, fake, path, protocol = _features(dataset, ctx)
    ctx.record("density_coverage", lambda final: {**protocol(final), "k": 5})
    radii = reference_radii(path, real, "dc")
    return density_coverage(real.to(ctx.model.device), fake, k=5, radii=radii)


def _isc(model, dataset, ctx) -> dict[str, float]:
    import torch_fidelity  # torch-fidelity: on first use

    _, logits, info = _generated(dataset, ctx)
    info = {k: v for k, v in info.items() if k != "fe"}
    ctx.record(
        "isc",
        lambda final: {
            **{k: v for k, v in info.items() if k != "feature_layer"},
            "n_generated": ctx.sample_count(dataset, final),
            "splits": min(ISC_SPLITS, ctx.sample_count(dataset, final)),
            "shuffle_seed": 2020,
            "torch_fidelity": torch_fidelity.__version__,
        },
    )
    return isc_from_logits(logits)


def check_spec(spec) -> str | None:
    """Why a run's feature metrics cannot run here (inception weights; the MNIST classifier on
    other data), or None."""
    name = extractor_name(spec.dataset, getattr(spec.eval, "feature_extractor", "auto"))
    if name == "mnist_classifier":
        if classifier.mnist_source(spec.dataset) in ("mnist", "fashion_mnist"):
            return None
        return "eval.feature_extractor mnist_classifier applies to MNIST-like data sets only"
    return inception_weights_problem(getattr(spec.eval, "feature_extractor_weights_path", None))


FEATURE_METRICS = ("fid", "kid", "precision_recall", "density_coverage", "isc")
_ENTRIES = {
    "fid": (
        _fid,
        {"fid": "min"},
        "Frechet distance of feature Gaussians (Heusel et al. 2017), torch-fidelity",
    ),
    "kid": (_kid, {"kid": "min"}, "kernel inception distance, cubic kernel MMD^2 (Binkowski et al. 2018)"),
    "precision_recall": (
        _prc,
        {"precision": "max", "recall": "max"},
        "improved precision and recall, k = 3 (Kynkaanniemi et al. 2019), torch-fidelity",
    ),
    "density_coverage": (
        _dc,
        {"density": "max", "coverage": "max"},
        "density and coverage, k = 5 (Naeem et al. 2020), with <=",
    ),
    "isc": (
        _isc,
        {"isc": "max"},
        "Inception Score, 10 splits (Salimans et al. 2016), torch-fidelity; the extractor's class logits",
    ),
}


def prepare(specs: list, dataset_of) -> None:
    """On the driver, once per data set, evaluation settings and feature metrics: where the
    features are the MNIST classifier's, train (or load) it and compute the reference features and
    k-NN radii of the real test images, so that workers only read them ($GENBENCH_CACHE)."""
    done: set[str] = set()
    for spec in specs:
        if extractor_name(spec.dataset, spec.eval.feature_extractor) != "mnist_classifier":
            continue
        features = set(spec.metrics) & set(FEATURE_METRICS)
        key = json.dumps(
            [spec.dataset, spec.dataset_params, spec.eval.model_dump(mode="json"), sorted(features)]
        )
        if key in done:
            continue
        done.add(key)
        dataset, data_dir = dataset_of(spec), spec.dataset_params.get("data_dir")
        classifier.prepare(dataset, data_dir)
        prepare_reference(dataset, spec.eval, features, data_dir)


for _name, (_fn, _outputs, _doc) in _ENTRIES.items():
    register_metric(
        _name,
        fn=_fn,
        outputs=_outputs,
        doc=_doc,
        dataset_kinds={"image"},
        check=check_spec,
        prepare=prepare,
    )
