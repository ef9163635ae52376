"""tools/bench_eval_timing.py times each metric entry of a run by its key, each with its own key and
parameters, as the training loop evaluates it (a metric listed twice is timed twice)."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
from pydantic import BaseModel

import genbench
from genbench.registry import METRICS
from genbench.suite.config import load_suite
from genbench.worker.train import Trainer
from tests.helpers import TOOLS

sys.path.insert(0, str(TOOLS))

import bench_eval_timing  # noqa: E402


class PowerParams(BaseModel):
    power: int = 2


SUITE = {  # one tiny run computing the metric `lp_spread` in two powers: two keyed entries
    "name": "timing",
    "seeds": [0],
    "budget": {"steps": 2},
    "eval": {"samples": 100},
    "datasets": [{"name": "ring8", "train_size": 200, "test_size": 100}],
    "models": [{"name": "gan", "z_dim": 2, "hidden": 8, "batch_size": 16}],
    "metrics": [{"name": "lp_spread", "power": 1}, {"name": "lp_spread", "power": 3}],
}
KEYS = ["lp_spread[power=1]", "lp_spread[power=3]"]


@pytest.fixture
def seen():
    """The (key, power) each call of an in-process metric `lp_spread` saw, its column by power."""
    calls: list[tuple[str | None, int]] = []

    def lp_spread(model, dataset, ctx):
        x = ctx.samples_for(dataset)
        calls.append((ctx.key, ctx.params.power))
        ctx.record("lp_spread", lambda final: {"power": ctx.params.power})
        value = x.abs().pow(ctx.params.power).sum(1).mean().pow(1 / ctx.params.power).item()
        return {f"spread_p{ctx.params.power}": value}

    METRICS.unregister("lp_spread")
    genbench.register_metric(
        "lp_spread",
        lp_spread,
        {"spread_p2": "min"},
        params=PowerParams,
        outputs_of=lambda p: {f"spread_p{p['power']}": "min"},
    )
    yield calls
    METRICS.unregister("lp_spread")


def test_each_entry_is_timed_under_its_key_with_its_own_parameters(seen, tmp_path):
    (spec,) = load_suite(SUITE)[1]
    assert list(spec.metric_params) == KEYS
    args = SimpleNamespace(repeats=2, quick=True)
    out = bench_eval_timing.time_case("toy_vae", spec, tmp_path / "none.pt", spec.run_id, args)
    assert not out["from_checkpoint"]  # no checkpoint: the untrained model is timed
    assert list(out["metric_s"]) == KEYS and all(len(s) == 2 for s in out["metric_s"].values())
    assert list(out["final_s"]) == KEYS
    # cold + 2 evaluations by the trainer, 2 + 1 timings alone: 6 calls per entry, each its own
    assert sorted(seen) == [(KEYS[0], 1)] * 6 + [(KEYS[1], 3)] * 6


def test_each_entry_context_keeps_its_protocol_under_its_key(seen):
    (spec,) = load_suite(SUITE)[1]
    run = Trainer(spec)
    _, ctx = bench_eval_timing.context(run, final=True)
    alone = bench_eval_timing.entry_context(run, KEYS[1], ctx)
    run.metrics[KEYS[1]].fn(run.model, run.dataset, alone)
    assert alone.protocols == {KEYS[1]: {"power": 3}} and ctx.protocols == {}
