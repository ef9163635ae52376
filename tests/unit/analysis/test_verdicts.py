"""Published rows: the verdict rule on hand-made summaries, protocol mismatches, validation of the
`reference:` key (exit 2 with file, key and line), and the published table from a hand-made store."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from scipy import stats as scipy_stats

from genbench.analysis import verdicts as reference
from genbench.analysis.leaderboard import write_leaderboard
from genbench.analysis.verdicts import NOT_RUN, protocol_mismatches, verdict
from genbench.driver.cli import main
from genbench.store import runs as store
from genbench.store.result import RunResult
from genbench.suite.config import SuiteError, load_suite


def summary(n: int, mean: float, std: float, lo: float = math.nan, hi: float = math.nan) -> dict:
    return {"n": n, "mean": mean, "std": std, "ci_lo": lo, "ci_hi": hi}


def welch_p_by_hand(m1: float, s1: float, n1: int, m2: float, s2: float, n2: int) -> float:
    """Welch's t and Welch-Satterthwaite degrees of freedom, written out."""
    v1, v2 = s1**2 / n1, s2**2 / n2
    t = (m1 - m2) / math.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
    return 2 * scipy_stats.t.sf(abs(t), df)


def test_standard_error_becomes_a_standard_deviation_with_sqrt_n():
    # PacGAN's ring GAN: 6.3 ± 0.5 (s.e., 10 trials) -> std 0.5 * sqrt(10) = 1.581
    word, how, p = verdict(6.3, 0.5, "se", 10, summary(5, 5.0, 1.0))
    assert p == pytest.approx(welch_p_by_hand(6.3, 0.5 * math.sqrt(10), 10, 5.0, 1.0, 5))
    assert p > 0.05 and word == "agrees" and how.startswith("Welch")
    # read as a standard deviation the same numbers reject: the conversion matters
    word_std, _, p_std = verdict(6.3, 0.5, "std", 10, summary(5, 5.0, 1.0))
    assert p_std == pytest.approx(welch_p_by_hand(6.3, 0.5, 10, 5.0, 1.0, 5))
    assert p_std < 0.05 and word_std == "differs"


def test_far_apart_values_differ_and_close_ones_agree():
    assert verdict(98.2, 0.2, "se", 10, summary(3, 50.0, 1.0))[0] == "differs"
    assert verdict(98.2, 0.2, "se", 10, summary(3, 98.1, 0.5))[0] == "agrees"


def test_without_a_spread_the_ci_decides_and_the_label_says_so():
    inside = verdict(8.0, None, "none", 5, summary(3, 7.9, 0.1, 7.8, 8.0))
    outside = verdict(8.0, None, "none", 5, summary(3, 7.0, 0.1, 6.9, 7.1))
    assert inside[0] == "agrees (no spread published)" and "inside" in inside[1]
    assert outside[0] == "differs (no spread published)" and "outside" in outside[1]
    assert math.isnan(inside[2])


def test_missing_runs_and_degenerate_spreads():
    assert verdict(1.0, 0.1, "se", 10, summary(0, math.nan, math.nan))[0] == NOT_RUN
    assert verdict(1.0, 0.1, "se", 10, summary(1, 1.0, math.nan))[0] == "undecided"
    assert verdict(1.0, None, "none", None, summary(1, 1.0, math.nan))[0].startswith("undecided")
    assert verdict(8.0, 0.0, "std", 5, summary(3, 8.0, 0.0))[0] == "agrees"  # all runs found 8 modes
    assert verdict(8.0, 0.0, "std", 5, summary(3, 7.0, 0.0))[0] == "differs"


def test_protocol_mismatches_name_both_values_genbench_first():
    paper = {"steps": 400_000, "samples": 2500, "split": None, "k": 5000, "examples": None}
    run = {"steps": 25_000, "samples": 2500, "split": "test", "k": None, "examples": 10_000}
    assert protocol_mismatches(paper, run) == [
        "budget 25,000 vs 400,000 steps",
        "k not recorded by genbench (paper: 5,000)",
    ]
    assert protocol_mismatches({"split": "test"}, {"split": "test"}) == []


# ------------------------------------------------------------------------- suite files

ROW = {
    "source": "PacGAN (Lin et al. 2018) table 1, ring, GAN column",
    "model": "gan",
    "variant": "d_steps=1 lr=0.001",  # the suite sets lr first: order does not matter
    "dataset": "ring8",
    "metric": "modes",
    "value": 6.3,
    "spread": 0.5,
    "spread_kind": "se",
    "runs": 10,
    "protocol": {"steps": 400000, "samples": 2500},
}


def suite_file(tmp_path: Path, rows: list) -> Path:
    suite = {
        "name": "ref",
        "seeds": [0, 1, 2],
        "budget": {"steps": 10},
        "eval": {"samples": 2500},
        "datasets": [{"name": "ring8"}],
        "models": [{"name": "gan", "lr": 1.0e-3, "d_steps": 1}, {"name": "vae"}],
        "metrics": ["mode_coverage"],
        "reference": rows,
    }
    path = tmp_path / "ref.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def line_of(path: Path, field: str) -> int:
    """The line of `field` in the reference block (the row's first line for the row itself)."""
    lines = path.read_text().splitlines()
    start = lines.index("reference:")
    want = "- source:" if field == "" else f"{field}:"
    return next(
        i
        for i, line in enumerate(lines[start:], start + 1)
        if line.lstrip("- ").startswith(want.lstrip("- "))
    )


