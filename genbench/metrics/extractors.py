"""Feature extractors by space: `inception` (torch-fidelity's inception-v3-compat, comparable with
published FIDs) and `mnist_classifier` (genbench's own, for MNIST-like data), registered with
torch-fidelity, and the DINOv2 and CLIP backbones (`genbench.metrics.backbones`); in batches on
the run's device."""

from __future__ import annotations

from pathlib import Path

import torch
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor
from torch_fidelity.utils import create_feature_extractor

from genbench.metrics import backbones, classifier
from genbench.metrics.feature_choice import (
    BACKBONE_BATCH,
    FEATURE_BATCH,
    hub_weights,
    inception_weights_problem,
)

TF_MNIST = "genbench-mnist-classifier"  # grey images: the first channel classified
TF_MNIST_3CH = "genbench-mnist-classifier-3ch"  # stacked MNIST: each channel classified
# the layer of each feature metric ("features") and of the Inception Score ("logits"), per extractor
LAYERS = {
    "inception": {"features": "2048", "logits": "logits_unbiased"},
    "mnist_classifier": {"features": "penultimate", "logits": "logits"},
}


class MnistClassifierExtractor(FeatureExtractorBase):
    """torch-fidelity view of genbench's MNIST classifier: uint8 (N, 3, H, W) in, the first
    channel (grey images are repeated to three) classified; features `penultimate` (128) and
    `logits` (10 classes: the Inception Score's class distribution)."""

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        super().__init__(name, features_list)
        self.net, _ = classifier.load_file(Path(feature_extractor_weights_path))
        self.requires_grad_(False)

    @staticmethod
    def get_provided_features_list():
        return "penultimate", "logits"

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return "logits" if metric == "isc" else "penultimate"

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, 3, classifier.SIDE, classifier.SIDE, dtype=torch.uint8)

    def layers(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h, logits = self.net.features(x[:, :1].float() / 255)
        return {"penultimate": h, "logits": logits}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.layers(x)
        return tuple(out[f] for f in self.features_list)


class StackedMnistExtractor(MnistClassifierExtractor):
    """Stacked MNIST: each of the three channels classified on its own (the digits are drawn
    independently); `penultimate` is the three channels' features concatenated (3 x 128, R, G, B),
    `logits` the 1,000 digit triples 100a + 10b + c with logit l_R[a] + l_G[b] + l_B[c], whose
    softmax is the product of the channels' class distributions."""

    def layers(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        n, c = x.shape[:2]
        h, logits = self.net.features(x.reshape(n * c, 1, *x.shape[2:]).float() / 255)
        lr, lg, lb = logits.view(n, c, 10).unbind(1)
        triples = lr[:, :, None, None] + lg[:, None, :, None] + lb[:, None, None, :]
        return {"penultimate": h.reshape(n, -1), "logits": triples.reshape(n, 1000)}


for _name, _cls in ((TF_MNIST, MnistClassifierExtractor), (TF_MNIST_3CH, StackedMnistExtractor)):
    if _name not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(_name, _cls)


def get(
    name: str, dataset, data_dir: str | None, weights: str | None = None, sha256: str | None = None
) -> tuple[FeatureExtractorBase | backbones.BackboneExtractor, dict]:
    """The extractor of space `name` for `dataset` (torch-fidelity's: both of its layers, features
    and logits; a backbone: its features) and its protocol fields; cached per process. `weights`
    (inception, backbones) and `sha256` (checked: WeightsError) pin a weights file."""
    if name in backbones.BACKBONES:
        key = (name, weights, sha256)
        if key not in _EXTRACTORS:
            _EXTRACTORS[key] = backbones.load(name, weights, sha256)
        return _EXTRACTORS[key]
    weights = weights if name == "inception" else None
    per_channel = name == "mnist_classifier" and dataset.shape[0] == 3
    key = (name, classifier.mnist_source(dataset.name), per_channel, weights, data_dir)
    if name == "inception" and sha256 is not None:
        _inception_pinned(weights, sha256)
    if key not in _EXTRACTORS:
        layers = [LAYERS[name]["features"], LAYERS[name]["logits"]]
        if name == "mnist_classifier":
            _, record, path = classifier.classifier_for(dataset, data_dir)
            tf_name = TF_MNIST_3CH if per_channel else TF_MNIST
            fe = create_feature_extractor(
                tf_name, layers, cuda=False, feature_extractor_weights_path=str(path), verbose=False
            )
            layer = (
                "penultimate of each channel, concatenated (3 x 128)" if per_channel else "penultimate (128)"
            )
            info = {"weights_hash": record["weights_hash"], "feature_layer": layer}
            info["logits"] = "1000 digit triples" if per_channel else "10 classes"
            info["classifier_test_accuracy"] = record["test_accuracy"]
            fe.weights_file = str(path)  # for `recipe_of`: the same network built in another process
        else:
            problem = inception_weights_problem(weights)
            if problem:
                raise RuntimeError(problem)
            fe = create_feature_extractor(
                "inception-v3-compat",
                layers,
                cuda=False,
                feature_extractor_weights_path=weights,
                verbose=False,
            )
            path = Path(weights) if weights else hub_weights()
            fe.weights_file = weights  # None: torch-fidelity's own (hub cache) file
            info = {"weights_hash": classifier.file_hash(path), "feature_layer": "2048 (pool3)"}
            info["logits"] = "logits_unbiased (1008)"
        _EXTRACTORS[key] = (fe, {"extractor": name, **info})
    return _EXTRACTORS[key]


_EXTRACTORS: dict = {}


def weights_path_of(fe: FeatureExtractorBase) -> str | None:
    """The weights file a torch-fidelity extractor of `get` was built from (None: its own)."""
    return fe.weights_file


def _inception_pinned(weights: str | None, sha256: str) -> None:
    """Raise WeightsError when the inception weights file is not the one pinned by `sha256`."""
    path = Path(weights).expanduser() if weights else hub_weights()
    found = backbones.sha256_of(path) if path.is_file() else "(no such file)"
    if found != sha256:
        raise backbones.WeightsError(f"the inception weights file {path} has sha256 {found}, not {sha256}")


def to_uint8_rgb(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] (or uint8) images (N, C, H, W) -> uint8 (N, 3, H, W), grey repeated to three
    channels (torch-fidelity's input contract)."""
    if x.dtype != torch.uint8:
        x = (x * 255).round().clamp(0, 255).to(torch.uint8)
    return x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x


@torch.no_grad()
def extract(
    fe: FeatureExtractorBase | backbones.BackboneExtractor,
    images: torch.Tensor,
    device,
    batch: int | None = None,
) -> tuple[torch.Tensor, ...]:
    """Every requested layer of [0, 1] (or uint8) images (a backbone's: its features), in batches of `batch`
    (None: FEATURE_BATCH, a backbone's BACKBONE_BATCH) on `device`, gathered on the CPU (float32)."""
    if isinstance(fe, backbones.BackboneExtractor):
        return (fe.features(images, device, batch or BACKBONE_BATCH),)
    batch = batch or FEATURE_BATCH
    fe.to(device)
    out = [[t.float().cpu() for t in fe(to_uint8_rgb(chunk).to(device))] for chunk in images.split(batch)]
    return tuple(torch.cat(layer) for layer in zip(*out, strict=True))
