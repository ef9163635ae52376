"""Integer keys given as any YAML number that is an exact integer: `steps: 3e2`, `1.0e3`, `300.0`.

YAML 1.1 (PyYAML's safe loader) reads `3e2` and `1.0e3` as strings, since its floats need a dot
and a signed exponent; pydantic reads such a string as a float (`lr: 1e-4` works) but not as an
integer. `exact_integers` turns them, for the integer fields of a schema only, into ints when
their value is a whole number; anything else is left for the schema to refuse (`2.5` is "a
number with a fractional part")."""

from __future__ import annotations

import math
import re
import types
import typing
from typing import Any, Union

from pydantic import BaseModel

# a YAML 1.2 / Python float literal: digits, an optional fraction, an optional exponent
NUMBER = re.compile(r"^[-+]?(\d[\d_]*(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


def exact_integers(schema: type[BaseModel], data: Any) -> Any:
    """`data` (a mapping for `schema`) with the values of its integer fields (also in lists and
    nested schemas) that are whole numbers written as floats or number strings made ints."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for name, field in schema.model_fields.items():
        key = field.alias or name
        if key in out:
            out[key] = _convert(field.annotation, out[key])
    return out


def _convert(annotation: Any, value: Any) -> Any:
    """`value` as an int where `annotation` takes an int (or a list of them, or a nested schema)."""
    options = _options(annotation)
    if isinstance(value, list):
        inner = [a for o in options if typing.get_origin(o) is list for a in typing.get_args(o)]
        return [_convert(inner[0], v) for v in value] if inner else value
    if isinstance(value, dict):
        nested = [o for o in options if isinstance(o, type) and issubclass(o, BaseModel)]
        return exact_integers(nested[0], value) if nested else value
    if int in options and str not in options:
        return _whole(value)
    return value


def _options(annotation: Any) -> list[Any]:
    """The types a field accepts: its union's members, with Annotated metadata taken off."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _options(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return [o for a in typing.get_args(annotation) for o in _options(a)]
    return [annotation]


def _whole(value: Any) -> Any:
    """An int for a float or number string whose value is a whole number; else `value` as it is."""
    if isinstance(value, str) and NUMBER.match(value.strip()):
        try:
            value = float(value)
        except ValueError:  # e.g. a misplaced underscore: the schema says what is wrong
            return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value
