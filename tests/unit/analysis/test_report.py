"""`genbench report` on a tiny suite run in-process (no Ray), the chapter's diagnostics it plots,
and the HTML rendered by headless Chromium."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess

import pytest
from rich.console import Console

from genbench.analysis import stats
from genbench.analysis.report import write_report
from genbench.driver.cli import main
from genbench.driver.suite_run import run_suite
from genbench.store import runs as store
from genbench.store.result import RunResult
from tests.test_leaderboard import build_store, make_specs

SUITE = """\
name: tiny
seeds: [0, 1, 2]
budget: {steps: 40}
eval: {every: 10, samples: 300}
datasets:
  - {name: ring8, train_size: 2000, test_size: 500}
models:
  - {name: gan, loss: minimax, z_dim: 8, hidden: 16, batch_size: 64}
  - {name: gan, loss: nonsaturating, z_dim: 8, hidden: 16, batch_size: 64}
  - {name: wgan, z_dim: 8, hidden: 16, critic_steps: 2}
  - {name: wgan, z_dim: 8, hidden: 16, lr: 1.0e+30}   # diverges at once
  - {name: vae, hidden: 16}
metrics: [mode_coverage, elbo]
"""
VARIANTS = [
    "gan loss=minimax z_dim=8 hidden=16 batch_size=64",
    "gan loss=nonsaturating z_dim=8 hidden=16 batch_size=64",
    "wgan z_dim=8 hidden=16 critic_steps=2",
    "wgan z_dim=8 hidden=16 lr=1e+30",
    "vae hidden=16",
]


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    """Run the tiny suite serially; `genbench run` writes the report at its end."""
    work = tmp_path_factory.mktemp("report")
    (work / "tiny.yaml").write_text(SUITE)
    code = run_suite(work / "tiny.yaml", work / "results", Console(file=io.StringIO()), serial=True)
    assert code == 0
    return work / "results" / "tiny"


def test_run_writes_the_report_files(suite):
    md = (suite / "report.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\((report_files/[^)]+)\)", md)
    assert len(images) >= 4  # anytime curves, diagnostics, final samples
    for image in images:
        assert (suite / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for heading in ["Settings and protocol", "Leaderboard", "Significance", "Stability", "Anytime curves"]:
        assert f"## {heading}" in md
    assert "Diagnostics" in md and "Final samples" in md
    assert re.search(
        r"\| *train\.grad_norm_g *\| *generator gradient norm ‖∇G‖ *\| *13\.42 *\|", md
    )  # gan's entry
    tex = (suite / "tables.tex").read_text()
    assert tex.count("\\toprule") == tex.count("\\bottomrule") >= 4 and "\\midrule" in tex


def test_report_contains_every_variant(suite):
    md = (suite / "report.md").read_text()
    html = (suite / "report.html").read_text()
    tex = (suite / "tables.tex").read_text()
    for variant in VARIANTS:
        assert variant in md and variant in html and variant.replace("_", "\\_") in tex
    stability = md.split("## Stability")[1].split("##")[0]
    for variant in VARIANTS:  # every variant has a row in the stability table
        assert re.search(rf"\| ring8[^|]*\| {re.escape(variant)}\s+\| +3 \|", stability), variant
    diverging = next(line for line in stability.splitlines() if "lr=1e+30" in line)
    assert re.search(r"\| +3 \| +100 \|", diverging)  # 3 runs, 100 % diverged: the lr=1e30 W-GAN


def test_html_is_self_contained(suite):
    html = (suite / "report.html").read_text()
    assert "http://" not in html and "https://" not in html
    assert "<link" not in html and not re.search(r"<script[^>]*src=", html)
    srcs = re.findall(r'<img[^>]*src="([^"]*)"', html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert len(srcs) == len(re.findall(r"!\[", (suite / "report.md").read_text()))


def test_trajectories_carry_the_chapter_diagnostics(suite):
    traj, _ = stats.load_trajectories(suite)
    for run in json.loads((suite / "suite.json").read_text())["runs"]:
        spec = json.loads((suite / "runs" / run / "spec.json").read_text())
        rows = traj[(traj["run_id"] == run) & (traj["step"] > 0)]
        if spec["model"] == "gan":
            assert (rows["train.grad_norm_g"] > 0).all()
            assert rows["train.d_fake"].between(0, 1).all() and rows["train.d_real"].between(0, 1).all()
        elif spec["model"] == "wgan" and len(rows):
            assert rows["train.clip_frac"].between(0, 1).all() and rows["train.w_estimate"].notna().all()


def test_cli_report_rewrites_and_rejects_a_non_suite(suite, tmp_path, capsys):
    """In-process through cli.main (the e2e tests cover the console script)."""
    (suite / "report.html").unlink()
    assert main(["report", str(suite), "--target", "2"]) == 0
    assert (suite / "report.html").exists() and "report.html" in capsys.readouterr().out
    md = (suite / "report.md").read_text()
    assert "modes ≥ half" not in md and "to the target (2.0)" in md
    assert main(["report", str(tmp_path)]) == 2
    assert "no suite.json" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium binary (apt-get install chromium)")
def test_html_renders_in_headless_chromium(suite, tmp_path):
    html = (suite / "report.html").read_text()
    n_images = len(re.findall(r"<img ", html))
    cmd = [
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        (suite / "report.html").as_uri(),
    ]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    # the page's own script counted the images that decoded (naturalWidth > 0) after load
    assert f'data-images="{n_images}/{n_images}"' in dom
    cells = re.findall(r"<td>([^<]*)</td>", dom)
    for variant in VARIANTS:  # rendered table rows for every variant (leaderboard, stability)
        assert cells.count(variant) >= 2, variant
    assert len(re.findall(r"<table", dom)) >= 4


def test_report_of_a_suite_without_finished_runs(tmp_path):
    """Pending runs only (e.g. `genbench report` while a suite is queued): files, no figures."""
    specs = make_specs(tmp_path)
    skip = {(s.model, s.variant, s.seed) for s in specs}
    suite_path, _ = build_store(tmp_path, {"modes": "max"}, skip=skip)
    paths = write_report(suite_path)
    md = paths["md"].read_text()
    assert "9 pending" in md and "![" not in md
    assert "<img" not in paths["html"].read_text()


def test_interrupted_runs_are_counted(tmp_path):
    """A run stopped by Ctrl-C is stored as interrupted: the report counts it with the others."""
    specs = make_specs(tmp_path)
    stopped = {(s.model, s.variant, s.seed) for s in specs[:2]}
    suite_path, _ = build_store(tmp_path, {"modes": "max"}, skip=stopped)
    for spec in specs[:2]:
        store.write_run(suite_path, spec, RunResult.interrupted("interrupted at step 3", steps=3))
    md = write_report(suite_path)["md"].read_text()
    assert "Runs: 7 ok, 2 interrupted." in md


def test_suite_target_reaches_the_report(suite, tmp_path):
    """A suite file's `target` is kept in the manifest and used for time-to-target."""
    from genbench.suite.config import load_suite

    (tmp_path / "t.yaml").write_text(SUITE + "target: 1.5\n")
    loaded, _, _ = load_suite(tmp_path / "t.yaml")
    assert loaded.target == 1.5
    manifest = json.loads((suite / "suite.json").read_text())
    assert manifest["target"] is None  # the module's suite sets none
    manifest["target"] = 1.5
    (suite / "suite.json").write_text(json.dumps(manifest))
    try:
        write_report(suite)
        assert "to the target (1.5)" in (suite / "report.md").read_text()
    finally:
        manifest["target"] = None
        (suite / "suite.json").write_text(json.dumps(manifest))
        write_report(suite)
