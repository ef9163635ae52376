"""Protocol ids: which stored numbers are comparable (they share a leaderboard group)."""

from __future__ import annotations

import hashlib
import json

from genbench.suite.config import SPEC_VERSION

# Not genbench's version: a release that moves no number (the golden runs hold it to that) keeps
# every protocol id, so reference results stay comparable; NUMERICS_VERSION separates the rest.
PROTOCOL_KEYS = ("dataset", "dataset_params", "samples", "split", "eval_seed", "numerics")


def protocol_id(protocol: dict, spec_version: int = SPEC_VERSION) -> str:
    """Short hash of what makes two numbers comparable (evaluation data, sample count, the numerics
    version, and the spec format of the run: numbers stored under an older one are never averaged
    with these)."""
    same = {k: protocol.get(k) for k in PROTOCOL_KEYS} | {"spec_version": spec_version}
    if (protocol.get("budget") or {}).get("stopped_early"):  # a run stopped by successive halving
        same["budget"] = protocol["budget"]
    return hashlib.sha256(json.dumps(same, sort_keys=True).encode()).hexdigest()[:8]
