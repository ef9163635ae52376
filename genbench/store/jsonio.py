"""Stored JSON: written strictly (no bare NaN or Infinity, which strict readers reject: non-finite
numbers are stored as null) and read back with null as NaN where a number is expected."""

from __future__ import annotations

import json
import math
from typing import Any


def finite_or_none(obj: Any) -> Any:
    """`obj` with every non-finite float (NaN, ±inf) replaced by None, through dicts and lists."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite_or_none(v) for v in obj]
    return obj


def dumps(obj: Any, **options: Any) -> str:
    """Strict JSON text of `obj` (non-finite numbers as null; raises on anything else not JSON)."""
    return json.dumps(finite_or_none(obj), allow_nan=False, **options)


def nan_for_none(values: dict[str, Any]) -> dict[str, Any]:
    """`values` with None (a stored non-finite number) read back as NaN; lists stay as they are."""
    return {k: math.nan if v is None else v for k, v in values.items()}
