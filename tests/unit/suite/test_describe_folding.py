"""`genbench list` reads on a terminal: one family fits a screen, long values (the presets) are
folded, a block shared by two families is printed once, and a name can pick one entry or section."""

from __future__ import annotations

import pytest

from genbench.models import presets
from genbench.registry import MODELS
from genbench.suite.config import SuiteError
from genbench.suite.describe import describe_registries, entries, select


def _is_header(line: str) -> bool:
    """An entry's one-line summary (`  name: doc`), the only line that is not folded."""
    return line.startswith("  ") and not line.startswith("   ") and ":" in line


def test_one_family_fits_a_screen_and_every_line_a_terminal():
    text = describe_registries(["gan"], width=100)
    lines = text.splitlines()
    assert lines[:2] == ["models:", lines[1]] and lines[1].startswith("  gan: GAN")
    assert len(lines) <= 50
    assert max(len(line) for line in lines) <= 100
    assert "wgan" not in text and "ring8" not in text and "metrics:" not in text
    assert "d_maxout=5" in text and presets.PACGAN_TASK in text  # the preset folded, not dropped


def test_the_whole_listing_folds_long_values_and_prints_a_shared_block_once():
    text = describe_registries(width=100)
    lines = text.splitlines()
    long_lines = [line for line in lines if len(line) > 100]
    assert all(_is_header(line) for line in long_lines), long_lines
    assert text.count("pacgan: z_dim=2, hidden=400") == 1  # dcgan and gan share the presets
    assert "    presets: as dcgan's (pacgan, unrolled)" in lines
    assert text.count("wgan_gp_toy: hidden=512") == 1


def test_a_narrow_terminal_folds_every_parameter_line():
    lines = describe_registries(["wgan", "ring8"], width=72).splitlines()
    assert [line for line in lines if len(line) > 72 and not _is_header(line)] == []
    assert "      clip = 0.01  weight clipping bound c (Arjovsky et al.)" in lines


def test_a_section_name_selects_its_entries():
    text = describe_registries(["metrics"])
    assert text.startswith("metrics:\n") and "models:" not in text and "datasets:" not in text
    assert all(f"\n  {name}: " in text for name in ("fid", "elbo", "mode_coverage"))


def test_an_unknown_name_is_refused_with_the_closest_known_one():
    with pytest.raises(SuiteError, match=r"unknown name 'gn' \(did you mean 'gan'\?\); known: datasets"):
        select(entries(), ["gn"])


def test_every_model_entry_carries_its_defaults_source_and_presets():
    models = {e.name: e for e in entries() if e.section == "models"}
    assert set(models) == set(MODELS)
    assert "Metz et al. 2017" in dict(models["gan"].facts)["defaults"]
    assert [p.name for p in models["wgan"].presets] == list(presets.PRESETS["wgan"])
    assert models["gan"].presets == models["dcgan"].presets and models["vae"].presets == ()
