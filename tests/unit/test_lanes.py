"""The lanes stay apart: no unit test module imports ray, starts a subprocess or asks for the e2e
fixtures (the CLI in a subprocess, a loopback cluster), and no test module imports another one (what
they share is in the tests/helpers package and the conftest.py files). tests/unit/conftest.py also fails a
unit test that imports ray at run time."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
UNIT = TESTS / "unit"
FORBIDDEN_MODULES = {"ray", "subprocess", "multiprocessing", "pty"}
E2E_HELPERS = {"run_cli", "GENBENCH", "loopback_cluster", "kill_session"}  # from tests.helpers
E2E_FIXTURES = {"cli", "cluster"}  # tests/e2e/conftest.py
PROCESS_CALLS = {"system", "popen", "fork", "execv", "execvp", "spawnv", "posix_spawn"}  # os.*
SHARED_MODULES = {"tests.helpers", "tests.golden"}


def _modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if p.name.startswith(("test_", "conftest")))


def _unit_lane_problems(path: Path) -> list[str]:
    """What in `path` would take the unit lane out of its process or into Ray."""
    tree, found = ast.parse(path.read_text(), str(path)), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in FORBIDDEN_MODULES:
                found.append(f"from {node.module} import ...")
            if node.module == "tests.helpers":
                found += [f"tests.helpers.{a.name}" for a in node.names if a.name in E2E_HELPERS]
        elif isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            found += [f"{node.name}({a.arg})" for a in node.args.args if a.arg in E2E_FIXTURES]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "os" and node.attr in PROCESS_CALLS:
                found.append(f"os.{node.attr}")
    return found


def _test_module_imports(path: Path) -> list[str]:
    """The test modules (not the shared helpers) that `path` imports."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tests":
            if node.module == "tests":
                found += [f"tests.{a.name}" for a in node.names if f"tests.{a.name}" not in SHARED_MODULES]
            elif node.module not in SHARED_MODULES:
                found.append(node.module)
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
            found += [n for n in names if n.split(".")[0] == "tests" and n not in SHARED_MODULES]
    return found


def test_unit_modules_stay_in_process_and_off_ray():
    found = {str(p.relative_to(TESTS)): _unit_lane_problems(p) for p in _modules(UNIT)}
    assert len(found) > 40  # every module of the lane was read
    assert {k: v for k, v in found.items() if v} == {}, "these belong in tests/e2e"


def test_no_test_module_imports_another():
    found = {str(p.relative_to(TESTS)): _test_module_imports(p) for p in _modules(TESTS)}
    assert {k: v for k, v in found.items() if v} == {}


def test_the_checks_find_what_they_look_for(tmp_path):
    bad = tmp_path / "test_bad.py"
    bad.write_text(
        "import subprocess\nfrom ray import remote\nfrom tests.helpers import ROOT, run_cli\n"
        "from tests.test_gan import RING\nfrom tests import golden, test_api\nimport os\n\n"
        "def test_x(tmp_path, cli):\n    os.system('true')\n"
    )
    assert sorted(_unit_lane_problems(bad)) == [
        "from ray import ...",
        "import subprocess",
        "os.system",
        "test_x(cli)",
        "tests.helpers.run_cli",
    ]
    assert sorted(_test_module_imports(bad)) == ["tests.test_api", "tests.test_gan"]
