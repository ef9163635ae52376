"""Whether a suite's untrained models already meet its target: on the mixture toys, each
variant's first seed is built and evaluated at step 0 before anything trains, as its run will be
(same seeds, same evaluation draw), for the warning of `genbench validate` and `genbench run`.
The report refuses such a target from the stored step-0 evaluations (`analysis/stability.py`)."""

from __future__ import annotations

import math
import random

import numpy as np
import torch

from genbench.metrics import EvalContext, eval_seed, metric_entries
from genbench.registry import DATASETS, METRICS
from genbench.suite.targets import Conditions, conditions_of, describe, met
from genbench.worker.train import build, seed_everything

KINDS = {"toy2d"}  # data sets cheap enough to build and evaluate while validating


def step0_row(spec, outputs: set[str]) -> dict | None:
    """The run's evaluation at step 0, of the metrics that give `outputs` (in the run's order);
    None where its model does not train, or cannot be built or evaluated (its run will fail and say
    why: a warning must not stop the suite). The caller's random generators are left as they were."""
    state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng():
        try:
            seed_everything(spec.seed)
            return _evaluate_untrained(spec, outputs)
        except Exception:  # noqa: BLE001 - the run reports its own failure, with its traceback
            return None
        finally:
            random.setstate(state[0])
            np.random.set_state(state[1])


def _evaluate_untrained(spec, outputs: set[str]) -> dict | None:
    dataset, model = build(spec)
    if not getattr(model, "trains", True):
        return None
    data_dir = spec.dataset_params.get("data_dir")
    ctx = EvalContext(model, spec.eval.samples, eval_seed(spec.seed, 0), False, spec.eval, data_dir)
    model.eval()
    row: dict = {}
    for key, name in metric_entries(spec):
        entry = METRICS.get(name)
        if outputs & set(entry.outputs):
            ctx.key, ctx.params = key, entry.params(**spec.metric_params.get(key, {}))
            row.update(entry.fn(model, dataset, ctx))
    return row


def _first_seeds(specs: list) -> list:
    """Each variant's first run per data set variant, on the data sets of KINDS."""
    first: dict[tuple, object] = {}
    for spec in specs:
        if DATASETS.get(spec.dataset).kind in KINDS:
            first.setdefault((spec.model, spec.variant, spec.dataset, spec.dataset_variant), spec)
    return list(first.values())


def untrained_warnings(suite, specs: list) -> list[str]:
    """One warning per toy data set on which every variant's untrained model (first seed, step 0)
    meets the suite's target (its own, or the default): time to it would measure nothing."""
    directions = {k: d for m in suite.metric_names for k, d in METRICS.get(m).outputs.items()}
    primary = next(iter(directions))
    found: dict[str, list[tuple[bool, Conditions]]] = {}
    for spec in _first_seeds(specs):
        info = DATASETS.get(spec.dataset).info(spec.dataset_params)
        n_modes = float(info["n_modes"]) if info["n_modes"] else math.nan
        conditions = conditions_of(suite.target, primary, directions, n_modes, info["collapse"])
        row = step0_row(spec, set(conditions)) if conditions else None
        if row is not None:
            where = f"{spec.dataset} {spec.dataset_variant}".strip()
            found.setdefault(where, []).append((met(row, conditions), conditions))
    return [
        f"the target ({describe(results[0][1])}) is met at step 0 by every variant's untrained model "
        f"on {where} (each variant's first seed, evaluated before training): a time to it would "
        "measure nothing, and the report will refuse it; set a `target:` an untrained model does not meet"
        for where, results in found.items()
        if all(ok for ok, _ in results)
    ]
