"""Seeds trained together (`vectorize_seeds`): the batched model is S independent models, a group
of one seed is the lone run, a diverging seed leaves the others alone, and the CLI stores each
seed as its own run under the run id it has without the option (the CLI: tests/e2e/worker)."""

from __future__ import annotations

import math

import pytest
import torch

from genbench.driver.runner import jobs
from genbench.models.gan import discriminator_loss
from genbench.suite.config import SuiteError, load_suite
from genbench.worker.seed_group import SeedGroup, train_group
from genbench.worker.train import Trainer, loop, train
from tests.helpers import SEED_GROUP_SUITE as SUITE
from tests.helpers import seed_group_specs as specs_of


def test_batched_model_gives_each_seed_its_own_outputs_and_gradients(tmp_path):
    specs = specs_of(tmp_path, "gan")
    group = SeedGroup(specs)
    members = [m.model for m in group.members]
    x = torch.randn(5 * len(specs), 2)  # interleaved: row r belongs to seed r % S
    out = group.model.discriminator(x)
    for s, member in enumerate(members):
        assert torch.allclose(out[s :: len(specs)], member.discriminator(x[s :: len(specs)]), atol=1e-6)
    fake = torch.randn_like(x)
    discriminator_loss(out, group.model.discriminator(fake)).backward()
    for s, member in enumerate(members):
        rows = slice(s, None, len(specs))
        discriminator_loss(member.discriminator(x[rows]), member.discriminator(fake[rows])).backward()
        for name, layer in group.batch.layers.items():
            if not name.startswith("discriminator"):
                continue
            own = group.batch.member_layers[s][name]
            assert torch.allclose(layer.weight.grad[s], own.weight.grad, rtol=1e-5, atol=1e-7), name
            assert torch.allclose(layer.bias.grad[s, 0], own.bias.grad, rtol=1e-5, atol=1e-7), name


def test_each_seed_starts_from_the_weights_of_its_lone_run(tmp_path):
    specs = specs_of(tmp_path, "vae")
    group = SeedGroup(specs)
    for s, spec in enumerate(specs):
        alone = Trainer(spec).model.state_dict()
        for name, layer in group.batch.layers.items():
            assert torch.equal(layer.weight[s], alone[f"{name}.weight"])
    assert not torch.equal(
        group.batch.layers["decoder.0"].weight[0], group.batch.layers["decoder.0"].weight[1]
    )


@pytest.mark.parametrize("model", ["gan", "vae"])
def test_a_group_of_one_seed_is_the_lone_run(tmp_path, model):
    spec = specs_of(tmp_path, model)[0]
    alone, grouped = train(spec), train_group([spec])[0]
    assert grouped.status == alone.status == "ok"
    assert grouped.steps == alone.steps == 100
    for key, value in alone.metrics.items():
        if math.isnan(value):
            assert math.isnan(grouped.metrics[key])
        else:
            assert grouped.metrics[key] == pytest.approx(value, rel=1e-3, abs=1e-4), key
    assert grouped.vectorized["seeds"] == [spec.seed]


def test_seeds_of_a_group_differ_and_each_has_its_trajectory(tmp_path):
    specs = specs_of(tmp_path, "vae")
    results = train_group(specs)
    elbos = [r.metrics["elbo"] for r in results]
    assert len(set(elbos)) == len(specs)
    for r in results:
        assert [row["step"] for row in r.trajectory] == [0, 50, 100]  # the last is the final evaluation
        assert not any(key.startswith("train.") for row in r.trajectory for key in row)
        assert r.vectorized["seeds"] == [0, 1, 2]


def test_a_diverging_seed_is_dropped_and_the_others_go_on(tmp_path):
    specs = specs_of(tmp_path, "gan")
    group = SeedGroup(specs)
    with torch.no_grad():
        group.batch.layers["generator.0"].weight[1] = float("nan")
    assert loop(group, None, None, None) == "ok"
    assert group.diverged_at == {1: 1} and group.alive == [0, 2]
    assert bool(group.batch.finite_seeds().all())  # the dropped seed was zeroed
    assert group.members[1].step == 1 and group.members[0].step == 100
    for s in (0, 2):
        assert math.isfinite(group.members[s].trajectory[-1]["mode_dist"])


def test_jobs_group_seeds_of_a_variant_up_to_the_group_size(tmp_path):
    specs = specs_of(tmp_path, "gan", vectorize="2") + specs_of(tmp_path, "vae", vectorize="2")
    assert [[s.seed for s in job] for job in jobs(specs)] == [[0, 1], [2], [0, 1], [2]]
    assert {job[0].model for job in jobs(specs)} == {"gan", "vae"}
    plain = specs_of(tmp_path, "gan", vectorize="false")
    assert [len(job) for job in jobs(plain)] == [1, 1, 1]


def test_run_ids_do_not_depend_on_the_option(tmp_path):
    ids = {v: [s.run_id for s in specs_of(tmp_path, "gan", vectorize=v)] for v in ("true", "false", "2")}
    assert ids["true"] == ids["false"] == ids["2"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("budget: {steps: 100}", "budget: {seconds: 5}"), "needs a steps budget"),
        (("{name: gan, z_dim: 16, hidden: 32, batch_size: 64}", "{name: dcgan}"), "only MLP networks"),
        (("vectorize_seeds: true", "vectorize_seeds: 1"), "vectorize_seeds"),
    ],
)
def test_bad_vectorize_settings_name_the_file_and_line(tmp_path, change, message):
    path = tmp_path / "vs.yaml"
    path.write_text(SUITE.format(steps=100, vectorize="true").replace(*change))
    with pytest.raises(SuiteError, match=message) as err:
        load_suite(path)
    assert "vs.yaml:5" in str(err.value)  # the vectorize_seeds line


def test_serial_runner_trains_a_group_as_one_job(tmp_path):
    from genbench.driver.runner import run_serial

    specs = specs_of(tmp_path, "vae", steps=60)
    started, results = [], {}
    run_serial(specs, started.append, lambda spec, result: results.__setitem__(spec.seed, result))
    assert [s.seed for s in started] == [0, 1, 2]  # every run of the group announced before it trains
    assert sorted(results) == [0, 1, 2]
    assert {r.status for r in results.values()} == {"ok"}
    assert all(r.vectorized["seeds"] == [0, 1, 2] and r.restarts == 0 for r in results.values())
