"""The suite file: strict pydantic schema, YAML loading with line numbers, expansion to runs."""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from genbench.registry import DATASETS, METRICS, MODELS, UnknownName, load_builtins

SPEC_VERSION = 1  # bump when a change alters what a run id's numbers mean


class SuiteError(Exception):
    """A suite file that cannot be run; the message names the file, the key and the line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Budget(_Strict):
    """Per-run budget: generator (or VAE) optimizer steps, or training wall-clock seconds."""

    steps: int | None = Field(None, gt=0)
    seconds: float | None = Field(None, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _exactly_one(self) -> Budget:
        if (self.steps is None) == (self.seconds is None):
            raise ValueError("give exactly one of steps or seconds")
        return self


class Resources(_Strict):
    """Per-run Ray resources; fractional GPUs are allowed."""

    cpus: float = Field(1, gt=0)
    gpus: float = Field(0, ge=0)


class EvalSettings(_Strict):
    """When to evaluate (every N steps and at the end) and how many samples to draw."""

    every: int | None = Field(None, gt=0)
    samples: int = Field(2500, gt=0)


class Suite(_Strict):
    """A suite file after the schema check (model and dataset parameters not yet resolved)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seeds: list[StrictInt] = Field(min_length=1)
    budget: Budget
    resources: Resources = Resources()
    eval: EvalSettings = EvalSettings()
    datasets: list[dict[str, Any]] = Field(min_length=1)
    models: list[dict[str, Any]] = Field(min_length=1)
    metrics: list[str] = Field(min_length=1)

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, seeds: list[int]) -> list[int]:
        duplicates = sorted({s for s in seeds if seeds.count(s) > 1})
        if duplicates:
            raise ValueError(f"duplicate seeds {duplicates}; seeds must be distinct")
        if min(seeds) < 0:
            raise ValueError("seeds must be non-negative")
        return seeds


class RunSpec(_Strict):
    """One fully resolved run: model x hyper-parameters x dataset x seed, under the budget."""

    suite: str
    model: str
    hparams: dict[str, Any]
    variant: str  # the hyper-parameters the suite file set, e.g. "loss=minimax d_steps=1"
    dataset: str
    dataset_params: dict[str, Any]
    dataset_variant: str  # the dataset parameters the suite file set, e.g. "std=0.02"
    seed: int
    budget: Budget
    eval: EvalSettings
    metrics: list[str]
    resources: Resources

    @property
    def run_id(self) -> str:
        """Stable hash of everything that determines the run's numbers (not suite or resources)."""
        keys = ["model", "hparams", "dataset", "dataset_params", "seed", "budget", "eval", "metrics"]
        payload = self.model_dump(mode="json", include=set(keys))
        payload["spec_version"] = SPEC_VERSION
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def label(self) -> str:
        """Model and variant, e.g. 'gan loss=minimax'."""
        return f"{self.model} {self.variant}".strip()


def _line_index(node: yaml.Node, path: tuple = (), out: dict | None = None) -> dict[tuple, int]:
    """Map each key path of a composed YAML document to its 1-based line."""
    out = {} if out is None else out
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            _line_index(value, child, out)
            out[child] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            _line_index(value, (*path, i), out)
    return out


def _known_keys(schema: type[BaseModel], loc: tuple) -> list[str]:
    """The keys the schema accepts at the mapping that holds `loc`'s last key."""
    for part in loc[:-1]:
        field = schema.model_fields.get(part) if isinstance(part, str) else None
        inner = field.annotation if field else None
        if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
            return []
        schema = inner
    return list(schema.model_fields)


class _Errors:
    """Collects problems with their key paths, then raises one SuiteError naming file and lines."""

    def __init__(self, path: Path, lines: dict[tuple, int]) -> None:
        self.path, self.lines, self.items = path, lines, []

    def add(self, loc: tuple, message: str) -> None:
        self.items.append((tuple(loc), message))

    def add_validation(self, prefix: tuple, err: ValidationError, schema: type[BaseModel]) -> None:
        for e in err.errors():
            loc = (*prefix, *e["loc"])
            msg = e["msg"].removeprefix("Value error, ")
            if e["type"] == "extra_forbidden":
                close = difflib.get_close_matches(str(loc[-1]), _known_keys(schema, e["loc"]), n=1)
                msg = "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
            self.add(loc, msg)

    def line_of(self, loc: tuple) -> int | None:
        while loc not in self.lines and loc:
            loc = loc[:-1]
        return self.lines.get(loc)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        parts = []
        for loc, msg in self.items:
            key = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
            line = self.line_of(loc)
            where = f"{self.path}:{line}" if line else str(self.path)
            parts.append(f"{where}: {key or '(top level)'}: {msg}")
        raise SuiteError("invalid suite file; " + "; ".join(parts))


