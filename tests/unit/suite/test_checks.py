"""Suite keys that would change nothing are refused with file, key and line: a metric that applies
to no run (by data set kind, or by a model ability none of the models has), a parameter without
effect given another (set by the suite itself, not by a preset); integer keys take any YAML number
that is an exact integer."""

from __future__ import annotations

from pathlib import Path

import pytest

from genbench.suite.config import SuiteError, load_suite

HEAD = """\
name: checks
seeds: [0]
budget: {steps: 10}
eval: {samples: 200}
datasets: [{name: ring8, train_size: 512}]
"""


def suite_file(tmp_path: Path, models: str, metrics: str = "[mode_coverage]", head: str = HEAD) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(head + f"models:\n{models}metrics: {metrics}\n")
    return path


def refused(path: Path) -> str:
    with pytest.raises(SuiteError) as err:
        load_suite(path)
    return str(err.value)


def test_a_metric_that_applies_to_no_run_is_refused_at_its_line(tmp_path):
    path = suite_file(tmp_path, "  - {name: gan}\n", "[mode_coverage, fid]")
    message = refused(path)
    assert f"{path}:8: metrics[1]: metric 'fid' applies to no run of this suite" in message
    assert "not defined on toy2d data such as ring8" in message  # why, from the skipped-metric note


def test_a_metric_that_applies_to_some_runs_is_kept(tmp_path):
    path = suite_file(tmp_path, "  - {name: gan}\n  - {name: vae}\n", "[mode_coverage, elbo]")
    _, specs, notes = load_suite(path)
    assert {s.model: s.metrics for s in specs} == {"gan": ["mode_coverage"], "vae": ["mode_coverage", "elbo"]}
    assert any("metric 'elbo' skipped for gan runs" in n for n in notes)


@pytest.mark.parametrize(
    ("model", "key", "why"),
    [
        ("{name: wgan, lipschitz: gp, clip: [0.01, 0.1]}", "clip", "the gradient penalty replaces it"),
        ("{name: wgan, gp_lambda: 1.0}", "gp_lambda", "not clip (the default)"),
        ("{name: gan, width: 0.5}", "width", "arch: mlp has none"),
        ("{name: gan, init: he, init_scale: 2.0}", "init_scale", "not init: he"),
        ("{name: gan, lr: 1.0e-3, lr_g: 1.0e-4, lr_d: 2.0e-4}", "lr", "lr_g and lr_d set both"),
        ("{name: vae, decoder: bernoulli, min_std: 0.01}", "min_std", "decoder: bernoulli has none"),
        ("{name: vae, fixed_std: 0.1, min_std: 0.01}", "min_std", "fixed_std fixes it"),
    ],
)
def test_a_parameter_without_effect_is_refused_with_file_key_and_line(tmp_path, model, key, why):
    path = suite_file(tmp_path, f"  - {{name: gan}}\n  - {model}\n")
    message = refused(path)
    assert f"{path}:8: models[1].{key}: has no effect here: " in message and why in message


def test_divergence_without_fgan_is_still_refused(tmp_path):
    path = suite_file(tmp_path, "  - {name: gan, divergence: kl}\n")
    assert "divergence applies to loss: fgan only" in refused(path)


def test_keys_a_preset_fills_are_defaults_not_flagged(tmp_path):
    # wgan_gp_toy sets gp_lambda and the Adam keys; the user picks nothing that makes them idle
    path = suite_file(tmp_path, "  - {name: wgan, preset: wgan_gp_toy}\n  - {name: gan, preset: unrolled}\n")
    _, specs, _ = load_suite(path)
    assert len(specs) == 2 and specs[1].hparams["init_scale"] == 1.4


def test_a_parameter_that_matters_under_the_other_setting_passes(tmp_path):
    path = suite_file(
        tmp_path,
        "  - {name: wgan, lipschitz: clip, clip: 0.02}\n  - {name: wgan, lipschitz: gp, gp_lambda: 1.0}\n",
    )
    assert len(load_suite(path)[1]) == 2


def test_integer_keys_accept_exact_integers_in_any_notation(tmp_path):
    head = HEAD.replace("{steps: 10}", "{steps: 3e2}").replace(
        "{samples: 200}", "{samples: 1.0e3, every: 1e2}"
    )
    path = suite_file(tmp_path, "  - {name: gan, hidden: 1.6e1, d_steps: [1e0, 2.0]}\n", head=head)
    _, specs, _ = load_suite(path)
    assert specs[0].budget.steps == 300 and specs[0].eval.samples == 1000 and specs[0].eval.every == 100
    assert [(s.hparams["hidden"], s.hparams["d_steps"]) for s in specs] == [(16, 1), (16, 2)]
    assert [s.variant for s in specs] == [
        "hidden=1.6e1 d_steps=1e0",
        "hidden=1.6e1 d_steps=2.0",
    ]  # as written
    plain = suite_file(
        tmp_path, "  - {name: gan, hidden: 16, d_steps: [1, 2]}\n", head=head.replace("3e2", "300")
    )
    assert [s.run_id for s in load_suite(plain)[1]] == [s.run_id for s in specs]  # the same runs


@pytest.mark.parametrize("steps", ["2.5", "2.5e0", "1e-4", "'ten'"])
def test_integer_keys_refuse_numbers_with_a_fraction(tmp_path, steps):
    path = suite_file(tmp_path, "  - {name: gan}\n", head=HEAD.replace("{steps: 10}", f"{{steps: {steps}}}"))
    message = refused(path)
    assert f"{path}:3: budget.steps: Input should be a valid integer" in message


def test_a_metric_no_model_has_the_ability_for_is_refused_at_its_line(tmp_path):
    path = suite_file(tmp_path, "  - {name: gan}\n  - {name: wgan}\n", "[mode_coverage, elbo]")
    message = refused(path)
    assert f"{path}:9: metrics[1]: metric 'elbo' applies to no run of this suite" in message
    assert "it needs a model with the ability 'elbo', which none of the suite's models (gan, wgan)" in message
    assert "families with it: vae" in message
