"""Bad suite files through the real CLI: exit code 2, one clear paragraph, nothing trained or written.

Starting Python and importing torch costs seconds, so the matrix of bad files (each checked with both
`genbench run` and `genbench validate`) runs in ONE subprocess that calls the console script's entry
point once per command, exactly as the `genbench` script does (sys.argv set, `sys.exit(main())`),
each in its own fresh directory. A few commands are also run as separate `genbench` processes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.slow

REPO = ROOT
QUICKSTART = REPO / "suites" / "quickstart.yaml"
SUITE_FILE = "bad.yaml"
TRACEBACK = "Traceback (most recent call last)"

_script = Path(sys.executable).with_name("genbench")
GENBENCH = [str(_script)] if _script.exists() else [sys.executable, "-m", "genbench.driver.cli"]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}


def genbench(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the installed `genbench` script as its own process."""
    return subprocess.run(
        [*GENBENCH, *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=120
    )


def suite(
    *,
    name: str = "name: t",
    seeds: str = "seeds: [0]",
    budget: str = "budget: {steps: 1}",
    eval: str = "eval: {samples: 10}",
    datasets: str = "datasets: [{name: ring8}]",
    models: str = "models: [{name: gan}]",
    metrics: str = "metrics: [mode_coverage]",
) -> str:
    """A tiny valid suite; each argument replaces one top-level entry. When every argument is one
    line, the lines are: name 1, seeds 2, budget 3, eval 4, datasets 5, models 6, metrics 7."""
    return "\n".join([name, seeds, budget, eval, datasets, models, metrics]) + "\n"


@dataclass(frozen=True)
class Bad:
    id: str
    text: str | bytes
    key: str | None  # the offending key (or value) the message must name
    line: int | None  # the line YAML gives for it, which the message must name as bad.yaml:LINE
    also: tuple[str, ...] = field(default=())  # further words the message must contain


BAD = [
    # YAML syntax errors: the line is where the parser stops
    Bad("yaml_unbalanced_brackets", suite(budget="budget: {steps: 1]"), None, 3, ("YAML",)),
    Bad("yaml_tab_indent", suite(budget="budget:\n\tsteps: 1"), None, 4, ("YAML",)),
    Bad("yaml_bad_indent", suite(seeds="seeds: [0]\n  budget: {steps: 1}", budget=""), None, 3, ("YAML",)),
    # unknown keys
    Bad("typo_bugdet", suite(budget="bugdet: {steps: 1}"), "bugdet", 3, ("budget",)),
    Bad("unknown_top_level_key", suite(seeds="seeds: [0]\nseed: [1]"), "seed", 3),
    Bad("unknown_key_in_model_flow", suite(models="models: [{name: gan, z_dm: 3}]"), "z_dm", 6),
    Bad(
        "unknown_key_in_model_block_with_grid",
        suite(models="models:\n  - name: gan\n    lr: [1e-4, 2e-4]\n    d_step: 2"),
        "d_step",
        9,
    ),
    Bad("unknown_key_in_dataset", suite(datasets="datasets:\n  - name: ring8\n    sdt: 0.02"), "sdt", 7),
    Bad("unknown_key_in_budget", suite(budget="budget:\n  steps: 1\n  stpes: 2"), "stpes", 5),
    Bad("unknown_key_in_eval", suite(eval="eval:\n  samples: 10\n  evry: 100"), "evry", 6),
    Bad(
        "unknown_key_in_resources",
        suite(eval="eval: {samples: 10}\nresources:\n  cpus: 1\n  gpu_count: 1"),
        "gpu_count",
        7,
    ),
    # unknown names: the message lists the known ones
    Bad(
        "unknown_model",
        suite(models="models:\n  - {name: gan}\n  - {name: gann}"),
        "gann",
        8,
        ("gan", "wgan", "vae"),
    ),
    Bad("unknown_dataset", suite(datasets="datasets:\n  - {name: ring9}"), "ring9", 6, ("ring8", "grid25")),
    Bad(
        "unknown_metric",
        suite(metrics="metrics: [mode_coverage, fdi]"),
        "fdi",
        7,
        ("mode_coverage", "elbo"),
    ),
    # wrong types
    Bad("seed_not_an_integer", suite(seeds="seeds: [a]"), "seeds", 2),
    Bad("steps_not_an_integer", suite(budget="budget: {steps: many}"), "steps", 3),
    Bad("hparam_wrong_type", suite(models="models: [{name: gan, z_dim: big}]"), "z_dim", 6),
    Bad(
        "hparam_bad_value_in_grid", suite(models="models: [{name: gan, loss: [minimax, maxmin]}]"), "loss", 6
    ),
    # budgets
    Bad("steps_zero", suite(budget="budget: {steps: 0}"), "steps", 3),
    Bad("seconds_negative", suite(budget="budget: {seconds: -1}"), "seconds", 3),
    Bad(
        "steps_and_seconds",
        suite(budget="budget: {steps: 10, seconds: 60}"),
        "budget",
        3,
        ("steps", "seconds"),
    ),
    Bad("neither_steps_nor_seconds", suite(budget="budget: {}"), "budget", 3, ("steps", "seconds")),
    Bad("budget_commented_out", suite(budget="budget:\n  # steps: 100"), "budget", 3),
    # seeds
    Bad("seeds_empty", suite(seeds="seeds: []"), "seeds", 2),
    Bad("seeds_duplicate", suite(seeds="seeds: [0, 1, 0]"), "seeds", 2),
    # models
    Bad("models_empty", suite(models="models: []"), "models", 6),
    Bad("model_without_name", suite(models="models:\n  - {name: gan}\n  - {loss: minimax}"), "name", 8),
    Bad("empty_list_value", suite(models="models: [{name: gan, lr: []}]"), "lr", 6),
    # not a mapping, not text
    Bad("empty_file", "", None, None),
    Bad("not_a_mapping", "- name: t\n- seeds: [0]\n", None, None),
    Bad("non_string_top_level_key", suite(seeds="seeds: [0]\n1: x"), None, None),
    Bad("not_utf8", suite(name="name: t\xe9").encode("latin-1"), None, None),
]
COMMANDS = ["validate", "run"]


# The driver runs in one subprocess: per job, chdir, set sys.argv, call the console script's
# entry point, record exit code and output. A `run` job is skipped when `validate` accepted the
# same file, so that a genbench bug cannot start a training run (or Ray) from this test file.
DRIVER = r"""
import contextlib, io, json, os, sys, traceback
from genbench.driver.cli import main

jobs_file, results_file = sys.argv[1], sys.argv[2]
jobs = json.load(open(jobs_file))
results = {}
for job in jobs:
    accepted = job.get("unless_accepted") and results[job["unless_accepted"]]["returncode"] == 0
    if accepted:
        why = "not run: `validate` accepted this file (exit 0), so `run` would train"
        results[job["id"]] = {"returncode": None, "stdout": "", "stderr": why}
        continue
    os.chdir(job["cwd"])
    sys.argv = ["genbench", *job["args"]]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            sys.exit(main())
        except SystemExit as exc:
            code = exc.code
            if code is None:
                code = 0
            elif not isinstance(code, int):
                print(code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
    results[job["id"]] = {"returncode": code, "stdout": out.getvalue(), "stderr": err.getvalue()}
json.dump(results, open(results_file, "w"))
"""


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    """Every bad file under every command, each in its own directory: {(case, cmd): (result, dir)}."""
    base = tmp_path_factory.mktemp("cli_matrix")
    jobs, dirs = [], {}
    for case in BAD:
        for cmd in COMMANDS:
            cwd = base / f"{case.id}-{cmd}"
            cwd.mkdir()
            target = cwd / SUITE_FILE
            target.write_bytes(case.text if isinstance(case.text, bytes) else case.text.encode())
            job = {"id": f"{case.id}/{cmd}", "cwd": str(cwd), "args": [cmd, SUITE_FILE]}
            if cmd == "run":
                job["unless_accepted"] = f"{case.id}/validate"
            jobs.append(job)
            dirs[case.id, cmd] = cwd
    (base / "jobs.json").write_text(json.dumps(jobs))
    (base / "driver.py").write_text(DRIVER)
    out = base / "results.json"
    proc = subprocess.run(
        [sys.executable, str(base / "driver.py"), str(base / "jobs.json"), str(out)],
        cwd=base,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and out.exists(), proc.stdout + proc.stderr
    results = json.loads(out.read_text())
    return {(c.id, cmd): (results[f"{c.id}/{cmd}"], dirs[c.id, cmd]) for c in BAD for cmd in COMMANDS}


def _segments_at_line(message: str, line: int) -> list[str]:
    """The parts of `message` that start with bad.yaml:LINE (up to the next bad.yaml:N)."""
    parts = re.split(rf"(?={re.escape(SUITE_FILE)}:\d+)", message)
    return [p for p in parts if re.match(rf"{re.escape(SUITE_FILE)}:{line}\b", p)]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", BAD, ids=[c.id for c in BAD])
def test_bad_suite_file(matrix, case: Bad, command: str):
    result, cwd = matrix[case.id, command]
    stderr, both = result["stderr"], result["stdout"] + result["stderr"]
    assert result["returncode"] == 2, f"exit code {result['returncode']}; output:\n{both}"
    assert TRACEBACK not in both, both
    assert SUITE_FILE in stderr, f"the message does not name the file:\n{both}"
    assert "\n\n" not in stderr.strip(), f"not one paragraph:\n{stderr}"
    if case.key is not None:
        assert case.key in stderr, f"the message does not name {case.key!r}:\n{stderr}"
    if case.line is not None:
        at_line = _segments_at_line(stderr, case.line)
        assert at_line, f"no {SUITE_FILE}:{case.line} in the message:\n{stderr}"
        if case.key is not None:
            assert any(case.key in part for part in at_line), (
                f"{case.key!r} is not reported at {SUITE_FILE}:{case.line}:\n{stderr}"
            )
    for word in case.also:
        assert re.search(rf"\b{re.escape(word)}\b", stderr), f"{word!r} missing from:\n{stderr}"
    assert not (cwd / "results").exists(), "results/ was created for a bad suite file"
    assert sorted(os.listdir(cwd)) == [SUITE_FILE], "new files next to the suite file"


# --- separate `genbench` processes --------------------------------------------------------------


def test_run_bad_file_as_its_own_process(tmp_path):
    (tmp_path / SUITE_FILE).write_text(suite(budget="bugdet: {steps: 1}"))
    proc = genbench("run", SUITE_FILE, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "bad.yaml:3" in proc.stderr and "bugdet" in proc.stderr
    assert TRACEBACK not in proc.stdout + proc.stderr
    assert sorted(os.listdir(tmp_path)) == [SUITE_FILE]


@pytest.mark.parametrize("workers", ["0", "-1", "two"])
def test_run_rejects_a_bad_worker_count(tmp_path, workers: str):
    (tmp_path / SUITE_FILE).write_text(suite())
    proc = genbench("run", SUITE_FILE, "--workers", workers, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--workers" in proc.stderr and TRACEBACK not in proc.stderr
    assert sorted(os.listdir(tmp_path)) == [SUITE_FILE]


def test_validate_yaml_syntax_error_as_its_own_process(tmp_path):
    (tmp_path / SUITE_FILE).write_text(suite(budget="budget: {steps: 1]"))
    proc = genbench("validate", SUITE_FILE, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "bad.yaml:3" in proc.stderr
    assert TRACEBACK not in proc.stdout + proc.stderr
    assert sorted(os.listdir(tmp_path)) == [SUITE_FILE]


def test_validate_valid_file_prints_run_count_and_notes(tmp_path):
    shutil.copy(QUICKSTART, tmp_path / "quickstart.yaml")
    proc = genbench("validate", "quickstart.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"\b20 runs\b", proc.stdout), proc.stdout
    assert "quickstart.yaml" in proc.stdout
    notes = [line for line in proc.stdout.splitlines() if "elbo" in line]
    # elbo does not apply to GANs: a note, once per model family, and not an error
    assert len([n for n in notes if re.search(r"\bgan\b", n)]) == 1, proc.stdout
    assert len([n for n in notes if re.search(r"\bwgan\b", n)]) == 1, proc.stdout
    assert not [n for n in notes if re.search(r"\bvae\b", n)], proc.stdout
    assert TRACEBACK not in proc.stdout + proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["quickstart.yaml"]


def test_list_shows_models_datasets_metrics_and_defaults(tmp_path):
    proc = genbench("list", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for word in ("gan", "wgan", "vae", "ring8", "grid25", "mode_coverage", "elbo", "clip", "z_dim"):
        assert re.search(rf"\b{word}\b", proc.stdout), f"{word!r} missing from `genbench list`"
    assert re.search(r"\bclip\b.*0\.01", proc.stdout), "the default of wgan's clip is not shown"
    assert re.search(r"\bz_dim\b.*256", proc.stdout), "the default of z_dim is not shown"
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_missing_suite_file(tmp_path, command):
    proc = genbench(command, "missing.yaml", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "missing.yaml" in proc.stderr
    assert re.search(r"no such file|not found|does not exist|cannot read", proc.stderr, re.IGNORECASE)
    assert TRACEBACK not in proc.stdout + proc.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("where", ["empty_dir", "missing_dir"])
def test_leaderboard_without_results(tmp_path, where):
    target = tmp_path / "results" / "quickstart"
    if where == "empty_dir":
        target.mkdir(parents=True)
    proc = genbench("leaderboard", str(target.relative_to(tmp_path)), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "quickstart" in proc.stdout + proc.stderr
    assert TRACEBACK not in proc.stdout + proc.stderr
    assert target.exists() == (where == "empty_dir")
    if target.exists():
        assert os.listdir(target) == []
