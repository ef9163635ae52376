"""Protocol ids: which stored numbers are comparable (they share a leaderboard group)."""

from __future__ import annotations

import hashlib
import json

from genbench.suite.config import SPEC_VERSION

# Not genbench's version: a release that moves no number (the golden runs hold it to that) keeps
# every protocol id, so reference results stay comparable; NUMERICS_VERSION separates the rest.
PROTOCOL_KEYS = ("dataset", "dataset_params", "samples", "split", "eval_seed", "numerics")


def compared_part(protocol: dict, spec_version: int = SPEC_VERSION) -> dict:
    """The part of a stored protocol that decides comparability: what `protocol_id` hashes."""
    same = {k: protocol.get(k) for k in PROTOCOL_KEYS} | {"spec_version": spec_version}
    if (protocol.get("budget") or {}).get("stopped_early"):  # a run stopped by successive halving
        same["budget"] = protocol["budget"]
    return same


def protocol_id(protocol: dict, spec_version: int = SPEC_VERSION) -> str:
    """Short hash of what makes two numbers comparable (evaluation data, sample count, the numerics
    version, and the spec format of the run: numbers stored under an older one are never averaged
    with these)."""
    text = json.dumps(compared_part(protocol, spec_version), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def protocol_records(protocols: list[tuple[dict, int]]) -> dict[str, dict]:
    """`protocol-<id>` -> the compared part, for each distinct (protocol, spec version) of a suite:
    what `protocols.json` beside a leaderboard holds, so that an id can be traced to its fields."""
    return {f"protocol-{protocol_id(p, v)}": compared_part(p, v) for p, v in protocols}
