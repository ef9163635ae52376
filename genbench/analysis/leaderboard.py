"""Leaderboards as pandas tables, built from the results store alone (never from a model)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from genbench.analysis.csvfiles import csv_bytes
from genbench.analysis.findings import dataset_findings, findings_markdown
from genbench.analysis.stability import indicators_table, load_trajectories
from genbench.analysis.stats import ALPHA, EXACT_PER_GROUP, describe, no_power, pairwise_tests, tied_ranks
from genbench.analysis.tuning import leaderboard_section
from genbench.analysis.verdicts import write_published
from genbench.numerics import code_label
from genbench.store.atomic import write_atomic
from genbench.store.protocol import protocol_id, protocol_records
from genbench.store.result import RunResult, Status
from genbench.store.runs import StoreError, load_runs, not_done_notes, read_manifest
from genbench.suite.config import SPEC_VERSION

RUN_COLUMNS = ["run_id", "model", "variant", "label", "dataset", "seed", "status", "steps", "seconds"]
GROUP = ["model", "variant", "label", "dataset", "protocol"]


def runs_table(suite_path: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """One row per run: identity, status, every hyper-parameter (hp.*), every metric; and the
    direction ('max' or 'min') of each metric column."""
    rows = []
    manifest = read_manifest(suite_path)
    directions, labels = manifest["metrics"], manifest.get("labels", {})
    for run in load_runs(suite_path):
        spec, result = run["spec"], run["result"] or RunResult(Status.PENDING)
        dataset = f"{spec['dataset']} {spec['dataset_variant']}".strip()
        row = {
            "run_id": spec["run_id"],
            "model": spec["model"],
            "variant": spec["variant"],
            # the suite file's `label:` as now given, else as stored with the run, else model and variant
            "label": labels.get(spec["run_id"]) or spec.get("label") or label(spec["model"], spec["variant"]),
            "dataset": dataset,
            "seed": spec["seed"],
            "status": result.status.value,
            "steps": result.steps if run["result"] else None,
            "seconds": result.train_seconds if run["result"] else None,
            # runs of an older spec format (leaderboard --all) get protocol groups of their own
            "protocol": protocol_id(result.protocol, result.spec_version)
            if result.protocol is not None
            else None,
            "code": code_label(result.protocol) if result.protocol is not None else None,
        }
        row["spec_version"] = result.spec_version if run["result"] else SPEC_VERSION
        row.update({f"hp.{k}": v for k, v in spec["hparams"].items()})
        row.update(result.metrics)
        row["error"] = result.error
        rows.append(row)
    if not rows:  # every run's spec.json missing or damaged (moved aside by the store)
        raise StoreError(f"{suite_path}: no run has a readable spec.json; `genbench run` writes them again")
    table = pd.DataFrame(rows)
    table["label"] = table.groupby(["model", "variant"], sort=False)["label"].transform("first")
    metric_cols = [c for c in directions if c in table.columns]
    hp_cols = sorted(c for c in table.columns if c.startswith("hp."))
    older = "spec_version" in table and (table["spec_version"] != SPEC_VERSION).any()
    versions = ["protocol", "code"] + (["spec_version"] if older else [])
    order = RUN_COLUMNS + versions + metric_cols + hp_cols + ["error"]
    return table[[c for c in order if c in table.columns]], directions


def primary_metric(table: pd.DataFrame, directions: dict[str, str]) -> str | None:
    """The first metric output of the suite that has any value."""
    return next((m for m in directions if m in table.columns and table[m].notna().any()), None)


def label(model: str, variant: str) -> str:
    """A model variant's name, e.g. 'gan loss=minimax'."""
    return f"{model} {variant if isinstance(variant, str) else ''}".strip()


def summary_table(table: pd.DataFrame, directions: dict[str, str], n_resamples: int = 2000) -> pd.DataFrame:
    """Per model variant, dataset and protocol, over seeds: mean, std, median, min, max and the
    95 % bootstrap CI of the mean of every metric, and the tied rank on the primary metric; best
    first per dataset."""
    table = with_labels(table)
    metrics = [m for m in directions if m in table.columns]
    grouped = table.groupby(GROUP, dropna=False, sort=False)
    summary = grouped.agg(seeds=("seed", "count"), ok=("status", lambda s: int((s == "ok").sum())))
    for metric in metrics:
        summary[f"{metric}_mean"] = grouped[metric].mean()
        summary[f"{metric}_std"] = grouped[metric].std(ddof=1)
        described = grouped[metric].apply(lambda s: pd.Series(describe(s.to_numpy(), n_resamples)))
        for stat in ("median", "min", "max", "ci_lo", "ci_hi"):
            summary[f"{metric}_{stat}"] = described.xs(stat, level=-1).astype(float)
    summary = summary.reset_index()
    primary = primary_metric(table, directions)
    if primary:
        summary["rank"], summary["rank_note"] = _ranks(table, summary, primary, directions[primary])
        order = pd.Categorical(summary["dataset"], categories=list(dict.fromkeys(table["dataset"])))
        summary = summary.assign(_order=order).sort_values(
            ["_order", "rank", f"{primary}_mean"],
            ascending=[True, True, directions[primary] == "min"],
            na_position="last",
            kind="stable",
        )
        summary = summary.drop(columns="_order")
    return summary.reset_index(drop=True)


