"""The fgan_kl suite's question as a pre-specified family of tests: does a generator trained against
the forward KL cover more modes, and one trained against the reverse KL give sharper samples
(Qiu, Neural Networks and Deep Learning, eqs. 13.48-13.50)? Under each f-GAN generator update
(alternative, saddle) and on each toy:

- modes: forward > reverse; high-quality share: reverse > forward; KL to uniform over modes:
  forward < reverse (one-sided Mann-Whitney, exact at these sizes, Holm over the whole family);
- divergence: how many of the runs diverged, and Fisher's exact test of the two rates.

A run that diverged is a result: the tests are made twice, on the runs that finished (their final
evaluation) and on every run at its last evaluation before it stopped (finished or diverged).
The outcomes also give mode_dist (mean distance of a sample to its nearest mode, in the mixture's
std), described but not tested: it was not part of the question set before the suite ran.
Reads a results folder of the suite (leaderboard.csv and the runs' trajectories); prints Markdown.

    python tools/forward_reverse_kl.py results/fgan_kl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from genbench.analysis.csvfiles import strip_id_prefixes
from genbench.analysis.stats import holm, mann_whitney_test

# metric -> (the side expected larger, the alternative of forward against reverse)
HYPOTHESES = {"modes": "greater", "hq_frac": "less", "kl_modes": "less"}
CLAIMS = {
    "modes": "forward KL covers more modes",
    "hq_frac": "reverse KL has a larger high-quality share",
    "kl_modes": "forward KL spreads its samples more evenly over the modes",
}


def last_evaluation(folder: Path, run_id: str) -> dict:
    """The run's last evaluation of finite samples (its final one, or the last before it diverged);
    its KL over modes is NaN where it captured no mode (null in the file)."""
    rows = [json.loads(line) for line in (folder / "runs" / run_id / "trajectory.jsonl").open()]
    rows = [{k: np.nan if v is None else v for k, v in r.items()} for r in rows]
    finite = [
        r for r in rows if np.isfinite(r.get("modes", np.nan)) and np.isfinite(r.get("hq_frac", np.nan))
    ]
    return finite[-1] if finite else {}


def runs_frame(folder: Path) -> pd.DataFrame:
    """One row per run: divergence, update, data set, status, final values, last finite values."""
    runs = strip_id_prefixes(pd.read_csv(folder / "leaderboard.csv", dtype={"run_id": str}))
    runs = runs.assign(divergence=runs["hp.divergence"], update=runs["hp.g_update"].fillna("alternative"))
    for metric in HYPOTHESES:
        runs[f"last_{metric}"] = [last_evaluation(folder, r).get(metric, np.nan) for r in runs["run_id"]]
    runs["last_step"] = [last_evaluation(folder, r).get("step", np.nan) for r in runs["run_id"]]
    return runs


def outcomes_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per data set, update and divergence: runs, diverged (at which steps), and the means."""
    rows = []
    for (dataset, update, divergence), part in runs.groupby(["dataset", "update", "divergence"]):
        ok = part[part["status"] == "ok"]
        diverged = part[part["status"] == "diverged"]
        rows.append(
            {
                "dataset": dataset,
                "update": update,
                "divergence": divergence,
                "runs": len(part),
                "diverged": len(diverged),
                "diverged at steps": ", ".join(str(int(s)) for s in sorted(diverged["steps"])) or "-",
                **{f"{m} (finished)": ok[m].mean() for m in HYPOTHESES},
                "mode_dist (finished)": ok["mode_dist"].mean(),  # described, not tested
                **{f"{m} (last evaluation)": part[f"last_{m}"].mean() for m in HYPOTHESES},
            }
        )
    return pd.DataFrame(rows)


def tests_table(runs: pd.DataFrame, which: str) -> pd.DataFrame:
    """Forward against reverse KL per data set and update, on `which` values: "finished" (final
    values of the runs that finished) or "last" (every run's last finite evaluation)."""
    rows = []
    for (dataset, update), part in runs.groupby(["dataset", "update"]):
        if which == "finished":
            part = part[part["status"] == "ok"]
        for metric, alternative in HYPOTHESES.items():
            column = metric if which == "finished" else f"last_{metric}"
            forward = part.loc[part["divergence"] == "kl", column].dropna()
            reverse = part.loc[part["divergence"] == "reverse_kl", column].dropna()
            tested = mann_whitney_test(forward, reverse, alternative=alternative)
            rows.append(
                {
                    "dataset": dataset,
                    "update": update,
                    "claim": CLAIMS[metric],
                    "forward (n)": f"{forward.mean():.3g} ({len(forward)})",
                    "reverse (n)": f"{reverse.mean():.3g} ({len(reverse)})",
                    "p (one-sided)": tested.p,
                    "test": tested.test,
                }
            )
    table = pd.DataFrame(rows)
    table.insert(6, "Holm p", holm(table["p (one-sided)"].tolist()))
    return table


def divergence_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Fisher's exact test (two-sided) of the divergence rates of forward and reverse KL."""
    rows = []
    for (dataset, update), part in runs.groupby(["dataset", "update"]):
        counts = [
            [(g["status"] == "diverged").sum(), (g["status"] != "diverged").sum()]
            for _, g in sorted(part.groupby("divergence"))
        ]
        rows.append(
            {
                "dataset": dataset,
                "update": update,
                "forward KL diverged": f"{counts[0][0]}/{sum(counts[0])}",
                "reverse KL diverged": f"{counts[1][0]}/{sum(counts[1])}",
                "p (Fisher, two-sided)": stats.fisher_exact(counts).pvalue,
            }
        )
    table = pd.DataFrame(rows)
    table["Holm p"] = holm(table["p (Fisher, two-sided)"].tolist())
    return table


def main(folder: Path) -> str:
    runs = runs_frame(folder)
    parts = [
        ("Outcomes", outcomes_table(runs)),
        ("Tests on the runs that finished (final evaluation)", tests_table(runs, "finished")),
        ("Tests on every run at its last evaluation (diverged runs included)", tests_table(runs, "last")),
        ("Divergence", divergence_table(runs)),
    ]
    return "\n\n".join(f"### {title}\n\n{t.to_markdown(index=False, floatfmt='.3g')}" for title, t in parts)


if __name__ == "__main__":
    print(main(Path(sys.argv[1])))
