"""Which feature extractor a run's feature metrics use, and whether inception can run here; light
to import (torch-fidelity is imported only where the inception weights are looked for), so that
validating a suite and starting a worker do not pay for torch-fidelity and torchvision."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import torch

from genbench.metrics import classifier

ENV_OFFLINE = "GENBENCH_OFFLINE"


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
