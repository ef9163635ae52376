"""Where genbench caches what it computed (trained classifiers, feature sets, decoded image
folders), and the file lock under which one process computes a cache entry while others wait."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

ENV_CACHE = "GENBENCH_CACHE"


def cache_dir() -> Path:
    """The cache's root: $GENBENCH_CACHE, else $XDG_CACHE_HOME (or ~/.cache)/genbench/cache."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "genbench" / "cache"


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path`'s `.lock` file (other processes computing it wait)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
