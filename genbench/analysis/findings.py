"""What a suite's comparison found, per data set, in sentences generated from the statistics:
which variants differ significantly (Holm-adjusted) and which way, whether the seeds could show a
difference at all, which variants collapsed and which diverged."""

from __future__ import annotations

import pandas as pd

from genbench.analysis.stats import ALPHA

MAX_PAIRS = 6  # significant differences named per data set; the rest are counted


def _better_pairs(matrix: pd.DataFrame, centres: dict[str, float], direction: str) -> list[tuple]:
    """(better, worse, p) for every significant pair of the matrix, smallest p first."""
    pairs = []
    labels = list(matrix.index)
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            p = matrix.loc[a, b]
            if pd.notna(p) and p < ALPHA and pd.notna(centres.get(a)) and pd.notna(centres.get(b)):
                a_ahead = centres[a] > centres[b] if direction == "max" else centres[a] < centres[b]
                pairs.append((a, b, p) if a_ahead else (b, a, p))
    return sorted(pairs, key=lambda t: t[2])


def _last(ordered: pd.DataFrame, metric: str, direction: str) -> str:
    """' and <last variant> the lowest (<mean>)' (highest where lower is better); '' on a tie."""
    if ordered[f"{metric}_mean"].nunique() == 1:
        return ""
    worst = "lowest" if direction == "max" else "highest"
    return f" and {ordered.iloc[-1]['label']} the {worst} ({ordered.iloc[-1][f'{metric}_mean']:.3g})"


def _comparison(rows: pd.DataFrame, matrix: pd.DataFrame | None, metric: str, direction: str) -> str:
    """The sentence on the primary metric's differences between a data set's variants."""
    rows = rows.dropna(subset=[f"{metric}_mean"])
    if rows.empty:
        return f"no variant has a final {metric}."
    best = "highest" if direction == "max" else "lowest"
    ordered = rows.sort_values(f"{metric}_mean", ascending=direction == "min")
    lead = ordered.iloc[0]
    means = f"{lead['label']} has the {best} mean {metric} ({lead[f'{metric}_mean']:.3g})"
    if len(rows) == 1:
        return means + "; it has nothing to be compared with."
    if rows[f"{metric}_mean"].nunique() == 1:
        means = f"every variant has the mean {metric} {lead[f'{metric}_mean']:.3g}"
    notes = [n for n in rows["rank_note"] if isinstance(n, str) and n.startswith("not ranked")]
    if notes:
        reason = notes[0].removeprefix("not ranked (").removesuffix(")")
        return (
            f"no difference can be significant at {ALPHA} with these seeds ({reason}), so the variants "
            f"are not ranked; by the means alone, {means}" + _last(ordered, metric, direction) + "."
        )
    centres = dict(zip(rows["label"], rows[f"{metric}_mean"], strict=True))
    pairs = _better_pairs(matrix, centres, direction) if matrix is not None else []
    if not pairs:
        return (
            f"{means}, but no two variants differ significantly (Holm-adjusted Mann–Whitney p ≥ "
            f"{ALPHA}), so all share rank 1."
        )
    shown = "; ".join(f"{a} better than {b} (p {p:.2g})" for a, b, p in pairs[:MAX_PAIRS])
    more = f"; and {len(pairs) - MAX_PAIRS} more pairs" if len(pairs) > MAX_PAIRS else ""
    return (
        f"{means}. Significant differences in {metric} (Holm-adjusted Mann–Whitney p < {ALPHA}): "
        f"{shown}{more}; the other pairs do not differ significantly."
    )


def _outcomes(indicators: pd.DataFrame, table: pd.DataFrame, dataset: str) -> str:
    """The sentence on which variants collapsed, which diverged, and runs without a result."""
    part = indicators[indicators["dataset"] == dataset] if len(indicators) else indicators
    words = []
    if len(part) and part["collapsed"].notna().any():
        collapsed = part.groupby("label", sort=False)["collapsed"].agg(["sum", "count"])
        named = [
            f"{k} ({int(r['sum'])}/{int(r['count'])} runs)" for k, r in collapsed.iterrows() if r["sum"] > 0
        ]
        words.append("Collapsed: " + (", ".join(named) if named else "none"))
    if len(part):
        diverged = part.groupby("label", sort=False)["diverged"].agg(["sum", "count"])
        named = [
            f"{k} ({int(r['sum'])}/{int(r['count'])} runs)" for k, r in diverged.iterrows() if r["sum"] > 0
        ]
        words.append("diverged: " + (", ".join(named) if named else "none"))
    runs = table[table["dataset"] == dataset]["status"].value_counts()
    left = [f"{runs[s]} {s}" for s in ("failed", "interrupted", "pending") if s in runs]
    if left:
        words.append("without a result: " + ", ".join(left))
    text = "; ".join(words)
    return text[:1].upper() + text[1:] + "." if text else ""


def dataset_findings(
    table: pd.DataFrame,
    summary: pd.DataFrame,
    matrices: dict[tuple, pd.DataFrame],
    indicators: pd.DataFrame,
    metric: str | None,
    direction: str,
) -> list[tuple[str, str]]:
    """Per data set (and protocol, where a data set has several): (name, one or two sentences)."""
    out = []
    for (dataset, proto), rows in summary.groupby(["dataset", "protocol"], sort=False, dropna=False):
        if pd.isna(proto):
            continue  # runs without a result: counted by _outcomes
        several = summary[summary["dataset"] == dataset]["protocol"].nunique() > 1
        name = f"{dataset} (protocol {proto})" if several else dataset
        found = _comparison(rows, matrices.get((dataset, proto)), metric, direction) if metric else ""
        text = " ".join(
            t for t in (found[:1].upper() + found[1:], _outcomes(indicators, table, dataset)) if t
        )
        out.append((name, text))
    for dataset in dict.fromkeys(table["dataset"]):  # data sets no run of which has finished
        if dataset not in {n.split(" (protocol")[0] for n, _ in out}:
            out.append((dataset, _outcomes(indicators.iloc[0:0], table, dataset) or "No finished run."))
    return out


def findings_markdown(findings: list[tuple[str, str]]) -> str:
    """The findings as a Markdown list, one item per data set."""
    return "".join(f"- **{name}**: {text}\n" for name, text in findings)
