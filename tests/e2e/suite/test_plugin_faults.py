"""Plugin entries that are not the user's own code, through the real CLI (`validate` and
`run --serial`, in subprocesses): a path that is not a Python file, a module of Python itself, of
genbench or of a package genbench imports is exit 2 naming the suite file, `plugins[0]` and its
line, with no traceback and nothing written; a plugin file outside the suite's folder (absolute
path, symlink) is allowed and named. And a failed data check in preflight leaves no folder behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import plugin_suite

OWN_CODE = "a plugin must be your own module"


def _builtin_suite(plugins: str) -> str:
    """The plugin suite with only built-in names (so it is valid once its plugins import)."""
    suite = plugin_suite(plugins).replace("tiny_lsgan", "gan").replace(", {name: line}", "")
    return suite.replace(", {name: spread, power: 1.0}", "")


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("../../etc/passwd", "plugin /etc/passwd: not a Python file"),
        ("notes.txt", "notes.txt: not a Python file"),
        ("os", "plugin 'os' is a module of Python's standard library"),
        ("sys", "plugin 'sys' is a module of Python's standard library"),
        ("torch", "plugin 'torch' is a package that genbench itself imports"),
        ("genbench.registry", "plugin 'genbench.registry' is part of genbench"),
    ],
    ids=["etc_passwd", "text_file", "os", "sys", "torch", "genbench_module"],
)
def test_a_plugin_that_is_not_the_users_own_code_is_refused(tmp_path, cli, entry, message):
    if entry.endswith("passwd"):  # enough ../ to reach /etc/passwd from the suite's folder
        entry = os.path.relpath("/etc/passwd", tmp_path)
    (tmp_path / "notes.txt").write_text("not code\n")
    (tmp_path / "s.yaml").write_text(_builtin_suite(f"[{entry}]"))
    before = _files(tmp_path)
    for command in (["validate", "s.yaml"], ["run", "s.yaml", "--serial"]):
        proc = cli(*command, cwd=tmp_path)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "s.yaml:5: plugins[0]: " in proc.stderr and message in proc.stderr, proc.stderr
        assert OWN_CODE in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert _files(tmp_path) == before  # no results folder, nothing written


def test_a_plugin_file_named_like_a_dependency_is_refused(tmp_path, cli):
    (tmp_path / "scipy.py").write_text("VALUE = 1\n")  # would shadow the scipy genbench imports
    (tmp_path / "s.yaml").write_text(_builtin_suite("[scipy.py]"))
    proc = cli("validate", "s.yaml", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    assert "s.yaml:5: plugins[0]: " in proc.stderr, proc.stderr
    assert "its module name 'scipy' is a package that genbench itself imports" in proc.stderr


def test_plugin_files_outside_the_suite_folder_are_allowed_and_named(tmp_path, cli):
    elsewhere, suite = tmp_path / "elsewhere", tmp_path / "suite"
    elsewhere.mkdir()
    suite.mkdir()
    (elsewhere / "gb_far.py").write_text("VALUE = 1\n")
    (elsewhere / "gb_linked.py").write_text("VALUE = 2\n")
    (suite / "gb_link.py").symlink_to(elsewhere / "gb_linked.py")
    (suite / "gb_near.py").write_text("VALUE = 3\n")
    plugins = f"[{elsewhere / 'gb_far.py'}, gb_link.py, gb_near.py]"
    (suite / "s.yaml").write_text(_builtin_suite(plugins))
    proc = cli("validate", "s.yaml", cwd=suite)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert f"plugin {elsewhere / 'gb_far.py'} is outside the suite's folder: {elsewhere / 'gb_far.py'}" in out
    assert f"plugin gb_link.py is outside the suite's folder: {elsewhere / 'gb_linked.py'}" in out
    assert "gb_near" not in out  # inside the folder: no note
    assert "valid; suite 'plug' expands to 2 runs" in proc.stdout


@pytest.mark.parametrize(
    ("dataset", "named"), [("mnist", "train-images-idx3-ubyte.gz"), ("cifar10", "cifar-10")]
)
def test_a_failed_data_check_leaves_no_folder_behind(tmp_path, cli, monkeypatch, dataset, named):
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):  # no download can succeed
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "s.yaml").write_text(
        f"name: data\nseeds: [0]\nbudget: {{steps: 10}}\neval: {{every: 10, samples: 100}}\n"
        f"data_dir: {tmp_path / 'x' / 'deep'}\ndatasets: [{{name: {dataset}}}]\n"
        "models: [{name: vae, hidden: 16}]\nmetrics: [elbo]\n"
    )
    proc = cli("run", "s.yaml", "--serial", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"data set {dataset!r} is not under {tmp_path / 'x' / 'deep'}" in proc.stderr, proc.stderr
    assert named in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert _files(tmp_path) == ["s.yaml"]  # neither x/deep/... nor a results folder
