"""tools/update_order.py: its simultaneous step takes G's gradient at D's parameters before D's
update (the notebook's one-call update), where genbench's alternating step takes it after."""

from __future__ import annotations

import importlib.util
import types

import torch

from genbench.worker.train import Trainer
from tests.helpers import TOOLS

TOOL = TOOLS / "update_order.py"
_spec = importlib.util.spec_from_file_location("update_order", TOOL)
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)


def _generator_after_one_step(order: str, lr_d: float) -> list[torch.Tensor]:
    run = Trainer(tool.spec(steps=1, every=1, seed=0, modes=7))
    for group in run.model.opt_d.param_groups:
        group["lr"] = lr_d
    if order == "simultaneous":
        run.model.train_step = types.MethodType(tool.simultaneous_step, run.model)
    run.train_step()
    return [p.detach().clone() for p in run.model.generator.parameters()]


def test_simultaneous_generator_step_ignores_the_discriminator_update():
    slow, fast = (
        _generator_after_one_step("simultaneous", 1e-4),
        _generator_after_one_step("simultaneous", 0.5),
    )
    assert all(torch.equal(a, b) for a, b in zip(slow, fast, strict=True))


def test_alternating_generator_step_sees_the_updated_discriminator():
    slow, fast = _generator_after_one_step("alternating", 1e-4), _generator_after_one_step("alternating", 0.5)
    assert not all(torch.equal(a, b) for a, b in zip(slow, fast, strict=True))
