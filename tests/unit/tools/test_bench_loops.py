"""The bare loops of tools/bench_loops.py do each family's computation to the bit (what makes the
trainer-overhead ratio honest), and their self-check names the family whose loop drifted."""

from __future__ import annotations

import sys

import pytest

from tests.helpers import TOOLS

sys.path.insert(0, str(TOOLS))

import bench_loops  # noqa: E402


def test_every_bare_loop_ends_at_genbench_parameters_to_the_bit():
    assert bench_loops.check() == dict.fromkeys(bench_loops.FAMILIES, 0.0)


def test_a_drifted_bare_loop_is_named():
    def drifted(model, hp, sample, steps, diag):
        if hasattr(model, "critic"):  # the W-GAN's bare loop clips at another bound than the family
            hp = hp.model_copy(update={"clip": 10 * hp.clip})
        bench_loops.bare_loop(model, hp, sample, steps, diag)

    with pytest.raises(bench_loops.LoopMismatch) as caught:
        bench_loops.check({k: bench_loops.FAMILIES[k] for k in ("gan", "wgan")}, bare=drifted)
    lines = str(caught.value).splitlines()
    assert len(lines) == 1 and lines[0].startswith("wgan: ") and "W-GAN branch" in lines[0]
