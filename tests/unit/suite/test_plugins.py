"""Plugins written in a temporary directory, outside the package, loaded in-process: a plugin that
fails leaves nothing registered; plugin sources and metric parameters (defaults too) are part of
the run ids; a worker refuses a plugin whose source changed (through the CLI:
tests/e2e/suite/test_plugins.py)."""

from __future__ import annotations

import json
import re

import pytest

import genbench
from genbench.metrics.settings import EvalSettings
from genbench.registry import METRICS
from genbench.suite import plugins
from genbench.suite.config import SuiteError, load_suite
from tests.helpers import PLUGIN_MODEL, plugin_suite, write_plugins


def _ids(path) -> list[str]:
    return [s.run_id for s in load_suite(path)[1]]


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
    model.write_text(PLUGIN_MODEL.replace('"tiny_lsgan"', '"tiny_edit"'))
    path = tmp_path / "s.yaml"
    path.write_text(
        plugin_suite("[plugins/tiny_edit.py]", seeds="[0, 1]")
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
    path = write_plugins(tmp_path)
    path.write_text(path.read_text().replace("power: 1.0", "powr: 1.0"))
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert re.search(
        r"plug.yaml:8: metrics\[1\]\.powr: unknown key \(did you mean 'power'\?\)", str(info.value)
    )
    assert json.dumps(str(info.value))  # one paragraph


def test_a_worker_refuses_a_plugin_whose_source_is_not_the_runs(tmp_path):
    path = tmp_path / "gb_refused.py"
    path.write_text("VALUE = 1\n")
    plugin = plugins.load_file(path)
    plugins.ensure([plugin])  # the source the run was defined with: fine
    path.write_text("VALUE = 2\n")  # edited after this process imported it
    edited = plugins.Plugin(module=plugin.module, sha256=plugins._sha256([path]), file=str(path))
    with pytest.raises(ImportError, match="is not the source the run was defined with"):
        plugins.ensure([edited])
