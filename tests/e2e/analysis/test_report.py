"""The report's HTML rendered by headless Chromium (a subprocess): every image decodes and every
variant's table rows render (tests/unit/analysis/test_report.py: the report's files in-process)."""

from __future__ import annotations

import html
import json
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


# what a reader would check, computed in the page after load and written into the DOM
READER_CHECK = """<script>
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var text = document.body.innerText;
  var result = {
    images: images.length,
    loaded: images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,
    narrowest: Math.min.apply(null, images.map(function (i) { return i.getBoundingClientRect().width; })),
    overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    raw_dict: text.indexOf("{'") >= 0,
    nan: /(^|[^A-Za-z])nan([^A-Za-z]|$)/.test(text),  // a missing value printed raw
  };
  var out = document.createElement('pre');
  out.id = 'reader-check';
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
</script>"""


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium binary (apt-get install chromium)")
def test_the_report_reads_well_at_1280_px(report_suite, tmp_path):
    """No raw Python dicts, no 'nan', every image loaded and at least 600 px wide as displayed, no
    horizontal scrolling in a 1,280 px window; the summary comes first and states the seeds' power."""
    page = tmp_path / "report.html"
    page.write_text((report_suite / "report.html").read_text().replace("</body>", READER_CHECK + "</body>"))
    cmd = [
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1280,900",
        "--virtual-time-budget=5000",
        "--dump-dom",
        page.as_uri(),
    ]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'<pre id="reader-check">([^<]*)</pre>', dom)
    assert found, dom[-2000:]
    check = json.loads(html.unescape(found.group(1)))
    assert check["images"] >= 4 and check["loaded"] == check["images"]
    assert check["narrowest"] >= 600
    assert check["overflow"] <= 0
    assert not check["raw_dict"] and not check["nan"]
    headings = re.findall(r"<h2>([^<]*)</h2>", dom)
    assert headings[:2] == ["What the comparison found", "Leaderboard"]
    # 3 seeds: no Mann-Whitney test can reach 0.05 (smallest possible p 2 / C(6, 3) = 0.1)
    assert "not ranked (3 seeds: smallest possible p 0.1 &gt; 0.05)" in dom
