"""Leaderboards as pandas tables, built from the results store alone (never from a model)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from genbench.analysis.stats import ALPHA, describe, pairwise_tests, tied_ranks
from genbench.analysis.tuning import leaderboard_section
from genbench.analysis.verdicts import write_published
from genbench.numerics import code_label
from genbench.store.atomic import write_atomic
from genbench.store.protocol import protocol_id
from genbench.store.result import RunResult, Status
from genbench.store.runs import StoreError, load_runs, not_done_notes, read_manifest
from genbench.suite.config import SPEC_VERSION

RUN_COLUMNS = ["run_id", "model", "variant", "dataset", "seed", "status", "steps", "seconds"]
GROUP = ["model", "variant", "dataset", "protocol"]


def runs_table(suite_path: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """One row per run: identity, status, every hyper-parameter (hp.*), every metric; and the
    direction ('max' or 'min') of each metric column."""
    rows = []
    directions = read_manifest(suite_path)["metrics"]
    for run in load_runs(suite_path):
        spec, result = run["spec"], run["result"] or RunResult(Status.PENDING)
        dataset = f"{spec['dataset']} {spec['dataset_variant']}".strip()
        row = {
            "run_id": spec["run_id"],
            "model": spec["model"],
            "variant": spec["variant"],
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
        summary["rank"] = _ranks(table, summary, primary, directions[primary])
        ascending = directions[primary] == "min"
        summary = summary.sort_values(
            ["dataset", f"{primary}_mean"], ascending=[True, ascending], na_position="last"
        )
    return summary.reset_index(drop=True)


def significance(table: pd.DataFrame, metric: str) -> dict[tuple, pd.DataFrame]:
    """Per (dataset, protocol): Holm-adjusted two-sided Mann-Whitney p-values between variants."""
    out = {}
    for (dataset, proto), rows in table.groupby(["dataset", "protocol"], sort=True, dropna=False):
        samples = {
            label(m, v): g[metric].dropna().to_numpy()
            for (m, v), g in rows.groupby(["model", "variant"], sort=False, dropna=False)
        }
        samples = {k: v for k, v in samples.items() if len(v)}
        if len(samples) > 1:
            out[(dataset, proto)] = pairwise_tests(samples)
    return out


def _ranks(table: pd.DataFrame, summary: pd.DataFrame, metric: str, direction: str) -> list[float]:
    """The tied rank of each summary row within its dataset and protocol (NaN without values)."""
    matrices = {(d, str(p)): m for (d, p), m in significance(table, metric).items()}
    ranks = pd.Series(float("nan"), index=summary.index)
    for (dataset, proto), rows in summary.groupby(["dataset", "protocol"], dropna=False, sort=False):
        labels = [label(m, v) for m, v in zip(rows["model"], rows["variant"], strict=True)]
        centres = dict(zip(labels, rows[f"{metric}_mean"], strict=True))
        empty = pd.DataFrame(index=labels, columns=labels, dtype=float)
        ranked = tied_ranks(centres, matrices.get((dataset, str(proto)), empty), direction)
        ranks[rows.index] = [ranked.get(k, float("nan")) for k in labels]
    return ranks.tolist()


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
        f"## Significance ({primary}: two-sided Mann–Whitney U over seeds, Holm-adjusted p-values; "
        f"variants that do not differ at {ALPHA} share a rank)\n"
    ]
    for (dataset, proto), matrix in matrices.items():
        shown = matrix.map(lambda p: "" if pd.isna(p) else f"{p:.3g}" + (" *" if p < ALPHA else ""))
        parts.append(f"### {dataset} (protocol {proto})\n\n" + shown.to_markdown() + "\n")
    return "\n".join(parts) + "\n"


def markdown(table: pd.DataFrame, summary: pd.DataFrame, directions: dict[str, str]) -> str:
    """The leaderboard as Markdown: the aggregate over seeds, then one row per run."""
    metrics = [m for m in directions if f"{m}_mean" in summary.columns]
    primary = primary_metric(table, directions)
    shown = summary[GROUP + ["seeds", "ok"] + (["rank"] if "rank" in summary else [])].copy()
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
    return (
        note + f"## Summary (mean ± std [95 % bootstrap CI of the mean] over seeds; "
        f"sorted by {primary or 'nothing'} within each dataset)\n\n"
        + shown.to_markdown(index=False, floatfmt=".4g")
        + "\n\n"
        + significance_markdown(table, directions)
        + "## Runs\n\n"
        + per_run.to_markdown(index=False, floatfmt=".4g")
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
    text = damage_note(suite_path) + markdown(table.assign(samples=pictures), summary, directions)
    text += leaderboard_section(suite_path, table, directions, primary_metric(table, directions))
    write_atomic(suite_path / "leaderboard.csv", table.to_csv(index=False).encode())
    write_atomic(suite_path / "leaderboard_summary.csv", summary.to_csv(index=False).encode())
    write_atomic(suite_path / "leaderboard.md", text.encode())
    write_published(suite_path, table)
    return table, summary, text
