"""Checks of a suite's resolved runs. Keys that would change nothing: a parameter without effect
given the others (`clip` under `lipschitz: gp`), a metric that applies to no run (defined on none
of the suite's data sets, or needing an ability none of its models has); both are refused with
file, key and line (they would train identical variants under different names, or print no
number). The target's outputs (`genbench.suite.targets`). Metrics that cannot be computed here
(e.g. no inception weights)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from genbench.metrics import metric_entries
from genbench.registry import DATASETS, METRICS, MODELS
from genbench.suite.metric_entries import entry_columns
from genbench.suite.reader import SuiteError, SuiteErrors
from genbench.suite.targets import check_target


def no_effect(values: BaseModel, given: dict[str, Any]) -> list[tuple[str, str]]:
    """The keys of `given` (what a suite entry set itself; a preset's keys are defaults) whose
    value has no effect given the others, each with why: from the schema's `no_effect()`, which
    a family's (or data set's) schema may define as {key: reason}."""
    rules = getattr(values, "no_effect", None)
    if not callable(rules):
        return []
    return [(key, f"has no effect here: {why}; remove it") for key, why in rules().items() if key in given]


def check_runs(suite, specs: list, notes: list[str], errors: SuiteErrors) -> None:
    """Add to `errors` the suite's metrics that apply to no run and its target's problems (a
    target may name any column of the suite's metric entries, e.g. `fd_inception`)."""
    unused_metrics(suite.metric_names, specs, notes, errors)
    columns = set(entry_columns(suite.metric_params))
    check_target(suite.target, columns, sorted({s.dataset for s in specs}), errors)


def unused_metrics(metric_names: list[str], specs: list, notes: list[str], errors: SuiteErrors) -> None:
    """Add to `errors` each metric of the suite that applies to no run: defined on none of its
    data sets (fid on the 2-D toys), or needing an ability (elbo: a density) that none of its
    models has, with why. A metric that applies to some runs is skipped, with a note, for the others."""
    kinds = {DATASETS.get(spec.dataset).kind for spec in specs}
    models = sorted({spec.model for spec in specs})
    for i, name in enumerate(metric_names):
        entry = METRICS.get(name)
        if any(entry.applies_to(MODELS.get(s.model), DATASETS.get(s.dataset)) for s in specs):
            continue
        prefix = f"metric {name!r} "
        why = "; ".join(n.removeprefix(prefix) for n in notes if n.startswith(prefix + "skipped"))
        by_ability = kinds & set(entry.dataset_kinds) and entry.needs
        if by_ability and not any(entry.needs in MODELS.get(m).abilities for m in models):
            able = [f for f in MODELS if entry.needs in MODELS.get(f).abilities]
            why = (
                f"it needs a model with the ability {entry.needs!r}, which none of the suite's models "
                f"({', '.join(models)}) has; families with it: {', '.join(able) or 'none'}"
            )
        errors.add(("metrics", i), f"metric {name!r} applies to no run of this suite ({why})")


def check_metrics(specs: list, path: Path) -> None:
    """Stop before anything runs when a metric entry cannot be computed here (e.g. no inception
    weights); each entry's `check` sees the run with that entry's parameters (`RunSpec.for_entry`)."""
    seen = set()
    for spec in specs:
        for key, name in metric_entries(spec):
            if (key, spec.dataset, spec.eval) in seen:
                continue
            seen.add((key, spec.dataset, spec.eval))
            entry = METRICS.get(name)
            applies = entry.check and DATASETS.get(spec.dataset).kind in entry.dataset_kinds
            problem = entry.check(spec.for_entry(key)) if applies else None
            if problem:
                raise SuiteError(f"{path}: metric {key!r} on {spec.dataset}: {problem}")


def check_vectorizable(suite, models, errors) -> None:
    """Seeds trained together need a steps budget (under a seconds budget they would not get the
    time of a run alone) and a family with the "seed_batch" ability whose `seed_batch_problem`
    finds nothing in these hyper-parameters (MLPs only: models/seed_batch.py). Families that do not
    train (their schema's `trains = False`: samples, generator) are not grouped and not checked."""
    trained = [m for m in models if getattr(MODELS.get(m[0]).hparams, "trains", True)]
    if trained and suite.budget.steps is None:
        errors.add(("vectorize_seeds",), "needs a steps budget: seeds trained together share their seconds")
    for name, hparams, variant in trained:
        family = MODELS.get(name)
        if "seed_batch" not in family.abilities:  # the family's entry says what it can
            problem = "only MLP networks can, and this family does not batch its networks over seeds"
        else:
            problem = family.seed_batch_problem(hparams) if family.seed_batch_problem else None
        if problem:
            errors.add(
                ("vectorize_seeds",), f"{name} {variant}".strip() + f" cannot train seeds together: {problem}"
            )
