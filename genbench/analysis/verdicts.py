"""Published numbers beside genbench's: the `reference:` rows of a suite file (strict schema, each
naming a model and dataset variant of the suite), and per row a three-way verdict by a stated rule
(docs/guide/reproductions.md, "The rule"):

- "agrees" only when the evidence supports equality within the row's margin (`margin:` in the
  paper's units, else DEFAULT_MARGINS): two one-sided Welch tests (TOST) reject a difference of
  ±margin, i.e. the 90 % CI of the difference lies inside ±margin. Needs a published spread.
- "differs" when the difference test rejects at ALPHA: Welch's t from the two summaries with a
  published spread (a standard error times sqrt(runs) is a standard deviation); without one, a
  two-sample t-test that takes the published value as the mean of its runs (1 when not given)
  spread as genbench's runs are.
- otherwise "undecided", with the reason: too few runs (and how many would give 80 % power,
  `equivalence.runs_needed`), or no spread published (equality cannot be shown without one).

A protocol field the paper gives (sample count, split, budget, importance samples, test examples)
that differs from the run's is part of the verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from genbench.analysis.csvfiles import csv_bytes
from genbench.analysis.equivalence import POWER, Side, compare, runs_needed, se_df
from genbench.analysis.stats import ALPHA, describe
from genbench.store.atomic import write_atomic
from genbench.store.result import RunResult
from genbench.store.runs import load_runs, read_manifest
from genbench.suite.metric_entries import entry_columns
from genbench.suite.reference import ReferenceRow, variant_key

NOT_RUN = "not run yet"
# default equivalence margins in genbench's units (times a row's scale: the paper's units); any
# other metric: RELATIVE_MARGIN of the published value (likelihoods, divergences, distances)
DEFAULT_MARGINS = {
    "modes": (1.0, "1 mode"),
    "stacked_modes": (1.0, "1 mode"),
    "classes": (1.0, "1 class"),
    "hq_frac": (0.05, "5 percentage points"),
    "precision": (0.05, "5 percentage points"),
    "recall": (0.05, "5 percentage points"),
    "coverage": (0.05, "5 percentage points"),
}
RELATIVE_MARGIN = 0.10


def margin_of(ref: ReferenceRow) -> tuple[float, str]:
    """A row's equivalence margin in the paper's units and where it comes from (NaN: none, for a
    published 0 without a declared margin)."""
    if ref.margin is not None:
        return ref.margin, "declared"
    if ref.metric in DEFAULT_MARGINS:
        size, words = DEFAULT_MARGINS[ref.metric]
        return size * ref.scale, f"default: {words}"
    if ref.value == 0:
        return math.nan, "none: declare margin for a published 0"
    return RELATIVE_MARGIN * abs(ref.value), f"default: {RELATIVE_MARGIN * 100:.0f} % of the published value"


# ------------------------------------------------------------------------------- the rule


@dataclass(frozen=True)
class Verdict:
    """A row's verdict, why, the test behind it, its p-values, the 90 % CI of the difference
    (genbench minus published) and the genbench runs a decision would need (None: not computed
    or out of reach)."""

    word: str
    reason: str
    test: str = ""
    p_difference: float = math.nan
    p_equivalence: float = math.nan
    ci_lo: float = math.nan
    ci_hi: float = math.nan
    runs_needed: int | None = None


def verdict(
    value: float,
    spread: float | None,
    kind: str,
    runs: int | None,
    measured: dict,
    margin: float,
    alpha: float = ALPHA,
) -> Verdict:
    """The verdict of a published value (spread of `kind` se or std over `runs` runs, or none)
    against genbench's summary `measured` (n, mean, std, as from stats.describe) within ±margin."""
    n = measured.get("n", 0)
    if not n:
        return Verdict(NOT_RUN, "no finished run")
    if spread is not None and kind in ("se", "std") and runs and runs >= 2:
        published = Side(value, spread * math.sqrt(runs) if kind == "se" else spread, runs)
        return _with_spread(published, measured, margin, alpha)
    return _without_spread(value, runs, measured, margin, alpha)


