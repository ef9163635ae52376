"""The suite file: strict pydantic schema, messages with YAML line numbers, expansion to runs."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from genbench.builtins import load_builtins
from genbench.metrics import metric_name
from genbench.metrics.settings import EvalSettings
from genbench.numerics import NUMERICS_VERSION
from genbench.registry import DATASETS, METRICS, MODELS, UnknownName
from genbench.suite import plugins as plugin_loader
from genbench.suite import search
from genbench.suite.checks import check_metrics, check_runs, check_vectorizable, no_effect
from genbench.suite.feasible import check_sizes, dataset_notes
from genbench.suite.integers import exact_integers
from genbench.suite.labels import apply_labels, take_labels
from genbench.suite.metric_entries import check_spaces, resolve_metrics
from genbench.suite.plugins import Plugin
from genbench.suite.reader import SuiteError, SuiteErrors, read_suite_yaml
from genbench.suite.reference import check_reference
from genbench.suite.targets import TargetSetting
from genbench.suite.trackers import TrackerEntry, resolve_trackers

__all__ = ["EXIT_INTERRUPTED", "RunSpec", "Suite", "SuiteError", "load_suite"]

SPEC_VERSION = 2  # bump when a change alters what a run id's numbers mean (1: defaults left out)
MAX_RUNS = 10_000  # runs of one suite; lists of hyper-parameters multiply


EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Budget(_Strict):
    """Per-run budget: generator (or VAE) optimizer steps, or training wall-clock seconds."""

    steps: int | None = Field(None, gt=0)
    seconds: float | None = Field(None, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _exactly_one(self) -> Budget:
        if (self.steps is None) == (self.seconds is None):
            raise ValueError("give exactly one of steps or seconds")
        return self

    def spent(self, step: int, train_seconds: float) -> bool:
        """Whether a run at `step` after `train_seconds` of training has used its budget: steps
        exactly, seconds at the first step after the deadline."""
        if self.steps is not None:
            return step >= self.steps
        return train_seconds >= self.seconds


class Resources(_Strict):
    """Per-run Ray resources; fractional GPUs are allowed."""

    cpus: float = Field(1, gt=0)
    gpus: float = Field(0, ge=0)


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
    target: TargetSetting = None  # what a run must reach for time-to-target (genbench.suite.targets)
    # train the seeds of a variant as one batched model: true (all of them) or at most N per group
    vectorize_seeds: StrictBool | Annotated[StrictInt, Field(ge=2)] = False
    datasets: list[dict[str, Any]] = Field(min_length=1)
    models: list[dict[str, Any]] = Field(min_length=1)
    metrics: list[str | dict[str, Any]] = Field(min_length=1)  # names, or {name: ..., parameter: value}
    search: dict[str, Any] | None = None  # a random search for every model entry (genbench.suite.search)
    reference: list[Any] = []  # published numbers to compare with (genbench.analysis.verdicts)
    trackers: list[TrackerEntry] = []  # where runs are logged as they run (genbench.suite.trackers)
    plugins: list[str] = []  # .py files (relative to the suite file) or module names (genbench.suite.plugins)
    _metric_params: dict[str, dict[str, Any]] = PrivateAttr(default_factory=dict)  # set by load_suite

    @property
    def metric_names(self) -> list[str]:
        """The names of the suite's metrics, in suite order (a metric listed twice: twice)."""
        return [m if isinstance(m, str) else str(m.get("name")) for m in self.metrics]

    @property
    def metric_params(self) -> dict[str, dict[str, Any]]:
        """Each metric entry's resolved parameters by its key (genbench.suite.metric_entries), in
        suite order; filled in by `load_suite`."""
        return self._metric_params

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
    metrics: list[str]  # the registered metrics it computes, each once
    resources: Resources
    checkpoint: CheckpointSettings = CheckpointSettings()
    vectorize_seeds: int = 0  # seeds trained together as one batched model, at most; 0: off
    search: dict[str, Any] | None = None  # the trial(s) of a search this variant is (genbench.suite.search)
    # every metric entry's resolved parameters, defaults too, by key (a metric listed once: its name)
    metric_params: dict[str, dict[str, Any]] = {}
    trackers: list[TrackerEntry] = Field([], exclude=True)  # not in the run id nor spec.json
    plugins: list[Plugin] = []  # the suite's plugins (module, source sha256, file)
    label: str = ""  # the variant's name in tables and figures: its entry's `label:`, else model and variant

    @model_validator(mode="before")
    @classmethod
    def _default_label(cls, data: Any) -> Any:
        """A spec without a label (none given, or stored before labels) is named by model and variant."""
        if isinstance(data, dict) and not data.get("label"):
            data = {**data, "label": f"{data.get('model', '')} {data.get('variant', '')}".strip()}
        return data

    def id_payload(self) -> dict[str, Any]:
        """What the run id hashes: the fully resolved spec (every hyper-parameter, data set
        parameter, evaluation setting and metric parameter, defaults included), the plugins'
        modules and source hashes, SPEC_VERSION and NUMERICS_VERSION; not the suite's name,
        resources, checkpoint settings, vectorize_seeds, where data, plugin or weights files are
        (files given with their hashes are known by the hashes)."""
        keys = {"model", "hparams", "dataset", "dataset_params", "seed", "budget", "eval", "metrics"}
        payload = self.model_dump(mode="json", include=keys | {"metric_params"})
        payload["dataset_params"].pop("data_dir", None)  # where the files are does not change them
        hashed = [payload["hparams"], payload["dataset_params"], *payload["metric_params"].values()]
        for params in hashed:
            if params.get("content_sha256") or params.get("sha256"):  # the hashes stand for the files
                params.pop("path", None)
                params.pop("weights", None)
        payload["plugins"] = sorted([p.module, p.sha256] for p in self.plugins)
        payload["spec_version"] = SPEC_VERSION
        payload["numerics_version"] = NUMERICS_VERSION  # code that moves numbers makes new runs
        return payload

    def for_entry(self, key: str) -> RunSpec:
        """This run as if it computed only its metric entry `key`, under the metric's name: what a
        metric's `check(spec)` is given."""
        name = metric_name(key)
        return self.model_copy(update={"metrics": [name], "metric_params": {name: self.metric_params[key]}})

    @property
    def run_id(self) -> str:
        """Stable hash of everything that determines the run's numbers (`id_payload`)."""
        text = json.dumps(self.id_payload(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _expand(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per combination of the list values in `entry` (a grid over hyper-parameters)."""
    keys = list(entry)
    values = [v if isinstance(v, list) else [v] for v in entry.values()]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


def _variant_label(given: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in given.items() if k != "data_dir")


def _resolve_entries(section: str, entries, registry, schema_attr: str, errors: SuiteErrors, base: Path):
    """Validate each entry of `section` against its family's schema; return resolved variants. The
    schema's validators get `base` (the suite file's folder) as context: files are named from there."""
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
        schema = getattr(family, schema_attr)
        for given in _expand(params):
            try:
                values = schema.model_validate(exact_integers(schema, given), context={"base": str(base)})
            except ValidationError as exc:
                errors.add_validation((section, i), exc, schema)
                break
            for key, why in no_effect(values, given):
                errors.add((section, i, key), why)
            resolved.append((name, values.model_dump(mode="json"), _variant_label(given)))
    return resolved


def load_suite(
    source: str | Path | dict[str, Any], base: Path | None = None
) -> tuple[Suite, list[RunSpec], list[str]]:
    """Read and validate a suite file (or a dict in the suite schema, whose relative paths are
    taken from `base`, default the working directory); return it, its runs, and notes (e.g.
    skipped metrics). Imports the suite's plugins first. Raises SuiteError."""
    load_builtins()
    if isinstance(source, dict):
        path, raw, lines = Path("<suite dict>"), source, {}
        base = Path(base or ".").resolve()
    else:
        path = Path(source)
        raw, lines = read_suite_yaml(path)
        base = path.parent.resolve()
    errors = SuiteErrors(path, lines)
    try:
        suite = Suite.model_validate(exact_integers(Suite, raw))
    except ValidationError as exc:
        errors.add_validation((), exc, Suite)
        errors.raise_if_any()
    entries, labels = take_labels(suite.models, errors)  # `label:` names a variant, not part of its id
    suite = suite.model_copy(update={"models": entries})
    plugins = _load_plugins(suite, base, errors)
    entries = [_with_data_dir(e, suite.data_dir, base) for e in suite.datasets]
    datasets = _resolve_entries("datasets", entries, DATASETS, "params", errors, base)
    trials: dict[tuple, dict] = {}
    if search.searched(suite):
        models, trials = search.resolve_models(suite, errors)
    else:
        models = _resolve_entries("models", suite.models, MODELS, "hparams", errors, base)
    metric_params = resolve_metrics(suite.metrics, errors, base)
    n_runs = len(models) * len(datasets) * len(suite.seeds)
    if n_runs > MAX_RUNS:
        errors.add((), f"the suite expands to {n_runs} runs; at most {MAX_RUNS} are allowed")
    if suite.vectorize_seeds:
        check_vectorizable(suite, models, errors)
        if any("schedule" in t for t in trials.values()):
            errors.add(
                ("vectorize_seeds",),
                "successive halving continues promoted trials from checkpoints, which seeds trained "
                "together do not keep: set one of them",
            )
    check_sizes(suite, entries, models, errors)  # sizes beyond this machine's memory are refused
    check_reference(suite.reference, suite.metric_names, models, datasets, errors, metric_params)
    suite = suite.model_copy(update={"trackers": resolve_trackers(suite, base, errors)})
    errors.raise_if_any()
    suite._metric_params = metric_params
    specs, notes = _runs(suite, datasets, models, metric_params, plugins)
    notes += dataset_notes(datasets)
    specs = apply_labels(search.annotate(specs, trials), labels, errors)
    check_runs(suite, specs, notes, errors)  # metrics that apply to no run, the target's outputs
    check_spaces(specs, list(metric_params), errors)  # two entries of one space (auto's choice)
    errors.raise_if_any()
    check_metrics(specs, path)
    return suite, specs, notes


def _load_plugins(suite: Suite, base: Path, errors: SuiteErrors) -> list[Plugin]:
    """Import the entry-point plugins and the suite's `plugins:`; the first failure is raised
    (the names the suite uses may be the plugin's)."""
    try:
        found = plugin_loader.entry_point_plugins()
    except SuiteError as exc:
        errors.add(("plugins",), f"entry point group {plugin_loader.ENTRY_POINT_GROUP!r}: {exc}")
        errors.raise_if_any()
    for i, entry in enumerate(suite.plugins):
        try:
            found.append(plugin_loader.load_entry(entry, base))
        except SuiteError as exc:
            errors.add(("plugins", i), str(exc))
            errors.raise_if_any()
    return list({p.module: p for p in found}.values())


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


def _group_size(suite: Suite, model: str) -> int:
    """Seeds of `model`'s runs trained together: 0 (each alone) for a family that does not train."""
    if not getattr(MODELS.get(model).hparams, "trains", True):  # samples, generator: evaluated per seed
        return 0
    if suite.vectorize_seeds is True:
        return len(suite.seeds)
    return int(suite.vectorize_seeds)  # False: 0


def _runs(suite: Suite, datasets, models, metric_params, plugins) -> tuple[list[RunSpec], list[str]]:
    runs: dict[str, RunSpec] = {}
    notes: list[str] = []
    for (model, hparams, variant), (dataset, dparams, dvariant), seed in itertools.product(
        models, datasets, suite.seeds
    ):
        keys = []
        for key, metric in ((k, metric_name(k)) for k in metric_params):
            if METRICS.get(metric).applies_to(MODELS.get(model), DATASETS.get(dataset)):
                keys.append(key)
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
            metrics=list(dict.fromkeys(metric_name(k) for k in keys)),
            resources=suite.resources,
            checkpoint=suite.checkpoint,
            vectorize_seeds=_group_size(suite, model),
            metric_params={k: metric_params[k] for k in keys},
            plugins=plugins,
            trackers=suite.trackers,
        )
        runs.setdefault(spec.run_id, spec)
    return list(runs.values()), notes
