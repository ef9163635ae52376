"""Through the real CLI: inf and NaN parameters and sizes beyond this machine's memory are exit 2
at `genbench validate` and `genbench run`, one message with file, key and line, nothing recorded."""

from __future__ import annotations

import pytest

from tests.helpers import run_cli

HEAD = """\
name: numbers
seeds: [0]
budget: {steps: 10}
resources: {cpus: 1, gpus: 0}
eval: {samples: 500}
models:
  - {name: gan, hidden: 16}
metrics: [mode_coverage]
datasets:
"""
CASES = [  # (dataset entry or eval override, key, message)
    ("  - {name: ring8, radius: .inf}", "datasets[0].radius", "Input should be a finite number"),
    ("  - {name: grid25, std: .inf}", "datasets[0].std", "Input should be a finite number"),
    ("  - {name: ring8, train_size: 1.0e+11}", "datasets[0].train_size", "its runs would need about"),
    ("  - {name: ring8, n_modes: 1000000000}", "datasets[0].n_modes", "its runs would need about"),
]


@pytest.mark.parametrize(("entry", "key", "message"), CASES, ids=[c[1] + c[0][-8:] for c in CASES])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_bad_numbers_are_exit_2_with_file_key_and_line(tmp_path, command, entry, key, message):
    (tmp_path / "suite.yaml").write_text(HEAD + entry + "\n")
    done = run_cli(
        command, "suite.yaml", *(["--results", "results"] if command == "run" else []), cwd=tmp_path
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"suite.yaml:10: {key}: {message}" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "results").exists()  # no run recorded (diverged or otherwise)


def test_huge_eval_samples_are_refused_at_validation(tmp_path):
    (tmp_path / "suite.yaml").write_text(
        HEAD.replace("eval: {samples: 500}", "eval:\n  samples: 1000000000000") + "  - {name: ring8}\n"
    )
    done = run_cli("validate", "suite.yaml", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "suite.yaml:6: eval.samples: its runs would need about" in done.stderr
    assert "1000000000000 samples" in done.stderr and "this machine has" in done.stderr
