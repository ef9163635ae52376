"""Published rows: the verdict rule on hand-made summaries, protocol mismatches, validation of the
`reference:` key (exit 2 with file, key and line), and the published table from a hand-made store."""

from __future__ import annotations

import hashlib
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
from genbench.suite.reference import ReferenceRow


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
    found = verdict(6.3, 0.5, "se", 10, summary(5, 5.0, 1.0), margin=1.0)
    assert found.p_difference == pytest.approx(welch_p_by_hand(6.3, 0.5 * math.sqrt(10), 10, 5.0, 1.0, 5))
    assert found.p_difference > 0.05 and found.test.startswith("Welch")
    # read as a standard deviation the same numbers reject: the conversion matters
    as_std = verdict(6.3, 0.5, "std", 10, summary(5, 5.0, 1.0), margin=1.0)
    assert as_std.p_difference == pytest.approx(welch_p_by_hand(6.3, 0.5, 10, 5.0, 1.0, 5))
    assert as_std.p_difference < 0.05 and as_std.word == "differs"


def tost_p_by_hand(m1, s1, n1, m2, s2, n2, margin) -> float:
    """Two one-sided Welch tests of |mean2 - mean1| >= margin, written out."""
    v1, v2 = s1**2 / n1, s2**2 / n2
    se, d = math.sqrt(v1 + v2), m2 - m1
    df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
    return max(scipy_stats.t.sf((d + margin) / se, df), scipy_stats.t.cdf((d - margin) / se, df))


def test_agrees_only_when_tost_shows_the_difference_inside_the_margin():
    found = verdict(7.9, 0.1, "se", 10, summary(5, 8.0, 0.2), margin=1.0)
    assert found.word == "agrees" and "inside ±1" in found.reason
    expected = tost_p_by_hand(7.9, 0.1 * math.sqrt(10), 10, 8.0, 0.2, 5, 1.0)
    assert found.p_equivalence == pytest.approx(expected) and expected < 0.05
    assert -1.0 < found.ci_lo < found.ci_hi < 1.0  # the 90 % CI of the difference, inside the margin
    # a difference that is significant yet inside the margin agrees, and says so
    tight = verdict(10.0, 0.01, "se", 10, summary(10, 10.2, 0.05), margin=1.0)
    assert tight.word == "agrees" and tight.p_difference < 0.05 and "significant" in tight.reason


def test_differs_when_welch_rejects():
    found = verdict(98.2, 0.2, "se", 10, summary(3, 50.0, 1.0), margin=5.0)
    assert found.word == "differs"
    assert found.p_difference == pytest.approx(welch_p_by_hand(98.2, 0.2 * math.sqrt(10), 10, 50.0, 1.0, 3))


def test_no_agreement_from_no_power_but_undecided_with_the_runs_needed():
    """PacGAN t1 ring GAN high-quality %: 98.2 ± 0.2 (s.e., 10) against 63.3 ± 14.2 over 3 seeds.
    Welch cannot reject with about 2 degrees of freedom (p = 0.051): the old rule said 'agrees'."""
    found = verdict(98.2, 0.2, "se", 10, summary(3, 63.29, 14.2), margin=5.0)
    assert found.word == "undecided" and found.reason.startswith("too few runs (3)")
    assert 0.05 < found.p_difference < 0.06 and found.p_equivalence > 0.5
    # runs needed: the first n at which Welch has 80 % power for the observed difference and spread
    assert found.runs_needed == 4 and "about 4 genbench runs" in found.reason
    # a published standard error too wide for the margin: no number of runs can show equivalence
    wide = verdict(0.45, 0.09, "se", 10, summary(3, 0.44, 0.1), margin=0.045)
    assert wide.word == "undecided" and wide.runs_needed is None and "no number of runs" in wide.reason


