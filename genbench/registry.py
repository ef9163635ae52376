"""Name -> entry tables for datasets, models and metrics; unknown or duplicate names fail loudly.

An entry carries everything downstream code needs about its family, metric or data set (schemas
with defaults, abilities, diagnostics, kinds, modes, a preparation step), so that adding one is
one file and one registration. The contracts a builder's product meets are the Protocols below.

The one door into the tables is `register_model`, `register_metric` and `register_dataset` (re-exported
as `genbench.register_*`): built-ins and plugins alike, with the same argument checks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, ValidationError

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
DATASET_KINDS = ("toy2d", "image")
HELD_OUT = "held-out test examples"  # a data set's default `evaluation`

T = TypeVar("T")


class UnknownName(KeyError):
    """Raised when a name is not registered; the message lists the known names."""

    def __str__(self) -> str:
        return str(self.args[0])


class Registry(Generic[T]):
    """A table of named entries of one kind (datasets, models or metrics)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        """Add `entry` under `name`; the name must be new and snake_case."""
        if not _NAME.match(name):
            raise ValueError(f"{self.kind} name {name!r} must be lower snake_case")
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        """Return the entry registered under `name`."""
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries))
            raise UnknownName(f"unknown {self.kind} {name!r}; known: {known}") from None

    def unregister(self, name: str) -> None:
        """Remove `name` (a plugin whose import failed, or that is imported again)."""
        self._entries.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def items(self) -> list[tuple[str, T]]:
        """Return (name, entry) pairs sorted by name."""
        return sorted(self._entries.items())


@runtime_checkable
class Dataset(Protocol):
    """What a data set builder returns. `kind` is "toy2d" (rows of 2 floats) or "image" (NCHW
    floats in [0, 1]); image data sets also have `shape`, `test_images` and `test_labels`. Optional:
    `place(device)`, which keeps the training draw on the run's device so that `batch` indexes it
    there (the toys do; the trainer moves other batches to the device)."""

    kind: str
    name: str
    dim: int  # numbers per example

    @property
    def test(self) -> Any:  # torch.Tensor: the held-out examples metrics compare with
        ...

    def batch(self, batch_size: int, generator: Any) -> Any:
        """A minibatch of training examples drawn with `generator` (a torch.Generator)."""
        ...


class MetricFn(Protocol):
    """A metric: fn(model, dataset, ctx) -> {output: value}; `ctx` is a metrics.EvalContext whose
    `params` are the metric's validated parameters and `samples_for(dataset)` the shared draw."""

    def __call__(self, model: Any, dataset: Dataset, ctx: Any) -> dict[str, Any]: ...


class PrepareError(Exception):
    """A metric's `prepare` step cannot be done here; the message says why (preflight: exit 2)."""


class NoParams(BaseModel):
    """The parameters of a metric that takes none."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Modes:
    """A data set's modes and what "collapsed" means on it: a run whose final `output` (a metric
    output counting the modes it covers) is below `fraction` of the modes is collapsed."""

    count: Callable[[Any], int]  # the number of modes, from the validated parameters
    output: str  # e.g. "modes" (mode_coverage) or "classes" (mnist_modes)
    fraction: float = 0.5


@dataclass(frozen=True)
class DatasetEntry:
    """A dataset family: its parameter schema and a builder taking validated params."""

    params: type[BaseModel]
    build: Callable[[Any], Dataset]
    kind: str  # "toy2d" or "image"
    doc: str
    modes: Modes | None = None  # a mixture or labelled data set: its modes and its collapse rule
    evaluation: str = HELD_OUT  # what metrics compare with (a run's protocol `split`)

    def info(self, params: dict[str, Any]) -> dict[str, Any]:
        """What the store keeps about a data set of these parameters for downstream code (stats):
        its kind, and its number of modes with the collapse rule (None where it has no modes)."""
        if self.modes is None:
            return {"kind": self.kind, "n_modes": None, "collapse": None}
        n = int(self.modes.count(self.params(**params)))
        return {
            "kind": self.kind,
            "n_modes": n,
            "collapse": {"output": self.modes.output, "below": n * self.modes.fraction},
        }


@dataclass(frozen=True)
class Diagnostic:
    """A `train_step` output that shows a family's own failure mode (a report diagnostics panel)."""

    key: str  # the output's name; trajectories store its running mean as "train.<key>"
    title: str  # what it shows, e.g. "generator gradient norm ‖∇G‖"
    equation: str | None = None  # the chapter's (or the paper's) equation, e.g. "13.42"
    log: bool = False  # whether a log scale shows it best


