"""The baselines suite's question as a pre-specified family of tests: does a mode-collapse remedy
(PacGAN2, the Unrolled GAN, VEEGAN) capture more modes than the plain non-saturating GAN?

The report's all-pairs table (55 pairs of 11 methods) cannot reject anything at 6 seeds: the
smallest two-sided Mann-Whitney p of 6 against 6 runs is 2/924 = 0.0022, and Holm multiplies the
smallest by 55. Three one-sided tests against one baseline, Holm over the three, can. Each test is
exact at these group sizes (`stats.mann_whitney_test`: scipy's exact null distribution without
ties, every split of the pooled mid-ranks with ties) and named in the table. Reads a suite's
leaderboard.csv (per-run rows); prints the table as Markdown.

    python tools/remedies_vs_gan.py results/reference/baselines/leaderboard.csv
"""

from __future__ import annotations

import sys

import pandas as pd

from genbench.analysis.stats import holm, mann_whitney_test

BASELINE = "gan loss=nonsaturating lr=0.001 batch_size=128"
REMEDIES = {
    "PacGAN2": "gan pack=2 lr=0.001 batch_size=128",
    "Unrolled GAN (k = 5)": "gan unroll=5 lr=0.001 batch_size=128",
    "VEEGAN": "veegan lr=0.001 batch_size=128",
}


def remedies_table(runs: pd.DataFrame, metric: str = "modes") -> pd.DataFrame:
    """Per data set and remedy: mean modes of both, one-sided Mann-Whitney p (remedy > GAN), the
    test that gave it, and the Holm-adjusted p over the three remedies of that data set."""
    rows = []
    runs = runs.assign(label=runs["model"] + " " + runs["variant"].fillna(""))
    for dataset, part in runs[runs["status"] == "ok"].groupby("dataset"):
        base = part.loc[part["label"] == BASELINE, metric].dropna()
        found = []
        for name, variant in REMEDIES.items():
            values = part.loc[part["label"] == variant, metric].dropna()
            tested = mann_whitney_test(values, base, alternative="greater")
            found.append(
                {
                    "dataset": dataset,
                    "remedy": name,
                    "n": len(values),
                    "remedy mean": values.mean(),
                    "GAN mean": base.mean(),
                    "n GAN": len(base),
                    "p (one-sided)": tested.p,
                    "test": tested.test,
                }
            )
        for row, adjusted in zip(found, holm([r["p (one-sided)"] for r in found]), strict=True):
            test = row.pop("test")
            rows.append({**row, "Holm p": adjusted, "test": test})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    print(remedies_table(pd.read_csv(sys.argv[1])).to_markdown(index=False, floatfmt=".3g"))
