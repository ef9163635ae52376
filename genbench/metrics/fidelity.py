"""FID, KID, improved precision/recall (through torch-fidelity) and density/coverage on the
features of a registered extractor: `inception` (torch-fidelity's inception-v3-compat, comparable
with published FIDs) or `mnist_classifier` (genbench's own, for MNIST-like data)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import torch
import torch_fidelity
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric
from torch_fidelity.metric_prc import calc_cdist_part, prc_features_to_metric
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor
from torch_fidelity.utils import create_feature_extractor

from genbench.metrics import classifier
from genbench.metrics.density import density_coverage, knn_radii
from genbench.registry import METRICS, MetricEntry

TF_MNIST = "genbench-mnist-classifier"
FEATURE_BATCH = 500
ENV_OFFLINE = "GENBENCH_OFFLINE"
PRC_BATCH = 10_000  # torch-fidelity's default prc_batch_size
KID_SUBSETS_TRAIN = 10  # KID subsets at in-training evaluations (100 at the final one)


class MnistClassifierExtractor(FeatureExtractorBase):
    """torch-fidelity view of genbench's MNIST classifier: uint8 (N, 3, H, W) in, the first
    channel (grey images are repeated to three) classified; features `penultimate` (128) and `logits`."""

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        super().__init__(name, features_list)
        self.net, _ = classifier.load_file(Path(feature_extractor_weights_path))
        self.requires_grad_(False)

    @staticmethod
    def get_provided_features_list():
        return "penultimate", "logits"

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return "penultimate"

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, 3, classifier.SIDE, classifier.SIDE, dtype=torch.uint8)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        h, logits = self.net.features(x[:, :1].float() / 255)
        return tuple({"penultimate": h, "logits": logits}[f] for f in self.features_list)


if TF_MNIST not in FEATURE_EXTRACTORS_REGISTRY:
    register_feature_extractor(TF_MNIST, MnistClassifierExtractor)


def extractor_name(dataset_name: str, choice: str = "auto") -> str:
    """`inception` or `mnist_classifier`; `auto`: the classifier for MNIST-like data, else inception."""
    if choice != "auto":
        return choice
    return "mnist_classifier" if classifier.mnist_source(dataset_name) == "mnist" else "inception"


def inception_weights_problem(weights_path: str | None) -> str | None:
    """Why the inception extractor cannot run here (None when it can): a given weights file that
    is missing, or no file, nothing in torch's hub cache and no network (or $GENBENCH_OFFLINE=1)."""
    hint = (
        f"download {URL_INCEPTION_V3} elsewhere and set eval.feature_extractor_weights_path to it, "
        "or use eval.feature_extractor: mnist_classifier on MNIST-like data"
    )
    if weights_path:
        if Path(weights_path).expanduser().is_file():
            return None
        key = "eval.feature_extractor_weights_path"
        return f"the inception weights file {weights_path} ({key}) does not exist; {hint}"
    cached = Path(torch.hub.get_dir()) / "checkpoints" / URL_INCEPTION_V3.rsplit("/", 1)[-1]
    if cached.is_file():
        return None
    if os.environ.get(ENV_OFFLINE) != "1":
        try:
            socket.create_connection(("github.com", 443), timeout=3).close()
            return None
        except OSError:
            pass
    where = f"which are not in {cached} and cannot be downloaded (offline)"
    return f"the inception feature extractor needs its weights, {where}; {hint}"


def _extractor(name: str, dataset, ctx) -> tuple[FeatureExtractorBase, dict]:
    """The torch-fidelity extractor and its protocol fields, cached per process."""
    weights = ctx.setting("feature_extractor_weights_path", None) if name == "inception" else None
    key = (name, classifier.mnist_source(dataset.name), weights, ctx.data_dir)
    if key not in _EXTRACTORS:
        if name == "mnist_classifier":
            _, record, path = classifier.classifier_for(dataset, ctx.data_dir)
            fe = create_feature_extractor(
                TF_MNIST, ["penultimate"], cuda=False, feature_extractor_weights_path=str(path), verbose=False
            )
            info = {"weights_hash": record["weights_hash"], "feature_layer": "penultimate (128)"}
            info["classifier_test_accuracy"] = record["test_accuracy"]
        else:
            problem = inception_weights_problem(weights)
            if problem:
                raise RuntimeError(problem)
            fe = create_feature_extractor(
                "inception-v3-compat",
                ["2048"],
                cuda=False,
                feature_extractor_weights_path=weights,
                verbose=False,
            )
            path = (
                Path(weights)
                if weights
                else Path(torch.hub.get_dir()) / "checkpoints" / URL_INCEPTION_V3.rsplit("/", 1)[-1]
            )
            info = {"weights_hash": classifier.file_hash(path), "feature_layer": "2048 (pool3)"}
        _EXTRACTORS[key] = (fe, {"extractor": name, **info})
    return _EXTRACTORS[key]


_EXTRACTORS: dict = {}
_REAL: dict = {}
_RADII: dict = {}


