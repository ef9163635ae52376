"""Feature metrics in a named space: the `features`/`weights`/`sha256` parameters, the columns each
space's numbers go to, the checks a suite gets before anything trains, and FD, KID, CMMD, Vendi
and authenticity computed in a DINOv2 space equal to the same scores of features computed by
timm directly (random weights saved and pinned by sha256)."""

from __future__ import annotations

import hashlib

import pytest
import torch
from pydantic import ValidationError

from genbench.metrics import EvalContext, backbones, embedding_scores, fidelity
from genbench.metrics.feature_choice import FeatureParams, column
from genbench.metrics.settings import EvalSettings
from genbench.registry import DATASETS, METRICS, MODELS, PrepareError, load_builtins
from genbench.suite.config import load_suite
from genbench.suite.reader import SuiteError

SPACE = "dinov2_vits14"
load_builtins()  # cmmd, vendi and authenticity (genbench.metrics.embedding_metrics) among them


@pytest.fixture(scope="module")
def pinned(tmp_path_factory):
    """A random timm DINOv2 ViT-S/14 and its weights file with the file's sha256."""
    torch.manual_seed(0)
    net = backbones.build_dinov2(backbones.BACKBONES[SPACE], None).eval()
    path = tmp_path_factory.mktemp("weights") / "vits14.pth"
    torch.save(net.state_dict(), path)
    return net, str(path), hashlib.sha256(path.read_bytes()).hexdigest()


def test_columns_name_their_space_and_auto_keeps_todays_names():
    assert column("fid", "dinov2_vitl14") == "fd_dinov2_vitl14"
    assert column("kid", "clip_vitl14") == "kid_clip_vitl14"
    assert column("precision", "inception") == "precision_inception"
    assert [column(k, "auto") for k in ("fid", "kid", "recall", "isc")] == ["fid", "kid", "recall", "isc"]
    space = {"features": "dinov2_vitl14", "weights": "w", "sha256": "0" * 64, "batch_size": None}
    assert METRICS.get("fid").outputs_for(space) == {"fd_dinov2_vitl14": "min"}
    assert METRICS.get("precision_recall").outputs_for(space) == {
        "precision_dinov2_vitl14": "max",
        "recall_dinov2_vitl14": "max",
    }
    assert METRICS.get("density_coverage").outputs_for({"features": "auto"}) == {
        "density": "max",
        "coverage": "max",
    }
    assert METRICS.get("cmmd").outputs_for({"features": "clip_vitl14"}) == {"cmmd": "min"}  # its default
    assert METRICS.get("cmmd").outputs_for({"features": "dinov2_vitl14"}) == {"cmmd_dinov2_vitl14": "min"}
    assert METRICS.get("vendi").outputs_for({"features": "auto"}) == {"vendi": "max"}


def test_parameters_are_checked():
    with pytest.raises(ValidationError, match="needs its `sha256`"):
        FeatureParams(features=SPACE, weights="w.pth")
    with pytest.raises(ValidationError, match="apply to features inception"):
        FeatureParams(features="auto", weights="w.pth", sha256="0" * 64)
    with pytest.raises(ValidationError, match="literal_error|Input should be"):
        FeatureParams(features="dinov2_vitg14")
    with pytest.raises(ValidationError, match="class logits"):
        METRICS.get("isc").params(features=SPACE)
    with pytest.raises(ValidationError, match="not auto"):
        METRICS.get("cmmd").params(features="auto")
    assert FeatureParams(features=SPACE, sha256="AB" * 32).sha256 == "ab" * 32
    assert FeatureParams().batch() == 500 and FeatureParams(features=SPACE).batch() == 64


def _suite(weights: str, sha256: str) -> dict:
    entry = {"name": "fid", "features": SPACE, "weights": weights, "sha256": sha256}
    return {
        "name": "spaces",
        "seeds": [0],
        "budget": {"steps": 2},
        "datasets": [{"name": "digits"}],
        "models": [{"name": "vae", "decoder": "bernoulli"}],
        "metrics": ["elbo", entry, {**entry, "name": "kid"}],
    }


def test_a_suite_with_a_wrong_hash_or_a_missing_file_is_refused_before_anything_runs(tmp_path):
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"weights")
    with pytest.raises(SuiteError) as exc:
        load_suite(_suite("w.pth", "0" * 64), base=tmp_path)  # a relative path: from the suite's folder
    text = str(exc.value)
    assert "metric 'fid'" in text and str(weights) in text and "7 bytes" in text and "0" * 64 in text
    assert hashlib.sha256(b"weights").hexdigest() in text and "facebookresearch/dinov2" in text
    with pytest.raises(SuiteError, match="does not exist"):
        load_suite(_suite(str(tmp_path / "nope.pth"), "0" * 64))


def test_a_pinned_file_that_is_not_the_network_stops_preflight(tmp_path):
    weights = tmp_path / "w.pth"
    torch.save({"not": torch.zeros(1)}, weights)
    suite, specs, _ = load_suite(_suite(str(weights), hashlib.sha256(weights.read_bytes()).hexdigest()))
    assert specs[0].metric_params["fid"]["features"] == SPACE  # in the run id with its hash
    assert specs[0].metric_params["kid"]["sha256"] == specs[0].metric_params["fid"]["sha256"]
    with pytest.raises(PrepareError, match="does not fit timm vit_small_patch14_dinov2"):
        fidelity.prepare(specs, lambda spec: None)


def _timm_features(net, images: torch.Tensor) -> torch.Tensor:
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in backbones.IMAGENET)
    with torch.no_grad():
        return net.forward_features((backbones.resize_for(images) - mean) / std)[:, 0].double()


def test_scores_in_a_dinov2_space_are_those_of_timm_features(pinned):
    net, path, sha = pinned
    entry = DATASETS.get("digits")
    dataset = entry.build(entry.params(size=8))
    family = MODELS.get("vae")
    torch.manual_seed(0)
    model = family.build(family.hparams(decoder="bernoulli"), dataset, "cpu")
    ctx = EvalContext(model, 6, 0, final=True, settings=EvalSettings(samples=6, real_samples=6))
    out = {}
    for name, extra in (
        ("fid", {}),
        ("kid", {}),
        ("cmmd", {}),
        ("vendi", {}),
        ("authenticity", {"train_examples": 4}),
    ):
        ctx.params = METRICS.get(name).params(features=SPACE, weights=path, sha256=sha, **extra)
        out.update(METRICS.get(name).fn(model, dataset, ctx))
    fake, real = _timm_features(net, ctx.samples), _timm_features(net, dataset.test[:6])
    train = _timm_features(net, dataset.train_images[:4].float() / 255)
    assert out["fd_dinov2_vits14"] == pytest.approx(fidelity.fid_from_features(real, fake), rel=1e-4)
    assert out["cmmd_dinov2_vits14"] == pytest.approx(embedding_scores.cmmd(real, fake), rel=1e-3, abs=1e-6)
    assert out["vendi_dinov2_vits14"] == pytest.approx(embedding_scores.vendi_score(fake), rel=1e-4)
    assert out["authenticity_dinov2_vits14"] == embedding_scores.authenticity(train, fake)
    assert {"kid_dinov2_vits14", "kid_std_dinov2_vits14"} <= set(out)
    assert len([k for k in ctx.cache if k[0] == "generated"]) == 1  # one extraction for all five
    proto = ctx.protocols["fid"]
    assert proto["weights_hash"] == sha and proto["resize"] == "PIL bicubic 224" and proto["n_real"] == 6
    assert ctx.protocols["authenticity"]["n_train"] == 4
