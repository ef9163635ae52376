"""The DINOv2 and CLIP backbones with random weights saved to a file and pinned by sha256: the same
features as timm's and open_clip's own forward given the same weights, the stated resize against
torch's anti-aliased bicubic, DINOv2's own position-embedding resampling, and the messages of a
missing, altered or misfitting weights file; inception through torch-fidelity's own graph."""

from __future__ import annotations

import hashlib
import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from genbench.metrics import backbones, extractors
from genbench.metrics.backbones import BACKBONES, WeightsError


def _pinned(path, state: dict) -> tuple[str, str]:
    torch.save(state, path)
    return str(path), hashlib.sha256(path.read_bytes()).hexdigest()


def _normalised(images: torch.Tensor, mean_std) -> torch.Tensor:
    """Images resized (`resize_for`, tested on its own) and normalised by the published mean and std."""
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in mean_std)
    return (backbones.resize_for(images) - mean) / std


@pytest.fixture(scope="module")
def dinov2(tmp_path_factory):
    """A random timm ViT-S/14 DINOv2 at 224 and its weights file, pinned."""
    torch.manual_seed(0)
    net = backbones.build_dinov2(BACKBONES["dinov2_vits14"], None).eval()
    path, sha = _pinned(tmp_path_factory.mktemp("dinov2") / "vits14.pth", net.state_dict())
    return net, path, sha


def test_resize_is_pil_bicubic_to_224_with_grey_repeated_and_uint8_equal_to_floats():
    gen = torch.Generator().manual_seed(0)
    grey = torch.randint(0, 256, (2, 1, 28, 28), generator=gen, dtype=torch.uint8)
    out = backbones.resize_for(grey)
    assert out.shape == (2, 3, 224, 224) and out.dtype == torch.float32
    assert torch.equal(out[:, 0], out[:, 2]) and 0 <= out.min() and out.max() <= 1
    assert torch.equal(backbones.resize_for(grey.float() / 255), out)  # floats are quantised first
    # torch's anti-aliased bicubic is PIL's filter (a = -0.5): the same up to float rounding
    ref = F.interpolate(grey.float(), size=(224, 224), mode="bicubic", antialias=True).clamp(0, 255) / 255
    assert (out[:, :1] - ref).abs().max() < 1e-5
    same = torch.rand(1, 3, 224, 224)
    assert torch.equal(backbones.resize_for(same), (same * 255).round() / 255)  # no resize at 224


def test_resize_is_anti_aliased_when_it_shrinks():
    """A one-pixel checkerboard at 448 shrunk to 224 is grey (0.5) where point sampling aliases."""
    checker = ((torch.arange(448)[:, None] + torch.arange(448)[None, :]) % 2).float().view(1, 1, 448, 448)
    out = backbones.resize_for(checker)[0, 0, 4:-4, 4:-4]  # away from the borders
    assert out.sub(0.5).abs().max() < 0.01


def test_dinov2_features_are_timm_cls_token_of_the_same_weights(dinov2):
    net, path, sha = dinov2
    fe, info = backbones.load("dinov2_vits14", path, sha)
    images = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    got = fe.features(images, "cpu", batch_size=2)
    with torch.no_grad():
        expected = net.forward_features(_normalised(images, backbones.IMAGENET))[:, 0]
    assert got.shape == (3, 384)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert info["weights_hash"] == sha and info["resize"] == "PIL bicubic 224" and info["input_size"] == 224
    assert info["extractor"] == "dinov2_vits14" and "CLS token" in info["feature_layer"]


def test_dinov2_official_layout_at_518_is_resampled_as_dinov2_does(dinov2, tmp_path):
    """facebookresearch's file layout (mask_token, a 37 x 37 grid for 518 px) loads, its position
    embeddings resampled by DINOv2's own rule (bicubic, scale factor (16 + 0.1) / 37)."""
    net, _, _ = dinov2
    state = dict(net.state_dict())
    state["pos_embed"] = torch.randn(1, 1 + 37 * 37, 384, generator=torch.Generator().manual_seed(2))
    state["mask_token"] = torch.zeros(1, 384)
    path, sha = _pinned(tmp_path / "dinov2_vits14_pretrain.pth", state)
    fe, _ = backbones.load("dinov2_vits14", path, sha)
    grid = state["pos_embed"][:, 1:].reshape(1, 37, 37, 384).permute(0, 3, 1, 2)
    scale = (16 + 0.1) / 37  # dinov2/models/vision_transformer.py, interpolate_pos_encoding
    patches = F.interpolate(grid, scale_factor=(scale, scale), mode="bicubic", antialias=False)
    expected = torch.cat([state["pos_embed"][:, :1], patches.permute(0, 2, 3, 1).reshape(1, 256, 384)], 1)
    torch.testing.assert_close(fe.net.pos_embed.data, expected)


