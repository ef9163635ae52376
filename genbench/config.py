"""The suite file: strict pydantic schema, YAML loading with line numbers, expansion to runs."""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
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
MAX_SUITE_BYTES = 2**20  # suite files are a few hundred bytes; these bounds stop hostile input
MAX_DEPTH = 32  # nesting levels
MAX_NODES = 20_000  # YAML values, every alias expanded (a "billion laughs" bomb is rejected)
MAX_RUNS = 10_000  # runs of one suite; lists of hyper-parameters multiply


EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C


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
    # feature and likelihood metrics (genbench.metrics); left out of the run id while at their defaults
    feature_extractor: str = Field("auto", pattern=r"^(auto|inception|mnist_classifier)$")
    feature_extractor_weights_path: str | None = None
    real_samples: int | None = Field(None, gt=0)  # test images for reference features (None: all)
    nll_k: int = Field(5000, gt=0)  # importance samples of `nll` at the final evaluation
    nll_k_train: int = Field(100, gt=0)  # ... and at in-training evaluations
    nll_examples: int | None = Field(None, gt=0)  # test examples for `nll` (None: all)


class CheckpointSettings(_Strict):
    """How often a run saves its state, and how many workers it may use up (not part of the run id)."""

    every: int = Field(1000, gt=0)
    max_attempts: int = Field(3, ge=1)


