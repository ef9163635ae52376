"""`genbench report` on a tiny suite run in-process (no Ray) and the chapter's diagnostics it plots
(tests/e2e/analysis/test_report.py: the HTML rendered by headless Chromium)."""

from __future__ import annotations

import json
import re

from genbench.analysis import stability
from genbench.analysis.report import write_report
from genbench.driver.cli import main
from genbench.store import runs as store
from genbench.store.result import RunResult
from tests.helpers import REPORT_SUITE, REPORT_VARIANTS, build_store, leaderboard_specs


def test_run_writes_the_report_files(report_suite):
    md = (report_suite / "report.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\((report_files/[^)]+)\)", md)
    assert len(images) >= 4  # anytime curves, diagnostics, final samples
    for image in images:
        assert (report_suite / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for heading in ["Settings and protocol", "Leaderboard", "Significance", "Stability", "Anytime curves"]:
        assert f"## {heading}" in md
    assert "Diagnostics" in md and "Final samples" in md
    assert re.search(
        r"\| *train\.grad_norm_g *\| *generator gradient norm ‖∇G‖ *\| *13\.42 *\|", md
    )  # gan's entry
    tex = (report_suite / "tables.tex").read_text()
    assert tex.count("\\toprule") == tex.count("\\bottomrule") >= 4 and "\\midrule" in tex


def test_report_contains_every_variant(report_suite):
    md = (report_suite / "report.md").read_text()
    html = (report_suite / "report.html").read_text()
    tex = (report_suite / "tables.tex").read_text()
    for variant in REPORT_VARIANTS:
        assert variant in md and variant in html and variant.replace("_", "\\_") in tex
    stability = md.split("## Stability")[1].split("##")[0]
    for variant in REPORT_VARIANTS:  # every variant has a row in the stability table
        assert re.search(rf"\| ring8[^|]*\| {re.escape(variant)}\s+\| +3 \|", stability), variant
    diverging = next(line for line in stability.splitlines() if "lr=1e+30" in line)
    assert re.search(r"\| +3 \| +100 \|", diverging)  # 3 runs, 100 % diverged: the lr=1e30 W-GAN


def test_html_is_self_contained(report_suite):
    html = (report_suite / "report.html").read_text()
    assert "http://" not in html and "https://" not in html
    assert "<link" not in html and not re.search(r"<script[^>]*src=", html)
    srcs = re.findall(r'<img[^>]*src="([^"]*)"', html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert len(srcs) == len(re.findall(r"!\[", (report_suite / "report.md").read_text()))


def test_trajectories_carry_the_chapter_diagnostics(report_suite):
    traj, _ = stability.load_trajectories(report_suite)
    for run in json.loads((report_suite / "suite.json").read_text())["runs"]:
        spec = json.loads((report_suite / "runs" / run / "spec.json").read_text())
        rows = traj[(traj["run_id"] == run) & (traj["step"] > 0)]
        if spec["model"] == "gan":
            assert (rows["train.grad_norm_g"] > 0).all()
            assert rows["train.d_fake"].between(0, 1).all() and rows["train.d_real"].between(0, 1).all()
        elif spec["model"] == "wgan" and len(rows):
            assert rows["train.clip_frac"].between(0, 1).all() and rows["train.w_estimate"].notna().all()


def test_cli_report_rewrites_and_rejects_a_non_suite(report_suite, tmp_path, capsys):
    """In-process through cli.main (the e2e tests cover the console script)."""
    (report_suite / "report.html").unlink()
    assert main(["report", str(report_suite), "--target", "2"]) == 0
    assert (report_suite / "report.html").exists() and "report.html" in capsys.readouterr().out
    md = (report_suite / "report.md").read_text()
    assert "test_size=500: modes ≥ 2 (as given: modes ≥ 2)." in md and "hq_frac ≥" not in md
    assert main(["report", str(tmp_path)]) == 2
    assert "no suite.json" in capsys.readouterr().err


def test_report_of_a_suite_without_finished_runs(tmp_path):
    """Pending runs only (e.g. `genbench report` while a suite is queued): files, no figures."""
    specs = leaderboard_specs(tmp_path)
    skip = {(s.model, s.variant, s.seed) for s in specs}
    suite_path, _ = build_store(tmp_path, {"modes": "max"}, skip=skip)
    paths = write_report(suite_path)
    md = paths["md"].read_text()
    assert "9 pending" in md and "![" not in md
    assert "<img" not in paths["html"].read_text()


def test_interrupted_runs_are_counted(tmp_path):
    """A run stopped by Ctrl-C is stored as interrupted: the report counts it with the others."""
    specs = leaderboard_specs(tmp_path)
    stopped = {(s.model, s.variant, s.seed) for s in specs[:2]}
    suite_path, _ = build_store(tmp_path, {"modes": "max"}, skip=stopped)
    for spec in specs[:2]:
        store.write_run(suite_path, spec, RunResult.interrupted("interrupted at step 3", steps=3))
    md = write_report(suite_path)["md"].read_text()
    assert "Runs: 7 ok, 2 interrupted." in md


def test_suite_target_reaches_the_report(report_suite, tmp_path):
    """A suite file's `target` is kept in the manifest and used for time-to-target."""
    from genbench.suite.config import load_suite

    (tmp_path / "t.yaml").write_text(REPORT_SUITE + "target: 1.5\n")
    loaded, _, _ = load_suite(tmp_path / "t.yaml")
    assert loaded.target == 1.5
    manifest = json.loads((report_suite / "suite.json").read_text())
    assert manifest["target"] is None  # the module's suite sets none
    manifest["target"] = 1.5
    (report_suite / "suite.json").write_text(json.dumps(manifest))
    try:
        write_report(report_suite)
        assert "test_size=500: modes ≥ 1.5 (as given" in (report_suite / "report.md").read_text()
    finally:
        manifest["target"] = None
        (report_suite / "suite.json").write_text(json.dumps(manifest))
        write_report(report_suite)


def test_a_compound_target_from_the_command_line(report_suite, capsys):
    """`--target` takes a mapping: every condition at one evaluation, a share of the data set's modes."""
    try:
        assert main(["report", str(report_suite), "--target", "{modes: 50%, hq_frac: 0.01}"]) == 0
        md = (report_suite / "report.md").read_text()
        given = "modes ≥ 50% of the modes and hq_frac ≥ 0.01"
        assert f"test_size=500: modes ≥ 4 and hq_frac ≥ 0.01 (as given: {given})." in md
        assert main(["report", str(report_suite), "--target", "{mode: 4}"]) == 2
        assert "target: mode: 'mode' is not an output of the suite's metrics" in capsys.readouterr().err
    finally:
        assert main(["report", str(report_suite)]) == 0
