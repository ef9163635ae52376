"""tools/gen_reference.py: the reference pages come from the registries (a model registered now
is on them), every preset value has its source on the models page, and links to repository files
outside docs/ become code-host links or plain paths."""

from __future__ import annotations

import importlib.util

from pydantic import BaseModel, Field

import genbench
from genbench.models import presets
from genbench.registry import DATASETS, METRICS, MODELS
from tests.helpers import ROOT, TOOLS

spec = importlib.util.spec_from_file_location("gen_reference", TOOLS / "gen_reference.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


class WidthParams(BaseModel):
    width_of_docs: int = Field(7, description="a parameter only this test registers")


def test_every_registered_name_has_a_section_on_its_page():
    pages = tool.pages()
    assert set(pages) == set(tool.GENERATED)
    for path, registry in [
        ("reference/models.md", MODELS),
        ("reference/datasets.md", DATASETS),
        ("reference/metrics.md", METRICS),
    ]:
        for name in registry:
            assert f"\n## `{name}`\n" in pages[path], (path, name)
    assert "## `genbench list`" in pages["reference/cli.md"] and "--suite" in pages["reference/cli.md"]


def test_every_preset_value_appears_with_its_source():
    models = tool.pages()["reference/models.md"]
    for family in presets.PRESETS.values():
        for values in family.values():
            for key, (_, source) in values.items():
                assert f"| `{key}` |" in models and source.replace("|", "\\|") in models


def test_a_model_registered_now_is_generated_with_its_parameters():
    genbench.register_model("docs_probe", WidthParams, lambda hp, dataset, device: None, doc="a probe")
    try:
        models = tool.pages()["reference/models.md"]
    finally:
        MODELS.unregister("docs_probe")
    assert "\n## `docs_probe`\n\na probe\n" in models
    assert "| `width_of_docs` | `7` | a parameter only this test registers |" in models


def test_repository_links_outside_docs_are_found():
    docs = ROOT / "docs"
    outside = tool.repository_target(
        "guide/stability.md", "../../results/reference/stability/report.md", docs
    )
    assert outside == (ROOT / "results/reference/stability/report.md").resolve() and outside.exists()
    assert tool.repository_target("guide/stability.md", "../run-ids.md", docs) is None  # a docs page
    assert tool.repository_target("guide/stability.md", "https://example.org/x.md", docs) is None