def _need_text(need: int | None, margin: float | None) -> str:
    """The runs a decision needs, in words (`equivalence.runs_needed`)."""
    goal = "the difference" if margin is None else f"equivalence within ±{margin:.3g}"
    if need is None:
        return (
            f"no number of runs gives {POWER * 100:.0f} % power to show {goal} (the paper's s.e. is too wide)"
        )
    return (
        f"about {need} genbench runs would give {POWER * 100:.0f} % power to show {goal} at the observed "
        "difference and spread (noncentral t)"
    )


def _with_spread(published: Side, measured: dict, margin: float, alpha: float) -> Verdict:
    """Welch's difference test and TOST within ±margin against a published spread."""
    n, d = measured["n"], measured["mean"] - published.mean
    goal = margin if abs(d) < margin else None  # what more runs could show
    tost = f"TOST within ±{margin:.3g} (90 % CI of the difference)" if math.isfinite(margin) else "no TOST"
    test = f"Welch t-test; {tost}"
    if n < 2:  # no spread of genbench's: assume the paper's for the runs needed
        need = runs_needed(published, published.std, d, goal, alpha)
        reason = "one genbench run: no spread to test with; " + _need_text(need, goal)
        return Verdict(
            "undecided", reason + " if genbench's runs spread as the paper's", test, runs_needed=need
        )
    mine = Side(measured["mean"], measured["std"], n)
    if se_df(published, mine)[0] == 0:
        inside = abs(d) < margin
        how = f"both spreads are zero: difference {d:.3g} {'inside' if inside else 'outside'} ±{margin:.3g}"
        return Verdict("agrees" if inside else "differs", how, "none needed (no spread on either side)")
    c = compare(published, mine, margin, alpha)
    ci = f"difference {d:.3g}, 90 % CI [{c.ci_lo:.3g}, {c.ci_hi:.3g}]"
    found = {"test": test, "p_difference": c.p_difference, "p_equivalence": c.p_equivalence}
    found |= {"ci_lo": c.ci_lo, "ci_hi": c.ci_hi}
    if c.p_equivalence < alpha:
        also = (
            f"; significant (Welch p = {c.p_difference:.2g}) but inside it" if c.p_difference < alpha else ""
        )
        return Verdict("agrees", f"{ci} inside ±{margin:.3g}{also}", **found)
    if c.p_difference < alpha:
        return Verdict("differs", f"{ci}; Welch p = {c.p_difference:.2g} < {alpha}", **found)
    need = runs_needed(published, mine.std, d, goal, alpha)
    tests = f"Welch p = {c.p_difference:.2g}, TOST p = {_p_text(c.p_equivalence)}"
    reason = f"too few runs ({n}): {ci}, neither test decides ({tests}); " + _need_text(need, goal)
    return Verdict("undecided", reason, runs_needed=need, **found)


def _without_spread(value: float, runs: int | None, measured: dict, margin: float, alpha: float) -> Verdict:
    """Without a published spread: "differs" by a two-sample t-test that takes the published
    value as the mean of its runs (1 when not given) spread as genbench's; never "agrees"."""
    n, std = measured["n"], measured["std"]
    m = runs or 1
    taken = f"the mean of {m} runs" if m > 1 else "1 run" + ("" if runs else " (runs not given)")
    test = f"two-sample t-test: the published value taken as {taken} with genbench's spread"
    if n < 2 or not math.isfinite(std):
        return Verdict("undecided", "no spread published, and one genbench run: nothing to test with")
    if std == 0:
        return Verdict(
            "undecided", "no spread published, and genbench's runs are all equal: no spread to test with"
        )
    c = compare(Side(value, std, m), Side(measured["mean"], std, n), margin, alpha, equal_var=True)
    ci = f"difference {c.difference:.3g}, 90 % CI [{c.ci_lo:.3g}, {c.ci_hi:.3g}]"
    found = {"test": test, "p_difference": c.p_difference, "ci_lo": c.ci_lo, "ci_hi": c.ci_hi}
    if c.p_difference < alpha:
        return Verdict("differs", f"{ci}; p = {c.p_difference:.2g} < {alpha} (no spread published)", **found)
    reason = f"no spread published: equality cannot be shown, and the difference test does not reject ({ci})"
    return Verdict("undecided", reason, **found)


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