@dataclass(frozen=True)
class ModelEntry:
    """A model family: its hyper-parameter schema, a builder (hparams, dataset) and abilities."""

    hparams: type[BaseModel]
    build: Callable[..., Any]
    doc: str
    abilities: frozenset[str] = frozenset()  # e.g. {"elbo"} for models with an explicit bound
    diagnostics: tuple[Diagnostic, ...] = ()  # train_step outputs the report plots against steps
    # why these resolved hyper-parameters cannot train seeds together (vectorize_seeds), or None;
    # consulted only for families with the "seed_batch" ability
    seed_batch_problem: Callable[[dict[str, Any]], str | None] | None = None


@dataclass(frozen=True)
class MetricEntry:
    """A metric: fn(model, dataset, ctx) -> {output: value}, its parameters and what it applies to."""

    fn: MetricFn
    outputs: dict[str, str]  # scalar output name -> "max" or "min" (which direction is better)
    doc: str
    needs: str | None = None  # a model ability the metric needs, e.g. "elbo"
    dataset_kinds: frozenset[str] = frozenset(DATASET_KINDS)
    check: Callable[[Any], str | None] | None = None  # check(spec) -> why it cannot run here, or None
    params: type[BaseModel] = NoParams  # its parameters (suite: metrics: [{name: ..., key: value}])
    # prepare(specs, dataset_of): run once by preflight on the driver with the runs that use the
    # metric (dataset_of(spec): the run's data set, loaded once); e.g. train a classifier, cache
    # reference features, so that workers only read them; raises PrepareError
    prepare: Callable[[list[Any], Callable[[Any], Dataset]], None] | None = None
    # outputs_of(params) -> {output: direction} under a run's resolved parameters, for a metric whose
    # output names depend on them (a feature space's columns, e.g. fd_dinov2_vitl14); None: `outputs`
    outputs_of: Callable[[dict[str, Any]], dict[str, str]] | None = None

    def outputs_for(self, params: dict[str, Any] | None = None) -> dict[str, str]:
        """The scalar outputs under the resolved `params` (a run's `metric_params` entry; None:
        the defaults' outputs, `outputs`)."""
        return self.outputs if self.outputs_of is None or params is None else self.outputs_of(params)

    def applies_to(self, model: ModelEntry, dataset: DatasetEntry) -> bool:
        """Whether this metric can be computed for a model of that family on that dataset."""
        return (self.needs is None or self.needs in model.abilities) and (dataset.kind in self.dataset_kinds)


DATASETS: Registry[DatasetEntry] = Registry("dataset")
MODELS: Registry[ModelEntry] = Registry("model")
METRICS: Registry[MetricEntry] = Registry("metric")


class _Builtins:
    """The step that registers the built-in entries. The registry imports none of its users:
    genbench.builtins hands its loader over, and every registration runs it first (not again
    while it runs), so that no plugin takes a built-in's name."""

    load: Callable[[], None] | None = None
    running = False


def set_builtins_loader(load: Callable[[], None]) -> None:
    """Make `load` (genbench.builtins: import the modules that register the built-ins) the step
    that `load_builtins` and every registration run first."""
    _Builtins.load = load


def load_builtins() -> None:
    """Register the built-in entries (idempotent; a no-op while they are being registered)."""
    if _Builtins.load is None or _Builtins.running:
        return
    _Builtins.running = True
    try:
        _Builtins.load()
    finally:
        _Builtins.running = False


def _name(kind: str, name: object) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{kind} name {name!r} must be lower snake_case")


def _schema(kind: str, name: str, schema: Any) -> None:
    """A parameter class must be a pydantic model whose every field has a default."""
    if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        raise TypeError(f"{kind} {name!r}: its parameters must be a pydantic BaseModel class, not {schema!r}")
    try:
        schema()
    except ValidationError as exc:
        missing = [".".join(map(str, e["loc"])) for e in exc.errors()]
        raise TypeError(f"{kind} {name!r}: every parameter needs a default; missing: {missing}") from None


def _function(kind: str, name: str, what: str, value: Any, optional: bool = False) -> None:
    if not (callable(value) or (optional and value is None)):
        raise TypeError(f"{kind} {name!r}: {what} must be callable{' or None' if optional else ''}")


def _text(kind: str, name: str, what: str, value: Any, optional: bool = False) -> None:
    if not (isinstance(value, str) or (optional and value is None)):
        raise TypeError(f"{kind} {name!r}: {what} must be a string{' or None' if optional else ''}")


def _strings(kind: str, name: str, what: str, values: Iterable[str]) -> frozenset[str]:
    items = () if isinstance(values, str) else tuple(values)
    if isinstance(values, str) or not all(isinstance(v, str) for v in items):
        raise TypeError(f"{kind} {name!r}: {what} must be a collection of strings")
    return frozenset(items)


