"""Name -> entry tables for datasets, models and metrics; unknown or duplicate names fail loudly.

An entry carries everything downstream code needs about its family, metric or data set (schemas
with defaults, abilities, diagnostics, kinds, modes, a preparation step), so that adding one is
one file and one registration. The contracts a builder's product meets are the Protocols below.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

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
    evaluation: str = "held-out test examples"  # what metrics compare with (a run's protocol `split`)

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
    dataset_kinds: frozenset[str] = frozenset({"toy2d", "image"})
    check: Callable[[Any], str | None] | None = None  # check(spec) -> why it cannot run here, or None
    params: type[BaseModel] = NoParams  # its parameters (suite: metrics: [{name: ..., key: value}])
    # prepare(specs, dataset_of): run once by preflight on the driver with the runs that use the
    # metric (dataset_of(spec): the run's data set, loaded once); e.g. train a classifier, cache
    # reference features, so that workers only read them; raises PrepareError
    prepare: Callable[[list[Any], Callable[[Any], Dataset]], None] | None = None

    def applies_to(self, model: ModelEntry, dataset: DatasetEntry) -> bool:
        """Whether this metric can be computed for a model of that family on that dataset."""
        return (self.needs is None or self.needs in model.abilities) and (dataset.kind in self.dataset_kinds)


DATASETS: Registry[DatasetEntry] = Registry("dataset")
MODELS: Registry[ModelEntry] = Registry("model")
METRICS: Registry[MetricEntry] = Registry("metric")
