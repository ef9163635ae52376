"""Name -> entry tables for datasets, models and metrics; unknown or duplicate names fail loudly."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

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

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def items(self) -> list[tuple[str, T]]:
        """Return (name, entry) pairs sorted by name."""
        return sorted(self._entries.items())


@dataclass(frozen=True)
class DatasetEntry:
    """A dataset family: its parameter schema and a builder taking validated params."""

    params: type[BaseModel]
    build: Callable[[Any], Any]
    kind: str  # "toy2d" or "image"
    doc: str


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
    """A metric: fn(model, dataset, settings) -> {output: value}, and what it applies to."""

    fn: Callable[..., dict[str, Any]]
    outputs: dict[str, str]  # scalar output name -> "max" or "min" (which direction is better)
    doc: str
    needs: str | None = None  # a model ability the metric needs, e.g. "elbo"
    dataset_kinds: frozenset[str] = frozenset({"toy2d", "image"})
    check: Callable[[Any], str | None] | None = None  # check(spec) -> why it cannot run here, or None

    def applies_to(self, model: ModelEntry, dataset: DatasetEntry) -> bool:
        """Whether this metric can be computed for a model of that family on that dataset."""
        return (self.needs is None or self.needs in model.abilities) and (dataset.kind in self.dataset_kinds)


DATASETS: Registry[DatasetEntry] = Registry("dataset")
MODELS: Registry[ModelEntry] = Registry("model")
METRICS: Registry[MetricEntry] = Registry("metric")


def load_builtins() -> None:
    """Import the modules whose import registers the built-in datasets, models and metrics."""
    from genbench.data import images, toys  # noqa: F401
    from genbench.metrics import fidelity, likelihood, modes, mog, parzen  # noqa: F401
    from genbench.models import gan, vae, veegan, wgan  # noqa: F401