def significance(table: pd.DataFrame, metric: str) -> dict[tuple, pd.DataFrame]:
    """Per (dataset, protocol): Holm-adjusted two-sided Mann-Whitney p-values between variants (each
    matrix's attrs["tests"] names the tests, `stats.pairwise_tests`)."""
    out = {}
    table = with_labels(table)
    for (dataset, proto), rows in table.groupby(["dataset", "protocol"], sort=False, dropna=False):
        samples = {lab: g[metric].dropna().to_numpy() for lab, g in rows.groupby("label", sort=False)}
        samples = {k: v for k, v in samples.items() if len(v)}
        if len(samples) > 1:
            out[(dataset, proto)] = pairwise_tests(samples)
    return out


def _ranks(table: pd.DataFrame, summary: pd.DataFrame, metric: str, direction: str) -> tuple[list, list]:
    """The tied rank of each summary row within its dataset and protocol, and in words why a row
    has none: no value, or seeds too few for any test to reject at ALPHA (`stats.no_power`)."""
    matrices = {(d, str(p)): m for (d, p), m in significance(table, metric).items()}
    ranks = pd.Series(float("nan"), index=summary.index)
    notes = pd.Series("", index=summary.index)
    for (dataset, proto), rows in summary.groupby(["dataset", "protocol"], dropna=False, sort=False):
        labels = list(rows["label"])
        centres = dict(zip(labels, rows[f"{metric}_mean"], strict=True))
        part = table[(table["dataset"] == dataset) & (table["protocol"].astype(str) == str(proto))]
        sizes = part.dropna(subset=[metric]).groupby("label").size()
        unpowered = no_power(sizes.tolist())
        empty = pd.DataFrame(index=labels, columns=labels, dtype=float)
        matrix = matrices.get((dataset, str(proto)), empty)
        ranked = {} if unpowered else tied_ranks(centres, matrix, direction)
        ranks[rows.index] = [ranked.get(k, float("nan")) for k in labels]
        no_value = "none (no final value)"
        notes[rows.index] = [
            f"not ranked ({unpowered})" if unpowered and k in sizes else "" if k in ranked else no_value
            for k in labels
        ]
    return ranks.tolist(), notes.tolist()


def _pm(mean: float, std: float, lo: float = float("nan"), hi: float = float("nan")) -> str:
    if pd.isna(mean):
        return "–"
    text = f"{mean:.4g}" if pd.isna(std) else f"{mean:.4g} ± {std:.2g}"
    return text if pd.isna(lo) else f"{text} [{lo:.4g}, {hi:.4g}]"


def significance_markdown(table: pd.DataFrame, directions: dict[str, str]) -> str:
    """The significance matrices of the primary metric as Markdown (empty with one variant)."""
    primary = primary_metric(table, directions)
    matrices = significance(table, primary) if primary else {}
    if not matrices:
        return ""
    parts = [
        f"## Significance ({primary}: two-sided Mann–Whitney U over seeds, exact while a group has at "
        f"most {EXACT_PER_GROUP} values, Holm-adjusted p-values; variants that do not differ at {ALPHA} "
        "share a rank)\n"
    ]
    for (dataset, proto), matrix in matrices.items():
        test = f"Test: {matrix.attrs['tests']}.\n\n" if matrix.attrs.get("tests") else ""
        shown = matrix.map(lambda p: "" if pd.isna(p) else f"{p:.3g}" + (" *" if p < ALPHA else ""))
        parts.append(f"### {dataset} (protocol {proto})\n\n" + test + shown.to_markdown() + "\n")
    return "\n".join(parts) + "\n"


WORDS = {"rank": "not ranked", "protocol": "none", "code": "none", "error": "none", "samples": "none"}


def cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as shown text: numbers to 4 significant digits, a missing value as the word its
    column takes (`WORDS`, e.g. an interrupted run's protocol: none) or '–', never 'nan'."""

    def shown(column: str, v) -> str:
        if v is None or v is pd.NA or (isinstance(v, float) and pd.isna(v)) or (isinstance(v, str) and not v):
            return WORDS.get(column, "–")
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    return pd.DataFrame({c: [shown(c, v) for v in frame[c]] for c in frame.columns}, index=frame.index)


def with_labels(table: pd.DataFrame) -> pd.DataFrame:
    """The table with a `label` column (model and variant where it has none)."""
    if "label" in table:
        return table
    return table.assign(label=[label(m, v) for m, v in zip(table["model"], table["variant"], strict=True)])


def markdown(
    table: pd.DataFrame, summary: pd.DataFrame, directions: dict[str, str], findings: str = ""
) -> str:
    """The leaderboard as Markdown: what it found per data set, the aggregate over seeds, then one
    row per run."""
    metrics = [m for m in directions if f"{m}_mean" in summary.columns]
    primary = primary_metric(table, directions)
    shown = summary[["dataset", "label", "variant", "protocol", "seeds", "ok"]].copy()
    if "rank" in summary:
        shown["rank"] = [
            note or f"{r:.0f}" for r, note in zip(summary["rank"], summary["rank_note"], strict=True)
        ]
    for m in metrics:
        arrow = "↑" if directions[m] == "max" else "↓"
        cols = [summary[f"{m}_{s}"] for s in ("mean", "std", "ci_lo", "ci_hi")]
        shown[f"{m} {arrow}"] = [_pm(*v) for v in zip(*cols, strict=True)]
    per_run = table.drop(columns=[c for c in table.columns if c.startswith("hp.")])
    per_run = per_run.drop(columns=["error"]) if per_run["error"].isna().all() else per_run
    older = int((table["spec_version"] != SPEC_VERSION).sum()) if "spec_version" in table else 0
    note = (
        f"Note: {older} runs were stored under an older spec format (column spec_version; this "
        f"genbench writes {SPEC_VERSION}): their numbers are in protocol groups of their own, never "
        "averaged with current runs, and `genbench run` trains them again.\n\n"
        if older
        else ""
    )
    found = f"## What the comparison found\n\n{findings}\n" if findings else ""
    order = f"by data set, then rank on {primary}" if primary else "by data set (no metric has a value yet)"
    heading = f"## Summary (mean ± std [95 % bootstrap CI of the mean] over seeds; sorted {order})\n\n"
    return (
        note
        + found
        + heading
        + cells(shown).to_markdown(index=False)
        + "\n\n"
        + significance_markdown(table, directions)
        + "## Runs\n\n"
        + cells(per_run).to_markdown(index=False)
        + "\n"
    )


def _picture_link(suite_path: Path, run_id: str) -> str:
    """A Markdown link to a run's final samples picture, relative to the leaderboard."""
    relative = Path("runs") / run_id / "samples.png"
    return f"[samples]({relative.as_posix()})" if (suite_path / relative).exists() else ""


def damage_note(suite_path: Path) -> str:
    """A Markdown note naming the files moved aside as damaged in runs not done ('' if none)."""
    moved = not_done_notes(suite_path)
    if not moved:
        return ""
    items = "".join(f"- {name}\n" for name in moved)
    return (
        f"Note: {len(moved)} damaged stored files were moved aside; their runs are left out (a damaged "
        "spec.json) or pending (no numbers) until `genbench run` trains them again:\n\n" + items + "\n"
    )


def write_leaderboard(suite_path: Path) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Rebuild leaderboard.csv (per run), leaderboard_summary.csv and leaderboard.md (and, with
    reference rows, published.csv and published.md)."""
    table, directions = runs_table(suite_path)
    summary = summary_table(table, directions)
    pictures = [_picture_link(suite_path, run_id) for run_id in table["run_id"]]
    found = findings_markdown(suite_findings(suite_path, table, summary, directions))
    text = damage_note(suite_path) + markdown(table.assign(samples=pictures), summary, directions, found)
    text += leaderboard_section(suite_path, table, directions, primary_metric(table, directions))
    write_atomic(suite_path / "leaderboard.csv", csv_bytes(table))  # ids prefixed: never read as numbers
    write_atomic(suite_path / "leaderboard_summary.csv", csv_bytes(summary))
    write_atomic(suite_path / "leaderboard.md", text.encode())
    write_protocols(suite_path)
    write_published(suite_path, table)
    return table, summary, text


def write_protocols(suite_path: Path) -> None:
    """protocols.json: each protocol id of the suite's runs and the fields it hashes."""
    found = [(r["result"].protocol, r["result"].spec_version) for r in load_runs(suite_path) if r["result"]]
    records = protocol_records([(p, v) for p, v in found if p is not None])
    text = json.dumps(records, indent=1, sort_keys=True) + "\n"
    write_atomic(suite_path / "protocols.json", text.encode())


def suite_findings(
    suite_path: Path, table: pd.DataFrame, summary: pd.DataFrame, directions: dict[str, str]
) -> list[tuple[str, str]]:
    """Per data set, what the comparison found (`findings.dataset_findings`), from the store."""
    primary = primary_metric(table, directions)
    if primary is None:
        return dataset_findings(table, summary, {}, pd.DataFrame(), None, "max")
    traj, modes = load_trajectories(suite_path)
    indicators = indicators_table(table, traj, modes, primary, directions[primary], directions=directions)
    matrices = significance(table, primary)
    return dataset_findings(table, summary, matrices, indicators, primary, directions[primary])
