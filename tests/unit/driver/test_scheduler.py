"""Early stopping of searches (`scheduler: asha`, successive halving): the promotion rule by hand,
the rungs and the grammar's rules (tests/e2e/driver/test_scheduler.py: bad schedules and a search
through the CLI whose every decision is recomputed from the stored trajectories)."""

from __future__ import annotations

import json
import math

import pytest

from genbench.analysis.rungs import keep_count
from genbench.driver.scheduler import promoted
from genbench.suite.config import SuiteError, load_suite
from tests.helpers import HALVING_HEAD as HEAD
from tests.helpers import HALVING_MODELS as MODELS
from tests.helpers import HALVING_SEARCH as SEARCH


def test_keep_count_is_floor_n_over_eta_at_least_one():
    assert [keep_count(n, 3) for n in (1, 2, 3, 5, 6, 9, 10)] == [1, 1, 1, 1, 2, 3, 3]
    assert [keep_count(n, 2) for n in (1, 2, 3, 4, 7)] == [1, 1, 1, 2, 3]


def test_promoted_keeps_the_best_and_ranks_missing_values_last():
    values = {"a": 0.2, "b": 0.9, "c": math.nan, "d": 0.5, "e": 0.7, "f": 0.1}
    assert promoted(values, 3, "max") == {"b", "e"}  # floor(6 / 3) = 2 highest
    assert promoted(values, 3, "min") == {"f", "a"}  # the 2 lowest; NaN is never best
    assert promoted(values, 2, "min") == {"f", "a", "d"}
    # ties go to the first key in order, the same on every machine
    assert promoted({"t2": 1.0, "t1": 1.0, "t0": 0.0}, 3, "max") == {"t1"}
    assert promoted({"x": math.nan, "y": math.nan}, 2, "max") == {"x"}


@pytest.mark.parametrize(
    ("budget", "every", "extra", "rungs"),
    [
        (2000, 250, "", [250, 750, 2000]),  # eta 3 from the first evaluation
        (2000, 250, ", min_steps: 500", [500, 1500, 2000]),
        (1000, 100, ", reduction: 2", [100, 200, 400, 800, 1000]),
        (900, 100, ", reduction: 3", [100, 300, 900]),  # 900 is the budget, not a rung twice
    ],
)
def test_rungs_are_min_steps_times_eta_powers_then_the_budget(tmp_path, budget, every, extra, rungs):
    path = tmp_path / "s.yaml"
    path.write_text(
        HEAD.replace("{steps: 40}", f"{{steps: {budget}}}").replace("every: 10", f"every: {every}")
        + f"search: {{trials: 2, scheduler: asha{extra}, space: {{lr: {{loguniform: [1.0e-4, 1.0e-2]}}}}}}\n"
        + MODELS
    )
    specs = load_suite(path)[1]
    assert {json.dumps(s.search["schedule"]) for s in specs} == {
        json.dumps(
            {"scheduler": "asha", "reduction": 3 if "reduction: 2" not in extra else 2, "rungs": rungs}
        )
    }


def test_schedules_must_agree_and_need_steps_evaluations_and_checkpoints(tmp_path):
    def errors(text: str) -> str:
        path = tmp_path / "s.yaml"
        path.write_text(text)
        with pytest.raises(SuiteError) as err:
            load_suite(path)
        return str(err.value)

    space = "space: {lr: {loguniform: [1.0e-4, 1.0e-2]}}"
    text = errors(
        HEAD
        + "search: {trials: 2}\n"
        + "models:\n"
        + f"  - {{name: gan, search: {{scheduler: asha, {space}}}}}\n"
        + f"  - {{name: wgan, search: {{{space}}}}}\n"
    )
    assert "s.yaml:10: models[1].search" in text and "every method gets the same" in text
    assert "a steps budget" in errors(HEAD.replace("{steps: 40}", "{seconds: 5}") + SEARCH + MODELS)
    assert "eval.every" in errors(HEAD.replace("every: 10, ", "") + SEARCH + MODELS)
    assert "checkpoints" in errors(HEAD + "vectorize_seeds: true\n" + SEARCH + MODELS)
