"""Recompute the published-vs-genbench verdicts of a committed results folder under the current
rule (genbench.analysis.verdicts), from its leaderboard.csv (one row per run) and the suite file's
`reference:` rows, without the run store: writes published.csv and published.md, replaces the
"Published vs genbench" section of its report.md, and prints each row's old verdict beside the new
one as Markdown.

The protocol differences (budget, samples, split, ...) were read from the stored runs when the
folder was written and the folder keeps no runs: they are carried over from the old published.csv
(the budget alone, from leaderboard.csv's steps, for a row it does not have).

    python tools/rederive_verdicts.py suites/papers/pacgan_table1_scaled.yaml \
        results/reference/papers/pacgan_table1_scaled
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pandas as pd

from genbench.analysis.csvfiles import csv_bytes, strip_id_prefixes
from genbench.analysis.verdicts import published_frame, published_markdown, reference_groups, verdict_row
from genbench.store.atomic import write_atomic
from genbench.suite.reader import read_suite_yaml
from genbench.suite.reference import ReferenceRow

SECTION = re.compile(r"^## Published vs genbench\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)


def _old_rows(folder: Path) -> dict[tuple, dict]:
    """The old published.csv's rows by (source, protocol); {} without one."""
    path = folder / "published.csv"
    if not path.exists():
        return {}
    old = strip_id_prefixes(pd.read_csv(path))
    return {(r["source"], r["protocol"]): r for r in old.to_dict("records")}


def _budget_only(ref: ReferenceRow, group: pd.DataFrame) -> tuple[list[str], str]:
    """Budget mismatch and text from the runs' steps (the one protocol field leaderboard.csv has)."""
    steps = group.loc[group["status"] == "ok", "steps"].dropna().astype(int).unique()
    if len(steps) != 1:
        return [], "–"
    ours, theirs = int(steps[0]), ref.protocol.steps
    if theirs is None:
        return [], f"{ours:,} steps"
    mismatch = [f"budget {ours:,} vs {theirs:,} steps"] if ours != theirs else []
    return mismatch, f"{ours:,} steps ({100 * ours / theirs:.3g} % of the paper's {theirs:,})"


def rederive(suite_file: Path, folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The new published table of `folder` and a table of old → new verdicts."""
    raw, _ = read_suite_yaml(suite_file)
    rows = [ReferenceRow.model_validate(r) for r in raw.get("reference") or []]
    table = strip_id_prefixes(pd.read_csv(folder / "leaderboard.csv"))
    old = _old_rows(folder)
    new, changes = [], []
    for ref in rows:
        for proto, group in reference_groups(ref, table):
            before = old.get((ref.source, proto))
            if before is not None:
                word, _, mismatch = str(before["verdict"]).partition("; protocol: ")
                mismatches, budget = ([mismatch] if mismatch else []), before["budget"]
            else:
                word, (mismatches, budget) = "–", _budget_only(ref, group)
            row = verdict_row(ref, proto, group, mismatches, budget)
            new.append(row)
            changes.append(
                {
                    "source": ref.source,
                    "old verdict": word,
                    "new verdict": row["verdict"].partition("; protocol: ")[0],
                    "reason": row["reason"],
                }
            )
    return published_frame(new), pd.DataFrame(changes)


def write(folder: Path, frame: pd.DataFrame) -> None:
    """published.csv, published.md, and the report's section, rewritten."""
    markdown = published_markdown(frame)
    write_atomic(folder / "published.csv", csv_bytes(frame))
    write_atomic(folder / "published.md", markdown.encode())
    report = folder / "report.md"
    if report.exists() and SECTION.search(report.read_text()):
        text = SECTION.sub(lambda _: markdown + "\n", report.read_text(), count=1)
        write_atomic(report, text.encode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("suite", type=Path, help="the suite file with the reference rows")
    parser.add_argument("folder", type=Path, help="the committed results folder (leaderboard.csv)")
    args = parser.parse_args(argv)
    frame, changes = rederive(args.suite, args.folder)
    if frame.empty:
        print(f"{args.suite}: no reference rows")
        return 0
    write(args.folder, frame)
    print(changes.to_markdown(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
