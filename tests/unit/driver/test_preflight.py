"""Hostile input and hostile places: path traversal, YAML tags and bombs, unwritable or full
results directories, GPUs the cluster lacks, and no eval/exec/unpickling in genbench's source."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from genbench.driver import preflight, runner
from genbench.driver.cli import main
from genbench.suite.config import Resources
from tests.helpers import ROOT

VALID = """\
name: {name}
seeds: [0]
budget: {{steps: 1}}
resources: {resources}
eval: {{samples: 10}}
datasets: [{{name: ring8, train_size: 100, test_size: 10}}]
models: [{{name: gan, z_dim: 2, hidden: 4}}]
metrics: [mode_coverage]
"""
TRACEBACK = "Traceback (most recent call last)"


def suite(name: str = "t", resources: str = "{cpus: 1}") -> str:
    return VALID.format(name=name, resources=resources)


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if genbench tries to start Ray or train anything."""

    def forbidden(*args, **kwargs):
        raise AssertionError("genbench started Ray or a run after a check should have stopped it")

    for name in ("start_ray", "run_on_ray", "run_serial"):
        monkeypatch.setattr(runner, name, forbidden)


def genbench(tmp_path, capsys, *args: str) -> tuple[int, str]:
    """`genbench ARGS` in-process in `tmp_path`; return the exit code and stdout + stderr."""
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        code = main(list(args))
    finally:
        os.chdir(cwd)
    out = capsys.readouterr()
    return code, out.out + out.err


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


# --- path traversal ---------------------------------------------------------------------------

NAMES = ["..", ".", "../x", "../../x", "a/b", "a/../b", "/tmp/x", "./x", "a\\b", "x\n", "", "a" * 101]


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("name", NAMES, ids=[repr(n)[:12] for n in NAMES])
def test_suite_name_cannot_leave_the_results_directory(tmp_path, capsys, no_training, command, name):
    work = tmp_path / "work"
    work.mkdir()
    (work / "s.yaml").write_text(suite(name='"' + name.replace("\\", "\\\\").replace("\n", "\\n") + '"'))
    code, output = genbench(work, capsys, command, "s.yaml")
    assert code == 2, output
    assert "s.yaml" in output and "name" in output and TRACEBACK not in output
    assert tree(tmp_path) == ["work", "work/s.yaml"]


@pytest.mark.parametrize("name", ["..", ".", "../x", "a/b", "/abs", ""])
def test_preflight_rejects_a_name_with_path_parts(tmp_path, name):
    with pytest.raises(preflight.PreflightError, match="outside the results root"):
        preflight.check_results_root(tmp_path, name, 1)


# --- YAML: tags, bombs, recursion, size -------------------------------------------------------

TAGS = [
    "!!python/object/apply:os.system ['touch {marker}']",
    "!!python/object/apply:builtins.exec [\"open('{marker}', 'w')\"]",
    "!!python/object/new:subprocess.Popen [['touch', '{marker}']]",
    "!!python/name:os.system",
    "!!python/module:os",
]


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("tag", TAGS)
def test_python_tags_are_rejected_and_never_run(tmp_path, capsys, no_training, command, tag):
    marker = tmp_path / "PWNED"
    (tmp_path / "s.yaml").write_text(suite(name=tag.format(marker=marker)))
    code, output = genbench(tmp_path, capsys, command, "s.yaml")
    assert code == 2, output
    assert "s.yaml" in output and TRACEBACK not in output
    assert not marker.exists(), "a YAML tag ran code"
    assert tree(tmp_path) == ["s.yaml"]


