"""The README stays short and the documentation's links hold: every relative link in README.md and
in docs/ points at a file that exists (or a reference page the site generates), every page is in
mkdocs.yml's nav, and the README keeps the install and test commands CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.helpers import README, ROOT, TOOLS

DOCS = ROOT / "docs"
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
GENERATED = {"reference/models.md", "reference/datasets.md", "reference/metrics.md", "reference/cli.md"}


def _relative_links(page: Path) -> list[str]:
    """The relative link targets of a Markdown page, outside code blocks, without their anchors."""
    text = FENCE.sub("", page.read_text())
    targets = [t.split("#", 1)[0] for t in LINK.findall(text)]
    return [t for t in targets if t and not re.match(r"^[a-z][a-z0-9+.-]*:", t)]


def _broken(page: Path) -> list[str]:
    """The links of `page` that point at nothing."""
    found = []
    for target in _relative_links(page):
        resolved = (page.parent / target).resolve()
        generated = resolved.is_relative_to(DOCS) and resolved.relative_to(DOCS).as_posix() in GENERATED
        if not (resolved.exists() or generated):
            found.append(target)
    return found


def _nav_pages(nav) -> list[str]:
    """Every page path named in mkdocs.yml's nav."""
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [p for v in nav.values() for p in _nav_pages(v)]
    return [p for item in nav for p in _nav_pages(item)]


def test_the_readme_is_at_most_250_lines_and_keeps_the_commands_ci_runs():
    text = README.read_text()
    assert len(text.splitlines()) <= 250
    assert 'pip install -e ".[test]" && pytest' in text  # .ci/run runs the README's test command
    assert "pip install -e . && genbench run suites/quickstart.yaml" in text
    assert "Qiu Xipeng" in text and "chapter 13" in text  # where "eq. 13.33" comes from
    assert not re.search(r"\b(the machine here|measured here|here on)\b", text)


def test_every_relative_link_in_the_readme_and_the_docs_points_at_a_file():
    pages = [README, *sorted(DOCS.rglob("*.md"))]
    assert len(pages) > 15
    broken = {str(p.relative_to(ROOT)): _broken(p) for p in pages}
    assert {p: b for p, b in broken.items() if b} == {}
    assert any("docs/guide/" in t for t in _relative_links(README))  # the README links into the guide


def test_a_broken_link_is_found(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "there.md").write_text("# there\n")
    page.write_text("[ok](there.md#a) [gone](gone.md) [web](https://example.org)\n```\n[code](x.md)\n```\n")
    assert _broken(page) == ["gone.md"]


def test_every_docs_page_is_in_the_nav_and_every_nav_page_exists():
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)  # keeps !!python tags
    nav = set(_nav_pages(config["nav"]))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert pages - nav == set()
    assert nav - pages == GENERATED  # the generated reference pages, and nothing missing
    assert {"architecture.md", "run-ids.md", "resuming.md", "install.md", "trackers.md"} <= nav
    assert config["hooks"] == ["tools/gen_reference.py"] and (TOOLS / "gen_reference.py").exists()
