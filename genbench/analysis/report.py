"""`genbench report`: a suite's settings, leaderboard with CIs, significance, stability, anytime
curves, diagnostics and final samples, as report.md, a self-contained report.html and tables.tex,
from the store alone."""

from __future__ import annotations

import base64
import html
import math
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from genbench.analysis import stats
from genbench.analysis import verdicts as reference
from genbench.analysis.figures import suite as figures
from genbench.analysis.leaderboard import (
    damage_note,
    label,
    primary_metric,
    runs_table,
    significance,
    summary_table,
)
from genbench.analysis.tuning import add_report_section
from genbench.numerics import code_label
from genbench.store.atomic import write_atomic
from genbench.store.result import Status
from genbench.store.runs import load_runs, read_manifest, run_dir

FILES_DIR = "report_files"  # the PNGs report.md links to, next to it
STATUSES = [s.value for s in Status]


@dataclass
class Report:
    """The report as blocks: ("h", level, text), ("p", text), ("pre", text), ("table", caption,
    frame), ("img", file name, caption); plus the PNGs by file name."""

    blocks: list[tuple] = field(default_factory=list)
    images: dict[str, bytes] = field(default_factory=dict)

    def add(self, *block) -> None:
        self.blocks.append(block)

    def image(self, name: str, png: bytes | None, caption: str) -> None:
        if png is not None:
            self.images[name] = png
            self.add("img", name, caption)


