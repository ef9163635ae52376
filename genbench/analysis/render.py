"""The report's renderers: Markdown (images linked from report_files/), one self-contained HTML
file (inline CSS, PNGs as data URIs) and booktabs LaTeX tables. Every table cell is shown text:
numbers to 4 significant digits, a missing value as a word or '–', never 'nan'."""

from __future__ import annotations

import base64
import html

from genbench.analysis.leaderboard import cells

FILES_DIR = "report_files"  # the PNGs report.md links to, next to it


def to_markdown(rep) -> str:
    """The report as Markdown, images linked from report_files/."""
    out = []
    for kind, *rest in rep.blocks:
        if kind == "h":
            out.append("#" * rest[0] + " " + rest[1])
        elif kind == "p":
            out.append(rest[0])
        elif kind == "ul":
            out.append("\n".join(f"- **{name}**: {text}" for name, text in rest[0]))
        elif kind == "pre":
            out.append("```yaml\n" + rest[0].rstrip() + "\n```")
        elif kind == "table":
            frame = rest[1]
            out.append("(none)" if frame.empty else cells(frame).to_markdown(index=False))
        elif kind == "img":
            out.append(f"![{rest[1]}]({FILES_DIR}/{rest[0]})")
    return "\n\n".join(out) + "\n"


CSS = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0;font-size:13px}"
    "th,td{border:1px solid #ccc;padding:3px 7px;text-align:left}th{background:#f3f3f3}"
    "img{max-width:100%;display:block;margin:1em 0}pre{background:#f6f6f6;padding:1em;overflow-x:auto}"
    "div.table{max-width:100%;overflow-x:auto}li{margin:.4em 0}"
)
# sets data-images on <body> to "loaded/total" once every image has decoded (checked by the tests)
SCRIPT = (
    "window.addEventListener('load',function(){var a=Array.prototype.slice.call(document.images);"
    "var n=a.filter(function(i){return i.complete&&i.naturalWidth>0;}).length;"
    "document.body.setAttribute('data-images',n+'/'+a.length);});"
)


def to_html(rep) -> str:
    """The report as one HTML file: inline CSS and script, PNGs embedded as base64 data URIs."""
    out = []
    for i, (kind, *rest) in enumerate(rep.blocks):
        if kind == "h":
            out.append(f"<h{rest[0]}>{html.escape(rest[1])}</h{rest[0]}>")
        elif kind == "p":
            out.append(f"<p>{html.escape(rest[0])}</p>")
        elif kind == "ul":
            items = "".join(f"<li><b>{html.escape(n)}</b>: {html.escape(t)}</li>" for n, t in rest[0])
            out.append(f"<ul>{items}</ul>")
        elif kind == "pre":
            out.append(f"<pre>{html.escape(rest[0])}</pre>")
        elif kind == "table":
            frame = rest[1]
            body = "<p>(none)</p>" if frame.empty else cells(frame).to_html(index=False, border=0)
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


def to_latex(rep) -> str:
    """The report's tables as LaTeX booktabs tables (needs \\usepackage{booktabs})."""
    parts = ["% genbench report tables; needs \\usepackage{booktabs}\n"]
    for kind, *rest in rep.blocks:
        if kind != "table" or rest[1].empty:
            continue
        frame = cells(rest[1]).map(_tex_escape)
        frame.columns = [_tex_escape(c) for c in frame.columns]
        body = frame.to_latex(index=False, escape=False, column_format="l" * frame.shape[1])
        parts.append(
            "\\begin{table}[ht]\n\\centering\n\\small\n"
            + body
            + f"\\caption{{{_tex_escape(rest[0])}}}\n\\end{{table}}\n"
        )
    return "\n".join(parts)
