"""The numerics version and the code that made a number: what ties stored numbers to their code.

`NUMERICS_VERSION` enters every run id and every protocol id. A change to genbench that moves
any number of a fixed suite (a loss, an initialisation, the order of random draws, a metric's
formula) must bump it, and re-record the golden runs (tests/golden.json) in the same commit:
stored runs of an older numerics version are then never reused and never share a leaderboard
group with newer ones. Light to import: no torch, no pydantic.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

__version__ = "0.3.0"  # the package version; its minor version moves with NUMERICS_VERSION
# 1: the first recorded golden runs (genbench 0.2.0); 2: Frechet distance in float64 from the
# eigenvalues of sqrt(S1) S2 sqrt(S1), feature statistics accumulated in float64 (genbench 0.3.0)
NUMERICS_VERSION = 2


@functools.cache
def commit() -> str | None:
    """The git commit genbench runs from when installed from a checkout ('+dirty' when its package
    files differ from the commit), else None (an installed release: its version says it)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return None
    git = {"cwd": root, "capture_output": True, "text": True, "timeout": 10}
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], **git)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "genbench"], **git)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def code_label(protocol: dict) -> str:
    """'genbench 0.2.0, numerics 1, commit 0123abcd4567' from a stored run's protocol."""
    parts = [f"genbench {protocol.get('genbench', '?')}", f"numerics {protocol.get('numerics', 'none')}"]
    if protocol.get("commit"):
        parts.append(f"commit {protocol['commit']}")
    return ", ".join(parts)