def _run_facts(spec: dict, result: RunResult | None, column: str) -> dict:
    """The protocol fields of one stored run for the metric output `column` (those it records):
    the protocol of the entry that writes it, kept under its key (`fd_inception`: `fid[inception]`)."""
    entries = spec.get("metric_params") or dict.fromkeys(spec.get("metrics", []))
    key = entry_columns(entries).get(column, column)  # a metric not registered here: the column
    recorded = (result.metric_protocols if result else {}).get(key, {})
    split = recorded.get("split")
    return {
        "steps": spec.get("budget", {}).get("steps"),
        "samples": recorded.get("n_generated", spec.get("eval", {}).get("samples")),
        "split": split.split(";")[0].strip() if isinstance(split, str) else None,
        "k": recorded.get("k"),
        "examples": recorded.get("n_examples", recorded.get("n_test")),
    }


# ------------------------------------------------------------------------------- the table


def reference_groups(ref: ReferenceRow, table: pd.DataFrame) -> list[tuple]:
    """(protocol, runs) of the runs `table` (one row per run) that a reference row names, one
    group per protocol (one empty group when none does)."""
    mine = table[
        (table["model"] == ref.model)
        & (table["variant"].fillna("").map(variant_key) == variant_key(ref.variant))
        & (
            table["dataset"].map(lambda d: (d.split()[0], variant_key(" ".join(d.split()[1:]))))
            == (ref.dataset, variant_key(ref.dataset_variant))
        )
    ]
    return list(mine.groupby("protocol", dropna=False, sort=False)) or [(None, mine)]


def verdict_row(
    ref: ReferenceRow, proto, group: pd.DataFrame, mismatches: list[str], budget: str, n_resamples: int = 2000
) -> dict:
    """One row of the published table: the published value, genbench's summary over the group's
    finished runs (in the paper's units), the margin, the test, its p-values and the verdict."""
    ok = group[group["status"] == "ok"]
    values = ok[ref.metric] if ref.metric in ok else pd.Series(dtype=float)
    measured = describe((values.astype(float) * ref.scale).to_numpy(), n_resamples)
    margin, margin_source = margin_of(ref)
    found = verdict(ref.value, ref.spread, ref.spread_kind, ref.runs, measured, margin)
    word = found.word + (
        "; protocol: " + ", ".join(mismatches) if mismatches and found.word != NOT_RUN else ""
    )
    return {
        "source": ref.source,
        "model": ref.model,
        "variant": ref.variant,
        "dataset": f"{ref.dataset} {ref.dataset_variant}".strip(),
        "metric": ref.metric,
        "protocol": proto,
        "published": _published_text(ref),
        "genbench": _measured_text(measured),
        "budget": budget,
        "margin": f"±{margin:.3g} ({margin_source})" if math.isfinite(margin) else margin_source,
        "test": found.test or "none",
        "p_difference": found.p_difference,
        "p_equivalence": found.p_equivalence,
        "verdict": word,
        "reason": found.reason,
        "runs_needed": found.runs_needed,
        "published_value": ref.value,
        "published_spread": ref.spread,
        "published_spread_kind": ref.spread_kind,
        "published_runs": ref.runs,
        "scale": ref.scale,
        "margin_value": margin,
        "genbench_n": measured["n"],
        "genbench_mean": measured["mean"],
        "genbench_std": measured["std"],
        "genbench_ci_lo": measured["ci_lo"],
        "genbench_ci_hi": measured["ci_hi"],
        "difference_ci90_lo": found.ci_lo,
        "difference_ci90_hi": found.ci_hi,
        "note": ref.note,
    }


