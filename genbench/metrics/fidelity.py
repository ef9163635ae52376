"""FID (float64, `genbench.metrics.frechet`; optionally FD_inf and a bootstrap CI), KID, improved
precision/recall and the Inception Score (through torch-fidelity) and density/coverage on the
features of the space a metric entry names (`features:`, else `eval.feature_extractor`;
`genbench.metrics.extractors`), in that space's columns; reference features of the real test
images and what is derived from them, cached on disk."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import torch

from genbench.metrics import EvalContext, classifier, metric_name
from genbench.metrics.density import density_coverage, knn_radii
from genbench.metrics.feature_choice import (
    FeatureParams,
    FidParams,
    LogitParams,
    checker,
    column,
    columns_of,
    fid_outputs,
    params_of,
    space_of,
    spaces_of,
)
from genbench.metrics.frechet import fid_extras
from genbench.registry import PrepareError, register_metric

# torch-fidelity (and torchvision under it) is imported on first use, not when metrics register

PRC_BATCH = 10_000  # torch-fidelity's default prc_batch_size
KID_SUBSETS_TRAIN = 10  # KID subsets at in-training evaluations (100 at the final one)
ISC_SPLITS = 10  # Salimans et al. 2016, and torch-fidelity's default isc_splits
_MEMO: dict = {}  # path of a cached tensor -> the tensor, for the process


def extractor_of(name: str, dataset, ctx):
    """The extractor `name` for `dataset` under the evaluation's settings and the metric's
    parameters (`ctx.params`: its weights file and sha256), and its protocol fields."""
    from genbench.metrics import extractors  # torch-fidelity costs a worker ~1.2 s: imported on first use

    weights, sha256 = getattr(ctx.params, "weights", None), getattr(ctx.params, "sha256", None)
    if weights is None and name == "inception":
        weights = ctx.setting("feature_extractor_weights_path", "") or None
    return extractors.get(name, dataset, ctx.data_dir, weights, sha256)


def cached_tensor(path: Path, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
    """A tensor kept in memory and on disk at `path` (written atomically): computed once, by
    whichever process gets there first (the driver, before any run: `genbench.driver.preflight`);
    a file that cannot be read is reported on stderr and computed again."""
    import pickle  # the error of a file that is not a pickle (both: on first use)
    import sys

    key = str(path)
    if key not in _MEMO:
        try:
            _MEMO[key] = torch.load(path, weights_only=True)
        except FileNotFoundError:
            pass
        except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
            print(f"warning: cache file {path} cannot be read ({exc}); computing it again", file=sys.stderr)
        if key not in _MEMO:
            value = compute()
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            torch.save(value, tmp)
            os.replace(tmp, path)
            _MEMO[key] = value
    return _MEMO[key]


def reference_path(dataset, fe, info: dict, n_real: int) -> Path:
    """Feature cache file of the real features, named by a hash of the data set's sha256, split,
    extractor (and its per-channel variant), weights hash, image size and count
    (torch-fidelity's own cache ignores the weights and the count)."""
    from genbench.metrics import extractors, feature_cache  # torch-fidelity: on first use

    tag = "-3ch" if fe.get_name() == extractors.TF_MNIST_3CH else ""
    key = feature_cache.key_of(dataset, "test", fe.get_name(), info["weights_hash"], n_real)
    return feature_cache.cache_path(f"{dataset.name}-test-{info['extractor']}{tag}-n{n_real}", key)


def reference_features(dataset, fe, info: dict, n_real: int, device) -> torch.Tensor:
    """Features of the first n_real test images: streamed batch by batch into the feature cache
    (`genbench.metrics.feature_cache`, a memory-mapped `.npy` with its moments), kept per process."""
    from genbench.metrics import feature_cache
    from genbench.metrics.extractors import FEATURE_BATCH, extract  # torch-fidelity: on first use

    path = reference_path(dataset, fe, info, n_real)
    if str(path) not in _MEMO:
        key = feature_cache.key_of(dataset, "test", fe.get_name(), info["weights_hash"], n_real)
        source = feature_cache.source_of(dataset)
        found = feature_cache.cached_features(
            path, key, lambda: source.batches(0, n_real, FEATURE_BATCH), lambda x: extract(fe, x, device)[0]
        )
        _MEMO[str(path)] = found.tensor()
    return _MEMO[str(path)]


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
    fe, info = extractor_of("mnist_classifier", dataset, ctx)
    n_real = min(ctx.setting("real_samples", len(dataset.test)), len(dataset.test))
    real = reference_features(dataset, fe, info, n_real, "cpu")
    path = reference_path(dataset, fe, info, n_real)
    for metric, key in (("precision_recall", "prc"), ("density_coverage", "dc")):
        if metric in metrics:
            reference_radii(path, real, key)


def generated_features(dataset, ctx) -> tuple[torch.Tensor, torch.Tensor | None, dict]:
    """(features, logits (None for a backbone), protocol) of this evaluation's samples in the
    metric's space (`ctx.params`), extracted once per evaluation and space."""
    from genbench.metrics.extractors import extract  # torch-fidelity: on first use

    params = ctx.params if isinstance(ctx.params, FeatureParams) else FeatureParams()
    name = space_of(dataset.name, params, ctx.setting("feature_extractor", "auto"))
    key = ("generated", name, params.weights, params.sha256)
    if key not in ctx.cache:
        fe, info = extractor_of(name, dataset, ctx)
        out = extract(fe, ctx.samples_for(dataset), ctx.model.device, params.batch())
        ctx.cache[key] = (out[0], out[1] if len(out) > 1 else None, {**info, "fe": fe})
    return ctx.cache[key]


def named(ctx, outputs: dict[str, float], default: str = "auto") -> dict[str, float]:
    """`outputs` under the columns of the metric's space (its `default` space: their own names)."""
    features = getattr(ctx.params, "features", default)
    return {column(k, features, default): v for k, v in outputs.items()}


def space_features(dataset, ctx) -> tuple[torch.Tensor, torch.Tensor, Path, Callable[[bool], dict]]:
    """(real features, generated features, the reference's cache file, protocol(final))."""
    import torch_fidelity  # torch-fidelity: on first use

    fake, _, info = generated_features(dataset, ctx)
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
    """FID (Heusel et al. 2017) of two feature sets: |mu_r - mu_g|^2 + tr(S_r + S_g - 2 (S_r S_g)^(1/2))
    in float64 (`genbench.metrics.frechet`); `real_stats`: the real set's {"mu", "sigma"}, if known."""
    from genbench.metrics.frechet import feature_statistics, frechet_distance

    mu_r, sigma_r = (real_stats["mu"], real_stats["sigma"]) if real_stats else feature_statistics(real)
    return frechet_distance(mu_r, sigma_r, *feature_statistics(fake))


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
    from genbench.metrics.frechet import feature_statistics

    real, fake, path, protocol = space_features(dataset, ctx)
    ctx.record("fid", protocol)
    key = ("fid statistics", str(path))
    if key not in _MEMO:  # the real set's mean and covariance, once per process
        mu, sigma = feature_statistics(real)
        _MEMO[key] = {"mu": mu, "sigma": sigma}
    out = {"fid": fid_from_features(real, fake, _MEMO[key])}
    if ctx.final:  # FD_inf and the bootstrap CI: at the final evaluation only
        out |= fid_extras(_MEMO[key], fake, ctx.params)
    return named(ctx, out)


def _kid(model, dataset, ctx) -> dict[str, float]:
    real, fake, _, protocol = space_features(dataset, ctx)

    def kid_protocol(final: bool) -> dict:
        proto = protocol(final)
        size = min(1000, proto["n_real"], proto["n_generated"])
        subsets = 100 if final else KID_SUBSETS_TRAIN
        return {**proto, "kid_subsets": subsets, "kid_subset_size": size, "kernel": "poly d3"}

    ctx.record("kid", kid_protocol)
    return named(ctx, kid_from_features(real, fake, subsets=100 if ctx.final else KID_SUBSETS_TRAIN))


def _prc(model, dataset, ctx) -> dict[str, float]:
    real, fake, path, protocol = space_features(dataset, ctx)
    ctx.record("precision_recall", lambda final: {**protocol(final), "k": 3})
    return named(ctx, prc_with_radii(real, fake, reference_radii(path, real, "prc")))


def _dc(model, dataset, ctx) -> dict[str, float]:
    real, fake, path, protocol = space_features(dataset, ctx)
    ctx.record("density_coverage", lambda final: {**protocol(final), "k": 5})
    radii = reference_radii(path, real, "dc")
    return named(ctx, density_coverage(real.to(ctx.model.device), fake, k=5, radii=radii))


def _isc(model, dataset, ctx) -> dict[str, float]:
    import torch_fidelity  # torch-fidelity: on first use

    _, logits, info = generated_features(dataset, ctx)
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
    return named(ctx, isc_from_logits(logits))


FEATURE_METRICS = ("fid", "kid", "precision_recall", "density_coverage", "isc")
_ENTRIES = {
    "fid": (
        _fid,
        {"fid": "min"},
        "Frechet distance of feature Gaussians (Heusel et al. 2017), float64 from eigenvalues; "
        "optionally FD_inf and a bootstrap CI",
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


def check_weights_load(specs: list, metrics) -> None:
    """Build, once per process, space and weights file, the backbone of every DINOv2 or CLIP space
    the runs' `metrics` use, so that a pinned file that does not fit its network stops the suite
    before anything trains (PrepareError)."""
    from genbench.metrics import backbones  # on first use

    for spec in specs:
        for metric, space in spaces_of(spec, metrics).items():
            params = params_of(spec, metric)
            key = ("loads", space, params.weights, params.sha256)
            if space in backbones.BACKBONES and key not in _MEMO:
                try:
                    backbones.load(space, params.weights, params.sha256)
                except backbones.WeightsError as exc:
                    raise PrepareError(f"metric {metric!r}: {exc}") from None
                _MEMO[key] = True


def prepare(specs: list, dataset_of) -> None:
    """On the driver, once per data set, evaluation settings and feature metrics: check that the
    backbones' weights load, and where the features are the MNIST classifier's, train (or load)
    it and compute the reference features and k-NN radii of the real test images, so that
    workers only read them ($GENBENCH_CACHE)."""
    check_weights_load(specs, FEATURE_METRICS)
    done: set[str] = set()
    for spec in specs:
        spaces = spaces_of(spec, FEATURE_METRICS)
        features = {metric_name(key) for key, space in spaces.items() if space == "mnist_classifier"}
        if not features:
            continue
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
        params={"isc": LogitParams, "fid": FidParams}.get(_name, FeatureParams),
        doc=_doc,
        dataset_kinds={"image"},
        check=checker(_name),
        prepare=prepare,
        outputs_of=fid_outputs if _name == "fid" else columns_of(_outputs),
    )
