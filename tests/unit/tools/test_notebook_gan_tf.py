"""tools/notebook_gan_tf.py, the side that needs no TensorFlow: scoring the samples a TensorFlow run
returns with genbench's mode coverage, the notebook's repeated centre counted once, and the table."""

from __future__ import annotations

import importlib.util
import math

from tests.helpers import TOOLS

TOOL = TOOLS / "notebook_gan_tf.py"
_spec = importlib.util.spec_from_file_location("notebook_gan_tf", TOOL)
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)


def _centres(thetas):
    return [[math.sin(t), math.cos(t)] for t in thetas]


def test_samples_on_every_centre_cover_every_mode():
    centres = _centres([2 * math.pi * k / 8 for k in range(8)])
    run = {"centres": centres, "evals": [{"step": 0, "samples": centres * 2, "d_logit_sd": 0.5}]}
    (row,) = tool.score(run)
    assert (row["modes"], row["of"], row["hq"]) == (8, 8, 1.0)


def test_the_notebooks_repeated_centre_is_one_mode_and_far_samples_are_not_high_quality():
    centres = _centres([2 * math.pi * k / 7 for k in range(8)])  # linspace(0, 2 pi, 8): first = last
    near = [[x + 0.02, y] for x, y in centres[:3]]  # 2 std off: high quality
    far = [[x + 0.05, y] for x, y in centres[3:5]]  # 5 std off: not
    run = {"centres": centres, "evals": [{"step": 5, "samples": near + far, "d_logit_sd": 0.0}]}
    (row,) = tool.score(run)
    assert (row["modes"], row["of"]) == (3, 7)
    assert row["hq"] == 3 / 5


def test_markdown_has_one_line_per_evaluation():
    rows = [
        {"step": 0, "modes": 7, "of": 8, "hq": 0.004, "d_logit_sd": 0.222},
        {"step": 25000, "modes": 1, "of": 8, "hq": 0.993, "d_logit_sd": 1.5},
    ]
    text = tool.markdown("ring8", {0: rows}, 25000, "2.21.0")
    assert "| 0 | 25,000 | 1 of 8 | 99.3 % | 1.500 |" in text
    assert text.count("\n| 0 |") == 2
    assert "TensorFlow 2.21.0" in text