def test_a_good_row_validates(tmp_path):
    suite, specs, _ = load_suite(suite_file(tmp_path, [ROW, {**ROW, "model": "vae", "variant": ""}]))
    assert len(suite.reference) == 2 and len(specs) == 6


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        ({"variant": "lr=0.1"}, "reference[0].variant", "names no model variant of the suite"),
        ({"model": "wgan"}, "reference[0].variant", "names no model variant"),
        ({"dataset": "grid25"}, "reference[0].dataset", "names no dataset variant"),
        ({"metric": "fid"}, "reference[0].metric", "no metric output of the suite"),
        ({"spread_kind": "none"}, "reference[0]", "give spread together with spread_kind"),
        ({"runs": 1}, "reference[0]", "needs runs >= 2"),
        ({"value": ".nan"}, "reference[0].value", "finite"),
        ({"vaule": 1.0}, "reference[0].vaule", "unknown key (did you mean 'value'?)"),
    ],
)
def test_bad_rows_name_file_key_and_line(tmp_path, change, key, message):
    row = {**ROW, **change}
    if row.get("value") == ".nan":
        row["value"] = float("nan")
    path = suite_file(tmp_path, [row])
    with pytest.raises(SuiteError) as err:
        load_suite(path)
    text = str(err.value)
    assert f"{key}:" in text and message in text
    field = key.removeprefix("reference[0]").removeprefix(".")
    assert text.count(f"{path}:{line_of(path, field)}: {key}:") == 1


def test_cli_exits_2_on_a_row_naming_no_variant(tmp_path, capsys):
    path = suite_file(tmp_path, [{**ROW, "variant": "lr=0.5"}])
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "reference[0].variant" in err and str(path) in err


# ------------------------------------------------------------------------- from the store


def write_store(tmp_path: Path, modes: dict[str, list[int]]) -> Path:
    """A store of the suite above with the given final modes per model, seeds 0, 1, 2."""
    path = suite_file(
        tmp_path, [ROW, {**ROW, "model": "vae", "variant": "", "spread": None, "spread_kind": "none"}]
    )
    suite, specs, _ = load_suite(path)
    suite_path = store.suite_dir(tmp_path / "results", "ref")
    store.write_manifest(suite_path, specs, str(path), {"modes": "max"}, None, suite.reference)
    for spec in specs:
        proto = {"dataset": spec.dataset, "dataset_params": spec.dataset_params, "samples": 2500}
        result = RunResult.ok(
            steps=10, train_seconds=0.1, metrics={"modes": modes[spec.model][spec.seed]}, protocol=proto
        )
        store.write_run(suite_path, spec, result)
    return suite_path


def test_published_table_from_the_store(tmp_path):
    suite_path = write_store(tmp_path, {"gan": [6, 7, 5], "vae": [8, 8, 8]})
    write_leaderboard(suite_path)
    frame = reference.published_table(suite_path, write_leaderboard(suite_path)[0]).set_index("model")
    gan, vae = frame.loc["gan"], frame.loc["vae"]
    assert gan["genbench_n"] == 3 and gan["genbench_mean"] == 6.0 and gan["genbench_std"] == 1.0
    assert gan["p_value"] == pytest.approx(welch_p_by_hand(6.3, 0.5 * math.sqrt(10), 10, 6.0, 1.0, 3))
    # the suite's 10 steps are not the paper's 400,000: said in the verdict, not compared silently
    assert gan["verdict"] == "agrees; protocol: budget 10 vs 400,000 steps"
    assert gan["budget"] == "10 steps (0.0025 % of the paper's 400,000)"
    assert vae["genbench_ci_lo"] == vae["genbench_ci_hi"] == 8.0  # a constant's CI is the constant
    assert vae["verdict"] == "differs (no spread published); protocol: budget 10 vs 400,000 steps"
    assert (suite_path / "published.csv").exists() and "Published vs genbench" in (
        suite_path / "published.md"
    ).read_text()
    blocks = reference.report_blocks(suite_path, write_leaderboard(suite_path)[0])
    assert blocks[0] == ("h", 2, "Published vs genbench") and len(blocks[2][2]) == 2


def test_no_reference_rows_no_published_files(tmp_path):
    path = suite_file(tmp_path, [])
    _, specs, _ = load_suite(path)
    suite_path = store.suite_dir(tmp_path / "results", "ref")
    store.write_manifest(suite_path, specs, str(path), {"modes": "max"})
    write_leaderboard(suite_path)
    assert not (suite_path / "published.csv").exists()
    assert reference.report_blocks(suite_path, write_leaderboard(suite_path)[0]) == []
