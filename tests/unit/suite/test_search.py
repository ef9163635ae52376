"""The search block: reproducible sampling (Optuna's seeded samplers), trials as variants, and the
grammar's bad inputs (exit 2 naming file, key and line, nothing written; through the CLI in
tests/e2e/suite/test_search.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from genbench.suite.config import SuiteError, load_suite
from genbench.suite.search import method_seed, sample
from tests.helpers import BAD_SEARCHES as BAD
from tests.helpers import SEARCH_HEAD as HEAD
from tests.helpers import SEARCH_MODEL as MODEL

SPACE = "{lr: {loguniform: [1.0e-5, 1.0e-2]}, beta1: {choice: [0.0, 0.5, 0.9]}, d_steps: {choice: [1, 2, 5]}}"


def searched(tmp_path: Path, seed: int = 0, sampler: str = "random", trials: int = 6) -> list:
    path = tmp_path / f"s{seed}{sampler}.yaml"
    path.write_text(
        HEAD
        + f"search: {{trials: {trials}, seed: {seed}, sampler: {sampler}}}\n"
        + "models:\n"
        + f"  - {{name: gan, search: {{space: {SPACE}}}}}\n"
        + "  - {name: wgan, search: {space: {lr: {loguniform: [1.0e-5, 1.0e-2]},"
        + " clip: {uniform: [0.005, 0.1]}}}}\n"
    )
    return load_suite(path)[1]


def configs(specs) -> list:
    return [
        (s.run_id, s.model, s.variant, s.dataset, s.seed, json.dumps(s.hparams, sort_keys=True))
        for s in specs
    ]


@pytest.mark.parametrize("sampler", ["random", "sobol"])
def test_same_suite_same_configs_and_run_ids(tmp_path, sampler):
    first, second = searched(tmp_path, sampler=sampler), searched(tmp_path, sampler=sampler)
    assert configs(first) == configs(second)
    # every trial crossed with both datasets and both seeds; distinct run ids
    assert len(first) == 2 * 6 * 2 * 2
    assert len({s.run_id for s in first}) == len(first)


def test_another_search_seed_changes_configs_and_run_ids(tmp_path):
    a, b = searched(tmp_path, seed=0), searched(tmp_path, seed=1)
    assert {s.run_id for s in a}.isdisjoint({s.run_id for s in b})
    assert [s.hparams["lr"] for s in a] != [s.hparams["lr"] for s in b]


def test_trials_are_variants_with_their_sampled_values(tmp_path):
    specs = searched(tmp_path)
    gan = [s for s in specs if s.model == "gan"]
    trials = sorted({t for s in gan for t in s.search["trials"]})
    assert trials == list(range(6))
    for s in gan:
        assert 1e-5 <= s.hparams["lr"] <= 1e-2
        assert s.hparams["beta1"] in (0.0, 0.5, 0.9) and s.hparams["d_steps"] in (1, 2, 5)
        assert s.search["values"] == {k: s.hparams[k] for k in ("lr", "beta1", "d_steps")}
        assert s.search["space"] == {"lr": "loguniform", "beta1": "choice", "d_steps": "choice"}
        assert s.variant.startswith("trial=") and f"d_steps={s.hparams['d_steps']}" in s.variant
    # the top-level seed, mixed with each method's name: methods draw independently
    assert {s.search["sampler_seed"] for s in specs} == {method_seed(0, "gan"), method_seed(0, "wgan")}


def test_sobol_points_spread_more_evenly_than_random():
    """Scrambled Sobol: 16 points of a 1-D log-uniform space fall one per sixteenth (after the first,
    which Optuna's QMCSampler draws at random); the random sampler leaves gaps."""
    from optuna.distributions import FloatDistribution

    space = {"x": FloatDistribution(0.0, 1.0)}
    sobol = [c["x"] for c in sample(space, 17, seed=3, sampler="sobol")[1:]]
    assert sorted(math.floor(16 * x) for x in sobol) == list(range(16))
    assert sample(space, 5, seed=3) == sample(space, 5, seed=3)


def test_a_configuration_drawn_twice_is_one_variant_with_both_trials(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text(
        HEAD + "models:\n  - {name: gan, search: {trials: 8, space: {d_steps: {choice: [1, 2]}}}}\n"
    )
    specs = load_suite(path)[1]
    variants = {s.variant: s.search["trials"] for s in specs}
    assert len(variants) == 2
    assert sorted(t for ts in variants.values() for t in ts) == list(range(8))


def test_a_grid_in_the_entry_gives_one_method_per_value(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(
        HEAD
        + "models:\n  - {name: gan, loss: [minimax, nonsaturating],"
        + " search: {trials: 3, space: {lr: {uniform: [1.0e-4, 1.0e-3]}}}}\n"
    )
    specs = load_suite(path)[1]
    assert {s.search["method"] for s in specs} == {"gan loss=minimax", "gan loss=nonsaturating"}
    assert len(specs) == 2 * 3 * 2 * 2


# ------------------------------------------------------------------------------ bad inputs


@pytest.mark.parametrize(("case", "line", "key", "lineno", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_space_names_file_key_and_line(tmp_path, case, line, key, lineno, words):
    path = tmp_path / "bad.yaml"
    path.write_text(HEAD + "models:\n" + MODEL + line)
    with pytest.raises(SuiteError) as err:
        load_suite(path)
    message = str(err.value)
    assert f"{path}:{lineno}:" in message and key in message and words in message, message


def test_unequal_trials_and_a_method_without_search_are_refused(tmp_path):
    path = tmp_path / "unequal.yaml"
    path.write_text(
        HEAD
        + "models:\n"
        + "  - {name: gan, search: {trials: 4, space: {lr: {uniform: [1.0e-4, 1.0e-3]}}}}\n"  # line 7
        + "  - {name: wgan, search: {trials: 5, space: {lr: {uniform: [1.0e-4, 1.0e-3]}}}}\n"
        + "  - {name: vae}\n"
    )
    with pytest.raises(SuiteError) as err:
        load_suite(path)
    assert f"{path}:8: models[1].search.trials: 5 trials, but models[0] has 4" in str(err.value)
    assert f"{path}:9: models[2]: every method gets the same number of trials" in str(err.value)
