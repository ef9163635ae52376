"""Whether a suite's data sets can run here: sizes against this machine's memory, and what their
parameters ask validation to say (e.g. that trusted CIFAR-10 files will be unpickled).

Sizes that cannot fit: a rough estimate of the memory a suite's data draws, evaluation samples
and mode distances take, held against this machine's memory at validation.

Sizes are refused, not evaluated in chunks: `eval.samples: 10000000`, `train_size: 1.0e10` or
`n_modes: 1000000000` stop `genbench validate` and `run` with the file, the key and its line,
instead of training runs that die in one allocation at their final evaluation. The estimate is
of the largest allocations (float32 values, a few copies alive at once), so only sizes well
beyond the machine are refused; a suite that fits is never touched.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from genbench.registry import DATASETS, METRICS, UnknownName

FLOAT_BYTES = 4
COPIES = 4  # float32 copies of a draw or a batch of samples alive at once (indices, noise, layers)
DISTANCE_BYTES = 8  # a float64 sample-to-mode distance (mode_coverage's cdist)
WIDTH_KEYS = ("hidden", "d_hidden", "z_dim", "latent_dim")  # hyper-parameters that are layer widths
CGROUP_LIMIT = Path("/sys/fs/cgroup/memory.max")  # a container's limit (cgroup v2), if any


def machine_memory() -> int:
    """Bytes of memory of this machine (physical memory, or a container's lower limit)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = CGROUP_LIMIT.read_text().strip()
    except OSError:
        return total
    return min(total, int(limit)) if limit.isdigit() else total


def gib(n: float) -> str:
    """`n` bytes in GiB (or TiB), for messages."""
    return f"{n / 2**40:,.1f} TiB" if n >= 2**40 else f"{n / 2**30:,.1f} GiB"


def check_sizes(suite, entries: list[dict[str, Any]], models: list[tuple], errors) -> None:
    """Add an error to `errors` (SuiteErrors) for each data set entry whose runs need more memory
    than this machine has, blaming the key of the largest part of the estimate."""
    memory = machine_memory()
    width = max([_width(hparams) for _, hparams, _ in models] or [0])
    for i, entry in enumerate(entries):
        for given, params, family in _variants(entry):
            parts = _parts(i, given, params, family, suite, width)
            total = sum(size for _, size, _ in parts)
            if total > memory:
                loc, size, what = max(parts, key=lambda part: part[1])
                errors.add(
                    loc,
                    f"its runs would need about {gib(total)} of memory ({what}: {gib(size)}), more "
                    f"than the {gib(memory)} this machine has; give a smaller value",
                )
                break


def _width(hparams: dict[str, Any]) -> int:
    """The widest layer a model's hyper-parameters name (0 if none)."""
    return max([int(v) for k, v in hparams.items() if k in WIDTH_KEYS and isinstance(v, int)] or [0])


def _variants(entry: dict[str, Any]):
    """(given values, validated parameters, family) of each grid point of a data set entry that
    validates (the others' errors are reported by the schema check)."""
    params = {k: v for k, v in entry.items() if k != "name"}
    try:
        family = DATASETS.get(entry.get("name"))
    except (UnknownName, TypeError):
        return
    values = [v if isinstance(v, list) else [v] for v in params.values()]
    for combo in itertools.product(*values):
        given = dict(zip(params, combo, strict=True))
        try:
            yield given, family.params(**given), family
        except ValidationError:
            return


def _parts(i: int, given: dict, params, family, suite, width: int) -> list[tuple[tuple, int, str]]:
    """(key, bytes, what) of each large allocation of a run on this data set variant."""
    values = 2 if family.kind == "toy2d" else 3 * getattr(params, "size", 32) ** 2  # per example
    samples = suite.eval.samples
    parts = [
        (("eval", "samples"), samples * (values + width) * FLOAT_BYTES * COPIES, f"{samples} samples"),
    ]
    for key in ("train_size", "test_size"):
        n = getattr(params, key, None)
        if isinstance(n, int):
            parts.append((("datasets", i, key), n * values * FLOAT_BYTES * COPIES, f"{key} {n}"))
    outputs = {out for name in suite.metric_names if name in METRICS for out in METRICS.get(name).outputs}
    if family.kind == "toy2d" and family.modes is not None and family.modes.output in outputs:
        n_modes = int(family.modes.count(params))
        loc = _mode_key(i, given, params, family, n_modes)
        what = f"distances of {samples} samples to {n_modes} modes"
        parts.append((loc or ("eval", "samples"), n_modes * samples * DISTANCE_BYTES, what))
    return parts


def _mode_key(i: int, given: dict, params, family, n_modes: int) -> tuple | None:
    """The given key that sets the number of modes (e.g. n_modes, side), if one does."""
    for key in given:
        default = type(params).model_fields[key].default
        fewer = isinstance(default, int) and family.modes.count(params.model_copy(update={key: default}))
        if fewer is not False and int(fewer) != n_modes:
            return ("datasets", i, key)
    return None


def dataset_notes(datasets: list[tuple]) -> list[str]:
    """What resolved data set variants (name, parameters, label) ask validation to say: their
    schema's `notes()` (e.g. CIFAR-10's warning that trusted files are unpickled), once each."""
    notes: list[str] = []
    for name, params, _ in datasets:
        values = DATASETS.get(name).params(**params)
        notes += [n for n in (values.notes() if hasattr(values, "notes") else []) if n not in notes]
    return notes
