"""Published numbers beside genbench's: the `reference:` rows of a suite file (strict schema, each
naming a model and dataset variant of the suite), and per row a verdict by a stated rule.

The rule (README, "Reproductions"): with a published spread, a two-sided Welch t-test from the two
summaries (scipy.stats.ttest_ind_from_stats; a standard error becomes a standard deviation with
sqrt(n)) at ALPHA: "agrees" when it does not reject, else "differs". Without a spread: "agrees"
when the published value lies inside genbench's 95 % bootstrap CI of the mean, else "differs",
labelled "no spread published". A protocol field the paper gives (sample count, split, budget,
importance samples, test examples) that differs from the run's is part of the verdict.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from scipy import stats as scipy_stats

from genbench.analysis.csvfiles import csv_bytes
from genbench.analysis.stats import ALPHA, describe
from genbench.store.atomic import write_atomic
from genbench.store.result import RunResult
from genbench.store.runs import load_runs, read_manifest
from genbench.suite.reference import ReferenceRow, variant_key

NOT_RUN = "not run yet"


# ------------------------------------------------------------------------------- the rule


def verdict(
    value: float,
    spread: float | None,
    kind: str,
    runs: int | None,
    measured: dict,
    alpha: float = ALPHA,
) -> tuple[str, str, float]:
    """(verdict, how it was decided, p-value or NaN) of a published value against genbench's
    summary `measured` (n, mean, std, ci_lo, ci_hi, as from stats.describe)."""
    n = measured.get("n", 0)
    if not n:
        return NOT_RUN, "no finished run", math.nan
    if spread is not None and kind in ("se", "std") and runs and runs >= 2:
        if n < 2:
            return "undecided", "one genbench run: no spread to test against", math.nan
        published_std = spread * math.sqrt(runs) if kind == "se" else spread
        if published_std == 0 and measured["std"] == 0:
            same = value == measured["mean"]
            return ("agrees" if same else "differs"), "both spreads are zero: equal means or not", math.nan
        test = scipy_stats.ttest_ind_from_stats(
            value, published_std, runs, measured["mean"], measured["std"], n, equal_var=False
        )
        p = float(test.pvalue)
        return ("agrees" if p >= alpha else "differs"), f"Welch t-test, p = {p:.3g}", p
    lo, hi = measured.get("ci_lo", math.nan), measured.get("ci_hi", math.nan)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "undecided (no spread published)", f"{n} genbench run(s): no 95 % CI", math.nan
    inside = lo <= value <= hi
    how = f"published value {'inside' if inside else 'outside'} genbench's 95 % CI"
    return ("agrees" if inside else "differs") + " (no spread published)", how, math.nan


def _num(v) -> str:
    return f"{v:,}" if isinstance(v, int) else str(v)


def protocol_mismatches(published: dict, run: dict) -> list[str]:
    """The fields the paper gives that differ from the run's, as 'budget 25,000 vs 400,000 steps'
    (genbench's value first); a field the run does not record is named as such."""
    out = []
    names = {"steps": "budget", "samples": "samples", "split": "split", "k": "k", "examples": "test examples"}
    for key, name in names.items():
        theirs = published.get(key)
        if theirs is None:
            continue
        ours = run.get(key)
        if ours is None:
            out.append(f"{name} not recorded by genbench (paper: {_num(theirs)})")
        elif ours != theirs:
            out.append(f"{name} {_num(ours)} vs {_num(theirs)}" + (" steps" if key == "steps" else ""))
    return out


def _run_facts(spec: dict, result: RunResult | None, metric: str) -> dict:
    """The protocol fields of one stored run for `metric` (those it records)."""
    recorded = (result.metric_protocols if result else {}).get(metric, {})
    split = recorded.get("split")
    return {
        "steps": spec.get("budget", {}).get("steps"),
        "samples": recorded.get("n_generated", spec.get("eval", {}).get("samples")),
        "split": split.split(";")[0].strip() if isinstance(split, str) else None,
        "k": recorded.get("k"),
        "examples": recorded.get("n_examples", recorded.get("n_test")),
    }


# ------------------------------------------------------------------------------- the table


def published_table(suite_path: Path, table: pd.DataFrame, n_resamples: int = 2000) -> pd.DataFrame:
    """Per reference row of the stored suite and protocol group of its runs: the published value,
    genbench's summary over seeds (in the paper's units), the protocol differences and the verdict."""
    rows = [ReferenceRow.model_validate(r) for r in read_manifest(suite_path).get("reference", [])]
    if not rows:
        return pd.DataFrame()
    runs = {r["spec"]["run_id"]: r for r in load_runs(suite_path)}
    out = []
    for ref in rows:
        dataset = f"{ref.dataset} {ref.dataset_variant}".strip()
        mine = table[
            (table["model"] == ref.model)
            & (table["variant"].fillna("").map(variant_key) == variant_key(ref.variant))
            & (
                table["dataset"].map(lambda d: (d.split()[0], variant_key(" ".join(d.split()[1:]))))
                == (ref.dataset, variant_key(ref.dataset_variant))
            )
        ]
        groups = list(mine.groupby("protocol", dropna=False, sort=False)) or [(None, mine)]
        for proto, group in groups:
            ok = group[group["status"] == "ok"]
            values = ok[ref.metric] if ref.metric in ok else pd.Series(dtype=float)
            measured = describe((values.astype(float) * ref.scale).to_numpy(), n_resamples)
            word, how, p = verdict(ref.value, ref.spread, ref.spread_kind, ref.runs, measured)
            facts = [_run_facts(runs[i]["spec"], runs[i]["result"], ref.metric) for i in group["run_id"]]
            run_protocol = {k: _one([f[k] for f in facts]) for k in facts[0]} if facts else {}
            mismatches = protocol_mismatches(ref.protocol.model_dump(), run_protocol)
            if mismatches and word != NOT_RUN:
                word += "; protocol: " + ", ".join(mismatches)
            out.append(
                {
                    "source": ref.source,
                    "model": ref.model,
                    "variant": ref.variant,
                    "dataset": dataset,
                    "metric": ref.metric,
                    "protocol": proto,
                    "published": _published_text(ref),
                    "genbench": _measured_text(measured),
                    "budget": _budget_text(run_protocol.get("steps"), ref.protocol.steps),
                    "verdict": word,
                    "rule": how,
                    "published_value": ref.value,
                    "published_spread": ref.spread,
                    "published_spread_kind": ref.spread_kind,
                    "published_runs": ref.runs,
                    "scale": ref.scale,
                    "genbench_n": measured["n"],
                    "genbench_mean": measured["mean"],
                    "genbench_std": measured["std"],
                    "genbench_ci_lo": measured["ci_lo"],
                    "genbench_ci_hi": measured["ci_hi"],
                    "p_value": p,
                    "note": ref.note,
                }
            )
    return pd.DataFrame(out)


def _one(values: list):
    """The common value of a protocol field over a group's runs (a list when they differ)."""
    distinct = list(dict.fromkeys(values))
    return distinct[0] if len(distinct) == 1 else distinct


def _published_text(ref: ReferenceRow) -> str:
    runs = f"n={ref.runs}" if ref.runs else "n not given"
    if ref.spread is None:
        return f"{ref.value:.4g} (no spread, {runs})"
    return f"{ref.value:.4g} ± {ref.spread:.2g} ({ref.spread_kind}, {runs})"


def _measured_text(m: dict) -> str:
    if not m["n"]:
        return NOT_RUN
    text = f"{m['mean']:.4g}" + ("" if math.isnan(m["std"]) else f" ± {m['std']:.2g}")
    if not math.isnan(m["ci_lo"]):
        text += f" [{m['ci_lo']:.4g}, {m['ci_hi']:.4g}]"
    return text + f" (n={m['n']})"


def _budget_text(ours, theirs: int | None) -> str:
    if not isinstance(ours, int):
        return "–" if ours is None else str(ours)
    if theirs is None:
        return f"{ours:,} steps"
    return f"{ours:,} steps ({100 * ours / theirs:.3g} % of the paper's {theirs:,})"


SHOWN = [
    "source",
    "model",
    "variant",
    "dataset",
    "metric",
    "published",
    "genbench",
    "budget",
    "verdict",
    "rule",
]
RULE_TEXT = (
    "Published value ± spread (kind, runs) against genbench's mean ± std [95 % bootstrap CI of the "
    f"mean] over seeds (n), in the paper's units. Verdict: with a published spread, a two-sided Welch "
    f"t-test from the two summaries (a standard error times sqrt(n) is a standard deviation) at "
    f"{ALPHA}: agrees when it does not reject; without one, agrees when the published value lies in "
    "genbench's 95 % CI (labelled 'no spread published'). Protocol fields the paper gives and the run "
    "does not share (genbench's value first) are part of the verdict. Published numbers are checks, "
    "never targets."
)


def published_markdown(frame: pd.DataFrame) -> str:
    """The published-vs-genbench table as Markdown, with the rule."""
    return "## Published vs genbench\n\n" + RULE_TEXT + "\n\n" + frame[SHOWN].to_markdown(index=False) + "\n"


def write_published(suite_path: Path, table: pd.DataFrame) -> pd.DataFrame:
    """Write published.csv and published.md beside the leaderboard when the suite has reference rows."""
    frame = published_table(suite_path, table)
    if len(frame):
        write_atomic(suite_path / "published.csv", csv_bytes(frame))
        write_atomic(suite_path / "published.md", published_markdown(frame).encode())
    return frame


def report_blocks(suite_path: Path, table: pd.DataFrame) -> list[tuple]:
    """The report's 'Published vs genbench' section (no blocks without reference rows)."""
    frame = published_table(suite_path, table)
    if frame.empty:
        return []
    return [
        ("h", 2, "Published vs genbench"),
        ("p", RULE_TEXT),
        ("table", "Published vs genbench", frame[SHOWN]),
    ]
