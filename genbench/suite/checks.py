"""Checks of a suite's resolved runs. Keys that would change nothing: a parameter without effect
given the others (`clip` under `lipschitz: gp`), a metric defined on none of the suite's data sets;
both are refused with file, key and line (they would train identical variants under different
names, or print no number). Metrics that cannot be computed here (e.g. no inception weights)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from genbench.registry import DATASETS, METRICS
from genbench.suite.reader import SuiteError, SuiteErrors


def no_effect(values: BaseModel, given: dict[str, Any]) -> list[tuple[str, str]]:
    """The keys of `given` (what a suite entry set itself; a preset's keys are defaults) whose
    value has no effect given the others, each with why: from the schema's `no_effect()`, which
    a family's (or data set's) schema may define as {key: reason}."""
    rules = getattr(values, "no_effect", None)
    if not callable(rules):
        return []
    return [(key, f"has no effect here: {why}; remove it") for key, why in rules().items() if key in given]


def unused_metrics(metric_names: list[str], specs: list, notes: list[str], errors: SuiteErrors) -> None:
    """Add to `errors` each metric of the suite that is defined on none of its data sets (fid on
    the 2-D toys), so applies to no run, with the notes that say why. A metric that needs a model
    ability (elbo: a density) is skipped, with a note, for the families without it."""
    kinds = {DATASETS.get(spec.dataset).kind for spec in specs}
    for i, name in enumerate(metric_names):
        if not kinds & set(METRICS.get(name).dataset_kinds):
            prefix = f"metric {name!r} "
            why = [n.removeprefix(prefix) for n in notes if n.startswith(prefix + "skipped")]
            errors.add(("metrics", i), f"metric {name!r} applies to no run of this suite ({'; '.join(why)})")


def check_metrics(specs: list, path: Path) -> None:
    """Stop before anything runs when a metric cannot be computed here (e.g. no inception weights)."""
    seen = set()
    for spec in specs:
        for name in spec.metrics:
            if (name, spec.dataset, spec.eval) in seen:
                continue
            seen.add((name, spec.dataset, spec.eval))
            entry = METRICS.get(name)
            applies = entry.check and DATASETS.get(spec.dataset).kind in entry.dataset_kinds
            problem = entry.check(spec) if applies else None
            if problem:
                raise SuiteError(f"{path}: metric {name!r} on {spec.dataset}: {problem}")