def to_uint8_rgb(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] images (N, C, H, W) -> uint8 (N, 3, H, W), grey repeated to three channels
    (torch-fidelity's input contract)."""
    x = (x * 255).round().clamp(0, 255).to(torch.uint8)
    return x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x


@torch.no_grad()
def extract(
    fe: FeatureExtractorBase, images: torch.Tensor, device, batch: int = FEATURE_BATCH
) -> torch.Tensor:
    """Features of [0, 1] images, in batches on `device`, gathered on the CPU (float32)."""
    fe.to(device)
    out = [fe(to_uint8_rgb(chunk).to(device))[0].float().cpu() for chunk in images.split(batch)]
    return torch.cat(out)


def reference_features(dataset, fe, info: dict, n_real: int, device) -> torch.Tensor:
    """Features of the first n_real test images, cached in memory and on disk under a name that
    holds the data set, its data hash, split, extractor, weights hash and count."""
    data = classifier.data_hash(dataset)[:12]
    name = f"{dataset.name}-{data}-test-{info['extractor']}-{info['weights_hash'][:12]}-n{n_real}.pt"
    if name not in _REAL:
        path = classifier.cache_dir() / "reference" / name
        if path.exists():
            _REAL[name] = torch.load(path, weights_only=True)
        else:
            feats = extract(fe, dataset.test[:n_real], device)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            torch.save(feats, tmp)
            os.replace(tmp, path)
            _REAL[name] = feats
    return _REAL[name]


def _features(dataset, ctx) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(real, generated, protocol) features of this evaluation, computed once per evaluation."""
    if "features" not in ctx.cache:
        name = extractor_name(dataset.name, ctx.setting("feature_extractor", "auto"))
        fe, info = _extractor(name, dataset, ctx)
        device = ctx.model.device
        n_real = min(ctx.setting("real_samples", len(dataset.test)), len(dataset.test))
        real = reference_features(dataset, fe, info, n_real, device)
        fake = extract(fe, ctx.samples, device)
        proto = {
            **info,
            "n_real": len(real),
            "n_generated": len(fake),
            "split": "test",
            "torch_fidelity": torch_fidelity.__version__,
        }
        ctx.cache["features"] = (real, fake, proto)
    return ctx.cache["features"]


def fid_from_features(real: torch.Tensor, fake: torch.Tensor) -> float:
    """FID (Heusel et al. 2017) of two feature sets by torch-fidelity: |mu_r - mu_g|^2 +
    tr(S_r + S_g - 2 (S_r S_g)^(1/2))."""
    stats = fid_features_to_statistics(fake.double()), fid_features_to_statistics(real.double())
    return fid_statistics_to_metric(*stats, verbose=False)["frechet_inception_distance"]


def kid_from_features(
    real: torch.Tensor, fake: torch.Tensor, seed: int = 2020, subsets: int = 100
) -> dict[str, float]:
    """KID (Binkowski et al. 2018): unbiased MMD^2 with the cubic kernel, mean and std over
    `subsets` subsets of min(1000, n) by torch-fidelity (the mean is unbiased for any count)."""
    size = min(1000, len(real), len(fake))
    kw = {"kid_subset_size": size, "kid_subsets": subsets, "rng_seed": seed, "verbose": False}
    out = kid_features_to_metric(fake, real, **kw)
    return {"kid": out["kernel_inception_distance_mean"], "kid_std": out["kernel_inception_distance_std"]}


def prc_from_features(real: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
    """Improved precision and recall, k = 3 (Kynkaanniemi et al. 2019), by torch-fidelity."""
    out = prc_features_to_metric(fake, real, prc_neighborhood=3, save_cpu_ram=True, verbose=False)
    return {"precision": out["precision"], "recall": out["recall"]}


def prc_with_radii(
    real: torch.Tensor, fake: torch.Tensor, real_radii: torch.Tensor, k: int = 3
) -> dict[str, float]:
    """The same numbers as `prc_from_features` from torch-fidelity's distance blocks
    (`calc_cdist_part`), with the real set's k-NN radii computed once (`prc_radii`) rather than
    at every evaluation."""
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
    return torch.cat(
        [calc_cdist_part(b, real, PRC_BATCH).kthvalue(k + 1).values for b in real.split(PRC_BATCH)]
    )


def _fid(model, dataset, ctx) -> dict[str, float]:
    real, fake, proto = _features(dataset, ctx)
    ctx.protocols["fid"] = proto
    return {"fid": fid_from_features(real, fake)}


def _kid(model, dataset, ctx) -> dict[str, float]:
    real, fake, proto = _features(dataset, ctx)
    size, subsets = min(1000, len(real), len(fake)), 100 if ctx.final else KID_SUBSETS_TRAIN
    ctx.protocols["kid"] = {**proto, "kid_subsets": subsets, "kid_subset_size": size, "kernel": "poly d3"}
    return kid_from_features(real, fake, subsets=subsets)


def _prc(model, dataset, ctx) -> dict[str, float]:
    real, fake, proto = _features(dataset, ctx)
    ctx.protocols["precision_recall"] = {**proto, "k": 3}
    key = ("prc", id(real))  # the reference features (CPU) stay in _REAL for the process: a stable key
    if key not in _RADII:
        _RADII[key] = prc_radii(real)
    return prc_with_radii(real, fake, _RADII[key])


def _dc(model, dataset, ctx) -> dict[str, float]:
    real, fake, proto = _features(dataset, ctx)
    ctx.protocols["density_coverage"] = {**proto, "k": 5}
    key = id(real)  # the reference features (CPU) stay in _REAL for the process: a stable key
    real = real.to(ctx.model.device)
    if key not in _RADII:
        _RADII[key] = knn_radii(real.double(), 5)
    return density_coverage(real, fake, k=5, radii=_RADII[key])


def check_spec(spec) -> str | None:
    """Why a run's feature metrics cannot run here (inception weights), or None."""
    name = extractor_name(spec.dataset, getattr(spec.eval, "feature_extractor", "auto"))
    if name != "inception":
        return None
    return inception_weights_problem(getattr(spec.eval, "feature_extractor_weights_path", None))


_IMAGES = frozenset({"image"})
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
}
for _name, (_fn, _outputs, _doc) in _ENTRIES.items():
    METRICS.register(_name, MetricEntry(_fn, _outputs, _doc, dataset_kinds=_IMAGES, check=check_spec))
