"""A suite's `metrics:` entries: each validated by its metric's schema and given a key. A metric
may be listed more than once with other parameters (FID in two feature spaces); the entries'
numbers then go to columns of their own, and their parameters are kept under their keys.

A metric listed once is keyed by its name (`fid`), so the run ids of such suites stay what they
were. The entries of a metric listed more than once are keyed `name[features]` (`fid[inception]`,
`fid[mnist_classifier]`, `fid[auto]`) where they name distinct feature spaces, else by the
parameters they differ in (`name[k=v,...]`, long values shortened), else by their place among
the metric's entries (`name[2]`). Refused, with the entry's line: two entries with the same
resolved parameters, two entries that write one column, and two entries of one feature metric
that compute the same space on some run (`auto` and `mnist_classifier` on MNIST)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from genbench.metrics import metric_name
from genbench.registry import METRICS, UnknownName, load_builtins
from genbench.suite.integers import exact_integers
from genbench.suite.reader import SuiteErrors

SHORT = 16  # characters of a parameter value shown in a key


def resolve_metrics(entries: list, errors: SuiteErrors, base: Path) -> dict[str, dict[str, Any]]:
    """Each metric entry's parameters validated by its schema (with `base`, the suite file's
    folder, as context: files are named from there), defaults filled in, by key in suite order."""
    listed: list[tuple[int, str, dict[str, Any]]] = []
    for i, metric in enumerate(entries):
        params = {} if isinstance(metric, str) else dict(metric)
        name = metric if isinstance(metric, str) else params.pop("name", None)
        if not isinstance(name, str):
            errors.add(("metrics", i), "each metric given as a mapping needs a 'name'")
        elif name not in METRICS:
            errors.add(
                ("metrics", i), str(UnknownName(f"unknown metric {name!r}; known: " + ", ".join(METRICS)))
            )
        else:
            schema = METRICS.get(name).params
            try:
                values = schema.model_validate(exact_integers(schema, params), context={"base": str(base)})
                listed.append((i, name, values.model_dump(mode="json")))
            except ValidationError as exc:
                errors.add_validation(("metrics", i), exc, schema)
    listed = _without_repeats(listed, errors)
    keys = entry_keys([(name, params) for _, name, params in listed])
    _check_columns([(i, key, params) for (i, _, params), key in zip(listed, keys, strict=True)], errors)
    return {key: params for (_, _, params), key in zip(listed, keys, strict=True)}


def _identity(params: dict[str, Any]) -> str:
    """What two entries' parameters are compared by: files given with their hashes by the hashes."""
    same = dict(params)
    if same.get("sha256") or same.get("content_sha256"):
        same.pop("weights", None)
        same.pop("path", None)
    return json.dumps(same, sort_keys=True)


def _without_repeats(listed: list, errors: SuiteErrors) -> list:
    """`listed` without the entries that repeat an earlier one's metric and parameters (each an error)."""
    seen: dict[tuple[str, str], int] = {}
    kept = []
    for i, name, params in listed:
        first = seen.setdefault((name, _identity(params)), i)
        if first == i:
            kept.append((i, name, params))
            continue
        why = "with the same parameters" if params else "and takes no parameters that could differ"
        errors.add(
            ("metrics", i),
            f"metric {name!r} is listed twice {why} (as metrics[{first}]); list a metric again only "
            "with other parameters (e.g. another `features`), or remove one",
        )
    return kept


def entry_keys(entries: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """The key of each metric entry (name, resolved parameters), as the module's docstring says."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for name, params in entries:
        groups.setdefault(name, []).append(params)
    labels = {name: [_label(p, group) for p in group] for name, group in groups.items() if len(group) > 1}
    for name, shown in labels.items():
        if len(set(shown)) < len(shown):  # shortened values that coincide: the entries' places
            labels[name] = [str(n) for n in range(1, len(shown) + 1)]
    places = {name: iter(shown) for name, shown in labels.items()}
    return [f"{name}[{next(places[name])}]" if name in places else name for name, _ in entries]


def _short(value: Any) -> str:
    """A parameter value as a key shows it: a path by its file name, at most SHORT characters."""
    text = Path(value).name if isinstance(value, str) and "/" in value else str(value)
    return text[:SHORT]


def _label(params: dict[str, Any], group: list[dict[str, Any]]) -> str:
    """What tells an entry from the other entries of its metric: its feature space where theirs all
    differ, else the parameters whose values differ among them."""
    spaces = {str(p.get("features")) for p in group}
    if "features" in params and len(spaces) == len(group):
        return str(params["features"])
    differ = [k for k in params if len({_short(p.get(k)) for p in group}) > 1]
    return ",".join(f"{k}={_short(params[k])}" for k in differ)


def _check_columns(entries: list[tuple[int, str, dict[str, Any]]], errors: SuiteErrors) -> None:
    """Add to `errors` each entry that writes a column an earlier entry writes (its numbers would
    overwrite the other's)."""
    owner: dict[str, tuple[int, str]] = {}
    for i, key, params in entries:
        for column in METRICS.get(metric_name(key)).outputs_for(params):
            j, other = owner.setdefault(column, (i, key))
            if j != i:
                errors.add(
                    ("metrics", i),
                    f"metric entry {key!r} writes the column {column!r}, as {other!r} (metrics[{j}]) "
                    "does, and one would overwrite the other; a feature metric's columns name its "
                    "space (`fid`: auto, `fd_inception`): give the entries different `features`",
                )
                break


def entry_columns(entries: dict[str, dict[str, Any] | None]) -> dict[str, str]:
    """The key of the entry that writes each column, from metric entries by key and their resolved
    parameters (None: the metric's default outputs); `fd_inception` -> `fid[inception]`. Metrics
    not registered in this process (a plugin's, read back from a store) write no known column."""
    load_builtins()
    return {
        column: key
        for key, params in entries.items()
        if metric_name(key) in METRICS
        for column in METRICS.get(metric_name(key)).outputs_for(params)
    }


def check_spaces(specs: list, keys: list[str], errors: SuiteErrors) -> None:
    """Add to `errors` each entry of a feature metric that computes, on some run, in the space and
    with the weights of an earlier entry of that metric (`auto` resolving to `mnist_classifier` on
    MNIST): the same numbers in two columns. `keys`: the suite's entry keys, in suite order."""
    # imported once the built-ins are registered: feature_choice imported first would start them
    # (its classifier's data sets register) and their fidelity module would find it half-imported
    from genbench.metrics.feature_choice import repeated_spaces

    seen = set()
    for spec in specs:
        settings = (spec.dataset, spec.eval.feature_extractor, tuple(spec.metric_params))
        if settings in seen:
            continue
        seen.add(settings)
        for first, key, space in repeated_spaces(spec):
            errors.add(
                ("metrics", keys.index(key)),
                f"metric entries {first!r} and {key!r} both compute in the space {space} on "
                f"{spec.dataset} (`auto` is eval.feature_extractor's choice for the data set), the "
                "same numbers in two columns; remove one, or give it another `features`",
            )
