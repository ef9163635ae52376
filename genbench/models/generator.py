"""The `generator` family: a generator trained elsewhere, evaluated as it is (no training). `path`
is a TorchScript file (`torch.jit.save`, loaded with `torch.jit.load`) or `file.py:function`, a
function that takes no argument and returns a `torch.nn.Module`; `weights` optionally names a
state-dict file loaded into it. The module maps standard normal noise (n, z_dim) to samples:
images (n, C, H, W) of the data set's shape with pixels in `output_range` ([-1, 1] for a tanh
output, [0, 1] for a sigmoid), or points (n, 2) on the 2-D toys. It samples in eval mode, in
batches of `sample_batch` on the run's device; the noise is drawn at once on the CPU from the
evaluation's generator, so the batch size and the device do not change which noise is used.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import warnings
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from torch import nn

from genbench.data.load_images import InputError, checked_sha256, resolve_path
from genbench.models.base import Batches, GenerativeModel
from genbench.registry import register_model

RANGES = {"-1..1": (-1.0, 1.0), "0..1": (0.0, 1.0)}
PATH_HELP = "a TorchScript file (torch.jit.save) or file.py:function returning a torch.nn.Module"


class GeneratorHParams(BaseModel):
    """genbench's own, output -1..1 as a tanh generator's; path is required (scored as given)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # inf and NaN are no parameters
    trains: ClassVar[bool] = False  # made elsewhere: not trained (not grouped by vectorize_seeds)

    path: str = Field("", validate_default=True, description=PATH_HELP + " (relative: to the suite file)")
    function: str = Field("", description="the function of a .py path (path: file.py:function sets it)")
    z_dim: int = Field(64, ge=1, description="size of the standard normal noise the module takes")
    weights: str = Field("", description="a state-dict file loaded into the module (optional)")
    output_range: Literal["-1..1", "0..1"] = Field(
        "-1..1", description="the module's pixel range: -1..1 (tanh) or 0..1 (sigmoid)"
    )
    sample_batch: int = Field(500, ge=1, description="noise vectors per forward pass")
    content_sha256: str = Field(
        "", validate_default=True, description="sha256 of the path's file; computed when the suite is read"
    )
    weights_sha256: str = Field(
        "", validate_default=True, description="sha256 of the weights file; computed when the suite is read"
    )

    @model_validator(mode="before")
    @classmethod
    def _split_function(cls, data: Any) -> Any:
        """`path: file.py:function` becomes path file.py and function `function`."""
        if isinstance(data, dict) and isinstance(data.get("path"), str) and ".py:" in data["path"]:
            file, _, function = data["path"].rpartition(":")
            if file.endswith(".py") and function.isidentifier() and not data.get("function"):
                data = {**data, "path": file, "function": function}
        return data

    @field_validator("path")
    @classmethod
    def _path(cls, value: str, info: ValidationInfo) -> str:
        path = resolve_path(value, info, f"path: {PATH_HELP}")
        if path and Path(path).is_dir():
            raise ValueError(f"{path} is a folder, not {PATH_HELP}")
        return path

    @field_validator("function")
    @classmethod
    def _function(cls, value: str, info: ValidationInfo) -> str:
        python = info.data.get("path", "").endswith(".py")
        if python and not value:
            raise ValueError("a .py path names its function: path: file.py:function")
        if value and not python and info.data.get("path"):
            raise ValueError("function names a function of a .py file; a TorchScript path has none")
        return value

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: str, info: ValidationInfo) -> str:
        return resolve_path(value, info, "weights: a state-dict file", required=False)

    @field_validator("content_sha256")
    @classmethod
    def _content(cls, value: str, info: ValidationInfo) -> str:
        return checked_sha256(value, info.data.get("path", ""), "path")

    @field_validator("weights_sha256")
    @classmethod
    def _weights_content(cls, value: str, info: ValidationInfo) -> str:
        return checked_sha256(value, info.data.get("weights", ""), "weights")

    def input_problem(self, dataset, n_samples: int) -> str | None:
        """Why this generator cannot be scored on `dataset` (it does not load, or its samples have
        another shape), or None: two samples are drawn on the CPU to see."""
        try:
            GeneratorModel(self, dataset).sample(2, torch.Generator().manual_seed(0))
        except InputError as exc:
            return str(exc)
        return None


