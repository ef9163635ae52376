"""The report's settings: the protocol every run shares, and a tidy table of what differs between
the variants (one row per variant and hyper-parameter, with the family's default and the meaning
its schema gives: the same source as `genbench list` and the reference pages)."""

from __future__ import annotations

import os
import platform
import re

import pandas as pd

from genbench.builtins import load_builtins
from genbench.numerics import code_label
from genbench.registry import MODELS


def value_text(value) -> str:
    """A parameter's value as a reader writes it: no Python dict or list brackets with quotes."""
    if value is None:
        return "none"
    if isinstance(value, dict):
        return ", ".join(f"{k} {value_text(v)}" for k, v in value.items()) or "none"
    if isinstance(value, list | tuple):
        return ", ".join(value_text(v) for v in value) or "none"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _field(registry, family: str, key: str) -> tuple[str, str]:
    """(default, meaning) of a family's parameter from its registered schema ('–' if unknown)."""
    entry = registry.get(family) if family in registry else None
    schema = getattr(entry, "hparams", None) or getattr(entry, "params", None)
    field = schema.model_fields.get(key) if schema is not None else None
    if field is None:
        return "–", "–"
    default = "required" if field.is_required() else value_text(field.default)
    return default, field.description or "–"


def reference_of(family: str) -> str:
    """Where a family's parameters are documented: the section of the documentation's generated
    reference page (its path in the docs site's sources, as text: the site is not shipped beside
    the results); for a family a plugin registers, the listing that includes its plugins."""
    load_builtins()
    entry = MODELS.get(family) if family in MODELS else None
    if entry is not None and entry.hparams.__module__.startswith("genbench."):
        return f"docs/reference/models.md#{family}"
    return f"genbench list --suite <suite file> {family}"


def _set_keys(variant: str) -> list[str]:
    """The keys a variant string ('k=v k2=v2') sets, in its order."""
    return re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=", variant or "")


def _shown_keys(mine: list[dict]) -> list[str]:
    """The hyper-parameters of one family's variants worth showing: those the suite file set,
    then those whose values differ between the variants."""
    keys = list(dict.fromkeys(k for s in mine for k in _set_keys(s["variant"]) if k in s["hparams"]))
    differ = [k for k in mine[0]["hparams"] if len({value_text(s["hparams"].get(k)) for s in mine}) > 1]
    return keys + [k for k in differ if k not in keys]


def variants_frames(specs: list[dict], labels: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two tidy tables: one row per variant and hyper-parameter that the suite file set or that
    differs between the variants of its family (its value); and one row per such hyper-parameter
    with the family's default, its meaning and where both are written."""
    load_builtins()  # the registry's schemas (plugins' families read as unknown: '–')
    variants = {(s["model"], s["variant"]): s for s in specs}
    values, glossary = [], []
    for family in dict.fromkeys(m for m, _ in variants):
        mine = [s for (m, _), s in variants.items() if m == family]
        keys = _shown_keys(mine)
        for key in keys:
            default, meaning = _field(MODELS, family, key)
            glossary.append((family, key, default, meaning, reference_of(family)))
        for spec in mine:
            name = labels.get(spec["run_id"]) or spec.get("label") or f"{family} {spec['variant']}".strip()
            for key in keys:
                values.append((name, family, key, value_text(spec["hparams"].get(key))))
            if not keys:
                values.append((name, family, "–", "every hyper-parameter at its default"))
    return (
        pd.DataFrame(values, columns=["variant", "family", "parameter", "value"]),
        pd.DataFrame(glossary, columns=["family", "parameter", "default", "meaning", "reference"]),
    )


def datasets_frame(specs: list[dict]) -> pd.DataFrame:
    """One row per data set of the suite: the parameters its entry set, and its modes."""
    rows = []
    for spec in {(s["dataset"], s["dataset_variant"]): s for s in specs}.values():
        info = spec.get("dataset_info") or {}
        given = spec["dataset_variant"] or "the family's defaults"
        modes = value_text(info.get("n_modes")) if info.get("n_modes") else "–"
        rows.append((f"{spec['dataset']} {spec['dataset_variant']}".strip(), given, modes))
    return pd.DataFrame(rows, columns=["data set", "parameters set", "modes"])


def protocol_frame(runs: list[dict], directions: dict[str, str], variants: int) -> pd.DataFrame:
    """The settings every run shares: seeds, budget, evaluation, metrics, versions, hardware."""
    specs = [r["spec"] for r in runs]
    first = specs[0]
    protocols = [r["result"].protocol for r in runs if r["result"] and r["result"].protocol is not None]
    proto = protocols[0] if protocols else {}
    datasets = len({(s["dataset"], s["dataset_variant"]) for s in specs})
    rows = [
        ("runs", f"{len(specs)} ({variants} model variants × {datasets} data sets × seeds)"),
        ("seeds", ", ".join(str(s) for s in sorted({s["seed"] for s in specs}))),
        ("budget", ", ".join(f"{k} {v}" for k, v in first["budget"].items() if v is not None)),
        ("evaluation", f"at step 0, every {first['eval'].get('every')} steps and at the end"),
        ("metrics", ", ".join(f"{m} ({'↑' if d == 'max' else '↓'})" for m, d in directions.items())),
        ("samples per evaluation", str(proto.get("samples", first["eval"].get("samples")))),
        ("evaluation data", str(proto.get("split", "–"))),
        ("evaluation seeding", str(proto.get("eval_seed", "–"))),
        (
            "versions",
            ", ".join(f"{k} {proto[k]}" for k in ("genbench", "torch", "python") if k in proto) or "–",
        ),
        ("code", "; ".join(dict.fromkeys(code_label(p) for p in protocols)) or "–"),
        (
            "hardware",
            "not recorded per run; this report was written on "
            f"{platform.machine()} {platform.system()} with {os.cpu_count()} CPUs",
        ),
    ]
    return pd.DataFrame(rows, columns=["setting", "value"])


def settings_blocks(runs: list[dict], labels: dict[str, str], directions: dict[str, str]) -> list[tuple]:
    """The report's settings section as blocks: protocol, variants, data sets."""
    specs = [r["spec"] for r in runs]
    variants, glossary = variants_frames(specs, labels)
    n_variants = len({(s["model"], s["variant"]) for s in specs})
    return [
        ("table", "Settings", protocol_frame(runs, directions, n_variants)),
        (
            "p",
            "What differs between the variants: every hyper-parameter the suite file set or that "
            "takes different values within a family; every other one has its family's default.",
        ),
        ("table", "Model variants", variants),
        (
            "p",
            "What those hyper-parameters are: the family's default and meaning as its registered "
            "schema gives them (the source of `genbench list <family>` and of the documentation's "
            "reference pages); reference: the family's section of the documentation, "
            "docs/reference/models.md#<family> in its sources.",
        ),
        ("table", "Hyper-parameters", glossary),
        ("table", "Data sets", datasets_frame(specs)),
    ]
