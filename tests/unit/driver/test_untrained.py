"""The untrained models' step-0 evaluation before training, and the warning of `genbench validate`
when every variant's untrained model already meets the target."""

from __future__ import annotations

import random

import numpy as np
import torch
import yaml

from genbench.driver.cli import main
from genbench.driver.untrained import step0_row, untrained_warnings
from genbench.suite.config import load_suite
from genbench.worker.train import Trainer

SUITE = {
    "name": "untrained",
    "seeds": [3, 4],
    "budget": {"steps": 10},
    "eval": {"every": 5, "samples": 400},
    "datasets": [{"name": "ring8", "train_size": 1000, "test_size": 200}],
    "models": [{"name": "gan", "z_dim": 8, "hidden": 16}, {"name": "vae", "hidden": 16}],
    "metrics": ["mode_coverage", "elbo"],
}


def load(tmp_path, **changes):
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({**SUITE, **changes}))
    suite, specs, _ = load_suite(path)
    return path, suite, specs


def test_the_step_0_row_is_the_runs_own_first_evaluation(tmp_path):
    _, _, specs = load(tmp_path)
    for spec in specs[:: len(SUITE["seeds"])]:  # each variant's first seed
        state = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
        row = step0_row(spec, {"modes", "hq_frac"})
        assert torch.equal(torch.get_rng_state(), state[0]) and random.getstate() == state[2]
        assert (np.random.get_state()[1] == state[1]).all()  # the caller's generators untouched
        trainer = Trainer(spec)
        trainer.evaluate()  # what the training loop stores at step 0
        first = trainer.trajectory[0]
        assert first["step"] == 0
        assert {k: row[k] for k in ("modes", "hq_frac")} == {k: first[k] for k in ("modes", "hq_frac")}
        assert "elbo" not in row  # only the metrics the target needs


def test_a_target_every_untrained_model_meets_is_warned_of(tmp_path, capsys):
    path, suite, specs = load(tmp_path, target={"hq_frac": 0.0})  # any model has hq_frac >= 0
    (warning,) = untrained_warnings(suite, specs)
    assert warning.startswith("the target (hq_frac ≥ 0) is met at step 0 by every variant's untrained")
    assert "on ring8 test_size=200 train_size=1000 (" in warning  # yaml.safe_dump sorts the keys
    assert main(["validate", str(path)]) == 0
    assert "warning: the target (hq_frac ≥ 0) is met at step 0" in capsys.readouterr().out


def test_the_toys_default_target_is_not_met_by_untrained_models(tmp_path):
    _, suite, specs = load(tmp_path)  # modes >= 4 of 8 and hq_frac >= 0.5
    assert untrained_warnings(suite, specs) == []
    _, suite, specs = load(tmp_path, target={"modes": "100%"})
    assert untrained_warnings(suite, specs) == []


def test_a_model_that_cannot_be_built_gives_no_row_and_no_error(tmp_path):
    """A VAE with a Bernoulli decoder cannot train on the 2-D toys: its run fails and says why;
    the step-0 look before training skips it instead of stopping the suite."""
    models = [{"name": "gan", "z_dim": 8, "hidden": 16}, {"name": "vae", "decoder": "bernoulli"}]
    _, suite, specs = load(tmp_path, models=models)
    broken = next(s for s in specs if s.model == "vae")
    assert step0_row(broken, {"modes", "hq_frac"}) is None
    assert step0_row(specs[0], {"modes", "hq_frac"}) is not None
    assert isinstance(untrained_warnings(suite, specs), list)
