"""The report's settings tables: each hyper-parameter's reference points at its family's section
of the documentation's generated models page (a plugin's family: the listing with its plugins)."""

from __future__ import annotations

import importlib.util

from genbench.analysis.settings import reference_of, variants_frames
from genbench.builtins import load_builtins
from genbench.registry import MODELS
from tests.helpers import TOOLS, leaderboard_specs

spec = importlib.util.spec_from_file_location("gen_reference", TOOLS / "gen_reference.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def test_every_built_in_family_points_at_its_section_of_the_models_page():
    load_builtins()
    page = tool.pages()["reference/models.md"]
    built_in = [f for f in MODELS if MODELS.get(f).hparams.__module__.startswith("genbench.")]
    assert {"gan", "wgan", "vae", "dcgan", "veegan"} <= set(built_in)
    for family in built_in:
        path, anchor = reference_of(family).split("#")
        assert path == "docs/reference/models.md"
        assert f"\n## `{anchor}`\n" in page and f"](#{anchor})" in page  # the heading the site gives that id


def test_a_family_the_registry_does_not_hold_points_at_the_listing():
    assert reference_of("tiny_lsgan") == "genbench list --suite <suite file> tiny_lsgan"


def test_the_glossary_of_a_suite_names_the_reference(tmp_path):
    specs = [{**s.model_dump(mode="json"), "run_id": s.run_id} for s in leaderboard_specs(tmp_path)]
    _, glossary = variants_frames(specs, {})
    assert list(glossary["reference"]) == ["docs/reference/models.md#gan"]  # lr, the key the suite sets
