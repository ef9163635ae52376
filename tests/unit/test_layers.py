"""The package's shape: no import cycle between genbench's modules (imports inside functions
included), and every module named in docs/architecture.md. The layers themselves are checked by
import-linter's contract in pyproject.toml (`lint-imports`, run by CI)."""

from __future__ import annotations

import grimp

from tests.helpers import ROOT


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.find_modules_directly_imported_by(node)):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_module_graph_has_no_cycle():
    graph = grimp.build_graph("genbench", include_external_packages=False)
    # the package's lazy public names (genbench/__init__.py's __getattr__) point at the top layer
    for imported in list(graph.find_modules_directly_imported_by("genbench")):
        graph.remove_import(importer="genbench", imported=imported)
    assert _cycles(graph) == []


def test_a_cycle_is_found():
    graph = grimp.build_graph("genbench", include_external_packages=False)
    graph.add_import(importer="genbench.registry", imported="genbench.driver.cli")
    assert any("genbench.registry" in c and "genbench.driver.cli" in c for c in _cycles(graph))


def test_every_module_is_named_in_the_architecture_page():
    text = (ROOT / "docs" / "architecture.md").read_text()
    modules = sorted(
        str(p.relative_to(ROOT / "genbench")).removesuffix(".py")
        for p in (ROOT / "genbench").rglob("*.py")
        if p.name != "__init__.py" or p.parent != ROOT / "genbench"
    )
    missing = [m for m in modules if f"`{m.removesuffix('/__init__')}" not in text]
    assert missing == [], f"modules not described in docs/architecture.md: {missing}"