def test_without_a_spread_differs_by_the_t_test_or_is_undecided():
    # Unrolled GAN notebook, k = 0: published 1 mode (runs not given: taken as one run)
    found = verdict(1.0, None, "none", None, summary(3, 6.667, 0.577), margin=1.0)
    student = scipy_stats.ttest_ind_from_stats(6.667, 0.577, 3, 1.0, 0.577, 1, equal_var=True)
    assert found.word == "differs" and found.p_difference == pytest.approx(student.pvalue)
    assert "1 run (runs not given)" in found.test
    # VEEGAN's unrolled GAN on the ring, 7.6 over 5 runs: no spread, no agreement however close
    close = verdict(7.6, None, "none", 5, summary(3, 7.333, 1.155), margin=1.0)
    assert close.word == "undecided" and close.reason.startswith("no spread published")
    five = scipy_stats.ttest_ind_from_stats(7.333, 1.155, 3, 7.6, 1.155, 5, equal_var=True)
    assert close.p_difference == pytest.approx(five.pvalue) and math.isnan(close.p_equivalence)
    # the old rule's 95 % bootstrap CI [6, 8] held 7.6: it said "agrees"


def test_missing_runs_and_degenerate_spreads():
    assert verdict(1.0, 0.1, "se", 10, summary(0, math.nan, math.nan), margin=1.0).word == NOT_RUN
    one = verdict(1.0, 0.1, "se", 10, summary(1, 1.5, math.nan), margin=1.0)
    assert one.word == "undecided" and one.reason.startswith("one genbench run") and one.runs_needed
    assert verdict(1.0, None, "none", None, summary(1, 1.0, math.nan), margin=1.0).word == "undecided"
    same = verdict(8.0, None, "none", 5, summary(3, 8.0, 0.0), margin=1.0)
    assert same.word == "undecided" and "all equal" in same.reason
    assert verdict(8.0, 0.0, "std", 5, summary(3, 8.0, 0.0), margin=1.0).word == "agrees"  # all found 8
    assert verdict(8.0, 0.0, "std", 5, summary(3, 6.0, 0.0), margin=1.0).word == "differs"


@pytest.mark.parametrize(
    ("metric", "scale", "margin", "expected"),
    [
        ("modes", 1.0, None, (1.0, "default: 1 mode")),
        ("hq_frac", 100.0, None, (5.0, "default: 5 percentage points")),
        ("hq_frac", 1.0, None, (0.05, "default: 5 percentage points")),
        ("nll", 1.0, None, (pytest.approx(8.676), "default: 10 % of the published value")),
        ("nll", 1.0, 2.0, (2.0, "declared")),
    ],
)
def test_margins_default_by_metric_in_the_paper_units(metric, scale, margin, expected):
    row = ReferenceRow.model_validate(
        {**ROW, "metric": metric, "value": 86.76, "scale": scale, "margin": margin}
    )
    assert reference.margin_of(row) == expected


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
        ({"margin": 0}, "reference[0].margin", "greater than 0"),
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
    assert gan["p_difference"] == pytest.approx(welch_p_by_hand(6.3, 0.5 * math.sqrt(10), 10, 6.0, 1.0, 3))
    assert gan["p_equivalence"] == pytest.approx(tost_p_by_hand(6.3, 0.5 * math.sqrt(10), 10, 6.0, 1.0, 3, 1))
    assert gan["margin"] == "±1 (default: 1 mode)" and gan["test"].startswith("Welch t-test; TOST")
    # the suite's 10 steps are not the paper's 400,000: said in the verdict, not compared silently
    assert gan["verdict"] == "undecided; protocol: budget 10 vs 400,000 steps"
    # the paper's s.e. 0.5 alone is too wide for TOST within ±1 to reach 80 % power at any n
    assert gan["reason"].startswith("too few runs (3)") and "no number of runs" in gan["reason"]
    assert gan["budget"] == "10 steps (0.0025 % of the paper's 400,000)"
    assert vae["genbench_ci_lo"] == vae["genbench_ci_hi"] == 8.0  # a constant's CI is the constant
    assert vae["verdict"] == "undecided; protocol: budget 10 vs 400,000 steps"
    assert "no spread published" in vae["reason"]
    text = (suite_path / "published.md").read_text()
    assert (suite_path / "published.csv").exists() and "Published vs genbench" in text
    assert "| margin" in text and "p (equivalence)" in text and "| reason" in text
    blocks = reference.report_blocks(suite_path, write_leaderboard(suite_path)[0])
    assert blocks[0] == ("h", 2, "Published vs genbench") and len(blocks[2][2]) == 2
    assert "nan" not in blocks[2][2].to_markdown()


