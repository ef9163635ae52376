"""The documentation site builds with `mkdocs build --strict` (what .ci/run runs): the generated
reference pages are in it, a broken link fails the build, and links to repository files outside
docs/ become plain paths (or code-host links once `repo_url` is set)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT


def _build(config: Path, site: Path) -> subprocess.CompletedProcess:
    """`mkdocs build --strict` of `config` into `site`."""
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "--site-dir", str(site)]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def _config_copy(tmp_path: Path, extra: str = "") -> Path:
    """mkdocs.yml with docs/ and the hook copied beside it, plus `extra` configuration."""
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    (tmp_path / "tools").mkdir()
    shutil.copy(ROOT / "tools" / "gen_reference.py", tmp_path / "tools")
    config = tmp_path / "mkdocs.yml"
    config.write_text((ROOT / "mkdocs.yml").read_text() + extra)
    return config


def test_the_site_builds_strictly_with_the_generated_reference(tmp_path):
    proc = _build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "WARNING -" not in proc.stderr
    models = (tmp_path / "site" / "reference" / "models" / "index.html").read_text()
    assert all(f'id="{name}"' in models for name in ("gan", "wgan", "vae", "dcgan", "veegan"))
    assert "fjxmlzn/PacGAN" in models  # the presets' sources
    stability = (tmp_path / "site" / "guide" / "stability" / "index.html").read_text()
    assert "<code>results/reference/stability/report.md</code>" in stability
    assert 'href="../../results/' not in stability  # no link out of the site


def test_a_broken_link_fails_the_strict_build(tmp_path):
    config = _config_copy(tmp_path)
    page = tmp_path / "docs" / "guide" / "development.md"
    page.write_text(page.read_text() + "\n[gone](no-such-page.md)\n")
    proc = _build(config, tmp_path / "site")
    assert proc.returncode == 1 and "no-such-page.md" in proc.stderr


def test_a_repo_url_turns_repository_paths_into_links(tmp_path):
    config = _config_copy(tmp_path, "repo_url: https://example.org/genbench\n")
    proc = _build(config, tmp_path / "site")
    assert proc.returncode == 0, proc.stderr[-3000:]
    stability = (tmp_path / "site" / "guide" / "stability" / "index.html").read_text()
    assert 'href="https://example.org/genbench/blob/main/results/reference/stability/report.md"' in stability