def _import_file(path: Path) -> Any:
    """The module of a Python file, imported under a name of its own (its folder on sys.path
    while it is imported, so that it can import its neighbours)."""
    name = "genbench_generator_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InputError(f"{path}: not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # as an import would: dataclasses and pickling look modules up there
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise InputError(f"{path}: importing it raised {type(exc).__name__}: {exc}") from exc
    finally:
        sys.path.remove(str(path.parent))
    return module


def load_module(hp: GeneratorHParams) -> nn.Module:
    """The generator module of `hp` on the CPU, with its weights loaded if given."""
    where = f"{hp.path}:{hp.function}" if hp.function else hp.path
    if hp.function:
        make = getattr(_import_file(Path(hp.path)), hp.function, None)
        if not callable(make):
            raise InputError(f"{where}: the file has no function {hp.function!r}")
        try:
            net = make()
        except Exception as exc:
            raise InputError(f"{where}: the function raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(net, nn.Module):
            raise InputError(f"{where}: the function returned {type(net).__name__}, not a torch.nn.Module")
    else:
        try:
            with warnings.catch_warnings():  # torch 2.9+ marks TorchScript deprecated; it still loads
                warnings.filterwarnings("ignore", message=".*torch.jit.load.*", category=FutureWarning)
                net = torch.jit.load(hp.path, map_location="cpu")
        except (RuntimeError, ValueError) as exc:
            raise InputError(f"{where}: not a TorchScript file ({PATH_HELP}): {str(exc)[:200]}") from None
    if hp.weights:
        state = torch.load(hp.weights, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        try:
            net.load_state_dict(state)
        except (RuntimeError, TypeError) as exc:
            raise InputError(f"{hp.weights}: does not fit {where} ({str(exc)[:300]})") from None
    return net


class GeneratorModel(GenerativeModel):
    """A generator made elsewhere: noise in, samples out; nothing to train."""

    trains = False  # the training loop takes no step: the run is evaluated at step 0

    def __init__(self, hp: GeneratorHParams, dataset, device: str = "cpu") -> None:
        super().__init__()
        self.net = load_module(hp).to(device).eval()
        self.where = f"{hp.path}:{hp.function}" if hp.function else hp.path
        self.z_dim, self.sample_batch = hp.z_dim, hp.sample_batch
        self.pixel_range = RANGES[hp.output_range]
        self.shape = tuple(dataset.shape) if dataset.kind == "image" else (dataset.dim,)
        self.batch_size = 1
        self._device = torch.device(device)
        self.input_protocol = {
            "input": {
                "family": "generator",
                "format": "python function" if hp.function else "TorchScript",
                "output_range": hp.output_range,
                "content_sha256": hp.content_sha256,
                "weights_sha256": hp.weights_sha256 or None,
                "resize": "none",
            }
        }

    @property
    def device(self) -> torch.device:
        """The run's device, where the module samples."""
        return self._device

    def train(self, mode: bool = True) -> GeneratorModel:
        """Keep the module in eval mode whatever the trainer asks (batch norm, dropout)."""
        super().train(mode)
        self.net.eval()
        return self

    def train_step(self, next_batch: Batches, step: int) -> dict[str, float]:
        raise RuntimeError("a generator made elsewhere is evaluated as given; it takes no training step")

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n samples: noise from `generator` (drawn at once on the CPU), in batches through the module."""
        z = self.noise(n, self.z_dim, generator)
        try:
            out = torch.cat([self.net(chunk) for chunk in z.split(self.sample_batch)])
        except Exception as exc:
            raise InputError(
                f"{self.where}: the module raised on noise of shape (n, {self.z_dim}): {exc}"
            ) from exc
        if not isinstance(out, torch.Tensor) or tuple(out.shape[1:]) != self.shape:
            got = tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else type(out).__name__
            raise InputError(f"{self.where}: its samples are {got}, not the data set's {self.shape}")
        return out.float()


def build(hp: GeneratorHParams, dataset, device: str = "cpu") -> GeneratorModel:
    """The generator of `hp` for `dataset` on `device`."""
    return GeneratorModel(hp, dataset, device)


register_model(
    "generator",
    hparams=GeneratorHParams,
    build=build,
    doc="a generator trained elsewhere (TorchScript or file.py:function), evaluated as given: no training",
)
