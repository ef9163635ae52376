"""The report's HTML rendered by headless Chromium (a subprocess): every image decodes and every
variant's table rows render (tests/unit/analysis/test_report.py: the report's files in-process)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.helpers import REPORT_VARIANTS


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium binary (apt-get install chromium)")
def test_html_renders_in_headless_chromium(report_suite, tmp_path):
    html = (report_suite / "report.html").read_text()
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
        (report_suite / "report.html").as_uri(),
    ]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    # the page's own script counted the images that decoded (naturalWidth > 0) after load
    assert f'data-images="{n_images}/{n_images}"' in dom
    cells = re.findall(r"<td>([^<]*)</td>", dom)
    for variant in REPORT_VARIANTS:  # rendered table rows for every variant (leaderboard, stability)
        assert cells.count(variant) >= 2, variant
    assert len(re.findall(r"<table", dom)) >= 4