def billion_laughs(levels: int = 9) -> str:
    lines = ['lol0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"lol{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return suite() + "\n".join(lines) + "\n"


HOSTILE = {
    "billion_laughs": (billion_laughs(), "aliases included"),
    "laughs_in_a_model": (
        suite()
        .replace("hidden: 4", "hidden: *l5")
        .replace(
            "models:",
            "bomb: &l0 [1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
            + "".join(f"b{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 6))
            + "models:",
        ),
        "aliases included",
    ),
    "hyperparameter_grid_bomb": (
        suite().replace(
            "hidden: 4",
            ", ".join(f"{k}: {list(range(1, 21))}" for k in ("hidden", "depth", "d_steps", "batch_size")),
        ),
        "variants",
    ),
    "run_count_bomb": (suite().replace("seeds: [0]", f"seeds: {list(range(10_001))}"), "runs"),
    "recursive_alias": (suite() + "loop: &a [1, *a]\n", "refers to itself"),
    "alias_chain_depth": (
        suite() + "a0: &a0 [1]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 60)),
        "levels",
    ),
    "deep_flow_nesting": (suite() + "deep: " + "[" * 5000 + "]" * 5000 + "\n", "too deep"),
    "deep_block_nesting": (suite() + "".join("  " * i + f"k{i}:\n" for i in range(40)), "too deep"),
    "huge_file": (suite() + "# " + "x" * (2**20) + "\n", "larger than"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_yaml_is_rejected_with_exit_2(tmp_path, capsys, no_training, case):
    text, words = HOSTILE[case]
    (tmp_path / "s.yaml").write_text(text)
    for command in ("validate", "run"):
        code, output = genbench(tmp_path, capsys, command, "s.yaml")
        assert code == 2, output
        assert "s.yaml" in output and words in output and TRACEBACK not in output
    assert tree(tmp_path) == ["s.yaml"]


def test_anchors_and_merge_keys_stay_allowed(tmp_path, capsys):
    models = "models:\n  - &g {name: gan, z_dim: 2, hidden: 4}\n  - {<<: *g, hidden: 8}\n"
    text = suite().replace("models: [{name: gan, z_dim: 2, hidden: 4}]\n", models)
    (tmp_path / "s.yaml").write_text(text)
    code, output = genbench(tmp_path, capsys, "validate", "s.yaml")
    assert code == 0, output
    assert "expands to 2 runs" in output


# --- results directory: unwritable, not a directory, full ---------------------------------------


def _unwritable_root(tmp_path: Path, how: str) -> str:
    """A results root that even root cannot write (tests run as root, so chmod alone is no bar)."""
    if how == "under_a_file":
        (tmp_path / "blocker").write_text("a file, not a directory\n")
        return str(tmp_path / "blocker" / "results")
    if how == "in_proc":  # procfs refuses new files to everyone, root included
        if not sys.platform.startswith("linux"):
            pytest.skip("needs Linux procfs")
        return "/proc/self/genbench-results"
    if os.geteuid() == 0:
        pytest.skip("root writes to a mode 0o500 directory; the other cases cover root")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    return str(locked / "results")


@pytest.mark.parametrize("how", ["under_a_file", "in_proc", "chmod_0o500"])
def test_unwritable_results_directory_stops_before_training(tmp_path, capsys, no_training, how):
    (tmp_path / "s.yaml").write_text(suite())
    root = _unwritable_root(tmp_path, how)
    before = tree(tmp_path)
    code, output = genbench(tmp_path, capsys, "run", "s.yaml", "--results", root)
    assert code == 2, output
    assert "results directory" in output and TRACEBACK not in output
    assert re.search(r"not a directory|not writable", output), output
    assert tree(tmp_path) == before


def test_full_disk_stops_before_training(tmp_path, capsys, no_training, monkeypatch):
    (tmp_path / "s.yaml").write_text(suite())

    class Usage:
        total, used, free = 10 * 2**30, 10 * 2**30 - 2**20, 2**20

    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda path: Usage)
    code, output = genbench(tmp_path, capsys, "run", "s.yaml")
    assert code == 2, output
    assert "not enough free disk space" in output and "1 MiB free" in output
    assert tree(tmp_path) == ["s.yaml"]


def test_writability_probe_leaves_nothing_behind(tmp_path):
    target = preflight.check_results_root(tmp_path / "results", "suite", 3)
    assert target == tmp_path / "results" / "suite"
    assert os.listdir(tmp_path) == []


# --- resources ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cpus", "gpus", "nodes", "expected"),
    [
        (1, 0.25, [{"CPU": 8, "GPU": 1}], 4),  # four runs share a GPU
        (1, 0.25, [{"CPU": 2, "GPU": 1}], 2),  # ... unless the CPUs run out first
        (1, 0.1, [{"CPU": 16, "GPU": 1}], 10),  # 1 // 0.1 == 9.0 in floats; Ray's units give 10
        (0.2, 0, [{"CPU": 1}], 5),  # 1 // 0.2 == 4.0 in floats
        (1, 0.6, [{"CPU": 4, "GPU": 1}, {"CPU": 4, "GPU": 1}], 2),  # a run cannot span two nodes
        (2, 0, [{"CPU": 3}, {"CPU": 3}], 2),  # 6 CPUs in all, but one 2-CPU run per node
        (1, 0, [{"CPU": 2}, {"CPU": 1, "GPU": 1}], 3),
    ],
)
def test_slots(cpus, gpus, nodes, expected):
    assert runner.slots(Resources(cpus=cpus, gpus=gpus), nodes) == expected


def test_gpu_run_on_a_cpu_only_cluster_is_refused():
    with pytest.raises(preflight.PreflightError, match="has no GPU"):
        preflight.check_fits(Resources(gpus=0.25), [{"CPU": 2}, {"CPU": 2}])


def test_run_larger_than_every_node_is_refused():
    with pytest.raises(preflight.PreflightError, match="no node"):
        preflight.check_fits(Resources(cpus=3), [{"CPU": 2}, {"CPU": 2}])


def test_preflight_asks_the_cluster_only_when_runs_are_left(tmp_path, monkeypatch):
    from genbench.suite.config import load_suite

    (tmp_path / "s.yaml").write_text(suite(resources="{cpus: 1, gpus: 0.25}"))
    suite_obj, specs, _ = load_suite(tmp_path / "s.yaml")
    started = []
    monkeypatch.setattr(runner, "start_ray", lambda address, *_: started.append(address))
    monkeypatch.setattr(runner, "cluster_nodes", lambda: [{"CPU": 2.0}])
    preflight.preflight(suite_obj, specs, tmp_path / "results", None, serial=True)
    assert started == []  # --serial runs in-process: no cluster to check
    monkeypatch.setattr(preflight.store, "finished_result", lambda *a: {"status": "ok"})
    with pytest.raises(preflight.PreflightError, match="has no GPU"):
        preflight.preflight(suite_obj, specs, tmp_path / "results", "auto", serial=False, fresh=True)
    assert started == ["auto"]
    assert not (tmp_path / "results").exists()


# --- no code from data --------------------------------------------------------------------------

FORBIDDEN = [
    (r"(?<![.\w])eval\(", "eval"),
    (r"(?<![.\w])exec\(", "exec"),
    (r"\bpickle\.loads?\(|\bcloudpickle\.loads?\(|\bmarshal\.loads?\(|\bshelve\.open\(", "unpickling"),
    (r"\byaml\.(load|load_all|full_load|unsafe_load|unsafe_load_all)\(", "a YAML loader that builds objects"),
    (r"Loader=yaml\.(Loader|FullLoader|UnsafeLoader)\b", "a YAML loader that builds objects"),
    (r"\btorch\.load\((?![^)]*weights_only=True)", "torch.load without weights_only=True"),
    (r"__import__\(|importlib\.import_module\(", "imports by name"),
]


def test_no_eval_exec_or_unpickling_in_genbench():
    source = ROOT / "genbench"
    files = sorted(source.rglob("*.py"))
    assert len(files) > 10
    hits = []
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            hits += [
                f"{path.name}:{number}: {what}" for pattern, what in FORBIDDEN if re.search(pattern, code)
            ]
    # the one exception: plugins.py imports what a suite's `plugins:` and the installed entry
    # points name, by design (a suite file with plugins runs their code; the README says so)
    allowed = [h for h in hits if h.startswith("plugins.py:") and h.endswith("imports by name")]
    assert allowed and not set(hits) - set(allowed), hits