def test_clip_features_are_open_clip_encode_image_of_the_same_weights(tmp_path):
    torch.manual_seed(0)
    model_visual = backbones.build_clip(BACKBONES["clip_vitb32"], None)
    assert type(model_visual.transformer.resblocks[0].mlp.gelu).__name__ == "QuickGELU"  # OpenAI's CLIP
    model_visual.half().float()  # weights exactly representable in the half-precision file
    visual = {f"visual.{k}": v.half() for k, v in model_visual.state_dict().items()}
    path, sha = _pinned(tmp_path / "clip.pt", visual)
    fe, info = backbones.load("clip_vitb32", path, sha)
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = model_visual.eval()(_normalised(images, backbones.OPENAI_CLIP))
    torch.testing.assert_close(fe.features(images, "cpu", 8), expected, atol=1e-5, rtol=1e-5)
    assert info["feature_layer"].startswith("image embedding") and info["weights_hash"] == sha


def test_a_torchscript_archive_is_read_as_its_state_dict(tmp_path):
    scripted = torch.jit.script(torch.nn.Linear(2, 3))
    scripted.save(str(tmp_path / "ViT-B-32.pt"))  # OpenAI's CLIP files are TorchScript archives
    state = backbones.read_state_dict(tmp_path / "ViT-B-32.pt")
    assert set(state) == {"weight", "bias"} and torch.equal(state["weight"], scripted.weight)


def test_a_missing_or_altered_weights_file_names_file_key_hash_and_where_to_get_it(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(WeightsError) as exc:
        backbones.weights_file("dinov2_vitl14", str(missing), "ab" * 32)
    text = str(exc.value)
    assert str(missing) in text and "`weights`" in text and "ab" * 32 in text
    assert "timm/vit_large_patch14_dinov2.lvd142m" in text and "facebookresearch/dinov2" in text
    other = tmp_path / "other.pt"
    other.write_bytes(b"not the weights")
    with pytest.raises(WeightsError) as exc:
        backbones.weights_file("clip_vitl14", str(other), "cd" * 32)
    found = hashlib.sha256(b"not the weights").hexdigest()
    text = str(exc.value)
    assert str(other) in text and "15 bytes" in text and found in text and "cd" * 32 in text
    assert "`sha256`" in text and "'openai'" in text and "ViT-L/14" in text


def test_without_weights_nothing_is_downloaded_and_the_message_says_where_they_are(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(WeightsError, match="nothing is downloaded") as exc:
        backbones.weights_file("dinov2_vitb14", None, None)
    assert "dinov2_vitb14_pretrain.pth" in str(exc.value)
    cached = tmp_path / "torch" / "hub" / "checkpoints" / "dinov2_vitb14_pretrain.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"w")
    assert backbones.weights_file("dinov2_vitb14", None, None) == (cached, hashlib.sha256(b"w").hexdigest())


def test_weights_of_another_network_do_not_fit(dinov2):
    _, path, sha = dinov2
    with pytest.raises(WeightsError, match="does not fit timm vit_base_patch14_dinov2") as exc:
        backbones.load("dinov2_vitb14", path, sha)
    assert path in str(exc.value) and sha in str(exc.value)


def _random_inception(tmp_path):
    """torch-fidelity's Inception graph with its default (random) initialisation, and its weights
    saved and pinned."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class Unloaded(FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):  # keep the random init
            return None

    empty = tmp_path / "empty.pth"
    torch.save({}, empty)
    torch.manual_seed(0)
    net = Unloaded(
        "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=str(empty)
    )
    return net, *_pinned(tmp_path / "inception.pth", net.state_dict())


def test_inception_features_are_torch_fidelity_graph_of_the_same_weights(tmp_path):
    own, path, sha = _random_inception(tmp_path)
    digits = SimpleNamespace(name="digits", shape=(1, 8, 8))
    fe, info = extractors.get("inception", digits, None, path, sha)
    images = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    feats, logits = extractors.extract(fe, images, "cpu")
    expected = own(extractors.to_uint8_rgb(images))
    assert torch.equal(feats, expected[0]) and torch.equal(logits, expected[1])
    assert info["weights_hash"] == sha and feats.shape == (1, 2048) and math.isfinite(feats.sum())
    with pytest.raises(WeightsError, match="has sha256"):
        extractors.get("inception", digits, None, path, "0" * 64)
