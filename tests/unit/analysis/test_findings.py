"""What a comparison can show with its seeds (the smallest achievable p-value, against enumeration)
and the sentences and words the leaderboard and report write from the statistics."""

from __future__ import annotations

import itertools
import math

import pandas as pd
import pytest
from scipy import stats as sps

from genbench.analysis import stats
from genbench.analysis.leaderboard import summary_table, write_leaderboard
from genbench.analysis.report import write_report
from genbench.store import runs as store
from genbench.store.result import RunResult
from tests.helpers import build_store, leaderboard_specs


def enumerated_smallest_p(n1: int, n2: int) -> float:
    """The smallest two-sided exact p-value over every possible outcome without ties: each split
    of the ranks 1..n1+n2 is an outcome, and its p-value is twice its smaller tail of U."""
    ranks = range(1, n1 + n2 + 1)
    us = [sum(c) - n1 * (n1 + 1) / 2 for c in itertools.combinations(ranks, n1)]
    total = len(us)

    def p(u: float) -> float:
        return min(1.0, 2 * min(sum(x <= u for x in us), sum(x >= u for x in us)) / total)

    return min(p(u) for u in set(us))


@pytest.mark.parametrize(("n1", "n2"), [(1, 1), (1, 4), (2, 2), (2, 3), (3, 3), (4, 4), (3, 5), (5, 6)])
def test_smallest_p_matches_enumeration_and_the_exact_test(n1, n2):
    assert stats.smallest_p(n1, n2) == pytest.approx(enumerated_smallest_p(n1, n2))
    separated = (list(range(n1)), [n1 + v for v in range(n2)])  # every value of one beyond the other
    assert stats.mann_whitney(*separated) == pytest.approx(stats.smallest_p(n1, n2))
    if n1 + n2 > 2:  # scipy's exact test agrees (it has no exact case for 1 + 1)
        exact = sps.mannwhitneyu(*separated, alternative="two-sided", method="exact").pvalue
        assert stats.smallest_p(n1, n2) == pytest.approx(exact)


def test_no_test_can_reject_with_too_few_seeds_and_it_says_why():
    assert stats.smallest_p(2, 2) == pytest.approx(1 / 3)
    assert stats.no_power([2, 2, 2]) == "2 seeds: smallest possible p 0.33 > 0.05"
    # 4 seeds: one test could reach 0.029, but Holm over 10 pairs cannot go below 0.29
    assert stats.smallest_adjusted_p([4] * 5) == pytest.approx(10 * 2 / 70)
    assert stats.no_power([4] * 5) == "4 seeds, 10 comparisons: smallest possible Holm-adjusted p 0.29 > 0.05"
    assert stats.no_power([4, 4]) == "" and stats.no_power([6, 6, 6]) == ""
    assert stats.no_power([3]) == ""  # nothing to compare


def test_ties_never_give_a_p_below_the_smallest_achievable():
    for a, b in [([8, 8, 8], [1, 1, 1]), ([8, 8, 7], [1, 1, 1]), ([2, 2], [5, 5])]:
        assert stats.mann_whitney(a, b) >= stats.smallest_p(len(a), len(b)) - 1e-12


def test_three_seeds_are_not_ranked_and_the_words_say_so(tmp_path):
    suite_path, _ = build_store(tmp_path, {"modes": "max"})
    _, summary, text = write_leaderboard(suite_path)
    assert summary["rank"].isna().all()
    assert set(summary["rank_note"]) == {"not ranked (3 seeds: smallest possible p 0.1 > 0.05)"}
    found = text.split("## What the comparison found")[1].split("##")[0]
    assert "**ring8**: No difference can be significant at 0.05" in found and "not ranked" in found
    assert "gan lr=0.001 has the highest mean modes (7)" in found
    summary_md = text.split("## Summary")[1].split("##")[0]
    assert summary_md.count("not ranked (3 seeds: smallest possible p 0.1 > 0.05)") == 3


FID = {
    "A": [10.0, 11, 12, 13, 14, 15],
    "B": [30.0, 31, 32, 33, 34, 35],
    "C": [30.5, 31.5, 32.5, 33.5, 34.5, 35.5],
}


def test_significant_differences_are_named_with_their_direction():
    from genbench.analysis.findings import dataset_findings
    from genbench.analysis.leaderboard import significance

    rows = [
        {
            "model": "gan",
            "variant": v,
            "label": v,
            "dataset": "toy",
            "protocol": "p",
            "seed": s,
            "status": "ok",
        }
        | {"fid": x}
        for v, xs in FID.items()
        for s, x in enumerate(xs)
    ]
    table = pd.DataFrame(rows)
    summary = summary_table(table, {"fid": "min"}, n_resamples=200)
    indicators = pd.DataFrame(
        {"label": list(FID), "dataset": "toy", "diverged": [0.0, 0.0, 1.0], "collapsed": math.nan}
    )
    (name, text), *_ = dataset_findings(table, summary, significance(table, "fid"), indicators, "fid", "min")
    assert name == "toy" and text.startswith("A has the lowest mean fid (12.5)")
    assert "A better than B (p 0.0065)" in text and "A better than C (p 0.0065)" in text
    assert "B better than" not in text and "Diverged: C (1/1 runs)" in text


def test_interrupted_runs_print_words_not_nan(tmp_path):
    specs = leaderboard_specs(tmp_path)
    stopped = {(s.model, s.variant, s.seed) for s in specs[:3]}
    suite_path, _ = build_store(tmp_path, {"modes": "max"}, skip=stopped)
    for spec in specs[:3]:
        store.write_run(suite_path, spec, RunResult.interrupted("interrupted at step 3", steps=3))
    _, _, text = write_leaderboard(suite_path)
    paths = write_report(suite_path)
    for written in (text, paths["md"].read_text(), paths["html"].read_text(), paths["tex"].read_text()):
        assert not any(word.lower() == "nan" for word in written.replace("|", " ").split())
    runs = text.split("## Runs")[1]
    interrupted = [line for line in runs.splitlines() if "interrupted" in line]
    assert len(interrupted) == 3 and all("| none " in line for line in interrupted)  # protocol: none