class Suite(_Strict):
    """A suite file after the schema check (model and dataset parameters not yet resolved)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)  # one path part
    seeds: list[StrictInt] = Field(min_length=1)
    budget: Budget
    resources: Resources = Resources()
    eval: EvalSettings = EvalSettings()
    checkpoint: CheckpointSettings = CheckpointSettings()
    data_dir: str | None = None  # root of image data sets not given their own data_dir
    target: float | None = Field(None, allow_inf_nan=False)  # primary metric's value for time-to-target
    datasets: list[dict[str, Any]] = Field(min_length=1)
    models: list[dict[str, Any]] = Field(min_length=1)
    metrics: list[str] = Field(min_length=1)

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, seeds: list[int]) -> list[int]:
        duplicates = sorted({s for s in seeds if seeds.count(s) > 1})
        if duplicates:
            raise ValueError(f"duplicate seeds {duplicates}; seeds must be distinct")
        if min(seeds) < 0 or max(seeds) >= 2**32:
            raise ValueError("seeds must be in [0, 2**32)")
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
    checkpoint: CheckpointSettings = CheckpointSettings()

    @property
    def run_id(self) -> str:
        """Stable hash of everything that determines the run's numbers (not suite, resources, checkpoint)."""
        keys = ["model", "hparams", "dataset", "dataset_params", "seed", "budget", "eval", "metrics"]
        payload = self.model_dump(mode="json", include=set(keys))
        payload["dataset_params"].pop("data_dir", None)  # where the files are does not change them
        defaults = EvalSettings().model_dump(mode="json")
        for key in set(defaults) - {"every", "samples"}:  # ids of runs from before these keys stay
            if payload["eval"][key] == defaults[key]:
                del payload["eval"][key]
        payload["spec_version"] = SPEC_VERSION
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def label(self) -> str:
        """Model and variant, e.g. 'gan loss=minimax'."""
        return f"{self.model} {self.variant}".strip()


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _compose_bounded(text: str, path: Path) -> yaml.Node | None:
    """Compose the document with the safe loader after checking its nesting depth, and reject it
    when, with every alias expanded, it is too large or too deep (billion laughs) or recursive."""
    depth = 0
    for count, event in enumerate(yaml.parse(text, Loader=yaml.SafeLoader)):
        depth += isinstance(event, yaml.CollectionStartEvent) - isinstance(event, yaml.CollectionEndEvent)
        if depth > MAX_DEPTH or count > MAX_NODES:
            where = f"{path}:{event.start_mark.line + 1}"
            raise SuiteError(f"{where}: the YAML document is too deep or too large for a suite file")
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    shape: dict[int, tuple[int, int]] = {}  # id(node) -> (nodes, depth) with aliases expanded
    stack, on_path = [(root, False)] if root is not None else [], set()
    while stack:
        node, done = stack.pop()
        if done:
            on_path.discard(id(node))
            parts = [shape[id(c)] for c in _children(node)]
            size = min(1 + sum(n for n, _ in parts), MAX_NODES + 1)
            shape[id(node)] = (size, 1 + max((d for _, d in parts), default=0))
            if size > MAX_NODES or shape[id(node)][1] > MAX_DEPTH:
                raise SuiteError(
                    f"{path}:{node.start_mark.line + 1}: the YAML document expands (aliases included) "
                    f"to more than {MAX_NODES} values or {MAX_DEPTH} levels; suite files are small"
                )
        elif id(node) in on_path:
            raise SuiteError(f"{path}:{node.start_mark.line + 1}: a YAML alias refers to itself")
        elif id(node) not in shape:
            on_path.add(id(node))
            stack.append((node, True))
            stack.extend((c, False) for c in _children(node))
    return root


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
    return " ".join(f"{k}={v}" for k, v in given.items() if k != "data_dir")


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
        variants = math.prod(len(v) for v in params.values() if isinstance(v, list))
        if variants > MAX_RUNS:
            errors.add((section, i), f"its lists give {variants} variants; a suite may have {MAX_RUNS} runs")
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
        with open(path, "rb") as f:
            data = f.read(MAX_SUITE_BYTES + 1)
        text = data.decode("utf-8")
    except OSError as exc:
        raise SuiteError(f"{path}: cannot read the suite file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise SuiteError(
            f"{path}: the suite file is not UTF-8 text (bad byte at offset {exc.start})"
        ) from None
    if len(data) > MAX_SUITE_BYTES:
        raise SuiteError(f"{path}: the suite file is larger than {MAX_SUITE_BYTES // 1024} KiB")
    try:
        node = _compose_bounded(text, path)
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
    entries = [_with_data_dir(e, suite.data_dir, path.parent.resolve()) for e in suite.datasets]
    datasets = _resolve_entries("datasets", entries, DATASETS, "params", errors)
    models = _resolve_entries("models", suite.models, MODELS, "hparams", errors)
    for i, metric in enumerate(suite.metrics):
        if metric in suite.metrics[:i]:
            errors.add(("metrics", i), f"metric {metric!r} is listed twice")
        elif metric not in METRICS:
            errors.add(
                ("metrics", i), str(UnknownName(f"unknown metric {metric!r}; known: " + ", ".join(METRICS)))
            )
    n_runs = len(models) * len(datasets) * len(suite.seeds)
    if n_runs > MAX_RUNS:
        errors.add((), f"the suite expands to {n_runs} runs; at most {MAX_RUNS} are allowed")
    errors.raise_if_any()
    specs, notes = _runs(suite, datasets, models)
    _check_metrics(specs, path)
    return suite, specs, notes


def _check_metrics(specs: list[RunSpec], path: Path) -> None:
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


def _with_data_dir(entry: dict[str, Any], data_dir: str | None, base: Path) -> dict[str, Any]:
    """The entry with the suite's data_dir where its family takes one and it sets none; relative
    paths are taken from the suite file's folder."""
    name = entry.get("name")
    family = DATASETS.get(name) if isinstance(name, str) and name in DATASETS else None
    if family is None or "data_dir" not in family.params.model_fields:
        return entry
    value = entry.get("data_dir", data_dir)
    if isinstance(value, str) and not Path(value).expanduser().is_absolute():
        value = str(base / value)
    return {**entry, "data_dir": value} if value is not None else entry


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
            checkpoint=suite.checkpoint,
        )
        runs.setdefault(spec.run_id, spec)
    return list(runs.values()), notes