def register_model(
    name: str,
    hparams: type[BaseModel],
    build: Callable[..., Any],
    *,
    doc: str = "",
    abilities: Iterable[str] = (),
    diagnostics: Iterable[Diagnostic] = (),
    seed_batch_problem: Callable[[dict[str, Any]], str | None] | None = None,
) -> ModelEntry:
    """Register a model family: `hparams` (pydantic, every field with a default), `build(hp,
    dataset, device)` returning a GenerativeModel, its abilities (e.g. "elbo" for a model with
    `elbo(x)`, "seed_batch" for one that can train seeds together), the `train_step` outputs the
    report plots as diagnostics and, for "seed_batch", `seed_batch_problem(hparams) -> why these
    hyper-parameters cannot train seeds together, or None`. `doc` defaults to the hparams' doc."""
    _name("model", name)
    _schema("model", name, hparams)
    _function("model", name, "build", build)
    _text("model", name, "doc", doc)
    _function("model", name, "seed_batch_problem", seed_batch_problem, optional=True)
    diagnostics = tuple(diagnostics)
    if not all(isinstance(d, Diagnostic) for d in diagnostics):
        raise TypeError(f"model {name!r}: diagnostics must be genbench.Diagnostic objects")
    entry = ModelEntry(
        hparams=hparams,
        build=build,
        doc=doc or (hparams.__doc__ or name).strip(),
        abilities=_strings("model", name, "abilities", abilities),
        diagnostics=diagnostics,
        seed_batch_problem=seed_batch_problem,
    )
    load_builtins()  # a plugin's name must not take a built-in one
    return MODELS.register(name, entry)


def register_metric(
    name: str,
    fn: MetricFn,
    outputs: dict[str, str],
    *,
    params: type[BaseModel] = NoParams,
    doc: str = "",
    needs: str | None = None,
    dataset_kinds: Iterable[str] = DATASET_KINDS,
    check: Callable[[Any], str | None] | None = None,
    prepare: Callable[[list[Any], Callable[[Any], Dataset]], None] | None = None,
    outputs_of: Callable[[dict[str, Any]], dict[str, str]] | None = None,
) -> MetricEntry:
    """Register a metric: `fn(model, dataset, ctx) -> {output: value}`, its scalar outputs with
    their directions ("max" or "min"), its parameters (pydantic with defaults; suite entries
    `{name: ..., key: value}`; in `fn` as `ctx.params`), the model ability it needs, the data set
    kinds it applies to, `check(spec) -> why it cannot run for that run, or None`, and an optional
    `prepare(specs, dataset_of)` run once on the driver (raises PrepareError), and, where the
    output names depend on the parameters, `outputs_of(params) -> {output: direction}`."""
    _name("metric", name)
    _schema("metric", name, params)
    _function("metric", name, "fn", fn)
    _text("metric", name, "doc", doc)
    _text("metric", name, "needs", needs, optional=True)
    _function("metric", name, "check", check, optional=True)
    _function("metric", name, "prepare", prepare, optional=True)
    _function("metric", name, "outputs_of", outputs_of, optional=True)
    if not isinstance(outputs, dict) or not all(isinstance(k, str) for k in outputs):
        raise TypeError(f"metric {name!r}: outputs must be a dict of output names")
    if not outputs or any(d not in ("max", "min") for d in outputs.values()):
        raise ValueError(f"metric {name!r}: outputs must map each output to 'max' or 'min'")
    kinds = _strings("metric", name, "dataset kinds", dataset_kinds)
    if not kinds <= set(DATASET_KINDS):
        raise ValueError(f"metric {name!r}: dataset kinds must be among {DATASET_KINDS}")
    entry = MetricEntry(
        fn=fn,
        outputs=dict(outputs),
        doc=doc or name,
        needs=needs,
        dataset_kinds=kinds,
        check=check,
        params=params,
        prepare=prepare,
        outputs_of=outputs_of,
    )
    load_builtins()
    return METRICS.register(name, entry)


def register_dataset(
    name: str,
    params: type[BaseModel],
    build: Callable[[Any], Dataset],
    kind: str,
    *,
    doc: str = "",
    modes: Modes | None = None,
    evaluation: str = HELD_OUT,
) -> DatasetEntry:
    """Register a data set: `params` (pydantic with defaults), `build(params)` returning a
    registry.Dataset, its kind ("toy2d" or "image"), where it has modes how many and what
    collapse means on it (`Modes(count, output, fraction)`), and what metrics compare with
    (`evaluation`: the runs' protocol `split`)."""
    _name("dataset", name)
    _schema("dataset", name, params)
    if kind not in DATASET_KINDS:
        raise ValueError(f"dataset {name!r}: kind must be one of {DATASET_KINDS}, not {kind!r}")
    _function("dataset", name, "build", build)
    _text("dataset", name, "doc", doc)
    _text("dataset", name, "evaluation", evaluation)
    if modes is not None and not isinstance(modes, Modes):
        raise TypeError(f"dataset {name!r}: modes must be a genbench.Modes or None")
    entry = DatasetEntry(
        params=params, build=build, kind=kind, doc=doc or name, modes=modes, evaluation=evaluation
    )
    load_builtins()
    return DATASETS.register(name, entry)
