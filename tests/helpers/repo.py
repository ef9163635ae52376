"""The repository's paths, the real CLI in a subprocess (e2e only), genbench's CSV files read
back with their ids as in run folders, and MNIST data roots."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import torch

from genbench.analysis.csvfiles import strip_id_prefixes

ROOT = Path(__file__).resolve().parents[2]  # the repository
SHARED = ROOT.parent / "shared" / "data"  # MNIST and Fashion-MNIST files beside the checkout
TOOLS = ROOT / "tools"
README = ROOT / "README.md"

# --- the real CLI in a subprocess (e2e only) --------------------------------------------------------

GENBENCH = [sys.executable, "-m", "genbench.driver.cli"]


def run_cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `genbench ARGS` in `cwd` and return the finished process (text output)."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [*GENBENCH, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def read_csv_ids(path) -> pd.DataFrame:
    """A CSV file genbench wrote, its ids as in run folders (CSV files prefix them: run-<id>)."""

    return strip_id_prefixes(pd.read_csv(path))


# --- data roots -------------------------------------------------------------------------------


def data_root_with(tmp_path: Path, name: str, folder: str) -> Path:
    """A data root holding links to the shared gzip files of `name`, as torchvision expects them."""
    raw = tmp_path / folder / "raw"
    raw.mkdir(parents=True)
    for f in (SHARED / name).glob("*.gz"):
        (raw / f.name).symlink_to(f)
    return tmp_path


def stand_in_classifier(mnist, cache: Path) -> None:
    """An MNIST classifier with seeded random weights where genbench caches MNIST's under `cache`
    (the feature metrics' code is the same; training the real one takes minutes)."""
    from genbench.metrics import classifier

    path = classifier.classifier_path(mnist, cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(1000)
    record = {"test_accuracy": 0.1, "train_seconds": 0.0, "data_hash": "stand-in", "recipe": {}}
    torch.save({"state_dict": classifier.MnistNet().eval().state_dict(), "record": record}, path)
