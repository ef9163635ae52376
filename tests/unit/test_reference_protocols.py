"""The committed reference results carry the protocol ids a run of the same suite gets today.

Each reference folder under results/reference/ holds its leaderboard.csv and protocols.json (the
fields each protocol id hashes). For every folder: each row's id is in protocols.json and is
today's `protocol_id` of its fields; and the fields that follow from the suite file alone (data
set, its parameters, samples, split, evaluation seeding, numerics version, spec format) equal
those that today's code builds from the committed suite file. Metrics that record a protocol of
their own (an extractor's weights, importance samples) add a digest to the split that only an
evaluation can give: the split is then compared up to that digest.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from genbench.numerics import NUMERICS_VERSION
from genbench.registry import DATASETS
from genbench.store.protocol import compared_part, protocol_id
from genbench.suite.config import SPEC_VERSION, load_suite
from genbench.worker.train import protocol

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "results" / "reference"


def reference_folders() -> list[str]:
    found = sorted(p.parent for p in REFERENCE.rglob("leaderboard.csv"))
    return [str(p.relative_to(REFERENCE)) for p in found]


def suite_file(folder: str) -> Path:
    """The suite a reference folder was made by: its own suite.yaml, else suites/<...>/<name>.yaml."""
    own = REFERENCE / folder / "suite.yaml"
    if own.exists():
        return own
    return ROOT / "suites" / (folder + ".yaml")


def static_part(fields: dict) -> dict:
    """The compared fields without the digest of metric protocols that joins the split."""
    return fields | {"split": fields["split"].split("; metric protocols ")[0]}


def test_every_reference_folder_has_a_suite_file():
    for folder in reference_folders():
        assert suite_file(folder).exists(), f"results/reference/{folder}: no suite file"


@pytest.mark.parametrize("folder", reference_folders())
def test_reference_protocol_ids_are_todays(folder):
    rows = pd.read_csv(REFERENCE / folder / "leaderboard.csv", dtype=str)
    records = json.loads((REFERENCE / folder / "protocols.json").read_text())
    for pid in rows["protocol"].dropna().unique():
        assert pid in records, f"{folder}: {pid} not in protocols.json"
        fields = {k: v for k, v in records[pid].items() if k != "spec_version"}
        assert f"protocol-{protocol_id(fields, records[pid]['spec_version'])}" == pid
    _, specs, _ = load_suite(suite_file(folder))
    today = {}
    for spec in specs:
        fields = compared_part(protocol(spec, DATASETS.get(spec.dataset)), SPEC_VERSION)
        today[json.dumps(static_part(fields), sort_keys=True)] = fields
    stored = {json.dumps(static_part(r), sort_keys=True) for r in records.values()}
    assert stored == set(today), f"{folder}: the committed protocols differ from today's suite file"
    for record in records.values():  # suites whose metrics record nothing: the whole id is today's
        built = today[json.dumps(static_part(record), sort_keys=True)]
        if "; metric protocols " not in record["split"]:
            assert built == record


def test_no_reference_folder_is_stale():
    """A folder is stale when it has no protocols.json or a protocol of another numerics version:
    a change that bumps NUMERICS_VERSION re-runs the reference suites in the same change."""
    stale = set()
    for folder in reference_folders():
        path = REFERENCE / folder / "protocols.json"
        if not path.exists():
            stale.add(folder)
            continue
        records = json.loads(path.read_text())
        if any(r.get("numerics") != NUMERICS_VERSION for r in records.values()):
            stale.add(folder)
    assert not stale, f"re-run these reference suites under today's numerics: {sorted(stale)}"
