"""The documentation's reference pages, generated from the registries (the records `genbench list`
prints: genbench/suite/describe.py), and the MkDocs hooks that add them to the site at build time.

    python tools/gen_reference.py OUT_DIR     # write the pages as Markdown files under OUT_DIR

In mkdocs.yml (`hooks: [tools/gen_reference.py]`): `on_files` adds the pages, `on_page_markdown`
turns links to repository files outside docs/ (results, suites, tools) into links on the code host
(`repo_url`), or into the path as code when no host is configured.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from genbench.driver.cli import build_parser
from genbench.suite.describe import Entry, entries_by_section

GENERATED = {  # page -> (title, section of the registries, or "cli")
    "reference/models.md": ("Models", "models"),
    "reference/datasets.md": ("Data sets", "datasets"),
    "reference/metrics.md": ("Metrics", "metrics"),
    "reference/cli.md": ("Command line", "cli"),
}
NOTE = (
    "*Generated from genbench's registries when the documentation is built (`tools/gen_reference.py`):"
    " the same records `genbench list` prints. Plugins a suite names appear in `genbench list --suite"
    " FILE`.*"
)
CLI_NOTE = (
    "*Generated from genbench's argument parser when the documentation is built: what `--help` prints.*"
)
_LINK = re.compile(r"(!?\[[^\]]*\])\(([^)\s#]+)(#[^)]*)?\)")


def _cell(text: str) -> str:
    """`text` safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _entry_markdown(entry: Entry) -> list[str]:
    """One registered name: its summary, facts, parameters and presets with every value's source."""
    lines = [f"## `{entry.name}`", "", entry.doc, ""]
    lines += [f"- **{label}**: {text}" for label, text in entry.facts]
    if entry.params:
        lines += ["", "| key | default | meaning and source |", "|---|---|---|"]
        lines += [f"| `{p.name}` | `{_cell(p.default)}` | {_cell(p.description)} |" for p in entry.params]
    for preset in entry.presets:
        lines += ["", f"**`preset: {preset.name}`** — defaults of the keys an entry leaves unset:", ""]
        lines += ["| key | value | read from |", "|---|---|---|"]
        lines += [f"| `{k}` | `{_cell(v)}` | {_cell(src)} |" for k, v, src in preset.values]
    return [*lines, ""]


def _cli_markdown() -> list[str]:
    """Every `genbench` command's help text, as `genbench COMMAND --help` prints it."""
    parser = build_parser()
    os.environ.setdefault("COLUMNS", "100")  # argparse folds help to the terminal's width
    lines = ["```text", parser.format_help().rstrip(), "```", ""]
    (commands,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    for name, sub in commands.choices.items():
        lines += [f"## `genbench {name}`", "", "```text", sub.format_help().rstrip(), "```", ""]
    return lines


def pages() -> dict[str, str]:
    """Page path (under docs/) -> its Markdown."""
    grouped = entries_by_section()
    out = {}
    for path, (title, section) in GENERATED.items():
        lines = [f"# {title}", "", CLI_NOTE if section == "cli" else NOTE, ""]
        if section == "cli":
            lines += _cli_markdown()
        else:
            lines += [f"- [`{e.name}`](#{e.name}) — {_cell(e.doc)}" for e in grouped[section]] + [""]
            for entry in grouped[section]:
                lines += _entry_markdown(entry)
        out[path] = "\n".join(lines)
    return out


# --- MkDocs hooks -----------------------------------------------------------------------------------


def on_files(files, config):
    """Add the generated reference pages to the site's files."""
    from mkdocs.structure.files import File  # the hook runs inside mkdocs only

    for path, text in pages().items():
        files.append(File.generated(config, path, content=text))
    return files


def repository_target(page_path: str, target: str, docs_dir: Path) -> Path | None:
    """The repository file a relative link of a docs page names, when it lies outside docs/."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("/"):
        return None  # a URL or an absolute link
    resolved = (docs_dir / Path(page_path).parent / target).resolve()
    return None if resolved.is_relative_to(docs_dir.resolve()) else resolved


def on_page_markdown(markdown, page, config, files):
    """Links to repository files outside docs/ point at the code host, or become code."""
    docs_dir = Path(config["docs_dir"])
    root = docs_dir.resolve().parent
    repo_url = (config.get("repo_url") or "").rstrip("/")

    def replace(match: re.Match) -> str:
        """The link, or its code-host link or plain path when it leaves docs/."""
        label, target, anchor = match.group(1), match.group(2), match.group(3) or ""
        resolved = repository_target(page.file.src_uri, target, docs_dir)
        if resolved is None or not resolved.is_relative_to(root):
            return match.group(0)
        relative = resolved.relative_to(root).as_posix()
        if repo_url:
            return f"{label}({repo_url}/{'raw' if label.startswith('!') else 'blob'}/main/{relative}{anchor})"
        text = label.removeprefix("!")[1:-1]
        return text if relative in text else f"{text} (`{relative}`)"

    return _LINK.sub(replace, markdown)


def main(argv: list[str] | None = None) -> int:
    """Write the generated pages under the given folder; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    out_dir = parser.parse_args(argv).out_dir
    for path, text in pages().items():
        (out_dir / path).parent.mkdir(parents=True, exist_ok=True)
        (out_dir / path).write_text(text + "\n")
        print(out_dir / path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
