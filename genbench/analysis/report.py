"""`genbench report`: what the comparison found, the leaderboard with CIs, settings, significance,
stability, anytime curves, diagnostics and final samples, as report.md, a self-contained
report.html and tables.tex, from the store alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from genbench.analysis import stability as stable
from genbench.analysis import stats
from genbench.analysis import verdicts as reference
from genbench.analysis.figures import suite as figures
from genbench.analysis.figures import variant_styles
from genbench.analysis.findings import dataset_findings
from genbench.analysis.leaderboard import damage_note, primary_metric, runs_table, significance, summary_table
from genbench.analysis.render import FILES_DIR, to_html, to_latex, to_markdown
from genbench.analysis.settings import settings_blocks
from genbench.analysis.tuning import add_report_section
from genbench.store.atomic import write_atomic
from genbench.store.result import Status
from genbench.store.runs import load_runs, read_manifest, run_dir
from genbench.suite.reader import SuiteError
from genbench.suite.targets import TargetSetting, describe_setting, target_problems

STATUSES = [s.value for s in Status]
__all__ = ["FILES_DIR", "Report", "build_report", "to_html", "to_latex", "to_markdown", "write_report"]


@dataclass
class Report:
    """The report as blocks: ("h", level, text), ("p", text), ("ul", [(name, text)]), ("pre",
    text), ("table", caption, frame), ("img", file name, caption); plus the PNGs by file name."""

    blocks: list[tuple] = field(default_factory=list)
    images: dict[str, bytes] = field(default_factory=dict)

    def add(self, *block) -> None:
        self.blocks.append(block)

    def image(self, name: str, png: bytes | None, caption: str) -> None:
        if png is not None:
            self.images[name] = png
            self.add("img", name, caption)


def _fmt(v, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return "–"
    return f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def _ci(lo: float, hi: float) -> str:
    return "–" if pd.isna(lo) else f"[{lo:.4g}, {hi:.4g}]"


def _with_ci(mean: float, lo: float, hi: float) -> str:
    if pd.isna(mean):
        return "–"
    return f"{mean:.4g}" if pd.isna(lo) else f"{mean:.4g} {_ci(lo, hi)}"  # no CI from one value


def _rank_text(rank: float, note: str) -> str:
    """A rank as shown: the number, or in words why there is none."""
    return note if isinstance(note, str) and note else "not ranked" if pd.isna(rank) else f"{rank:.0f}"


def leaderboard_frame(summary: pd.DataFrame, directions: dict[str, str], primary: str) -> pd.DataFrame:
    """The summary as a shown table: data set, variant, rank, seeds; primary metric mean ± std,
    CI, median and range; the other metrics' mean and CI. Sorted by data set, then rank."""
    rows = []
    for r in summary[summary["protocol"].notna()].to_dict("records"):  # not pending/failed-only rows
        row = {
            "dataset": r["dataset"],
            "variant": r["label"],
            "rank": _rank_text(r.get("rank", float("nan")), r.get("rank_note", "")),
            "ok/seeds": f"{r['ok']}/{r['seeds']}",
        }
        p = primary
        has = not pd.isna(r[f"{p}_mean"])
        row[f"{p} mean ± std"] = f"{_fmt(r[f'{p}_mean'])} ± {_fmt(r[f'{p}_std'], 2)}" if has else "–"
        row[f"{p} 95% CI"] = _ci(r[f"{p}_ci_lo"], r[f"{p}_ci_hi"])
        row[f"{p} median [min, max]"] = (
            f"{_fmt(r[f'{p}_median'])} [{_fmt(r[f'{p}_min'])}, {_fmt(r[f'{p}_max'])}]" if has else "–"
        )
        for m, d in directions.items():
            if m != p and f"{m}_mean" in r:
                arrow = "↑" if d == "max" else "↓"
                row[f"{m} {arrow}"] = _with_ci(r[f"{m}_mean"], r[f"{m}_ci_lo"], r[f"{m}_ci_hi"])
        rows.append(row)
    return pd.DataFrame(rows)


def _start_text(row: dict) -> str:
    """The target's outputs at a variant's first evaluation (medians over its runs) and the share
    of its runs that meet the target there; where that evaluation is not at step 0, its step."""
    if pd.isna(row.get("start_step")):
        return "–"
    if row["start_step"] > 0:
        return f"none (first evaluation at step {row['start_step']:.0f})"
    values = [f"{k.removeprefix('start.')} {_fmt(v, 3)}" for k, v in row.items() if k.startswith("start.")]
    shown = ", ".join(v for v in values if not v.endswith("–")) or "–"
    return shown + (f"; met by {_fmt(100 * row['start_met'], 3)} %" if row["start_met"] > 0 else "")


