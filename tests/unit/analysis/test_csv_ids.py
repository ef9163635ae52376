"""Ids in the CSV files never read as numbers with pandas' defaults: `82e09392` is the float inf
and `123456789012` an int unless written with their kind's prefix (`protocol-82e09392`)."""

from __future__ import annotations

import pandas as pd
import pytest

from genbench.analysis.csvfiles import ID_PREFIXES, csv_bytes, strip_id_prefixes
from genbench.analysis.leaderboard import write_leaderboard
from genbench.store import runs as store
from tests.helpers import ROOT, build_store

COMMITTED = sorted((ROOT / "results" / "reference").rglob("*.csv"))
NUMERIC_LOOKING = ["82e09392", "123456789012", "1234e567", "00000001"]


def test_numeric_looking_ids_would_be_numbers_without_the_prefix(tmp_path):
    bare = tmp_path / "bare.csv"
    pd.DataFrame({"run_id": NUMERIC_LOOKING[1:2], "protocol": NUMERIC_LOOKING[:1]}).to_csv(bare, index=False)
    read = pd.read_csv(bare)
    assert read["protocol"][0] == float("inf") and read["run_id"][0] == 123456789012  # the problem


def test_prefixed_ids_read_back_as_strings_and_strip_to_the_ids(tmp_path):
    frame = pd.DataFrame({"run_id": NUMERIC_LOOKING, "protocol": NUMERIC_LOOKING[::-1], "seed": [0, 1, 2, 3]})
    frame.loc[3, "protocol"] = None  # a pending run has no protocol: an empty cell
    path = tmp_path / "ids.csv"
    path.write_bytes(csv_bytes(frame))
    read = pd.read_csv(path)
    assert list(read["run_id"]) == [f"run-{i}" for i in NUMERIC_LOOKING]
    assert list(read["protocol"][:3]) == [f"protocol-{i}" for i in NUMERIC_LOOKING[::-1][:3]]
    assert pd.isna(read["protocol"][3]) and list(read["seed"]) == [0, 1, 2, 3]
    back = strip_id_prefixes(read)
    assert list(back["run_id"]) == NUMERIC_LOOKING and list(back["protocol"][:3]) == NUMERIC_LOOKING[::-1][:3]


def test_leaderboard_csvs_name_run_folders_by_their_prefixed_ids(tmp_path):
    suite_path, specs = build_store(tmp_path, {"modes": "max", "mode_dist": "min"})
    table, summary, _ = write_leaderboard(suite_path)
    runs = pd.read_csv(suite_path / "leaderboard.csv")
    assert list(runs["run_id"]) == [f"run-{s.run_id}" for s in specs]
    for run_id in strip_id_prefixes(runs)["run_id"]:
        assert (store.run_dir(suite_path, run_id) / "result.json").is_file()
    aggregate = pd.read_csv(suite_path / "leaderboard_summary.csv")
    assert set(aggregate["protocol"]) == {f"protocol-{p}" for p in summary["protocol"]}
    assert list(table["run_id"]) == [s.run_id for s in specs]  # in memory (and in Markdown): the ids


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_committed_csv_reads_its_ids_as_strings(path):
    frame = pd.read_csv(path)  # pandas' defaults, as a reader would
    columns = [c for c in ID_PREFIXES if c in frame.columns]
    if path.name.startswith("leaderboard"):
        assert columns, f"{path.name} has no id column"
    for column in columns:
        values = frame[column].dropna()
        assert all(isinstance(v, str) and v.startswith(ID_PREFIXES[column]) for v in values), column
