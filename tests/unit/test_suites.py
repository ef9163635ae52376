"""The suites genbench ships: every one validates, and every paper suite carries published rows
with their sources and names the files its settings were read from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from genbench.suite.config import load_suite
from tests.helpers import ROOT

SUITES = ROOT / "suites"
ALL = sorted(SUITES.rglob("*.yaml"))
PAPERS = sorted((SUITES / "papers").glob("*.yaml"))


def test_the_shipped_suites_are_found():
    assert len(PAPERS) >= 11 and len(ALL) > len(PAPERS)


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(SUITES)))
def test_every_shipped_suite_validates(path):
    suite, runs, _ = load_suite(path)
    assert runs, f"{path.name} expands to no run"
    assert suite.name == path.stem


@pytest.mark.parametrize("path", PAPERS, ids=lambda p: p.name)
def test_every_paper_suite_has_sourced_reference_rows(path):
    suite, _, _ = load_suite(path)
    assert suite.reference, f"{path.name} carries no published rows"
    for row in suite.reference:
        source = row["source"] if isinstance(row, dict) else row.source
        assert re.search(r"\b(19|20)\d\d\b", source), f"{path.name}: a source without its year: {source}"
    assert names_the_authors_files(path), path.name


def names_the_authors_files(path: Path) -> bool:
    """The comments name the authors' files, or a full paper suite (in papers/) whose comments do."""
    comments = "\n".join(line for line in path.read_text().splitlines() if "#" in line)
    if re.search(r"\.(py|ipynb|lua)\b|notebook", comments):
        return True
    parents = [SUITES / "papers" / m for m in re.findall(r"\b(\w+\.yaml)\b", comments)]
    return any(p != path and p.exists() and names_the_authors_files(p) for p in parents)


@pytest.mark.parametrize("path", PAPERS, ids=lambda p: p.name)
def test_a_paper_suite_below_the_papers_budget_says_so(path):
    """A scaled-down schedule is labelled: its file says "scaled" or gives its share of the paper's."""
    text = path.read_text()
    if "_scaled" in path.stem or "_cpu" in path.stem:
        assert re.search(r"scaled|%", text), path.name
