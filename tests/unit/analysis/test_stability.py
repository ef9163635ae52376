"""Stability indicators and the target (time to it, its values at step 0, its refusal) on
hand-made trajectories and stores with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genbench.analysis import stability as stab
from genbench.analysis.leaderboard import runs_table
from genbench.analysis.report import write_report
from genbench.store import runs as store
from genbench.store.result import RunResult, Status
from tests.helpers import leaderboard_protocol, leaderboard_specs

MODES = {"modes": "max", "hq_frac": "max", "kl_modes": "min"}


def rows(values, metric="modes", every=100, seconds_per_step=0.01, hq=None):
    """Evaluations every `every` steps with `values` of `metric` (and `hq` as hq_frac)."""
    out = [
        {"step": i * every, "train_seconds": i * every * seconds_per_step, metric: v}
        for i, v in enumerate(values)
    ]
    return [{**r, "hq_frac": h} for r, h in zip(out, hq, strict=True)] if hq is not None else out


def test_collapse_is_fewer_than_half_of_the_modes_at_the_end():
    assert stab.is_collapsed(3, 8) == 1.0
    assert stab.is_collapsed(4, 8) == 0.0  # exactly half is not collapse
    assert stab.is_collapsed(12, 25) == 1.0 and stab.is_collapsed(13, 25) == 0.0
    assert math.isnan(stab.is_collapsed(3, float("nan")))


def test_oscillation_best_gap_and_time_to_target_on_hand_trajectories():
    assert stab.oscillation([1, 2, 3, 4, 5, 6, 8, 4]) == pytest.approx(2.0)  # last 2 of 8: 8, 4
    assert stab.oscillation([0] * 9 + [3, 6, 9]) == pytest.approx(np.std([3, 6, 9]))  # last 3 of 12
    assert math.isnan(stab.oscillation([5]))
    assert stab.best_gap([1, 5, 3], "max") == 2 and stab.best_gap([3, 1, 2], "min") == 1
    assert stab.time_to_target(rows([1, 2, 4, 8, 3]), {"modes": ("max", 4)}) == (200.0, 2.0)
    assert stab.time_to_target(rows([9, 5, 2], "fid"), {"fid": ("min", 5)}) == (100.0, 1.0)
    assert all(math.isnan(v) for v in stab.time_to_target(rows([1, 2]), {"modes": ("max", 4)}))
    assert all(math.isnan(v) for v in stab.time_to_target(rows([1, 2]), {}))  # no target, never


def test_run_indicators_classify_collapsed_settled_and_diverged_runs():
    hq = [0.6] * 8
    collapsed = stab.run_indicators("ok", rows([0, 2, 5, 3, 2, 1, 1, 1], hq=hq), "modes", "max", n_modes=8)
    assert collapsed["collapsed"] == 1.0 and collapsed["diverged"] == 0.0
    assert collapsed["best_gap"] == 4 and collapsed["oscillation"] == 0.0
    assert collapsed["target"] == 4 and collapsed["steps_to_target"] == 200
    settled = stab.run_indicators("ok", rows([1, 3, 6, 8, 8, 8, 8, 8]), "modes", "max", n_modes=8)
    assert settled["collapsed"] == 0.0 and settled["best_gap"] == 0 and settled["final"] == 8
    custom = stab.run_indicators("ok", rows([1, 3, 6, 8]), "modes", "max", n_modes=8, target=7)
    assert custom["steps_to_target"] == 300 and custom["target_rule"] == "modes ≥ 7"  # a number: modes only
    diverged = stab.run_indicators("diverged", rows([1, 2]), "modes", "max", n_modes=8)
    assert diverged["diverged"] == 1.0 and math.isnan(diverged["collapsed"]) and math.isnan(diverged["final"])


def test_the_toys_default_target_is_not_reached_at_step_0_by_stray_samples():
    """The ring8 VAE's first evaluation: 5 of 8 modes touched by 0.4 % of its samples (measured
    for seed 0): half of the modes, but not half of the samples of high quality."""
    run = rows([5, 5, 6, 8], hq=[0.0036, 0.2, 0.6, 0.7])
    ind = stab.run_indicators("ok", run, "modes", "max", n_modes=8)
    assert ind["target_rule"] == "modes ≥ 4 and hq_frac ≥ 0.5"
    assert ind["steps_to_target"] == 200 and ind["seconds_to_target"] == 2.0  # not 0
    assert ind["start_step"] == 0 and ind["start_met"] == 0.0
    assert ind["start.modes"] == 5 and ind["start.hq_frac"] == 0.0036
    modes_only = stab.run_indicators("ok", run, "modes", "max", n_modes=8, target={"modes": "50%"})
    assert modes_only["steps_to_target"] == 0 and modes_only["start_met"] == 1.0  # what the old default said


def test_a_compound_target_is_reached_where_every_condition_holds_at_one_evaluation():
    # modes reach 4 at step 200 and hq_frac 0.5 at step 0, but both hold together only at step 300
    run = rows([1, 2, 4, 4, 6], hq=[0.8, 0.9, 0.3, 0.55, 0.2])
    assert stab.run_indicators("ok", run, "modes", "max", n_modes=8)["steps_to_target"] == 300
    # a suite's mapping: a share of the run's modes, and an output where lower is better
    kl = [{**r, "kl_modes": k} for r, k in zip(rows([4, 3, 5, 5]), [2.0, 0.4, 0.6, 0.3], strict=True)]
    target = {"modes": "50%", "kl_modes": 0.5}
    ind = stab.run_indicators("ok", kl, "modes", "max", 8, target, directions=MODES)
    assert ind["target_rule"] == "modes ≥ 4 and kl_modes ≤ 0.5" and ind["steps_to_target"] == 300
    grid = stab.run_indicators("ok", kl, "modes", "max", 25, target, directions=MODES)
    assert grid["target"] == 12.5 and math.isnan(grid["steps_to_target"])  # 50% of 25 modes
    unknown = stab.run_indicators("ok", kl, "modes", "max", math.nan, target, directions=MODES)
    assert math.isnan(unknown["steps_to_target"])  # a share of no known modes is never met


def test_collapse_follows_the_dataset_rule_whatever_the_primary_metric():
    rule = {"output": "classes", "below": 5.0}
    traj = [{"step": 0, "fid": 90.0, "classes": 8}, {"step": 100, "fid": 40.0, "classes": 4}]
    collapsed = stab.run_indicators("ok", traj, "fid", "min", 10, collapse=rule)
    assert collapsed["collapsed"] == 1.0 and math.isnan(collapsed["target"])
    assert collapsed["target_rule"] == "" and math.isnan(collapsed["start_met"])  # no default for fid
    kept = stab.run_indicators("ok", [{**traj[1], "classes": 5}], "fid", "min", 10, collapse=rule)
    assert kept["collapsed"] == 0.0
    on_classes = stab.run_indicators("ok", traj, "classes", "max", 10, collapse=rule)
    assert on_classes["target"] == 5.0 and on_classes["target_rule"] == "classes ≥ 5"  # no hq_frac on MNIST


def test_n_modes_from_the_dataset_entry_or_stored_counts():
    info = {"kind": "image", "n_modes": 10, "collapse": {"output": "classes", "below": 5.0}}
    assert stab.n_modes_of({"dataset_info": info}, None, []) == 10
    assert stab.collapse_rule({"dataset_info": info}, None, []) == {
        "n_modes": 10.0,
        "collapse": info["collapse"],
    }
    assert (
        stab.n_modes_of({}, RunResult.ok(extras={"mode_counts": [1] * 8}), []) == 8
    )  # stored before entries
    assert stab.n_modes_of({}, None, [{"mode_counts": [0] * 25}]) == 25  # a diverged run's trajectory
    assert math.isnan(stab.n_modes_of({"dataset_params": {"n_modes": 6}}, None, []))  # no knowledge of params
    assert stab.collapse_rule({}, None, [])["collapse"] is None


def store_plans(tmp_path, plan_of, first_step: int = 0):
    """The leaderboard test suite (two GAN variants and a VAE on ring8, seeds 0-2) stored with,
    per run, `plan_of(spec)`: a status and trajectories of modes and hq_frac, evaluated every 100
    steps from `first_step`."""
    specs = leaderboard_specs(tmp_path)
    suite_path = store.suite_dir(tmp_path / "results", "lb")
    store.write_manifest(suite_path, specs, "lb.yaml", {"modes": "max", "hq_frac": "max"})
    for spec in specs:
        status, values, hq = plan_of(spec)
        traj = [
            {**r, "step": r["step"] + first_step, "mode_counts": [1] * v + [0] * (8 - v)}
            for r, v in zip(rows(values, hq=hq), values, strict=True)
        ]
        result = RunResult(
            Status(status),
            steps=300,
            train_seconds=3.0,
            metrics={"modes": values[-1], "hq_frac": hq[-1]} if status == "ok" else {},
            protocol=leaderboard_protocol(spec),
            trajectory=traj,
        )
        store.write_run(suite_path, spec, result)
    return suite_path


def stability_of(suite_path):
    """The stability table of a stored suite under the default target."""
    table, _ = runs_table(suite_path)
    traj, modes = stab.load_trajectories(suite_path)
    return stab.stability_table(stab.indicators_table(table, traj, modes, "modes", "max"))


def test_stability_table_from_a_hand_made_store(tmp_path):
    """Three seeds per variant of the leaderboard test suite with made-up trajectories."""
    plans = {
        0: ("ok", [0, 4, 8, 8], [0.1, 0.6, 0.7, 0.7]),  # settled, reaches the target at step 100
        1: ("ok", [0, 2, 5, 2], [0.1, 0.6, 0.6, 0.6]),  # collapsed at the end (2 < 4), best gap 3
        2: ("diverged", [0, 1], [0.1, 0.2]),
    }
    suite_path = store_plans(tmp_path, lambda spec: plans[spec.seed])
    table, _ = runs_table(suite_path)
    traj, modes = stab.load_trajectories(suite_path)
    assert {r["n_modes"] for r in modes.values()} == {8.0} and len(traj) == 3 * (4 + 4 + 2)
    assert {r["collapse"]["output"] for r in modes.values()} == {"modes"}  # ring8's entry
    indicators = stab.indicators_table(table, traj, modes, "modes", "max")
    assert len(indicators) == 9
    table_s = stab.stability_table(indicators)
    assert len(table_s) == 3 and stab.refused_datasets(table_s) == []
    for row in table_s.to_dict("records"):
        assert row["runs"] == 3
        assert row["diverged_rate"] == pytest.approx(1 / 3)
        assert row["collapsed_rate"] == pytest.approx(1 / 2)  # over the ok runs
        assert row["best_gap"] == pytest.approx(1.5)  # median of 0 and 3
        assert row["reached_rate"] == pytest.approx(2 / 3) and row["steps_to_target"] == pytest.approx(150)
        assert row["start_step"] == 0 and row["start_met"] == 0 and row["start.modes"] == 0


MET_AT_ONCE = ("ok", [5, 6, 8], [0.6, 0.7, 0.8])  # modes >= 4 and hq_frac >= 0.5 at step 0
NOT_YET = ("ok", [5, 6, 8], [0.1, 0.7, 0.8])  # 5 modes at step 0, but 10 % of the samples of high quality


def test_a_target_every_variant_meets_at_step_0_is_refused_in_the_report(tmp_path):
    suite_path = store_plans(tmp_path, lambda spec: NOT_YET if spec.seed == 2 else MET_AT_ONCE)
    stability = stability_of(suite_path)
    assert list(stability["start_met"]) == pytest.approx([2 / 3] * 3)  # 2 of each variant's 3 runs
    assert stab.refused_datasets(stability) == ["ring8"]
    md = write_report(suite_path)["md"].read_text()
    assert "Target refused on ring8: every variant meets it at step 0" in md
    assert "modes 5, hq_frac 0.6; met by 66.7 %" in md  # the step-0 medians beside the time to target
    section = md.split("## Stability")[1].split("\n## ")[0]
    shown = [line for line in section.splitlines() if line.startswith("| ring8")]
    assert len(shown) == 3 and all(line.count("refused") == 3 for line in shown)


def test_a_variant_that_does_not_meet_it_at_step_0_keeps_the_target(tmp_path):
    # the VAE meets it at step 0 in 1 run of 3; the GAN variants in all of theirs
    suite_path = store_plans(
        tmp_path, lambda spec: NOT_YET if spec.model == "vae" and spec.seed else MET_AT_ONCE
    )
    stability = stability_of(suite_path)
    assert sorted(stability["start_met"]) == pytest.approx([1 / 3, 1, 1])
    assert stab.refused_datasets(stability) == []
    md = write_report(suite_path)["md"].read_text()
    assert "Target refused" not in md and "refused" not in md.split("## Stability")[1].split("\n## ")[0]


def test_without_a_step_0_evaluation_the_report_says_which_evaluation_is_first(tmp_path):
    suite_path = store_plans(tmp_path, lambda spec: MET_AT_ONCE, first_step=2000)
    assert stab.refused_datasets(stability_of(suite_path)) == []  # not known at step 0: not refused
    md = write_report(suite_path)["md"].read_text()
    assert "none (first evaluation at step 2000)" in md and "Target refused" not in md
    assert "Runs without an evaluation at step 0" in md
