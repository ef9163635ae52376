"""A suite's `reference:` rows: published numbers with their sources (schema), checked against the
suite's variants, data sets and metric outputs at validation (`genbench.analysis.verdicts` reads
them back against the measured numbers)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from genbench.metrics import metric_name
from genbench.registry import METRICS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PublishedProtocol(_Strict):
    """What the published number was measured with, where the paper or its code says."""

    samples: int | None = Field(None, gt=0)  # generated samples the metric used
    split: str | None = None  # evaluation data, e.g. "test"
    steps: int | None = Field(None, gt=0)  # training budget in generator (or VAE) steps
    k: int | None = Field(None, gt=0)  # importance samples of an IWAE bound
    examples: int | None = Field(None, gt=0)  # test examples the metric used


class ReferenceRow(_Strict):
    """One published number: its source, the suite's variant it belongs to, value and spread."""

    source: str = Field(min_length=1)  # paper, table, and where the number was read
    model: str
    variant: str = ""  # the hyper-parameters the suite file set, e.g. "pack=2 preset=pacgan"
    dataset: str
    dataset_variant: str = ""  # the dataset parameters the suite file set, e.g. "std=0.02"
    metric: str  # a metric output of the suite, e.g. "modes", "hq_frac", "nll"
    value: float = Field(allow_inf_nan=False)
    spread: float | None = Field(None, ge=0, allow_inf_nan=False)
    spread_kind: Literal["se", "std", "none"] = "none"
    runs: int | None = Field(None, ge=1)  # runs (seeds, trials) behind the published value
    scale: float = Field(1.0, gt=0, allow_inf_nan=False)  # published units per genbench unit (100: %)
    # equivalence margin in the paper's units: a difference within ±margin counts as agreement
    # (default by metric, genbench.analysis.verdicts.DEFAULT_MARGINS)
    margin: float | None = Field(None, gt=0, allow_inf_nan=False)
    protocol: PublishedProtocol = PublishedProtocol()
    note: str | None = None

    @model_validator(mode="after")
    def _spread_has_kind_and_runs(self) -> ReferenceRow:
        if (self.spread is None) != (self.spread_kind == "none"):
            raise ValueError("give spread together with spread_kind se or std (or neither)")
        if self.spread is not None and (self.runs is None or self.runs < 2):
            raise ValueError("a published spread needs runs >= 2 (the number of runs behind it)")
        return self


def variant_key(label: str) -> tuple[str, ...]:
    """A variant label as an order-free key ("b=2 a=1" names the same variant as "a=1 b=2")."""
    return tuple(sorted(str(label).split()))


def _outputs(key: str, params: dict | None) -> dict[str, str]:
    return METRICS.get(metric_name(key)).outputs_for(params)


def check_reference(
    rows: list, metrics: list[str], models: list, datasets: list, errors, params: dict | None = None
) -> None:
    """Validate the suite's `reference:` rows into `errors` (suite_yaml.SuiteErrors): the schema, and that
    each names a model variant, a dataset variant and a metric output of the suite (under the
    metrics' resolved `params`, by entry key (`fid`, `fid[inception]`), where given)."""
    given = {metric_name(key) for key in params or {}}
    entries = {**{m: None for m in metrics if m not in given}, **(params or {})}
    outputs = {o for k, p in entries.items() if metric_name(k) in METRICS for o in _outputs(k, p)}
    model_keys = {(name, variant_key(variant)): variant for name, _, variant in models}
    dataset_keys = {(name, variant_key(variant)): variant for name, _, variant in datasets}
    for i, raw in enumerate(rows):
        if not isinstance(raw, dict):
            errors.add(("reference", i), "each reference row is a mapping (source, model, dataset, ...)")
            continue
        try:
            row = ReferenceRow.model_validate(raw)
        except ValidationError as exc:
            errors.add_validation(("reference", i), exc, ReferenceRow)
            continue
        if (row.model, variant_key(row.variant)) not in model_keys:
            known = "; ".join(f"{n} {v!r}" for (n, _), v in model_keys.items())
            errors.add(
                ("reference", i, "variant"),
                f"names no model variant of the suite ({row.model} {row.variant!r}); "
                f"the suite's variants: {known}",
            )
        if (row.dataset, variant_key(row.dataset_variant)) not in dataset_keys:
            known = "; ".join(f"{n} {v!r}" for (n, _), v in dataset_keys.items())
            errors.add(
                ("reference", i, "dataset"),
                f"names no dataset variant of the suite ({row.dataset} {row.dataset_variant!r}); "
                f"the suite's datasets: {known}",
            )
        if row.metric not in outputs:
            errors.add(
                ("reference", i, "metric"),
                f"{row.metric!r} is no metric output of the suite; its outputs: {', '.join(sorted(outputs))}",
            )
