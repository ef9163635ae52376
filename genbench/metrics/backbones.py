"""Feature backbones beside torch-fidelity's: DINOv2 ViTs (timm) and OpenAI CLIP image towers
(open_clip), built without weights and loaded from a local file pinned by its sha256, or from the
libraries' own caches (never downloaded); one stated resize (PIL bicubic, as clean-fid
recommends: Parmar et al. 2022) to the backbone's input size, then the backbone's normalisation."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

# timm and open_clip cost seconds to import: imported where a backbone is built

SIZE = 224  # the input side of DINOv2 ViT/14 and CLIP at 224
RESIZE = f"PIL bicubic {SIZE}"
DINOV2_OFFSET = 0.1  # DINOv2's interpolate_offset: its position embeddings resampled as in its own code
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))  # timm's data config of the DINOv2 weights
OPENAI_CLIP = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
CLS = "CLS token after the final norm (timm forward_features[:, 0])"
CLIP_OUT = "image embedding (open_clip encode_image, not normalised)"


class WeightsError(Exception):
    """A backbone's weights file is missing, has another sha256 or does not fit; the message says
    which file, its size and hash, the key and where the official weights are published."""


@dataclass(frozen=True)
class Backbone:
    """A feature space computed by a pretrained network: its library, architecture, output and
    where its official weights are published (and kept in the library's own cache)."""

    name: str
    library: str  # "timm" or "open_clip"
    arch: str  # timm model name, or open_clip model name (OpenAI weights: QuickGELU)
    dim: int
    layer: str
    mean_std: tuple[tuple[float, ...], tuple[float, ...]]
    published: str
    cached: tuple[tuple[str, str], ...]  # (Hugging Face repo id, file) the library caches
    cache_files: tuple[str, ...] = ()  # file names under the library's own download folder


def _dinov2(size: str, letter: str, dim: int) -> Backbone:
    hub = f"timm/vit_{size}_patch14_dinov2.lvd142m"
    official = f"https://dl.fbaipublicfiles.com/dinov2/dinov2_vit{letter}14/dinov2_vit{letter}14_pretrain.pth"
    where = f"the Hugging Face hub id {hub} (model.safetensors), or {official} "
    where += "(github.com/facebookresearch/dinov2)"
    return Backbone(
        f"dinov2_vit{letter}14",
        "timm",
        f"vit_{size}_patch14_dinov2",
        dim,
        CLS,
        IMAGENET,
        where,
        ((hub, "model.safetensors"), (hub, "pytorch_model.bin")),
        (official.rsplit("/", 1)[-1],),
    )


def _clip(arch: str, timm_id: str, dim: int) -> Backbone:
    hub = f"timm/{timm_id}.openai"
    openai = arch[::-1].replace("-", "/", 1)[::-1]  # ViT-B/32
    where = (
        f"open_clip's pretrained tag 'openai' of {arch} (the Hugging Face hub id {hub}, "
        f"open_clip_pytorch_model.bin), or OpenAI's {openai}, {arch}.pt (github.com/openai/CLIP)"
    )
    files = ((hub, "open_clip_model.safetensors"), (hub, "open_clip_pytorch_model.bin"))
    name = f"clip_{arch.lower().replace('-', '')}"
    return Backbone(name, "open_clip", arch, dim, CLIP_OUT, OPENAI_CLIP, where, files, (f"{arch}.pt",))


BACKBONES = {
    b.name: b
    for b in (
        _dinov2("small", "s", 384),
        _dinov2("base", "b", 768),
        _dinov2("large", "l", 1024),
        _clip("ViT-B-32", "vit_base_patch32_clip_224", 512),
        _clip("ViT-L-14", "vit_large_patch14_clip_224", 768),
    )
}
_HASHES: dict[tuple, str] = {}  # (path, size, mtime) -> sha256, for the process


def sha256_of(path: Path) -> str:
    """sha256 of a file's bytes, read in blocks; remembered per (path, size, mtime)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(2**22), b""):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def cached_weights(backbone: Backbone) -> Path | None:
    """The backbone's weights in its library's own cache (Hugging Face hub, torch hub, open_clip's
    folder), without any network access; None when none is there."""
    from huggingface_hub import try_to_load_from_cache  # comes with timm; only when weights are looked for

    for repo, filename in backbone.cached:
        found = try_to_load_from_cache(repo, filename)
        if isinstance(found, str):
            return Path(found)
    folders = (Path(torch.hub.get_dir()) / "checkpoints", Path.home() / ".cache" / "clip")
    for name in backbone.cache_files:
        for folder in folders:
            if (folder / name).is_file():
                return folder / name
    return None


def weights_file(name: str, weights: str | None, sha256: str | None) -> tuple[Path, str]:
    """(file, sha256) of backbone `name`'s weights: `weights` (whose sha256 must be `sha256`), else
    the library's cache (checked against `sha256` when given); raises WeightsError."""
    backbone = BACKBONES[name]
    if importlib.util.find_spec(backbone.library) is None:
        extra = "dinov2" if backbone.library == "timm" else "clip"
        raise WeightsError(
            f"features {name} needs the package {backbone.library}: pip install 'genbench[{extra}]'"
        )
    hint = f"the official {name} weights are published as {backbone.published}"
    if weights is None:
        path = cached_weights(backbone)
        if path is None:
            raise WeightsError(
                f"features {name} needs its weights: give a local file as `weights` with its `sha256` "
                f"(nothing is downloaded, and none is in the library's cache); {hint}"
            )
    else:
        path = Path(weights).expanduser()
        if not path.is_file():
            expected = f"sha256 {sha256}" if sha256 else "its sha256"
            raise WeightsError(
                f"the {name} weights file {path} (key `weights`, expected {expected}) does not exist; {hint}"
            )
    found = sha256_of(path)
    if sha256 is not None and found != sha256.lower():
        raise WeightsError(
            f"the {name} weights file {path} ({path.stat().st_size} bytes) has sha256 {found}, not "
            f"{sha256.lower()} (key `sha256`): another file than the one pinned; {hint}"
        )
    return path, found


def resize_for(images: torch.Tensor, size: int = SIZE) -> torch.Tensor:
    """(N, C, H, W) images, uint8 or floats in [0, 1], as float32 (N, 3, size, size) in [0, 1]:
    quantised to 8 bits, each channel resized by PIL's bicubic filter (anti-aliased when it
    shrinks; clean-fid's resize, on float pixels) unless already `size` x `size`, clipped to
    [0, 255]; grey images repeated to three channels."""
    x = images.detach().cpu()
    x = x.float() if x.dtype == torch.uint8 else (x.float() * 255).round().clamp(0, 255)
    if x.shape[-2:] != (size, size):
        planes = x.reshape(-1, *x.shape[-2:]).numpy()
        resized = [np.asarray(Image.fromarray(p).resize((size, size), Image.BICUBIC)) for p in planes]
        x = torch.from_numpy(np.stack(resized)).reshape(*x.shape[:2], size, size).clamp(0, 255)
    x = x / 255
    return x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x


class BackboneExtractor(torch.nn.Module):
    """A backbone's features of images: `resize_for`, its normalisation, then the network (DINOv2:
    the CLS token after the final norm; CLIP: encode_image's embedding)."""

    def __init__(self, backbone: Backbone, net: torch.nn.Module) -> None:
        super().__init__()
        self.backbone, self.net = backbone, net.eval().requires_grad_(False)
        mean, std = backbone.mean_std
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def get_name(self) -> str:
        """The space's name (torch-fidelity's extractors answer the same call)."""
        return self.backbone.name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features of resized [0, 1] images (N, 3, SIZE, SIZE) on the network's device."""
        return self.net((x - self.mean) / self.std).float()

    @torch.no_grad()
    def features(self, images: torch.Tensor, device, batch_size: int) -> torch.Tensor:
        """Features of [0, 1] (or uint8) images, resized on the CPU and run on `device` in batches
        of `batch_size`, gathered on the CPU."""
        self.to(device)
        out = [self(resize_for(chunk, SIZE).to(device)).cpu() for chunk in images.split(batch_size)]
        return torch.cat(out) if out else torch.empty(0, self.backbone.dim)


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a weights file: safetensors, a torch state dict (weights_only), or a
    TorchScript archive (OpenAI's CLIP files); a `state_dict`/`model` level and `module.`
    prefixes taken off."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file  # comes with timm

        state = load_file(str(path))
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                state = torch.load(path, map_location="cpu", weights_only=True)
        except RuntimeError as exc:
            if "TorchScript" not in str(exc):
                raise
            state = torch.jit.load(str(path), map_location="cpu").state_dict()
    for level in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(level), dict):
            state = state[level]
    return {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def dinov2_pos_embed(pos_embed: torch.Tensor, grid: int) -> torch.Tensor:
    """DINOv2's position embeddings (1, 1 + M*M, D) resampled to a grid x grid patch grid as its
    own `interpolate_pos_encoding` does (bicubic, scale (grid + 0.1) / M, no anti-aliasing), so
    that features at 224 equal those of the official hub model at 224."""
    m = math.isqrt(pos_embed.shape[1] - 1)
    if m == grid:
        return pos_embed
    cls, patches = pos_embed[:, :1], pos_embed[:, 1:].float()
    scale = (grid + DINOV2_OFFSET) / m
    patches = torch.nn.functional.interpolate(
        patches.reshape(1, m, m, -1).permute(0, 3, 1, 2), scale_factor=(scale, scale), mode="bicubic"
    )
    return torch.cat([cls, patches.permute(0, 2, 3, 1).reshape(1, grid * grid, -1).to(cls.dtype)], 1)


def assign(module: torch.nn.Module, state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """`module`, built on the meta device (no random initialisation to pay for), given the tensors
    of `state` strictly, in float32 (OpenAI's files are half precision)."""
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    module.load_state_dict(state, strict=True, assign=True)
    left = [k for k, t in [*module.named_parameters(), *module.named_buffers()] if t.is_meta]
    if left:
        raise ValueError(f"tensors the file does not give: {', '.join(left[:5])}")
    return module


def build_dinov2(backbone: Backbone, state: dict[str, torch.Tensor] | None) -> torch.nn.Module:
    """timm's DINOv2 ViT at 224 without a head (its forward: the CLS token after the final norm),
    loaded strictly from `state` (timm's or facebookresearch's layout; None: random weights)."""
    import timm  # ~2 s: only when a DINOv2 space is used
    from timm.models.vision_transformer import checkpoint_filter_fn

    with torch.device("meta" if state is not None else "cpu"):
        net = timm.create_model(backbone.arch, pretrained=False, img_size=SIZE, num_classes=0)
    if state is None:
        return net
    state = dict(state)
    if "pos_embed" in state:
        state["pos_embed"] = dinov2_pos_embed(state["pos_embed"], net.patch_embed.grid_size[0])
    return assign(net, checkpoint_filter_fn(state, net))


def build_clip(backbone: Backbone, state: dict[str, torch.Tensor] | None) -> torch.nn.Module:
    """open_clip's image tower of `backbone.arch` with QuickGELU (OpenAI's weights), loaded strictly
    from the `visual.*` tensors of `state` (a whole CLIP or its image tower; None: random)."""
    import open_clip  # ~3 s: only when a CLIP space is used

    device = "meta" if state is not None else "cpu"
    level = logging.getLogger().level  # open_clip warns that no pretrained weights are loaded
    logging.getLogger().setLevel(logging.ERROR)
    try:
        with torch.device(device):
            model = open_clip.create_model(
                backbone.arch, pretrained=None, force_quick_gelu=True, device=device
            )
    finally:
        logging.getLogger().setLevel(level)
    if state is None:
        return model.visual
    return assign(
        model.visual, {k.removeprefix("visual."): v for k, v in state.items() if k.startswith("visual.")}
    )


def load(name: str, weights: str | None, sha256: str | None) -> tuple[BackboneExtractor, dict]:
    """The extractor of space `name` with its checked weights, and its protocol fields; raises
    WeightsError when the file is missing, has another hash or does not fit the network."""
    backbone = BACKBONES[name]
    path, digest = weights_file(name, weights, sha256)
    build = build_dinov2 if backbone.library == "timm" else build_clip
    try:
        net = build(backbone, read_state_dict(path))
    except (RuntimeError, ValueError, KeyError, OSError) as exc:
        first = str(exc).strip().splitlines()[0][:300]
        raise WeightsError(
            f"the {name} weights file {path} (sha256 {digest}) does not fit {backbone.library} "
            f"{backbone.arch}: {first}; the official weights are published as {backbone.published}"
        ) from None
    return BackboneExtractor(backbone, net), protocol_fields(backbone, digest)


def protocol_fields(backbone: Backbone, digest: str) -> dict:
    """What a number in this space depends on: network, weights hash, layer, input, resize."""
    library = backbone.library.replace("open_clip", "open_clip_torch")
    mean, std = backbone.mean_std
    return {
        "extractor": backbone.name,
        "network": f"{backbone.library} {backbone.arch}",
        "library": f"{library} {importlib.metadata.version(library)}",
        "weights_hash": digest,
        "feature_layer": f"{backbone.layer} ({backbone.dim})",
        "input_size": SIZE,
        "resize": RESIZE,
        "normalization": {"mean": list(mean), "std": list(std)},
    }
