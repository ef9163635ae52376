"""Plain-text listing of the registered datasets, models and metrics with their defaults."""

from __future__ import annotations

from pydantic import BaseModel

from genbench.builtins import load_builtins
from genbench.registry import DATASETS, METRICS, MODELS


def _fields(schema: type[BaseModel]) -> list[str]:
    lines = []
    for name, field in schema.model_fields.items():
        default = field.default
        lines.append(f"      {name} = {default!r}  {field.description or ''}".rstrip())
    return lines


def describe_registries() -> str:
    """Every dataset, model and metric, with parameters, defaults and where defaults come from."""
    load_builtins()
    out = ["datasets:"]
    for name, entry in DATASETS.items():
        out += [f"  {name} ({entry.kind}): {entry.doc}", *_fields(entry.params)]
    out.append("models:")
    for name, entry in MODELS.items():
        source = (entry.hparams.__doc__ or "").strip()
        out += [f"  {name}: {entry.doc}", *([f"    {source}"] if source else []), *_fields(entry.hparams)]
    out.append("metrics:")
    for name, entry in METRICS.items():
        outputs = ", ".join(
            f"{k} ({'higher' if d == 'max' else 'lower'} is better)" for k, d in entry.outputs.items()
        )
        needs = f"; needs a model with {entry.needs}" if entry.needs else ""
        out += [f"  {name}: {entry.doc}{needs}", f"      outputs: {outputs}", *_fields(entry.params)]
    return "\n".join(out)
