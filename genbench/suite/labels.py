"""`label:` on a model entry: the name its variants go by in every table, figure and CSV (not
part of the run id). Checked here: a non-empty string, unique in the suite."""

from __future__ import annotations

import itertools
from typing import Any

from genbench.suite.reader import SuiteErrors

MAX_LABEL = 80  # characters: a label is a table cell and a legend entry


def take_labels(models: list[dict[str, Any]], errors: SuiteErrors) -> tuple[list[dict], dict[str, tuple]]:
    """The model entries without their `label:` keys, and per variant key ('name k=v ...', the
    variant before any search trial) its label and the entry index; problems go to `errors`."""
    entries, labels, seen = [], {}, {}
    for i, entry in enumerate(models):
        entry = dict(entry)
        given = entry.pop("label", None)
        entries.append(entry)
        if given is None:
            continue
        if not isinstance(given, str) or not given.strip() or len(given) > MAX_LABEL:
            errors.add(
                ("models", i, "label"), f"a label is a non-empty string of at most {MAX_LABEL} characters"
            )
            continue
        if given.strip() in seen:
            errors.add(("models", i, "label"), f"label {given!r} is also models[{seen[given.strip()]}]'s")
            continue
        seen[given.strip()] = i
        for key, name in _variant_keys(entry, given.strip()).items():
            labels[key] = (name, i)
    return entries, labels


def _variant_keys(entry: dict[str, Any], label: str) -> dict[str, str]:
    """Per variant of the entry ('name k=v ...', as config's variant strings): its label, the
    entry's label followed by the listed values when the entry's lists give several variants."""
    params = {k: v for k, v in entry.items() if k not in ("name", "search")}
    listed = [k for k, v in params.items() if isinstance(v, list)]
    out = {}
    for combo in itertools.product(*(v if isinstance(v, list) else [v] for v in params.values())):
        given = dict(zip(params, combo, strict=True))
        key = f"{entry.get('name')} " + " ".join(f"{k}={v}" for k, v in given.items() if k != "data_dir")
        suffix = " ".join(f"{k}={given[k]}" for k in listed)
        out[key.strip()] = f"{label} {suffix}".strip()
    return out


def apply_labels(specs: list, labels: dict[str, tuple], errors: SuiteErrors) -> list:
    """The run specs with their variant's label (a searched variant: the label and its trial);
    two variants with one label are a problem at the label's key in `errors`."""
    out, owner = [], {}
    for spec in specs:
        method = (spec.search or {}).get("method") or f"{spec.model} {spec.variant}".strip()
        found = labels.get(method)
        if found is not None:
            trial = f"{spec.model} {spec.variant}".strip().removeprefix(method).strip()
            spec = spec.model_copy(update={"label": f"{found[0]} {trial}".strip()})
        variant = (spec.model, spec.variant)
        first = owner.setdefault(spec.label, variant)
        if first != variant:
            where = ("models", found[1], "label") if found else ("models",)
            errors.add(where, f"{spec.label!r} names two variants: {' '.join(first)} and {' '.join(variant)}")
        out.append(spec)
    return out
