"""genbench.suite.config.load_suite: expansion of a suite file into RunSpecs, defaults, run ids, notes."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from pathlib import Path

import pytest

from genbench.suite.config import RunSpec, SuiteError, load_suite
from tests.helpers import ROOT

REPO = ROOT
QUICKSTART = REPO / "suites" / "quickstart.yaml"


def suite(
    *,
    name: str = "name: t",
    seeds: str = "seeds: [0]",
    budget: str = "budget: {steps: 10}",
    resources: str = "resources: {cpus: 1, gpus: 0}",
    eval: str = "eval: {every: 5, samples: 100}",
    datasets: str = "datasets: [{name: ring8}]",
    models: str = "models: [{name: gan}]",
    metrics: str = "metrics: [mode_coverage]",
) -> str:
    """A small valid suite file; each argument replaces one top-level entry (one or more lines)."""
    return "\n".join([name, seeds, budget, resources, eval, datasets, models, metrics]) + "\n"


def load(tmp_path: Path, text: str, filename: str = "suite.yaml") -> tuple[object, list[RunSpec], list[str]]:
    path = tmp_path / filename
    path.write_text(text)
    return load_suite(path)


def variant_keys(spec: RunSpec, attr: str = "variant") -> set[str]:
    """The parameter names in a variant label such as 'loss=minimax d_steps=1'."""
    return {item.split("=", 1)[0] for item in getattr(spec, attr).split()}


def ids(specs: list[RunSpec]) -> list[str]:
    return [s.run_id for s in specs]


# --- the quickstart suite ---------------------------------------------------------------------


def test_quickstart_expands_to_5_models_x_2_datasets_x_2_seeds():
    suite_, specs, _ = load_suite(QUICKSTART)
    assert suite_.name == "quickstart"
    assert len(specs) == 20
    assert all(isinstance(s, RunSpec) for s in specs)
    labels = {s.label for s in specs}
    assert len(labels) == 5, labels
    assert {s.model for s in specs} == {"gan", "wgan", "vae"}
    combos = Counter((s.label, s.dataset, s.seed) for s in specs)
    assert set(combos) == set(itertools.product(labels, ["ring8", "grid25"], [0, 1]))
    assert set(combos.values()) == {1}
    assert len(set(ids(specs))) == 20
    assert all(s.suite == "quickstart" for s in specs)
    assert all(s.budget.steps == 2000 and s.budget.seconds is None for s in specs)


def test_quickstart_variant_labels_and_defaults():
    _, specs, _ = load_suite(QUICKSTART)
    gans = [s for s in specs if s.model == "gan"]
    assert {s.variant for s in gans} == {
        "loss=nonsaturating lr=0.001 batch_size=128",
        "loss=minimax lr=0.001 batch_size=128",
        "pack=2 lr=0.001 batch_size=128",
    }
    assert {s.hparams["loss"] for s in gans} == {"nonsaturating", "minimax"}
    assert {s.hparams["pack"] for s in gans} == {1, 2}
    for s in gans:
        assert s.hparams["z_dim"] == 256
        assert s.hparams["batch_size"] == 128
        assert s.hparams["lr"] == pytest.approx(1e-3)
    wgan = next(s for s in specs if s.model == "wgan")
    assert variant_keys(wgan) == {"clip", "critic_steps", "lr"}
    assert wgan.hparams["lr"] == pytest.approx(5e-5)
    assert wgan.hparams["z_dim"] == 256
    ring = next(s for s in specs if s.dataset == "ring8")
    assert ring.dataset_params["std"] == pytest.approx(0.01)
    assert ring.dataset_params["n_modes"] == 8
    assert ring.dataset_variant == ""
    grid = next(s for s in specs if s.dataset == "grid25")
    assert grid.dataset_params["std"] == pytest.approx(0.05)
    assert grid.dataset_params["side"] == 5


def test_elbo_dropped_for_gan_and_wgan_kept_for_vae():
    _, specs, _ = load_suite(QUICKSTART)
    for s in specs:
        if s.model == "vae":
            assert s.metrics == ["mode_coverage", "elbo"], s.label
        else:
            assert s.metrics == ["mode_coverage"], s.label


def test_skipped_metric_noted_once_per_model_family():
    _, _, notes = load_suite(QUICKSTART)
    elbo_notes = [n for n in notes if "elbo" in n]

    def about(family: str) -> list[str]:
        return [n for n in elbo_notes if re.search(rf"\b{family}\b", n)]

    # two gan variants x 2 datasets x 2 seeds, but a single note for the gan family
    assert len(about("gan")) == 1, notes
    assert len(about("wgan")) == 1, notes
    assert about("vae") == [], notes
    assert len(elbo_notes) == 2, notes


def test_metric_no_model_has_the_ability_for_is_refused(tmp_path):
    """elbo in a GAN-only suite applies to no run: refused like fid on the toys (see test_checks.py)."""
    with pytest.raises(SuiteError, match=r"suite.yaml:8: metrics\[0\]: metric 'elbo' applies to no run"):
        load(tmp_path, suite(models="models: [{name: gan}, {name: wgan}]", metrics="metrics: [elbo]"))


# --- grids over hyper-parameters ----------------------------------------------------------------


def test_list_value_expands_to_one_variant_per_value(tmp_path):
    # PyYAML reads 1e-4 (no dot) as the string "1e-4"; it must still become the float 1e-4
    _, specs, _ = load(tmp_path, suite(models="models: [{name: gan, lr: [1e-4, 2e-4]}]"))
    assert len(specs) == 2
    lrs = sorted(s.hparams["lr"] for s in specs)
    assert all(isinstance(lr, float) for lr in lrs)
    assert lrs == [pytest.approx(1e-4), pytest.approx(2e-4)]
    assert len({s.variant for s in specs}) == 2
    assert all(variant_keys(s) == {"lr"} for s in specs)
    assert len(set(ids(specs))) == 2


def test_scalar_exponent_without_dot_is_a_float(tmp_path):
    _, specs, _ = load(tmp_path, suite(models="models: [{name: vae, lr: 3e-4}]"))
    (spec,) = specs
    assert isinstance(spec.hparams["lr"], float)
    assert spec.hparams["lr"] == pytest.approx(3e-4)


def test_two_list_values_give_the_cartesian_product(tmp_path):
    models = "models:\n  - {name: gan, lr: [1e-4, 2e-4], d_steps: [1, 2, 3]}"
    _, specs, _ = load(tmp_path, suite(models=models, seeds="seeds: [0, 1]"))
    assert len(specs) == 2 * 3 * 2
    grid = Counter((round(s.hparams["lr"], 10), s.hparams["d_steps"]) for s in specs)
    assert set(grid) == set(itertools.product([1e-4, 2e-4], [1, 2, 3]))
    assert set(grid.values()) == {2}  # one per seed
    assert len({s.variant for s in specs}) == 6
    assert all(variant_keys(s) == {"lr", "d_steps"} for s in specs)


def test_list_value_in_a_dataset_entry_expands(tmp_path):
    _, specs, _ = load(tmp_path, suite(datasets="datasets: [{name: ring8, std: [0.01, 0.02]}]"))
    assert sorted(s.dataset_params["std"] for s in specs) == [pytest.approx(0.01), pytest.approx(0.02)]
    assert len({s.dataset_variant for s in specs}) == 2


def test_list_entries_of_two_models_are_independent(tmp_path):
    models = (
        "models:\n  - {name: gan, loss: [minimax, nonsaturating]}\n  - {name: vae, latent_dim: [1, 2, 4]}"
    )
    _, specs, _ = load(tmp_path, suite(models=models))
    assert Counter(s.model for s in specs) == {"gan": 2, "vae": 3}


# --- defaults and overrides ---------------------------------------------------------------------


def test_defaults_filled_in_and_variant_holds_only_given_keys(tmp_path):
    models = "models:\n  - {name: gan, loss: minimax}\n  - {name: gan}\n  - {name: wgan}\n  - {name: vae}"
    _, specs, _ = load(tmp_path, suite(models=models))
    by_label = {s.label: s for s in specs}
    assert set(by_label) == {"gan loss=minimax", "gan", "wgan", "vae"}
    minimax = by_label["gan loss=minimax"]
    assert minimax.variant == "loss=minimax"
    assert minimax.hparams["z_dim"] == 256
    assert minimax.hparams["d_steps"] == 1
    assert minimax.hparams["lr"] == pytest.approx(1e-4)
    assert by_label["gan"].variant == ""
    assert by_label["gan"].hparams["loss"] == "nonsaturating"
    assert by_label["wgan"].hparams["clip"] == pytest.approx(0.01)
    assert by_label["wgan"].hparams["critic_steps"] == 5
    assert by_label["vae"].hparams["latent_dim"] == 2
    assert by_label["vae"].hparams["decoder"] == "gaussian"
    assert "name" not in minimax.hparams


def test_dataset_parameters_are_overridable(tmp_path):
    datasets = "datasets:\n  - {name: ring8, std: 0.02, n_modes: 6}\n  - {name: grid25}"
    _, specs, _ = load(tmp_path, suite(datasets=datasets))
    ring = next(s for s in specs if s.dataset == "ring8")
    assert ring.dataset_params["std"] == pytest.approx(0.02)
    assert ring.dataset_params["n_modes"] == 6
    assert ring.dataset_params["radius"] == pytest.approx(1.0)  # default kept
    assert variant_keys(ring, "dataset_variant") == {"std", "n_modes"}
    grid = next(s for s in specs if s.dataset == "grid25")
    assert grid.dataset_params["std"] == pytest.approx(0.05)
    assert grid.dataset_variant == ""


def test_seconds_budget_accepted(tmp_path):
    _, specs, _ = load(tmp_path, suite(budget="budget: {seconds: 60}"))
    (spec,) = specs
    assert spec.budget.seconds == pytest.approx(60)
    assert spec.budget.steps is None


def test_fractional_gpus_accepted(tmp_path):
    _, specs, _ = load(tmp_path, suite(resources="resources: {cpus: 0.5, gpus: 0.25}"))
    (spec,) = specs
    assert spec.resources.gpus == pytest.approx(0.25)
    assert spec.resources.cpus == pytest.approx(0.5)


def test_eval_and_resources_sections_are_optional(tmp_path):
    _, specs, _ = load(tmp_path, suite(resources="", eval=""))
    (spec,) = specs
    assert spec.resources.gpus == 0
    assert spec.eval.samples > 0


# --- run ids ------------------------------------------------------------------------------------


def test_run_ids_stable_when_loading_the_same_file_twice(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(suite(seeds="seeds: [0, 1, 2]", models="models: [{name: gan, lr: [1e-4, 2e-4]}]"))
    first, second = ids(load_suite(path)[1]), ids(load_suite(path)[1])
    assert first == second
    assert len(set(first)) == 6


@pytest.mark.parametrize(
    "change",
    [
        {"seeds": "seeds: [1]"},
        {"models": "models: [{name: gan, lr: 2.0e-4}]"},
        {"models": "models: [{name: gan, loss: minimax}]"},
        {"datasets": "datasets: [{name: ring8, std: 0.02}]"},
        {"datasets": "datasets: [{name: grid25}]"},
        {"budget": "budget: {steps: 11}"},
        {"eval": "eval: {every: 5, samples: 200}"},
    ],
    ids=["seed", "hparam", "loss", "dataset_param", "dataset", "budget", "eval"],
)
def test_run_id_changes_with_what_determines_the_numbers(tmp_path, change):
    (base,) = load(tmp_path, suite(), "a.yaml")[1]
    (changed,) = load(tmp_path, suite(**change), "b.yaml")[1]
    assert base.run_id != changed.run_id


@pytest.mark.parametrize(
    "change",
    [
        {"resources": "resources: {cpus: 4, gpus: 0.5}"},
        {"resources": ""},
        {"name": "name: another-name"},
        {"models": "models: [{name: gan, z_dim: 256}]"},  # the default, given explicitly
        {"models": "models: [{name: gan, lr: 1e-4}]"},  # the default, as the string YAML reads
    ],
    ids=["resources", "no_resources", "suite_name", "explicit_default", "default_lr_as_string"],
)
def test_run_id_ignores_suite_name_resources_and_spelling(tmp_path, change):
    (base,) = load(tmp_path, suite(), "a.yaml")[1]
    (changed,) = load(tmp_path, suite(**change), "b.yaml")[1]
    assert base.run_id == changed.run_id


def test_identical_runs_are_listed_once(tmp_path):
    _, specs, _ = load(tmp_path, suite(models="models: [{name: gan}, {name: gan, z_dim: 256}]"))
    assert len(specs) == 1


# --- errors raised by load_suite ----------------------------------------------------------------


def test_suite_error_names_file_key_and_line(tmp_path):
    text = suite(budget="budget:\n  steps: 10\n  stpes: 5")
    with pytest.raises(SuiteError) as info:
        load(tmp_path, text, "typo.yaml")
    message = str(info.value)
    assert "typo.yaml:5" in message
    assert "stpes" in message


def test_suite_error_for_unknown_model_lists_known_models(tmp_path):
    with pytest.raises(SuiteError) as info:
        load(tmp_path, suite(models="models: [{name: gann}]"))
    message = str(info.value)
    assert "gann" in message
    for known in ("gan", "wgan", "vae"):
        assert re.search(rf"\b{known}\b", message.split("gann", 1)[1]), message


def test_suite_error_for_missing_file(tmp_path):
    with pytest.raises(SuiteError) as info:
        load_suite(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(info.value)
