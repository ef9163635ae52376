"""tools/forward_reverse_kl.py on a hand-made results folder: outcomes, one-sided exact tests
against enumeration, diverged runs at their last evaluation, Fisher's test of divergence rates."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tools import forward_reverse_kl as tool

# (divergence, update, status, final modes, hq) per run; a diverged run's last evaluation is 5 modes
RUNS = [
    ("kl", "saddle", "ok", 7, 0.1),
    ("kl", "saddle", "ok", 6, 0.2),
    ("kl", "saddle", "diverged", None, None),
    ("reverse_kl", "saddle", "ok", 1, 0.9),
    ("reverse_kl", "saddle", "ok", 2, 0.8),
    ("reverse_kl", "saddle", "ok", 3, 0.7),
]


def make_folder(root: Path) -> Path:
    rows = []
    for i, (divergence, update, status, modes, hq) in enumerate(RUNS):
        run_id = f"{i:012x}"
        last = {"step": 100, "modes": modes if modes is not None else 5, "hq_frac": hq or 0.3}
        last["kl_modes"] = 0.5
        (root / "runs" / run_id).mkdir(parents=True)
        lines = [{"step": 0, "modes": 1, "hq_frac": 0.0, "kl_modes": None}, last]
        if status == "diverged":
            lines.append({"step": 150, "modes": None, "hq_frac": None, "kl_modes": None})
        (root / "runs" / run_id / "trajectory.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
        rows.append(
            {
                "run_id": f"run-{run_id}",
                "dataset": "ring8",
                "status": status,
                "steps": 150 if status == "diverged" else 200,
                "modes": modes,
                "hq_frac": hq,
                "kl_modes": 0.5 if modes is not None else None,
                "mode_dist": 1.0 if modes is not None else None,
                "hp.divergence": divergence,
                "hp.g_update": update,
            }
        )
    pd.DataFrame(rows).to_csv(root / "leaderboard.csv", index=False)
    return root


def enumerated_p(a: list[float], b: list[float]) -> float:
    """One-sided P(U_a >= u_a) over every split of the pooled mid-ranks."""
    ranks = stats.rankdata(a + b)
    u = ranks[: len(a)].sum()
    splits = [ranks[list(c)].sum() for c in itertools.combinations(range(len(ranks)), len(a))]
    return float(np.mean([s >= u - 1e-9 for s in splits]))


@pytest.fixture()
def runs(tmp_path):
    return tool.runs_frame(make_folder(tmp_path))


def test_outcomes_count_diverged_runs_and_their_steps(runs):
    table = tool.outcomes_table(runs).set_index("divergence")
    assert table.loc["kl", "diverged"] == 1 and table.loc["kl", "diverged at steps"] == "150"
    assert table.loc["kl", "modes (finished)"] == pytest.approx(6.5)
    assert table.loc["kl", "modes (last evaluation)"] == pytest.approx(6.0)  # 7, 6 and the diverged 5


def test_finished_runs_tests_equal_enumeration(runs):
    table = tool.tests_table(runs, "finished")
    modes = table[table["claim"] == tool.CLAIMS["modes"]].iloc[0]
    assert modes["p (one-sided)"] == pytest.approx(enumerated_p([7, 6], [1, 2, 3]))  # 1 / 10
    hq = table[table["claim"] == tool.CLAIMS["hq_frac"]].iloc[0]
    assert hq["p (one-sided)"] == pytest.approx(enumerated_p([0.9, 0.8, 0.7], [0.1, 0.2]))


def test_last_evaluation_includes_the_diverged_run(runs):
    table = tool.tests_table(runs, "last")
    modes = table[table["claim"] == tool.CLAIMS["modes"]].iloc[0]
    assert modes["forward (n)"] == "6 (3)"
    assert modes["p (one-sided)"] == pytest.approx(enumerated_p([7, 6, 5], [1, 2, 3]))  # 1 / 20


def test_divergence_rates_by_fishers_exact_test(runs):
    row = tool.divergence_table(runs).iloc[0]
    assert row["forward KL diverged"] == "1/3" and row["reverse KL diverged"] == "0/3"
    assert row["p (Fisher, two-sided)"] == pytest.approx(stats.fisher_exact([[1, 2], [0, 3]]).pvalue)