def stability_frame(stability: pd.DataFrame, refused: list[str] = ()) -> pd.DataFrame:
    """The stability table as shown: rates in percent, medians rounded, the target's values at
    step 0 beside the time to it; 'refused' on the data sets whose target is refused."""
    if stability.empty:
        return stability
    shown = pd.DataFrame({"dataset": stability["dataset"], "variant": stability["label"]})
    shown["runs"] = stability["runs"]
    for col in ("diverged_rate", "collapsed_rate"):
        shown[col.replace("_rate", " %")] = [_fmt(100 * v, 3) for v in stability[col]]
    for col in ("oscillation", "best_gap"):
        shown[col.replace("_", " ")] = [_fmt(v, 3) for v in stability[col]]
    shown["at step 0"] = [_start_text(r) for r in stability.to_dict("records")]
    shown["reached %"] = [_fmt(100 * v, 3) for v in stability["reached_rate"]]
    for col in ("steps_to_target", "seconds_to_target"):
        shown[col.replace("_", " ")] = [_fmt(v, 3) for v in stability[col]]
    no = stability["dataset"].isin(list(refused)).to_numpy()
    shown.loc[no, ["reached %", "steps to target", "seconds to target"]] = "refused"
    return shown


def _median_run(table: pd.DataFrame, metric: str) -> dict[tuple, str]:
    """Per (dataset, variant label): the ok run whose final metric is the median (lower middle)."""
    out = {}
    ok = table[table["status"] == "ok"].dropna(subset=[metric])
    for (dataset, lab), g in ok.groupby(["dataset", "label"], sort=False):
        g = g.sort_values([metric, "seed"])
        out[(dataset, lab)] = g.iloc[(len(g) - 1) // 2]["run_id"]
    return out


def _checked_target(target: TargetSetting, directions: dict, modes: dict) -> TargetSetting:
    """The target (the suite file's or `--target`'s), refused (SuiteError) where it names an output
    the suite's metrics do not have, or a share of the modes of an output that counts none."""
    counting = {r["collapse"]["output"] for r in modes.values() if r.get("collapse")}
    problems = target_problems(target, set(directions), counting)
    if problems:
        raise SuiteError("target: " + "; ".join(f"{'.'.join(loc)}: {msg}" for loc, msg in problems))
    return target


def build_report(suite_path: Path, target: TargetSetting = None) -> Report:
    """Assemble the report of the suite stored at `suite_path` (target: the suite file's unless given)."""
    suite_path = Path(suite_path)
    manifest = read_manifest(suite_path)
    target = manifest.get("target") if target is None else target
    runs = load_runs(suite_path)
    table, directions = runs_table(suite_path)
    table = table.assign(**{m: float("nan") for m in directions if m not in table})  # none finished yet
    primary = primary_metric(table, directions) or next(iter(directions))
    traj, modes = stable.load_trajectories(suite_path)
    summary = summary_table(table, directions)
    target = _checked_target(target, directions, modes)
    indicators = stable.indicators_table(table, traj, modes, primary, directions[primary], target, directions)
    styles = variant_styles(table["label"])  # one style per variant in every figure
    rep = Report()
    rep.add("h", 1, f"genbench report: {suite_path.name}")
    counts = table["status"].value_counts()
    rep.add("p", "Runs: " + ", ".join(f"{counts[s]} {s}" for s in STATUSES if s in counts) + ".")
    if note := damage_note(suite_path):  # files moved aside by genbench.store.reading
        rep.add("p", note.strip())
    matrices = significance(table, primary) if table[primary].notna().any() else {}
    found = dataset_findings(table, summary, matrices, indicators, primary, directions[primary])
    rep.add("h", 2, "What the comparison found")
    rep.add("ul", found)
    _leaderboard_section(rep, suite_path, table, summary, directions, primary)
    rep.add("h", 2, "Settings and protocol")
    rep.blocks += settings_blocks(runs, manifest.get("labels", {}), directions)
    _significance_section(rep, matrices, summary, primary)
    given = describe_setting(target, primary, directions) if target is not None else ""
    _stability_section(rep, indicators, summary, primary, given)
    if len(traj):
        _curves_section(rep, manifest, table, traj, directions, styles)
    add_report_section(rep, suite_path, table, directions, primary)  # suites with searches
    _samples_section(rep, suite_path, table, primary)
    _suite_file(rep, manifest)
    return rep


def _leaderboard_section(
    rep: Report, suite_path: Path, table, summary, directions: dict, primary: str
) -> None:
    direction = directions[primary]
    rep.add("h", 2, "Leaderboard")
    rep.add(
        "p",
        f"Over seeds, per model variant and data set (data sets in the suite's order, then by rank); "
        f"primary metric {primary} ({'higher' if direction == 'max' else 'lower'} is better). 95% CI: "
        "bootstrap (BCa) interval of the mean over seeds (too narrow with few seeds). Rank: variants "
        "whose difference from the best-placed variant of their group is not significant "
        f"(Holm-adjusted Mann–Whitney p ≥ {stats.ALPHA}) share its rank; where the seeds are too few "
        "for any test to reach that level the rank says so. Diverged runs have no final metrics "
        "(see the stability table).",
    )
    rep.add("table", "Leaderboard", leaderboard_frame(summary, directions, primary))
    rep.blocks += reference.report_blocks(suite_path, table)


def _rank_order(summary: pd.DataFrame) -> dict[tuple, int]:
    """Position of each (dataset, label) in the leaderboard's order (data set, then rank)."""
    return {(d, lab): i for i, (d, lab) in enumerate(zip(summary["dataset"], summary["label"], strict=True))}


def _significance_section(rep: Report, matrices: dict, summary: pd.DataFrame, primary: str) -> None:
    rep.add("h", 2, "Significance")
    rep.add(
        "p",
        f"Two-sided Mann–Whitney U tests on the final {primary} over seeds (exact while a group has at "
        f"most {stats.EXACT_PER_GROUP} values; the test is named under each table), Holm-adjusted "
        f"p-values; * marks p < {stats.ALPHA}. Rows and columns in leaderboard order.",
    )
    order = _rank_order(summary)
    for (dataset, proto), matrix in matrices.items():
        test = matrix.attrs.get("tests", "")
        labels = sorted(matrix.index, key=lambda k: order.get((dataset, k), len(order)))
        matrix = matrix.loc[labels, labels]
        shown = matrix.map(lambda p: "" if pd.isna(p) else f"{p:.3g}" + (" *" if p < stats.ALPHA else ""))
        several = sum(d == dataset for d, _ in matrices) > 1
        rep.add("h", 3, f"{dataset} (protocol {proto})" if several else dataset)
        rep.add("table", f"Significance, {dataset}", shown.reset_index(names="variant"))
        if test:
            rep.add("p", f"Test: {test}.")


def _target_text(stability: pd.DataFrame, given: str) -> str:
    """The target per data set as resolved, and where it comes from (the suite's, or the default)."""
    pairs = [] if stability.empty else zip(stability["dataset"], stability["target_rule"], strict=True)
    rules = {d: r for d, r in pairs if r}
    if not rules:
        return "none (set `target:` in the suite file, or `genbench report --target`)"
    default = "the default: not collapsed, and on the toys half of the samples within 3 std of a mode"
    where = f"as given: {given}" if given else default
    return "; ".join(f"{d}: {r}" for d, r in rules.items()) + f" ({where})"


def _stability_section(rep: Report, indicators, summary, primary: str, given: str) -> None:
    """The stability table, the target's values at step 0, and the data sets whose target is refused."""
    stability = stable.stability_table(indicators)
    rep.add("h", 2, "Stability")
    rep.add(
        "p",
        "Per finished run (ok or diverged), then aggregated: diverged % (NaN/inf loss or parameters), "
        "collapsed % of the ok runs (fewer than half of the modes captured at the end, counted by "
        "the output its data set declares: toys `modes`, MNIST `classes`, stacked MNIST `stacked_modes`), "
        f"oscillation (median over runs of the std of {primary} over the last 25% of evaluations), best "
        f"gap (median of best minus final {primary}); at step 0: the target's outputs at the first "
        "evaluation, of the untrained model (medians over runs), and the share of runs that meet the "
        "target there; reached % and median steps and training seconds to the target (every "
        "condition met at one evaluation) over the runs that reached it. "
        f"Target: {_target_text(stability, given)}.",
    )
    refused = stable.refused_datasets(stability)
    for dataset in refused:
        rep.add(
            "p",
            f"Target refused on {dataset}: every variant meets it at step 0 (at least half of its runs, "
            "untrained), so a time to it would measure nothing. Set a `target:` that an untrained model "
            "does not meet.",
        )
    if len(stability) and (stability["start_step"] > 0).any():
        rep.add(
            "p",
            "Runs without an evaluation at step 0 (the suite sets no `eval.every`) show the step of their "
            "first evaluation instead: whether their untrained models meet the target is not stored "
            "(`genbench validate` predicts it on the toys).",
        )
    if len(stability):
        order = _rank_order(summary)
        datasets = list(dict.fromkeys(summary["dataset"]))
        key = [
            (datasets.index(d) if d in datasets else len(datasets), order.get((d, lab), len(order)))
            for d, lab in zip(stability["dataset"], stability["label"], strict=True)
        ]
        stability = stability.iloc[sorted(range(len(key)), key=key.__getitem__)]
    rep.add("table", "Stability", stability_frame(stability, refused))


def _curves_section(rep: Report, manifest: dict, table, traj, directions: dict, styles: dict) -> None:
    """Anytime curves of every metric and the diagnostics the suite's families declare."""
    traj = traj.merge(table[["run_id", "label", "dataset"]], on="run_id")
    rep.add("h", 2, "Anytime curves")
    rep.add("p", "Median over seeds (line) and interquartile range (band), against steps and seconds.")
    for m, d in directions.items():
        png = figures.anytime_png(traj, m, "↑" if d == "max" else "↓", styles)
        rep.image(f"anytime_{m}.png", png, f"{m} against steps and training seconds")
    rep.add("h", 2, "Diagnostics (section 13.3.5)")
    rep.add(
        "p",
        "Mean of each training step's value since the previous evaluation, for the diagnostics the "
        "suite's model families declare (below). With the minimax loss (13.34) a winning "
        "discriminator drives D(G(z)) → 0 and the generator's gradient vanishes (13.42); the "
        "non-saturating loss (13.33) keeps it.",
    )
    declared = manifest.get("diagnostics", {})  # the families' registry entries
    logged = [c for c in declared if c in traj and traj[c].notna().any()]
    if logged:
        rows = [(c, declared[c]["title"], declared[c].get("equation") or "–") for c in logged]
        rep.add("table", "Diagnostics logged", pd.DataFrame(rows, columns=["column", "shows", "equation"]))
    for dataset in dict.fromkeys(traj["dataset"]):
        png = figures.diagnostics_png(traj, dataset, declared, styles)
        rep.image(f"diagnostics_{_slug(dataset)}.png", png, dataset)


def _samples_section(rep: Report, suite_path: Path, table, primary: str) -> None:
    rep.add("h", 2, "Final samples")
    rep.add("p", f"Per variant, the run whose final {primary} is the median over its seeds.")
    picks: dict[str, dict[str, Path]] = {}
    for (dataset, lab), run_id in _median_run(table, primary).items():
        picks.setdefault(dataset, {})[lab] = run_dir(suite_path, run_id) / "samples.png"
    for dataset, images in picks.items():
        rep.image(
            f"samples_{_slug(dataset)}.png", figures.montage_png(images, dataset), f"{dataset}: samples"
        )


def _suite_file(rep: Report, manifest: dict) -> None:
    """The suite file as it was run, at the end of the report."""
    source = Path(manifest.get("source", ""))
    if source.is_file():
        rep.add("h", 2, "Suite file")
        rep.add("pre", f"# {source}\n" + source.read_text())


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def write_report(suite_path: Path, target: TargetSetting = None) -> dict[str, Path]:
    """Write report.md, report.html, tables.tex and report_files/*.png; return their paths."""
    suite_path = Path(suite_path)
    rep = build_report(suite_path, target)
    paths = {
        "md": suite_path / "report.md",
        "html": suite_path / "report.html",
        "tex": suite_path / "tables.tex",
    }
    for name, png in rep.images.items():
        write_atomic(suite_path / FILES_DIR / name, png)
    write_atomic(paths["md"], to_markdown(rep).encode())
    write_atomic(paths["html"], to_html(rep).encode())
    write_atomic(paths["tex"], to_latex(rep).encode())
    return paths
