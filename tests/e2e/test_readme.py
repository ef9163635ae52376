"""The "Extending genbench" example of the documentation (docs/guide/extending.md, linked from the
README), copied verbatim into a folder and run there with `genbench run`: the plugin file (its
```python block) and the suite (its ```yaml block)."""

from __future__ import annotations

import re

import yaml

from tests.helpers import ROOT, read_csv_ids, run_cli

EXTENDING = ROOT / "docs" / "guide" / "extending.md"


def _blocks() -> dict[str, str]:
    """The first ```python and ```yaml blocks of the extending guide."""
    text = EXTENDING.read_text()
    return {lang: re.search(rf"```{lang}\n(.*?)```", text, re.S).group(1) for lang in ("python", "yaml")}


def test_the_documented_plugin_and_suite_run_as_written(tmp_path):
    blocks = _blocks()
    suite = yaml.safe_load(blocks["yaml"])
    (plugin,) = suite["plugins"]
    assert len(blocks["python"].splitlines()) <= 50  # a complete model in a screenful
    (tmp_path / plugin).write_text(blocks["python"])
    (tmp_path / "lsgan.yaml").write_text(blocks["yaml"])
    proc = run_cli("run", "lsgan.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    board = read_csv_ids(tmp_path / "results" / suite["name"] / "leaderboard.csv")
    assert len(board) == 2 * len(suite["seeds"]) and set(board["status"]) == {"ok"}
    assert set(board["model"]) == {"gan", "my_lsgan"} and board["modes"].notna().all()
    manifest = yaml.safe_load((tmp_path / "results" / suite["name"] / "suite.json").read_text())
    assert manifest["diagnostics"]["train.ls_d_fake"]["equation"] == "Mao et al. eq. 2"  # the plugin's
    assert "diagnostics_ring8" in (tmp_path / "results" / suite["name"] / "report.md").read_text()
