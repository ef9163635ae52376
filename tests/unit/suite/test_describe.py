"""`genbench list`: every registered data set, model and metric with its parameters and defaults."""

from __future__ import annotations

from genbench.registry import DATASETS, METRICS, MODELS
from genbench.suite.describe import describe_registries


def test_lists_every_registered_name_under_its_section():
    text = describe_registries()
    sections = [text.index(f"{s}:\n") for s in ("datasets", "models", "metrics")]
    assert sections == sorted(sections)
    for names, start, end in [
        (DATASETS, sections[0], sections[1]),
        (MODELS, sections[1], sections[2]),
        (METRICS, sections[2], len(text)),
    ]:
        block = text[start:end]
        for name, _ in names.items():
            assert f"\n  {name}" in block, name


def test_shows_defaults_directions_and_needs():
    text = describe_registries()
    assert "  ring8 (toy2d): " in text and "  digits (image): " in text
    assert "      n_modes = 8  number of modes" in text  # a data set's parameter, default, description
    entries = {line.split(":")[0].strip(): i for i, line in enumerate(text.split("\n")) if line[2] != " "}
    lines = text.split("\n")
    gan = "\n".join(lines[entries["gan"] : min(i for i in entries.values() if i > entries["gan"])])
    assert "      hidden = 128  width of hidden layers (Metz et al.)" in gan  # default and its source
    assert "outputs: modes (higher is better), hq_frac (higher is better)" in text
    elbo = text[text.index("\n  elbo: ") :].split("\n")[1]
    assert "needs a model with elbo" in elbo