def test_no_reference_rows_no_published_files(tmp_path):
    path = suite_file(tmp_path, [])
    _, specs, _ = load_suite(path)
    suite_path = store.suite_dir(tmp_path / "results", "ref")
    store.write_manifest(suite_path, specs, str(path), {"modes": "max"})
    write_leaderboard(suite_path)
    assert not (suite_path / "published.csv").exists()
    assert reference.report_blocks(suite_path, write_leaderboard(suite_path)[0]) == []


# ------------------------------------------------------------------- keyed metric entries

STAND_IN = b"inception weights"  # validation checks the weights file's sha256, not the network
FID_TWICE = {
    "name": "two_fids",
    "seeds": [0, 1, 2],
    "budget": {"steps": 10},
    "eval": {"samples": 3000},
    "datasets": [{"name": "mnist"}],
    "models": [{"name": "vae", "decoder": "bernoulli"}],
    "metrics": [
        {"name": "fid", "features": "mnist_classifier"},
        {
            "name": "fid",
            "features": "inception",
            "weights": "w.pth",
            "sha256": hashlib.sha256(STAND_IN).hexdigest(),
        },
    ],
}
# each entry's protocol, kept under its key: the sample counts tell which one a row was given
PROTOCOLS = {
    "fid[mnist_classifier]": {"n_generated": 2000, "n_real": 2000, "split": "test"},
    "fid[inception]": {"n_generated": 10_000, "n_real": 10_000, "split": "test"},
}


def test_a_row_on_a_keyed_entrys_column_gets_that_entrys_protocol(tmp_path):
    (tmp_path / "w.pth").write_bytes(STAND_IN)
    row = {
        **ROW,
        "model": "vae",
        "variant": "decoder=bernoulli",
        "dataset": "mnist",
        "metric": "fd_inception",
        "value": 20.0,
    }
    row["protocol"] = {"samples": 50_000, "split": "test"}
    path = tmp_path / "fids.yaml"
    path.write_text(yaml.safe_dump({**FID_TWICE, "reference": [row]}, sort_keys=False))
    suite, specs, _ = load_suite(path)
    assert list(suite.metric_params) == list(PROTOCOLS)
    suite_path = store.suite_dir(tmp_path / "results", "two_fids")
    directions = {"fd_mnist_classifier": "min", "fd_inception": "min"}
    store.write_manifest(suite_path, specs, str(path), directions, None, suite.reference)
    for spec in specs:
        metrics = {"fd_mnist_classifier": 3.0 + spec.seed, "fd_inception": 20.0 + spec.seed}
        result = RunResult.ok(
            steps=10,
            train_seconds=0.1,
            metrics=metrics,
            protocol={"dataset": "mnist"},
            metric_protocols=PROTOCOLS,
        )
        store.write_run(suite_path, spec, result)
    (found,) = reference.published_table(suite_path, write_leaderboard(suite_path)[0]).to_dict("records")
    assert found["genbench_mean"] == 21.0 and found["genbench_n"] == 3
    # the inception entry's 10,000 samples, not the classifier entry's 2,000 nor eval.samples' 3,000
    assert found["verdict"].endswith("; protocol: samples 10,000 vs 50,000")
