"""Plugins through the real CLI (`--serial`, in a subprocess): a small GAN variant, a metric with a
parameter and a toy data set run beside the built-in gan; a plugin that fails to import or
registers badly stops the suite with its file and line and writes nothing; an installed
entry-point plugin is known to list, validate and run (tests/unit/suite/test_plugins.py: in-process)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from genbench.store import runs as store
from tests.helpers import PLUGIN_MODEL, plugin_suite, read_csv_ids, run_cli, write_plugins


def test_plugin_model_metric_and_dataset_run_beside_the_builtin_gan(tmp_path):
    path = write_plugins(tmp_path)
    listing = run_cli("list", "--suite", path.name, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    for line in ("tiny_lsgan: least-squares GAN", "line (toy2d)", "spread: L^p spread", "power = 2.0"):
        assert line in listing.stdout
    proc = run_cli("run", path.name, "--serial", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    suite_path = tmp_path / "results" / "plug"
    board = read_csv_ids(suite_path / "leaderboard.csv")
    assert len(board) == 4 and set(board["status"]) == {"ok"}
    assert set(board["model"]) == {"gan", "tiny_lsgan"}
    assert set(board["dataset"]) == {"ring8 train_size=2000 test_size=500", "line"}
    assert board["spread"].notna().all() and board["modes"].notna().all()
    assert "hp.hidden" in board and set(board.loc[board["model"] == "tiny_lsgan", "hp.lr"]) == {1e-3}
    manifest = store.read_manifest(suite_path)
    assert manifest["diagnostics"]["train.lsq_d_fake"]["equation"] == "Mao et al. eq. 2"  # the plugin's
    assert "train.grad_norm_g" in manifest["diagnostics"]  # the built-in gan's
    line_run = board[(board["model"] == "tiny_lsgan") & (board["dataset"] == "line")].iloc[0]
    spec = store.read_json(suite_path / "runs" / line_run["run_id"] / "spec.json")
    assert spec["dataset_info"] == {
        "kind": "toy2d",
        "n_modes": 3,
        "collapse": {"output": "modes", "below": 1.5},
    }
    assert spec["metric_params"]["spread"] == {"power": 1.0}  # the suite's, not the default 2.0
    assert {p["module"] for p in spec["plugins"]} == {"tiny_lsgan", "gb_extras"}
    report = (suite_path / "report.md").read_text()
    assert "Stability" in report and "diagnostics_line.png" in report


BAD_IMPORT = """\
import genbench

VALUE = 1
raise RuntimeError("the user's plugin is broken")
"""
DUPLICATE = """\
from pydantic import BaseModel

import genbench


class P(BaseModel):
    x: int = 1


genbench.register_model("gan", P, lambda hp, dataset, device: None)
"""
BAD_NAME = DUPLICATE.replace('"gan"', '"Bad Name"')


@pytest.mark.parametrize(
    ("source", "line", "message"),
    [
        (BAD_IMPORT, 4, "RuntimeError: the user's plugin is broken"),
        (DUPLICATE, 10, "ValueError: model 'gan' is already registered"),
        (BAD_NAME, 10, "ValueError: model name 'Bad Name' must be lower snake_case"),
        ("def broken(:\n", 1, "SyntaxError"),
    ],
    ids=["raises", "duplicate", "bad_name", "syntax"],
)
def test_a_bad_plugin_exits_2_with_its_file_and_line_and_writes_nothing(tmp_path, source, line, message):
    (tmp_path / "my_plugin.py").write_text(source)
    (tmp_path / "s.yaml").write_text(plugin_suite("[my_plugin.py]").replace("tiny_lsgan", "gan"))
    proc = run_cli("run", "s.yaml", "--serial", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{tmp_path / 'my_plugin.py'}:{line}" in proc.stderr, proc.stderr
    assert message in proc.stderr and "s.yaml:5: plugins[0]" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my_plugin.py", "s.yaml"]  # nothing written


def test_an_installed_entry_point_plugin_is_known_to_list_validate_and_run(tmp_path):
    site = tmp_path / "site"  # an installed distribution: a module and its dist-info
    (site / "gb_installed-0.1.dist-info").mkdir(parents=True)
    (site / "gb_installed-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: gb-installed\nVersion: 0.1\n"
    )
    (site / "gb_installed-0.1.dist-info" / "entry_points.txt").write_text(
        "[genbench.suite.plugins]\nmine = gb_installed\n"
    )
    (site / "gb_installed.py").write_text(PLUGIN_MODEL.replace('"tiny_lsgan"', '"installed_lsgan"'))
    suite = plugin_suite("[]").replace("tiny_lsgan", "installed_lsgan").replace(", {name: line}", "")
    (tmp_path / "s.yaml").write_text(suite.replace(", {name: spread, power: 1.0}", ""))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])

    def cli(*args):
        cmd = [sys.executable, "-m", "genbench.driver.cli", *args]
        return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    listing = cli("list")
    assert listing.returncode == 0 and "installed_lsgan: least-squares GAN" in listing.stdout, listing.stderr
    proc = cli("run", "s.yaml", "--serial")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    board = read_csv_ids(tmp_path / "results" / "plug" / "leaderboard.csv")
    assert set(board["model"]) == {"gan", "installed_lsgan"} and set(board["status"]) == {"ok"}
    spec = store.read_json(tmp_path / "results" / "plug" / "runs" / board["run_id"][0] / "spec.json")
    (plugin,) = spec["plugins"]
    assert plugin["module"] == "gb_installed" and plugin["file"] is None  # installed: not shipped