def published_table(suite_path: Path, table: pd.DataFrame, n_resamples: int = 2000) -> pd.DataFrame:
    """Per reference row of the stored suite and protocol group of its runs: `verdict_row`, with
    the protocol differences read from the stored runs."""
    rows = [ReferenceRow.model_validate(r) for r in read_manifest(suite_path).get("reference", [])]
    if not rows:
        return pd.DataFrame()
    runs = {r["spec"]["run_id"]: r for r in load_runs(suite_path)}
    out = []
    for ref in rows:
        for proto, group in reference_groups(ref, table):
            facts = [_run_facts(runs[i]["spec"], runs[i]["result"], ref.metric) for i in group["run_id"]]
            run_protocol = {k: _one([f[k] for f in facts]) for k in facts[0]} if facts else {}
            mismatches = protocol_mismatches(ref.protocol.model_dump(), run_protocol)
            budget = _budget_text(run_protocol.get("steps"), ref.protocol.steps)
            out.append(verdict_row(ref, proto, group, mismatches, budget, n_resamples))
    return published_frame(out)


def published_frame(rows: list[dict]) -> pd.DataFrame:
    """The published table from its `verdict_row`s (runs needed as integers, empty where none)."""
    return pd.DataFrame(rows).astype({"runs_needed": "Int64"}) if rows else pd.DataFrame()


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


SHOWN = {  # column shown -> column of the table
    "source": "source",
    "model": "model",
    "variant": "variant",
    "dataset": "dataset",
    "metric": "metric",
    "published": "published",
    "genbench": "genbench",
    "budget": "budget",
    "margin": "margin",
    "test": "test",
    "p (difference)": "p_difference",
    "p (equivalence)": "p_equivalence",
    "verdict": "verdict",
    "reason": "reason",
}
RULE_TEXT = (
    "Published value ± spread (kind, runs) against genbench's mean ± std [95 % bootstrap CI of the "
    "mean] over seeds (n), in the paper's units. Verdict (three-way, at "
    f"{ALPHA}): agrees only when two one-sided Welch tests (TOST) show the difference inside ±margin "
    "(its 90 % CI inside the margin; margin declared by the row, else 1 mode for mode counts, 5 "
    "percentage points for shares, 10 % of the published value otherwise); differs when the "
    "two-sided difference test rejects (Welch from the two summaries, a standard error times "
    "sqrt(runs) being a standard deviation; without a published spread, a two-sample t-test taking "
    "the published value as the mean of its runs, 1 when not given, spread as genbench's); otherwise "
    "undecided, with the reason: too few runs (and how many would give 80 % power) or no spread "
    "published. Protocol fields the paper gives and the run does not share (genbench's value first) "
    "are part of the verdict. Published numbers are checks, never targets."
)


def _p_text(p: float) -> str:
    return "–" if p is None or not np.isfinite(p) else f"{p:.2g}"


def shown_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The published table's shown columns, p-values as text."""
    shown = frame[list(SHOWN.values())].rename(columns={v: k for k, v in SHOWN.items()})
    for column in ("p (difference)", "p (equivalence)"):
        shown[column] = [_p_text(p) for p in shown[column]]
    return shown


def published_markdown(frame: pd.DataFrame) -> str:
    """The published-vs-genbench table as Markdown, with the rule."""
    return (
        "## Published vs genbench\n\n"
        + RULE_TEXT
        + "\n\n"
        + shown_frame(frame).to_markdown(index=False)
        + "\n"
    )


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
        ("table", "Published vs genbench", shown_frame(frame)),
    ]
