"""Checkpoint files: a run's whole training state, written atomically, read with weights_only=True.

A checkpoint holds only tensors, numbers, strings, lists and dicts (no pickled classes), so
`torch.load(weights_only=True)` reads it: the RNG states of Python and NumPy are converted to
lists and tensors on the way in and back on the way out.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import torch

from genbench.store.atomic import write_atomic

FORMAT = 2  # bump when the layout of a checkpoint changes; other versions are not resumed
FILENAME = "checkpoint.pt"


def rng_state() -> dict:
    """Every global generator's state: torch CPU (and CUDA if in use), NumPy, Python."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos, "gauss": [has_gauss, gauss]},
        "python": {"version": version, "internal": list(internal), "gauss": py_gauss},
    }


def set_rng_state(state: dict) -> None:
    """Restore what rng_state() returned."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, n["pos"], n["gauss"][0], n["gauss"][1]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))


def save(path: Path, state: dict) -> int:
    """Write `state` to `path` atomically (temporary file, fsync, rename); return its size in bytes."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buffer)
    data = buffer.getvalue()
    write_atomic(Path(path), data)
    return len(data)


def load(path: Path, run_id: str) -> dict | None:
    """The checkpoint at `path` if it exists and belongs to `run_id` in this format, else None.

    Temporary files left by a writer that was killed mid-write are removed.
    """
    path = Path(path)
    for stale in path.parent.glob(f".{path.name}.*"):
        stale.unlink(missing_ok=True)
    if not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)  # load_state_dict moves tensors
    if state.get("format") != FORMAT or state.get("run_id") != run_id:
        return None
    return state
