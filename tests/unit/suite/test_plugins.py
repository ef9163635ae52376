"""Plugins written in a temporary directory, outside the package: a small GAN variant, a metric
with a parameter and a toy data set run through the real CLI beside the built-in gan; a plugin
that fails to import or registers badly stops the suite with its file and line and writes
nothing; plugin sources and metric parameters (defaults too) are part of the run ids."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pandas as pd
import pytest

import genbench
from genbench.metrics.settings import EvalSettings
from genbench.registry import METRICS
from genbench.store import runs as store
from genbench.suite import plugins
from genbench.suite.config import SuiteError, load_suite
from tests import plugin_files
from tests.conftest import run_cli


def _ids(path) -> list[str]:
    return [s.run_id for s in load_suite(path)[1]]


def test_plugin_model_metric_and_dataset_run_beside_the_builtin_gan(tmp_path):
    path = plugin_files.write(tmp_path)
    listing = run_cli("list", "--suite", path.name, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    for line in ("tiny_lsgan: least-squares GAN", "line (toy2d)", "spread: L^p spread", "power = 2.0"):
        assert line in listing.stdout
    proc = run_cli("run", path.name, "--serial", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    suite_path = tmp_path / "results" / "plug"
    board = pd.read_csv(suite_path / "leaderboard.csv")
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
    (tmp_path / "s.yaml").write_text(plugin_files.suite("[my_plugin.py]").replace("tiny_lsgan", "gan"))
    proc = run_cli("run", "s.yaml", "--serial", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{tmp_path / 'my_plugin.py'}:{line}" in proc.stderr, proc.stderr
    assert message in proc.stderr and "s.yaml:5: plugins[0]" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my_plugin.py", "s.yaml"]  # nothing written


def test_a_failed_plugin_leaves_nothing_registered_in_this_process(tmp_path):
    (tmp_path / "half_plugin.py").write_text(
        "import genbench\nfrom pydantic import BaseModel\n\nclass P(BaseModel):\n    x: int = 1\n\n"
        "genbench.register_dataset('half_done', P, lambda p: None, 'toy2d')\nraise ImportError('later')\n"
    )
    with pytest.raises(SuiteError, match=r"half_plugin.py:8: ImportError: later"):
        plugins.load_file(tmp_path / "half_plugin.py")
    from genbench.registry import DATASETS

    assert "half_done" not in DATASETS


def test_plugin_source_is_part_of_the_run_id(tmp_path):
    (tmp_path / "plugins").mkdir()
    model = tmp_path / "plugins" / "tiny_edit.py"
    model.write_text(plugin_files.MODEL.replace('"tiny_lsgan"', '"tiny_edit"'))
    path = tmp_path / "s.yaml"
    path.write_text(
        plugin_files.suite("[plugins/tiny_edit.py]", seeds="[0, 1]")
        .replace("tiny_lsgan", "tiny_edit")
        .replace(", {name: line}", "")
        .replace(", {name: spread, power: 1.0}", "")
    )
    first = _ids(path)
    assert _ids(path) == first and len(set(first)) == 4  # unchanged suite and source: the same ids
    model.write_text(model.read_text().replace("hidden: int = Field(32", "hidden: int = Field(48"))
    changed = _ids(path)
    gan_ids = {s.run_id for s in load_suite(path)[1] if s.model == "gan"}
    assert not set(changed) & set(first)  # every run: the plugin may change any of them
    assert gan_ids <= set(changed)
    specs = {s.model: s for s in load_suite(path)[1]}
    assert specs["tiny_edit"].hparams["hidden"] == 16  # the suite's value; the default changed
    model.write_text(model.read_text().replace("Field(48", "Field(32"))
    assert _ids(path) == first  # the same source again: the same ids


def _spread_suite(power_default: float) -> dict:
    """Register (again) an in-process metric whose parameter default is `power_default`."""
    from pydantic import BaseModel

    class Params(BaseModel):
        power: float = power_default

    METRICS.unregister("power_mean")
    genbench.register_metric(
        "power_mean", lambda m, d, ctx: {"power_mean": 0.0}, {"power_mean": "max"}, params=Params
    )
    return {
        "name": "ids",
        "seeds": [0],
        "budget": {"steps": 5},
        "datasets": [{"name": "ring8"}],
        "models": [{"name": "gan"}],
        "metrics": ["mode_coverage", "power_mean"],
    }


def test_a_changed_default_metric_parameter_gives_a_new_run_id():
    (base,) = load_suite(_spread_suite(2.0))[1]
    (same,) = load_suite(_spread_suite(2.0))[1]
    (changed,) = load_suite(_spread_suite(3.0))[1]
    assert base.metric_params["power_mean"] == {"power": 2.0} and changed.metric_params["power_mean"] == {
        "power": 3.0
    }
    assert base.run_id == same.run_id and base.run_id != changed.run_id
    METRICS.unregister("power_mean")


def test_the_run_id_hashes_every_evaluation_setting_at_its_default_and_the_format():
    (spec,) = load_suite(
        {
            "name": "x",
            "seeds": [0],
            "budget": {"steps": 5},
            "datasets": [{"name": "ring8"}],
            "models": [{"name": "gan"}],
            "metrics": ["mode_coverage"],
        }
    )[1]
    payload = spec.id_payload()
    assert set(payload["eval"]) == set(EvalSettings.model_fields)  # nll_k_train etc. at their defaults
    assert (
        payload["spec_version"] == 2
        and payload["plugins"] == []
        and payload["metric_params"] == {"mode_coverage": {}}
    )
    assert len(payload["hparams"]) == len(spec.hparams) > 20  # every hyper-parameter, defaults too


def test_a_typo_in_a_metric_parameter_names_file_key_and_line(tmp_path):
    path = plugin_files.write(tmp_path)
    path.write_text(path.read_text().replace("power: 1.0", "powr: 1.0"))
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert re.search(
        r"plug.yaml:8: metrics\[1\]\.powr: unknown key \(did you mean 'power'\?\)", str(info.value)
    )
    assert json.dumps(str(info.value))  # one paragraph


def test_an_installed_entry_point_plugin_is_known_to_list_validate_and_run(tmp_path):
    site = tmp_path / "site"  # an installed distribution: a module and its dist-info
    (site / "gb_installed-0.1.dist-info").mkdir(parents=True)
    (site / "gb_installed-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: gb-installed\nVersion: 0.1\n"
    )
    (site / "gb_installed-0.1.dist-info" / "entry_points.txt").write_text(
        "[genbench.suite.plugins]\nmine = gb_installed\n"
    )
    (site / "gb_installed.py").write_text(plugin_files.MODEL.replace('"tiny_lsgan"', '"installed_lsgan"'))
    suite = plugin_files.suite("[]").replace("tiny_lsgan", "installed_lsgan").replace(", {name: line}", "")
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
    board = pd.read_csv(tmp_path / "results" / "plug" / "leaderboard.csv")
    assert set(board["model"]) == {"gan", "installed_lsgan"} and set(board["status"]) == {"ok"}
    spec = store.read_json(tmp_path / "results" / "plug" / "runs" / board["run_id"][0] / "spec.json")
    (plugin,) = spec["plugins"]
    assert plugin["module"] == "gb_installed" and plugin["file"] is None  # installed: not shipped


def test_a_worker_refuses_a_plugin_whose_source_is_not_the_runs(tmp_path):
    path = tmp_path / "gb_refused.py"
    path.write_text("VALUE = 1\n")
    plugin = plugins.load_file(path)
    plugins.ensure([plugin])  # the source the run was defined with: fine
    path.write_text("VALUE = 2\n")  # edited after this process imported it
    edited = plugins.Plugin(module=plugin.module, sha256=plugins._sha256([path]), file=str(path))
    with pytest.raises(ImportError, match="is not the source the run was defined with"):
        plugins.ensure([edited])
