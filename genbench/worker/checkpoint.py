"""Checkpoint files: a run's whole training state, written atomically, read with weights_only=True.

A checkpoint holds only tensors, numbers, strings, lists and dicts (no pickled classes), so
`torch.load(weights_only=True)` reads it: the RNG states of Python and NumPy are converted to
lists and tensors on the way in and back on the way out.

A checkpoint that cannot be resumed (torn, emptied, random bytes, another run's, another format)
is moved aside to `checkpoint.pt.corrupt-<UTC time>` and the run starts from step 0 with a note.
A save writes a temporary file named after its writer (`.checkpoint.pt.<host>.<pid>.<random>`)
and renames it; only that writer removes it, or a later load once it is older than
STALE_TEMP_S and its writer (on this host) is no longer alive, so a load never deletes another
process's save in progress.
"""

from __future__ import annotations

import io
import os
import random
import socket
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

FORMAT = 2  # bump when the layout of a checkpoint changes; other versions are not resumed
FILENAME = "checkpoint.pt"
STALE_TEMP_S = 3600.0  # a temporary file this old whose writer is gone is a killed save's leftover


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
    _write_owned(Path(path), data)
    return len(data)


def _write_owned(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file named after this host and process, and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.{socket.gethostname()}.{os.getpid()}."
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would ignore the umask
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)  # this process's own temporary file
        raise


def _umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


class Unreadable(ValueError):
    """A checkpoint file that cannot be resumed from; the message names the file and says why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: checkpoint unreadable: {reason}")
        self.path, self.reason = path, reason


def load(path: Path, run_id: str) -> dict | None:
    """The checkpoint at `path` (None if there is none); raises Unreadable when the file is torn,
    not a checkpoint, of another format or of another run. Removes stale temporary files."""
    path = Path(path)
    remove_stale_temps(path)
    if not path.exists():
        return None
    data = path.read_bytes()  # an OSError here is the disk's or the permissions': nothing to move aside
    buffer = io.BytesIO(data)
    try:  # load_state_dict moves the tensors to the run's device
        state = torch.load(buffer, map_location="cpu", weights_only=True)
    except Exception as exc:  # torn, empty, random bytes: zip, pickle, EOF errors (torch's OSError too)
        what = f"not a whole checkpoint file ({len(data)} bytes: truncated, emptied or overwritten?)"
        raise Unreadable(path, f"{what}: {_short(exc)}") from None
    if not isinstance(state, dict):
        raise Unreadable(path, f"holds a {type(state).__name__}, not a checkpoint")
    if state.get("format") != FORMAT:
        raise Unreadable(path, f"checkpoint format {state.get('format')!r}; this genbench reads {FORMAT}")
    if state.get("run_id") != run_id:
        raise Unreadable(path, f"belongs to run {state.get('run_id')!r}, not {run_id}")
    return state


def load_or_set_aside(path: Path, run_id: str) -> tuple[dict | None, str | None]:
    """The checkpoint at `path` (None if there is none) and None; or, if it is unreadable, None
    and a note saying why and where it was moved (the run then starts from step 0)."""
    try:
        return load(path, run_id), None
    except Unreadable as exc:
        return None, set_aside(Path(path), exc.reason)


def set_aside(path: Path, reason: str) -> str:
    """Move the checkpoint at `path` to `<name>.corrupt-<UTC time>`; return the note of a restart."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():  # two in one second: keep both
        target, n = path.with_name(f"{path.name}.corrupt-{stamp}-{n}"), n + 1
    try:
        os.rename(path, target)
        where = f"moved to {target}"
    except FileNotFoundError:
        where = "already moved by another process"
    return f"checkpoint unreadable: {reason}; {where}; the run started again from step 0"


def remove_stale_temps(path: Path) -> list[Path]:
    """Remove the temporary files of killed saves of `path`: older than STALE_TEMP_S and written
    by a process no longer alive on this host (or on another host, or by an unknown writer: by
    age alone). A save in progress is never touched. Returns the removed files."""
    removed = []
    for temp in Path(path).parent.glob(f".{Path(path).name}.*"):
        try:
            age = time.time() - temp.stat().st_mtime
        except FileNotFoundError:  # its writer just renamed or removed it
            continue
        if age >= STALE_TEMP_S and not _writer_alive(temp, Path(path).name):
            temp.unlink(missing_ok=True)
            removed.append(temp)
    return removed


def _writer_alive(temp: Path, name: str) -> bool:
    """Whether the process that named `temp` (`.<name>.<host>.<pid>.<random>`) is alive on this host."""
    parts = temp.name.removeprefix(f".{name}.").rsplit(".", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False  # another host's, or an older genbench's: judged by age alone
    try:
        os.kill(int(parts[1]), 0)
    except PermissionError:
        return True  # alive, under another user
    except (ProcessLookupError, OverflowError):  # gone, or a number no pid can be
        return False
    return True


def _short(exc: Exception) -> str:
    """One line of at most 200 characters naming an exception."""
    text = " ".join(str(exc).split()) or "no message"
    return f"{type(exc).__name__}: {text[:200]}"