def _expand(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per combination of the list values in `entry` (a grid over hyper-parameters)."""
    keys = list(entry)
    values = [v if isinstance(v, list) else [v] for v in entry.values()]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


def _variant_label(given: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in given.items())


def _resolve_entries(section: str, entries, registry, schema_attr: str, errors: _Errors):
    """Validate each entry of `section` against its family's schema; return resolved variants."""
    resolved = []
    for i, entry in enumerate(entries):
        params = dict(entry)
        name = params.pop("name", None)
        if not isinstance(name, str):
            errors.add((section, i), "each entry needs a 'name'")
            continue
        try:
            family = registry.get(name)
        except UnknownName as exc:
            errors.add((section, i, "name"), str(exc))
            continue
        empty = [k for k, v in params.items() if isinstance(v, list) and not v]
        for key in empty:
            errors.add((section, i, key), "an empty list gives no runs; give at least one value")
        if empty:
            continue
        for given in _expand(params):
            try:
                values = getattr(family, schema_attr)(**given)
            except ValidationError as exc:
                errors.add_validation((section, i), exc, getattr(family, schema_attr))
                break
            resolved.append((name, values.model_dump(mode="json"), _variant_label(given)))
    return resolved


def load_suite(path: str | Path) -> tuple[Suite, list[RunSpec], list[str]]:
    """Read and validate a suite file; return it, its runs, and notes (e.g. skipped metrics)."""
    load_builtins()
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SuiteError(f"{path}: cannot read the suite file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise SuiteError(
            f"{path}: the suite file is not UTF-8 text (bad byte at offset {exc.start})"
        ) from None
    try:
        node = yaml.compose(text)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise SuiteError(f"{where}: YAML syntax error: {problem}") from None
    if not isinstance(raw, dict):
        raise SuiteError(f"{path}: a suite file must be a mapping of keys (name, seeds, ...)")
    errors = _Errors(path, _line_index(node) if node else {})
    try:
        suite = Suite.model_validate(raw)
    except ValidationError as exc:
        errors.add_validation((), exc, Suite)
        errors.raise_if_any()
    datasets = _resolve_entries("datasets", suite.datasets, DATASETS, "params", errors)
    models = _resolve_entries("models", suite.models, MODELS, "hparams", errors)
    for i, metric in enumerate(suite.metrics):
        if metric in suite.metrics[:i]:
            errors.add(("metrics", i), f"metric {metric!r} is listed twice")
        elif metric not in METRICS:
            errors.add(
                ("metrics", i), str(UnknownName(f"unknown metric {metric!r}; known: " + ", ".join(METRICS)))
            )
    errors.raise_if_any()
    return suite, *_runs(suite, datasets, models)


def _runs(suite: Suite, datasets, models) -> tuple[list[RunSpec], list[str]]:
    runs: dict[str, RunSpec] = {}
    notes: list[str] = []
    for (model, hparams, variant), (dataset, dparams, dvariant), seed in itertools.product(
        models, datasets, suite.seeds
    ):
        metrics = []
        for metric in suite.metrics:
            if METRICS.get(metric).applies_to(MODELS.get(model), DATASETS.get(dataset)):
                metrics.append(metric)
            else:
                entry = METRICS.get(metric)
                reason = (
                    f"needs a model with an explicit density ({entry.needs})"
                    if entry.needs and entry.needs not in MODELS.get(model).abilities
                    else f"not defined on {DATASETS.get(dataset).kind} data such as {dataset}"
                )
                note = f"metric {metric!r} skipped for {model} runs: {reason}"
                if note not in notes:
                    notes.append(note)
        spec = RunSpec(
            suite=suite.name,
            model=model,
            hparams=hparams,
            variant=variant,
            dataset=dataset,
            dataset_params=dparams,
            dataset_variant=dvariant,
            seed=seed,
            budget=suite.budget,
            eval=suite.eval,
            metrics=metrics,
            resources=suite.resources,
        )
        runs.setdefault(spec.run_id, spec)
    return list(runs.values()), notes
