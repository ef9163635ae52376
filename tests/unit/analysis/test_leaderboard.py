"""Leaderboards built from a hand-made results store with known numbers."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from genbench.analysis.leaderboard import runs_table, summary_table, write_leaderboard
from genbench.store import runs as store
from genbench.store.protocol import protocol_id
from genbench.store.result import RunResult
from tests.helpers import VARIANT_A as A
from tests.helpers import VARIANT_B as B
from tests.helpers import build_store, leaderboard_protocol, leaderboard_specs

MIN_FIRST = {"mode_dist": "min", "modes": "max"}
MAX_FIRST = {"modes": "max", "mode_dist": "min"}


def test_runs_table_has_one_row_per_manifest_run_with_hparams(tmp_path):
    suite_path, specs = build_store(tmp_path, MIN_FIRST)
    table, directions = runs_table(suite_path)
    assert directions == MIN_FIRST
    assert list(table["run_id"]) == [s.run_id for s in specs] and len(table) == 9
    assert list(table.columns[:11]) == [
        "run_id",
        "model",
        "variant",
        "label",  # the variant's name: model and variant where the suite gives no `label:`
        "dataset",
        "seed",
        "status",
        "steps",
        "seconds",
        "protocol",
        "code",
    ]
    assert list(table.columns[11:13]) == ["mode_dist", "modes"]  # manifest order
    hp = {f"hp.{k}" for s in specs for k in s.hparams}
    assert {c for c in table.columns if c.startswith("hp.")} == hp
    assert {"hp.lr", "hp.z_dim", "hp.latent_dim", "hp.decoder"} <= hp
    gan = table[table["model"] == "gan"]
    assert set(gan["hp.lr"]) == {1e-3, 1e-4} and (gan["hp.hidden"] == 128).all()
    assert table.loc[table["model"] == "vae", "hp.z_dim"].isna().all()
    assert (table["status"] == "ok").all() and (table["dataset"] == "ring8").all()
    row = table[(table["variant"] == B) & (table["seed"] == 2)].iloc[0]
    assert row["mode_dist"] == 0.5 and row["modes"] == 7


def test_summary_mean_and_sample_std(tmp_path):
    suite_path, _ = build_store(tmp_path, MIN_FIRST)
    table, directions = runs_table(suite_path)
    summary = summary_table(table, directions).set_index(["model", "variant"])
    assert len(summary) == 3 and (summary["seeds"] == 3).all() and (summary["ok"] == 3).all()
    expected = {  # mean, std with ddof=1 (by hand from VALUES)
        ("gan", A): (2.0, 1.0, 7.0, 1.0),
        ("gan", B): (0.5, 0.1, 6.0, 1.0),
        ("vae", ""): (5.0, 1.0, 3.0, 1.0),
    }
    for key, (dist_mean, dist_std, modes_mean, modes_std) in expected.items():
        row = summary.loc[key]
        assert row["mode_dist_mean"] == pytest.approx(dist_mean)
        assert row["mode_dist_std"] == pytest.approx(dist_std)  # ddof=0 would give 0.0816...
        assert row["modes_mean"] == pytest.approx(modes_mean)
        assert row["modes_std"] == pytest.approx(modes_std)


@pytest.mark.parametrize(
    ("directions", "order"),
    [
        (MIN_FIRST, [B, A, ""]),  # mode_dist, lower is better: 0.5, 2.0, 5.0
        (MAX_FIRST, [A, B, ""]),  # modes, higher is better: 7, 6, 3
    ],
    ids=["min-primary", "max-primary"],
)
def test_summary_is_sorted_by_primary_metric_and_direction(tmp_path, directions, order):
    suite_path, _ = build_store(tmp_path, directions)
    table, directions_read = runs_table(suite_path)
    summary = summary_table(table, directions_read)
    assert list(summary["variant"]) == order


def test_different_protocols_are_not_averaged(tmp_path):
    samples = {("gan", A, 2): 5000}  # one run evaluated on more samples
    suite_path, specs = build_store(tmp_path, MIN_FIRST, samples=samples)
    table, directions = runs_table(suite_path)
    assert table["protocol"].nunique() == 2
    spec = next(s for s in specs if (s.model, s.variant, s.seed) == ("gan", A, 2))
    assert table.set_index("run_id").loc[spec.run_id, "protocol"] == protocol_id(
        leaderboard_protocol(spec, 5000)
    )
    summary = summary_table(table, directions)
    rows_a = summary[summary["variant"] == A].set_index("seeds")
    assert len(summary) == 4 and sorted(rows_a.index) == [1, 2]
    assert rows_a.loc[2, "mode_dist_mean"] == pytest.approx(2.0)  # seeds 0, 1: (1 + 3) / 2
    assert rows_a.loc[2, "mode_dist_std"] == pytest.approx(math.sqrt(2))
    assert rows_a.loc[1, "mode_dist_mean"] == pytest.approx(2.0)  # seed 2 alone
    assert math.isnan(rows_a.loc[1, "mode_dist_std"])


def test_protocol_id_ignores_versions_but_not_evaluation_data(tmp_path):
    spec = leaderboard_specs(tmp_path)[0]
    base = leaderboard_protocol(spec)
    assert protocol_id(base) == protocol_id({**base, "torch": "other", "seed": 99})
    assert protocol_id(base) != protocol_id({**base, "samples": 101})
    assert protocol_id(base) != protocol_id({**base, "dataset_params": {**spec.dataset_params, "std": 0.5}})


def test_write_leaderboard_files(tmp_path):
    suite_path, specs = build_store(tmp_path, MIN_FIRST)
    table, summary, text = write_leaderboard(suite_path)
    assert sorted(p.name for p in suite_path.iterdir() if p.is_file()) == [
        "leaderboard.csv",
        "leaderboard.md",
        "leaderboard_summary.csv",
        "protocols.json",
        "suite.json",
    ]
    assert (suite_path / "leaderboard.md").read_text() == text
    records = json.loads((suite_path / "protocols.json").read_text())
    assert set(records) == set(pd.read_csv(suite_path / "leaderboard.csv")["protocol"].dropna())
    for pid, fields in records.items():  # each id is the hash of the fields stored with it
        assert f"protocol-{protocol_id(fields, fields['spec_version'])}" == pid
    runs_csv = pd.read_csv(suite_path / "leaderboard.csv")
    assert len(runs_csv) == 9 and list(runs_csv["run_id"]) == [f"run-{s.run_id}" for s in specs]
    summary_csv = pd.read_csv(suite_path / "leaderboard_summary.csv")
    assert list(summary_csv["mode_dist_mean"]) == pytest.approx([0.5, 2.0, 5.0])
    assert "## Summary" in text and "## Runs" in text and "sorted by data set, then rank on mode_dist" in text
    assert "0.5 ± 0.1" in text  # gan lr=0.0001
    assert "2 ± 1" in text and "5 ± 1" in text and "7 ± 1" in text
    assert "mode_dist ↓" in text and "modes ↑" in text


def test_pending_and_failed_runs_are_listed(tmp_path):
    skip = {("gan", A, 1), ("vae", "", 0)}
    suite_path, specs = build_store(tmp_path, MIN_FIRST, skip=skip)
    failed = next(s for s in specs if (s.model, s.variant, s.seed) == ("gan", B, 0))
    store.write_run(
        suite_path,
        failed,
        RunResult.failed("ValueError: boom"),
    )
    table, summary, text = write_leaderboard(suite_path)
    assert len(table) == 9
    by_key = table.set_index(["variant", "seed"])
    assert by_key.loc[(A, 1), "status"] == "pending" and by_key.loc[("", 0), "status"] == "pending"
    assert math.isnan(by_key.loc[(A, 1), "mode_dist"])
    assert by_key.loc[(B, 0), "status"] == "failed" and by_key.loc[(B, 0), "error"] == "ValueError: boom"
    assert sorted(table["status"]) == ["failed"] + ["ok"] * 6 + ["pending"] * 2
    assert "pending" in text and "ValueError: boom" in text
    # every run is in the summary exactly once; the finished ones keep their hand-computed numbers
    assert summary["seeds"].sum() == 9 and summary["ok"].sum() == 6
    ok_a = summary[(summary["variant"] == A) & (summary["ok"] == 2)].iloc[0]
    assert ok_a["mode_dist_mean"] == pytest.approx(1.5)  # seeds 0 and 2: (1 + 2) / 2
    ok_b = summary[(summary["variant"] == B) & (summary["ok"] == 2)].iloc[0]
    assert ok_b["mode_dist_mean"] == pytest.approx(0.55) and ok_b["seeds"] == 2


def test_runs_of_an_older_spec_format_are_grouped_apart_and_flagged(tmp_path):
    suite_path, specs = build_store(tmp_path, MIN_FIRST)
    assert "spec_version" not in runs_table(suite_path)[0]  # all current: no extra column
    old = next(s for s in specs if (s.model, s.variant, s.seed) == ("gan", A, 0))
    path = store.run_dir(suite_path, old.run_id) / "result.json"
    store.write_json(path, {k: v for k, v in store.read_json(path).items() if k != "spec_version"})
    table, summary, text = write_leaderboard(suite_path)
    by_run = table.set_index("run_id")
    assert by_run.loc[old.run_id, "spec_version"] == 1 and set(by_run["spec_version"]) == {1, 2}
    same_variant = by_run[(by_run["model"] == "gan") & (by_run["variant"] == A)]
    assert same_variant["protocol"].nunique() == 2  # never averaged with the current seeds
    assert len(summary[(summary["model"] == "gan") & (summary["variant"] == A)]) == 2
    assert text.startswith("Note: 1 runs were stored under an older spec format")
