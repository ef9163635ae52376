"""tools/remedies_vs_gan.py: one-sided Mann-Whitney against the plain GAN, Holm over the remedies,
exact at six seeds (against the count of splits by hand)."""

import importlib.util

import pandas as pd
import pytest

from tests.helpers import TOOLS

TOOL = TOOLS / "remedies_vs_gan.py"
spec = importlib.util.spec_from_file_location("remedies_vs_gan", TOOL)
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def runs(values: dict[str, list[float]]) -> pd.DataFrame:
    rows = []
    for label, modes in values.items():
        model, _, variant = label.partition(" ")
        rows += [
            {"model": model, "variant": variant, "dataset": "ring8", "status": "ok", "modes": m}
            for m in modes
        ]
    return pd.DataFrame(rows)


def test_complete_separation_is_significant_after_holm_and_equal_samples_are_not():
    table = tool.remedies_table(
        runs(
            {
                tool.BASELINE: [0, 1, 0, 1, 0, 1],
                tool.REMEDIES["PacGAN2"]: [8, 8, 8, 8, 8, 8],
                tool.REMEDIES["Unrolled GAN (k = 5)"]: [0, 1, 0, 1, 0, 1],
                tool.REMEDIES["VEEGAN"]: [1, 0, 1, 0, 1, 0],
            }
        )
    ).set_index("remedy")
    pac = table.loc["PacGAN2"]
    assert pac["p (one-sided)"] < 0.005 and pac["Holm p"] == pytest.approx(3 * pac["p (one-sided)"])
    assert pac["remedy mean"] == 8 and pac["GAN mean"] == 0.5
    # the same values as the GAN: no evidence of more modes, p about one half
    assert table.loc["VEEGAN", "p (one-sided)"] == pytest.approx(
        table.loc["Unrolled GAN (k = 5)", "p (one-sided)"]
    )
    assert table.loc["VEEGAN", "Holm p"] > 0.4


def test_failed_runs_are_left_out():
    frame = runs({tool.BASELINE: [0, 0, 0], tool.REMEDIES["PacGAN2"]: [8, 8, 8]})
    frame.loc[len(frame)] = {
        "model": "gan",
        "variant": "pack=2 lr=0.001 batch_size=128",
        "dataset": "ring8",
        "status": "failed",
        "modes": float("nan"),
    }
    table = tool.remedies_table(frame).set_index("remedy")
    assert table.loc["PacGAN2", "n"] == 3


def test_six_seeds_with_ties_are_exact_and_named():
    # ring8 modes of the baselines suite: 20 of the C(12, 6) = 924 splits of the pooled mid-ranks
    # give the unrolled GAN a rank sum at least its own (the normal approximation said 0.0125)
    table = tool.remedies_table(
        runs(
            {
                tool.BASELINE: [1, 0, 1, 0, 1, 0],
                tool.REMEDIES["PacGAN2"]: [8, 8, 8, 8, 8, 8],
                tool.REMEDIES["Unrolled GAN (k = 5)"]: [7, 4, 1, 6, 1, 1],
                tool.REMEDIES["VEEGAN"]: [0, 0, 3, 0, 1, 0],
            }
        )
    ).set_index("remedy")
    unrolled = table.loc["Unrolled GAN (k = 5)"]
    assert unrolled["p (one-sided)"] == pytest.approx(20 / 924)
    assert table.loc["PacGAN2", "p (one-sided)"] == pytest.approx(1 / 924)  # the most extreme split
    assert unrolled["Holm p"] == pytest.approx(2 * 20 / 924)  # second smallest of three: times 2
    assert (table["test"] == "Mann–Whitney U with ties (mid-ranks): exact permutation (all 924 splits)").all()
