"""A suite's `target:`: what a run must reach for the report's time to target. A number is the
primary metric's value; a mapping names metric outputs and thresholds that must all hold at the
same evaluation (each in its output's direction: ≥ where higher is better, ≤ where lower is), a
threshold being a number or, on an output that counts modes, a share of the data set's modes
(`50%`). The default on the mixture toys is compound: half of the modes and half of the samples
of high quality, a property the untrained models do not have (docs: guide/stability.md)."""

from __future__ import annotations

import argparse
import math
import re
from typing import Annotated, Any

import yaml
from pydantic import PlainValidator

from genbench.registry import DATASETS

# the default target's second condition on an output that counts modes: the share of samples
# that must be of high quality (mode_coverage's `hq_frac`: within 3 std of a mode), so that modes
# touched by a few stray samples of an untrained model do not count
QUALITY = {"modes": "hq_frac"}
QUALITY_LEVEL = 0.5
SHARE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*%\s*$")

Conditions = dict[str, tuple[str, float]]  # output -> (direction "max"/"min", threshold)
FORM = "a number (the primary metric's value) or a mapping of metric outputs to thresholds"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _setting(value: Any) -> float | dict | None:
    """The `target:` value in its form (number, or mapping to numbers and strings); ValueError else."""
    if value is None or _number(value):
        return None if value is None else float(value)
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        bad = [k for k, v in value.items() if not (_number(v) or isinstance(v, str))]
        if not bad:
            return {k: v if isinstance(v, str) else float(v) for k, v in value.items()}
        raise ValueError(f"{bad[0]}: give a finite number or a share of the modes such as '50%'")
    finite = "" if not isinstance(value, float) else f"a finite value, not {value}: "
    raise ValueError(f"{finite}give {FORM}, e.g. {{modes: 50%, hq_frac: 0.5}}")


# the `target:` key of a suite file (and suite.json's, and `genbench report --target`)
TargetSetting = Annotated[float | dict[str, float | str] | None, PlainValidator(_setting)]


def share_of(value: Any) -> float | None:
    """The share of the modes a threshold such as '50%' names (0.5); None for anything else."""
    match = SHARE.match(value) if isinstance(value, str) else None
    return float(match.group(1)) / 100 if match else None


def counting_outputs(dataset_names: list[str]) -> set[str]:
    """The outputs that count the modes of these data sets (their entries' collapse rules)."""
    entries = [DATASETS.get(d) for d in dataset_names if d in DATASETS]
    return {e.modes.output for e in entries if e.modes is not None}


def target_problems(target: TargetSetting, outputs: set[str], counting: set[str]) -> list[tuple[tuple, str]]:
    """(key path, message) of each problem of a target mapping given the metric outputs it may
    name and the outputs that count modes (a number needs nothing more than the schema's check)."""
    if not isinstance(target, dict):
        return []
    if not target:
        return [((), "give at least one metric output and its threshold, e.g. {modes: 50%, hq_frac: 0.5}")]
    problems = []
    for key, value in target.items():
        share = share_of(value)
        if key not in outputs:
            known = ", ".join(sorted(outputs))
            problems.append(((key,), f"{key!r} is not an output of the suite's metrics ({known})"))
        elif isinstance(value, str) and share is None:
            problems.append(((key,), f"{value!r} is neither a number nor a share of the modes such as '50%'"))
        elif share is not None and key not in counting:
            here = ", ".join(sorted(counting)) or "none"
            message = f"a share of the modes ({value}) needs an output that counts modes (here: {here})"
            problems.append(((key,), message))
        elif share is not None and not 0 < share <= 1:
            problems.append(((key,), f"a share of the modes must be in (0%, 100%], not {value}"))
    return problems


def check_target(target: TargetSetting, columns: set[str], dataset_names: list[str], errors) -> None:
    """Add to `errors` (SuiteErrors) each problem of the suite's `target:` mapping, which may name
    any of the `columns` the suite's metric entries write (`fd_inception` where an entry of fid has
    `features: inception`: `genbench.suite.metric_entries.entry_columns`)."""
    for loc, message in target_problems(target, columns, counting_outputs(dataset_names)):
        errors.add(("target", *loc), message)


def default_conditions(primary: str, collapse: dict | None) -> Conditions:
    """The target a suite gets when it sets none: where the primary metric is the output the data
    set's collapse rule counts, not collapsed (at least `below` modes), and on the toys also
    at least QUALITY_LEVEL of the samples of high quality; else none."""
    if not collapse or collapse.get("output") != primary:
        return {}
    conditions = {primary: ("max", float(collapse["below"]))}
    if primary in QUALITY:
        conditions[QUALITY[primary]] = ("max", QUALITY_LEVEL)
    return conditions


def conditions_of(
    target: TargetSetting, primary: str, directions: dict[str, str], n_modes: float, collapse: dict | None
) -> Conditions:
    """A run's target as {output: (direction, threshold)}: the suite's (a share taken of the run's
    `n_modes`; NaN, never met, where it has none), else the default."""
    if target is None:
        return default_conditions(primary, collapse)
    if not isinstance(target, dict):
        return {primary: (directions.get(primary, "max"), float(target))}
    out = {}
    for key, value in target.items():
        share = share_of(value)
        out[key] = (directions.get(key, "max"), n_modes * share if share is not None else float(value))
    return out


def met(row: dict, conditions: Conditions) -> bool:
    """Whether an evaluation `row` meets every condition (a missing or non-finite value does not)."""
    for key, (direction, threshold) in conditions.items():
        v = row.get(key)
        if not isinstance(v, int | float) or not math.isfinite(v) or not math.isfinite(threshold):
            return False
        if not (v >= threshold if direction == "max" else v <= threshold):
            return False
    return bool(conditions)


def describe(conditions: Conditions) -> str:
    """The conditions as text, e.g. 'modes ≥ 4 and hq_frac ≥ 0.5' ('' for none)."""
    return " and ".join(f"{k} {'≥' if d == 'max' else '≤'} {t:.4g}" for k, (d, t) in conditions.items())


def describe_setting(target: TargetSetting, primary: str, directions: dict[str, str]) -> str:
    """A suite's target as written (shares kept), e.g. 'modes ≥ 50% of the modes and hq_frac ≥ 0.5'."""
    items = {primary: target} if not isinstance(target, dict) else target
    parts = []
    for key, value in items.items():
        sign = "≥" if directions.get(key, "max") == "max" else "≤"
        shown = f"{value} of the modes" if share_of(value) is not None else f"{float(value):.4g}"
        parts.append(f"{key} {sign} {shown}")
    return " and ".join(parts)


def parse_target_text(text: str) -> float | dict:
    """`--target` on the command line: a number, or a YAML mapping such as '{modes: 50%, hq_frac: 0.5}'."""
    try:
        value = _setting(yaml.safe_load(text))
    except (yaml.YAMLError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    if value is None:
        raise argparse.ArgumentTypeError(f"give {FORM}, e.g. '{{modes: 50%, hq_frac: 0.5}}'")
    return value
