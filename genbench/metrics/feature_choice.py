"""Which feature space a run's feature metrics use (the `features:` parameter of a metric entry,
else `eval.feature_extractor`), the columns its numbers go to, and whether inception can run here;
light to import (torch-fidelity, timm and open_clip are imported only where weights are looked
for or networks built), so that validating a suite and starting a worker do not pay for them."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Literal, get_args

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from genbench.metrics import classifier, metric_entries, metric_name
from genbench.registry import METRICS

ENV_OFFLINE = "GENBENCH_OFFLINE"
FEATURE_BATCH = 500  # images per batch of the torch-fidelity extractors (inception, the classifier)
BACKBONE_BATCH = 64  # ... and of the DINOv2 and CLIP backbones at 224 x 224
LOGIT_SPACES = ("auto", "mnist_classifier", "inception")  # with class logits: the Inception Score
Space = Literal[
    "auto",
    "mnist_classifier",
    "inception",
    "dinov2_vits14",
    "dinov2_vitb14",
    "dinov2_vitl14",
    "clip_vitb32",
    "clip_vitl14",
]
SPACES: tuple[str, ...] = get_args(Space)


class FeatureParams(BaseModel):
    """A feature metric's space: `auto` (eval.feature_extractor decides), `mnist_classifier`,
    `inception` (torch-fidelity's), DINOv2 ViT-S/B/L 14 (timm) or OpenAI CLIP ViT-B/32, ViT-L/14
    (open_clip); `weights`: a local weights file with its `sha256` (else the library's cache;
    nothing is downloaded); `batch_size`: images per batch (None: 500, or 64 for DINOv2 and CLIP)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    features: Space = Field("auto", description="feature space; columns other than auto's end in it")
    weights: str | None = Field(
        None, min_length=1, description="local weights file (from the suite's folder)"
    )
    sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$", description="the weights file's sha256")
    batch_size: int | None = Field(None, gt=0, description="images per batch (None: 500; DINOv2, CLIP: 64)")

    @field_validator("sha256")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value else value

    @field_validator("weights")
    @classmethod
    def _from_suite_folder(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A relative weights path is taken from the suite file's folder (`base` in the context)."""
        base = (info.context or {}).get("base")
        if value is None or base is None or Path(value).expanduser().is_absolute():
            return value
        return str(Path(base) / value)

    @model_validator(mode="after")
    def _pinned(self):
        if self.weights is not None and self.sha256 is None:
            raise ValueError(
                "`weights` needs its `sha256` (64 hex digits): a weights file is used only pinned"
            )
        if (self.weights or self.sha256) and self.features in ("auto", "mnist_classifier"):
            raise ValueError(
                f"`weights` and `sha256` apply to features inception, dinov2_* and clip_*, not "
                f"{self.features} (auto's inception weights: eval.feature_extractor_weights_path)"
            )
        return self

    def batch(self) -> int:
        """Images per batch of feature extraction."""
        if self.batch_size is not None:
            return self.batch_size
        return FEATURE_BATCH if self.features in LOGIT_SPACES else BACKBONE_BATCH


class FidParams(FeatureParams):
    """FID's parameters: its space, and at the final evaluation optionally FD_inf and a bootstrap CI."""

    fd_infinity: bool = Field(
        False, description="also fid_inf: FD extrapolated to infinitely many samples (Chong & Forsyth 2020)"
    )
    bootstrap: int = Field(
        0, ge=0, le=10_000, description="resamples of a 95 % percentile bootstrap CI of FD (0: none)"
    )


def fid_outputs(params: dict) -> dict[str, str]:
    """FID's outputs for `params`: fid, with fid_inf and fid_ci_lo / fid_ci_hi where asked for."""
    outputs = {"fid": "min"}
    if params.get("fd_infinity"):
        outputs["fid_inf"] = "min"
    if params.get("bootstrap"):
        outputs |= {"fid_ci_lo": "min", "fid_ci_hi": "min"}
    return columns_of(outputs)(params)


class LogitParams(FeatureParams):
    """The Inception Score's space: one with class logits (auto, inception, mnist_classifier)."""

    @field_validator("features")
    @classmethod
    def _with_logits(cls, value: str) -> str:
        if value not in LOGIT_SPACES:
            raise ValueError(f"the Inception Score needs class logits: features {', '.join(LOGIT_SPACES)}")
        return value


def column(output: str, features: str, default: str = "auto") -> str:
    """The column of a metric output in space `features`: the output itself in the metric's default
    space, else suffixed with the space (`fid` is `fd_<space>`: a Frechet distance in that space)."""
    if features == default:
        return output
    return f"fd_{features}" if output == "fid" else f"{output}_{features}"


def columns_of(outputs: dict[str, str], default: str = "auto"):
    """`outputs_of(params)` of a metric registration: its outputs named for the space in `params`."""

    def outputs_of(params: dict) -> dict[str, str]:
        features = params.get("features", default) or default
        return {column(k, features, default): d for k, d in outputs.items()}

    return outputs_of


def space_of(dataset_name: str, params, choice: str = "auto") -> str:
    """The space a metric with `params` (FeatureParams, or None) computes in on `dataset_name`;
    `auto`: eval.feature_extractor's choice (`choice`), itself `auto` by default."""
    features = getattr(params, "features", "auto")
    return extractor_name(dataset_name, choice) if features == "auto" else features


def extractor_name(dataset_name: str, choice: str = "auto") -> str:
    """`inception` or `mnist_classifier`; `auto`: the classifier for MNIST-like data, else inception."""
    if choice != "auto":
        return choice
    return "mnist_classifier" if classifier.mnist_source(dataset_name) == "mnist" else "inception"


def inception_weights_problem(weights_path: str | None) -> str | None:
    """Why the inception extractor cannot run here (None when it can): a given weights file that
    is missing, or no file, nothing in torch's hub cache and no network (or $GENBENCH_OFFLINE=1)."""
    # torch-fidelity (and torchvision) cost ~1 s: only when inception is asked for
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    hint = (
        f"download {URL_INCEPTION_V3} elsewhere and set eval.feature_extractor_weights_path to it, "
        "or use eval.feature_extractor: mnist_classifier on MNIST-like data"
    )
    if weights_path:
        if Path(weights_path).expanduser().is_file():
            return None
        key = "eval.feature_extractor_weights_path"
        return f"the inception weights file {weights_path} ({key}) does not exist; {hint}"
    cached = hub_weights()
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


def hub_weights() -> Path:
    """Where torch-fidelity keeps the inception weights it downloads (torch's hub cache)."""
    # torch-fidelity costs ~1 s: only when inception is asked for
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    return Path(torch.hub.get_dir()) / "checkpoints" / URL_INCEPTION_V3.rsplit("/", 1)[-1]


def space_problem(dataset_name: str, params, settings) -> str | None:
    """Why a metric with `params` (FeatureParams) cannot compute its space on `dataset_name` under
    the evaluation `settings` (EvalSettings), or None: the MNIST classifier on other data, a
    weights file missing or with another sha256 than the one pinned, no inception weights."""
    space = space_of(dataset_name, params, settings.feature_extractor)
    if space == "mnist_classifier":
        if classifier.mnist_source(dataset_name) in ("mnist", "fashion_mnist"):
            return None
        return "the mnist_classifier feature space applies to MNIST-like data sets only"
    if space == "inception":
        weights = getattr(params, "weights", None) or settings.feature_extractor_weights_path
        return inception_weights_problem(weights) or _inception_hash_problem(weights, params)
    from genbench.metrics import backbones  # numpy and PIL: only when a backbone space is used

    try:
        backbones.weights_file(space, params.weights, params.sha256)
    except backbones.WeightsError as exc:
        return str(exc)
    return None


def _inception_hash_problem(weights: str | None, params) -> str | None:
    """Another sha256 of the inception weights file than the one pinned (`sha256`), or None."""
    expected = getattr(params, "sha256", None)
    if expected is None:
        return None
    from genbench.metrics.backbones import sha256_of  # numpy and PIL: only when a hash is pinned

    path = Path(weights).expanduser() if weights else hub_weights()
    found = sha256_of(path)
    if found == expected:
        return None
    return (
        f"the inception weights file {path} ({path.stat().st_size} bytes) has sha256 {found}, not "
        f"{expected} (key `sha256`); torch-fidelity publishes them at {_inception_url()}"
    )


def _inception_url() -> str:
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3  # ~1 s: only here

    return URL_INCEPTION_V3


def params_of(spec, key: str) -> FeatureParams:
    """The resolved feature parameters of a run's metric entry `key` (`fid`, `fid[inception]`)."""
    return METRICS.get(metric_name(key)).params(**spec.metric_params.get(key, {}))


def checker(metric: str) -> Callable[[object], str | None]:
    """`check(spec)` of a feature metric: why the space of one of its entries cannot be computed
    for the run (the MNIST classifier on other data; weights missing or with another sha256 than
    pinned), or None."""

    def check(spec) -> str | None:
        keys = [key for key, name in metric_entries(spec) if name == metric] or [metric]
        problems = (space_problem(spec.dataset, params_of(spec, key), spec.eval) for key in keys)
        return next((p for p in problems if p), None)

    return check


def spaces_of(spec, metrics) -> dict[str, str]:
    """The space of each entry of `metrics` the run computes, by entry key."""
    found = [key for key, name in metric_entries(spec) if name in metrics]
    return {key: space_of(spec.dataset, params_of(spec, key), spec.eval.feature_extractor) for key in found}


def repeated_spaces(spec) -> list[tuple[str, str, str]]:
    """(earlier key, key, space) of each pair of a run's entries of one feature metric that compute
    in the same space with the same weights, e.g. `auto` and `mnist_classifier` on MNIST: the same
    numbers in two columns."""
    seen: dict[tuple, str] = {}
    found = []
    for key, name in metric_entries(spec):
        params = params_of(spec, key)
        if not isinstance(params, FeatureParams):
            continue
        space = space_of(spec.dataset, params, spec.eval.feature_extractor)
        same = (name, space, params.sha256 or params.weights)
        if same in seen:
            found.append((seen[same], key, space))
        seen.setdefault(same, key)
    return found