def _fmt(v, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def _ci(lo: float, hi: float) -> str:
    return "–" if pd.isna(lo) else f"[{lo:.4g}, {hi:.4g}]"


def _with_ci(mean: float, lo: float, hi: float) -> str:
    return "–" if pd.isna(mean) else f"{mean:.4g} {_ci(lo, hi)}"


def _settings(suite_path: Path, runs: list[dict], directions: dict[str, str]) -> list[tuple]:
    """Blocks describing the suite's protocol: data, models, seeds, budget, metrics, versions."""
    specs = [r["spec"] for r in runs]
    first = specs[0]
    protocols = [r["result"].protocol for r in runs if r["result"] and r["result"].protocol is not None]
    proto = protocols[0] if protocols else {}
    datasets = dict.fromkeys(f"{s['dataset']} {s['dataset_params']}" for s in specs)
    models = dict.fromkeys(f"{label(s['model'], s['variant'])}: {s['hparams']}" for s in specs)
    rows = [
        ("runs", f"{len(specs)} ({len(models)} model variants × {len(datasets)} datasets × seeds)"),
        ("seeds", ", ".join(str(s) for s in sorted({s["seed"] for s in specs}))),
        ("budget", ", ".join(f"{k} {v}" for k, v in first["budget"].items() if v is not None)),
        ("evaluation", f"at step 0, every {first['eval'].get('every')} steps and at the end"),
        ("metrics", ", ".join(f"{m} ({'↑' if d == 'max' else '↓'})" for m, d in directions.items())),
        ("samples per evaluation", str(proto.get("samples", first["eval"].get("samples")))),
        ("evaluation data", str(proto.get("split", "–"))),
        ("evaluation seeding", str(proto.get("eval_seed", "–"))),
        ("versions", ", ".join(f"{k} {proto[k]}" for k in ("genbench", "torch", "python") if k in proto)),
        ("code", "; ".join(dict.fromkeys(code_label(p) for p in protocols)) or "–"),
        (
            "hardware",
            "not recorded per run; this report was written on "
            f"{platform.machine()} {platform.system()} with {os.cpu_count()} CPUs",
        ),
    ]
    blocks = [("table", "Settings", pd.DataFrame(rows, columns=["setting", "value"]))]
    blocks.append(("p", "Datasets: " + "; ".join(datasets) + "."))
    blocks.append(("p", "Model variants: " + "; ".join(models) + "."))
    source = Path(read_manifest(suite_path).get("source", ""))
    if source.is_file():
        blocks.append(("pre", f"# {source}\n" + source.read_text()))
    return blocks


def leaderboard_frame(summary: pd.DataFrame, directions: dict[str, str], primary: str) -> pd.DataFrame:
    """The summary as a shown table: variant, rank, seeds; primary metric mean ± std, CI, median
    and range; the other metrics' mean and CI."""
    rows = []
    for r in summary[summary["protocol"].notna()].to_dict("records"):  # not pending/failed-only rows
        row = {
            "dataset": r["dataset"],
            "variant": label(r["model"], r["variant"]),
            "rank": _fmt(r.get("rank"), 3),
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


def stability_frame(stability: pd.DataFrame) -> pd.DataFrame:
    """The stability table as shown: rates in percent, medians rounded."""
    if stability.empty:
        return stability
    shown = pd.DataFrame({"dataset": stability["dataset"]})
    shown["variant"] = [label(m, v) for m, v in zip(stability["model"], stability["variant"], strict=True)]
    shown["runs"] = stability["runs"]
    for col in ("diverged_rate", "collapsed_rate", "reached_rate"):
        shown[col.replace("_rate", " %")] = [_fmt(100 * v, 3) for v in stability[col]]
    for col in ("oscillation", "best_gap", "steps_to_target", "seconds_to_target"):
        shown[col.replace("_", " ")] = [_fmt(v, 3) for v in stability[col]]
    return shown


def _median_run(table: pd.DataFrame, metric: str) -> dict[tuple, str]:
    """Per (dataset, variant label): the ok run whose final metric is the median (lower middle)."""
    out = {}
    ok = table[table["status"] == "ok"].dropna(subset=[metric])
    for (dataset, model, variant), g in ok.groupby(["dataset", "model", "variant"], sort=False, dropna=False):
        g = g.sort_values([metric, "seed"])
        out[(dataset, label(model, variant))] = g.iloc[(len(g) - 1) // 2]["run_id"]
    return out


def build_report(suite_path: Path, target: float | None = None) -> Report:
    """Assemble the report of the suite stored at `suite_path` (target: the suite file's unless given)."""
    suite_path = Path(suite_path)
    target = read_manifest(suite_path).get("target") if target is None else target
    runs = load_runs(suite_path)
    table, directions = runs_table(suite_path)
    table = table.assign(**{m: float("nan") for m in directions if m not in table})  # none finished yet
    primary = primary_metric(table, directions) or next(iter(directions))
    traj, modes = stats.load_trajectories(suite_path)
    rep = Report()
    rep.add("h", 1, f"genbench report: {suite_path.name}")
    counts = table["status"].value_counts()
    rep.add("p", "Runs: " + ", ".join(f"{counts[s]} {s}" for s in STATUSES if s in counts) + ".")
    if note := damage_note(suite_path):  # files moved aside by genbench.store.reading
        rep.add("p", note.strip())
    rep.add("h", 2, "Settings and protocol")
    rep.blocks += _settings(suite_path, runs, directions)
    _leaderboard_section(rep, suite_path, table, directions, primary)
    _significance_section(rep, table, primary)
    indicators = stats.indicators_table(table, traj, modes, primary, directions[primary], target)
    _stability_section(rep, indicators, primary, target)
    if len(traj):
        _curves_section(rep, suite_path, table, traj, directions)
    add_report_section(rep, suite_path, table, directions, primary)  # suites with searches
    _samples_section(rep, suite_path, table, primary)
    return rep


def _leaderboard_section(rep: Report, suite_path: Path, table, directions: dict, primary: str) -> None:
    direction = directions[primary]
    rep.add("h", 2, "Leaderboard")
    rep.add(
        "p",
        f"Over seeds, per model variant and dataset; primary metric {primary} "
        f"({'higher' if direction == 'max' else 'lower'} is better). 95% CI: bootstrap (BCa) interval "
        "of the mean over seeds (too narrow with few seeds). Rank: variants whose difference from the "
        "best-placed variant of their group is not significant (Holm-adjusted Mann–Whitney p ≥ "
        f"{stats.ALPHA}) share its rank. Diverged runs have no final metrics (see the stability table).",
    )
    summary = summary_table(table, directions)
    rep.add("table", "Leaderboard", leaderboard_frame(summary, directions, primary))
    rep.blocks += reference.report_blocks(suite_path, table)


def _significance_section(rep: Report, table, primary: str) -> None:
    rep.add("h", 2, "Significance")
    rep.add("p", f"Two-sided Mann–Whitney U tests on the final {primary} over seeds, Holm-adjusted p-values.")
    matrices = significance(table, primary)
    for (dataset, proto), matrix in matrices.items():
        shown = matrix.map(lambda p: "" if pd.isna(p) else f"{p:.3g}" + (" *" if p < stats.ALPHA else ""))
        several = sum(d == dataset for d, _ in matrices) > 1
        rep.add("h", 3, f"{dataset} (protocol {proto})" if several else dataset)
        rep.add("table", f"Significance, {dataset}", shown.reset_index(names="variant"))


def _stability_section(rep: Report, indicators, primary: str, target: float | None) -> None:
    rep.add("h", 2, "Stability")
    rep.add(
        "p",
        "Per finished run (ok or diverged), then aggregated: diverged % (NaN/inf loss or parameters), "
        "collapsed % of the ok runs (fewer than half of the modes captured at the end, counted by "
        "the output its data set declares: toys `modes`, MNIST `classes`, stacked MNIST `stacked_modes`), "
        f"oscillation (median over runs of the std of {primary} over the last 25% of evaluations), best "
        f"gap (median of best minus final {primary}), reached % and median steps and training seconds "
        f"to the target ({'modes ≥ half the modes' if primary == 'modes' and target is None else target}) "
        "over the runs that reached it.",
    )
    stability = stats.stability_table(indicators)
    stability = stability.sort_values("dataset", kind="stable") if len(stability) else stability
    rep.add("table", "Stability", stability_frame(stability))


def _curves_section(rep: Report, suite_path: Path, table, traj, directions: dict) -> None:
    """Anytime curves of every metric and the diagnostics the suite's families declare."""
    traj = traj.merge(table[["run_id", "model", "variant", "dataset"]], on="run_id")
    traj["label"] = [label(m, v) for m, v in zip(traj["model"], traj["variant"], strict=True)]
    rep.add("h", 2, "Anytime curves")
    rep.add("p", "Median over seeds (line) and interquartile range (band), against steps and seconds.")
    for m, d in directions.items():
        png = figures.anytime_png(traj, m, "↑" if d == "max" else "↓")
        rep.image(f"anytime_{m}.png", png, f"{m} against steps and training seconds")
    rep.add("h", 2, "Diagnostics (section 13.3.5)")
    rep.add(
        "p",
        "Mean of each training step's value since the previous evaluation, for the diagnostics the "
        "suite's model families declare (below). With the minimax loss (13.34) a winning "
        "discriminator drives D(G(z)) → 0 and the generator's gradient vanishes (13.42); the "
        "non-saturating loss (13.33) keeps it.",
    )
    declared = read_manifest(suite_path).get("diagnostics", {})  # the families' registry entries
    logged = [c for c in declared if c in traj and traj[c].notna().any()]
    if logged:
        rows = [(c, declared[c]["title"], declared[c].get("equation") or "–") for c in logged]
        rep.add("table", "Diagnostics logged", pd.DataFrame(rows, columns=["column", "shows", "equation"]))
    for dataset in dict.fromkeys(traj["dataset"]):
        png = figures.diagnostics_png(traj, dataset, declared)
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


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


# ------------------------------------------------------------------------------- renderers


def to_markdown(rep: Report) -> str:
    """The report as Markdown, images linked from report_files/."""
    out = []
    for kind, *rest in rep.blocks:
        if kind == "h":
            out.append("#" * rest[0] + " " + rest[1])
        elif kind == "p":
            out.append(rest[0])
        elif kind == "pre":
            out.append("```yaml\n" + rest[0].rstrip() + "\n```")
        elif kind == "table":
            frame = rest[1]
            out.append("(none)" if frame.empty else frame.to_markdown(index=False))
        elif kind == "img":
            out.append(f"![{rest[1]}]({FILES_DIR}/{rest[0]})")
    return "\n\n".join(out) + "\n"


CSS = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0;font-size:13px}"
    "th,td{border:1px solid #ccc;padding:3px 7px;text-align:left}th{background:#f3f3f3}"
    "img{max-width:100%;display:block;margin:1em 0}pre{background:#f6f6f6;padding:1em;overflow-x:auto}"
)
# sets data-images on <body> to "loaded/total" once every image has decoded (checked by the tests)
SCRIPT = (
    "window.addEventListener('load',function(){var a=Array.prototype.slice.call(document.images);"
    "var n=a.filter(function(i){return i.complete&&i.naturalWidth>0;}).length;"
    "document.body.setAttribute('data-images',n+'/'+a.length);});"
)


def to_html(rep: Report) -> str:
    """The report as one HTML file: inline CSS and script, PNGs embedded as base64 data URIs."""
    out = []
    for i, (kind, *rest) in enumerate(rep.blocks):
        if kind == "h":
            out.append(f"<h{rest[0]}>{html.escape(rest[1])}</h{rest[0]}>")
        elif kind == "p":
            out.append(f"<p>{html.escape(rest[0])}</p>")
        elif kind == "pre":
            out.append(f"<pre>{html.escape(rest[0])}</pre>")
        elif kind == "table":
            frame = rest[1]
            body = "<p>(none)</p>" if frame.empty else frame.to_html(index=False, na_rep="–", border=0)
            out.append(
                f'<div class="table" id="table-{i}" data-caption="{html.escape(rest[0])}">{body}</div>'
            )
        elif kind == "img":
            data = base64.b64encode(rep.images[rest[0]]).decode()
            out.append(f'<img alt="{html.escape(rest[1])}" src="data:image/png;base64,{data}">')
    title = html.escape(rep.blocks[0][2]) if rep.blocks else "genbench report"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{CSS}</style><script>{SCRIPT}</script></head>\n<body>\n"
        + "\n".join(out)
        + "\n</body></html>\n"
    )


def _tex_escape(text: str) -> str:
    table = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_"}
    table |= {"{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
    text = "".join(table.get(c, c) for c in str(text))
    for plain, tex in {
        "±": r"$\pm$",
        "↑": r"$\uparrow$",
        "↓": r"$\downarrow$",
        "–": "--",
        "≥": r"$\geq$",
    }.items():
        text = text.replace(plain, tex)
    return text


def to_latex(rep: Report) -> str:
    """The report's tables as LaTeX booktabs tables (needs \\usepackage{booktabs})."""
    parts = ["% genbench report tables; needs \\usepackage{booktabs}\n"]
    for kind, *rest in rep.blocks:
        if kind != "table" or rest[1].empty:
            continue
        frame = rest[1].astype(str).map(_tex_escape)
        frame.columns = [_tex_escape(c) for c in frame.columns]
        body = frame.to_latex(index=False, escape=False, column_format="l" * frame.shape[1])
        parts.append(
            "\\begin{table}[ht]\n\\centering\n\\small\n"
            + body
            + f"\\caption{{{_tex_escape(rest[0])}}}\n\\end{{table}}\n"
        )
    return "\n".join(parts)


def write_report(suite_path: Path, target: float | None = None) -> dict[str, Path]:
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
