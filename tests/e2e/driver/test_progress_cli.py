"""What `genbench run` on Ray prints besides its progress: a plugin's print() in `train_step` (in a
Ray worker) only with `--verbose`, and never Ray's notice that token authentication is on, whether
the token is the user's (RAY_AUTH_TOKEN set) or genbench's own."""

from __future__ import annotations

import os
import subprocess

from genbench.driver.runner import TOKEN_NOTICE
from tests.helpers import GENBENCH, PLUGIN_MODEL, run_cli

MARK = "PLUGIN-PRINT from train_step"
SUITE = """\
name: talky
seeds: [0]
budget: {steps: 10}
eval: {every: 10, samples: 200}
plugins: [plugins/talky.py]
datasets: [{name: ring8, train_size: 2000, test_size: 500}]
models: [{name: tiny_lsgan, hidden: 16}]
metrics: [mode_coverage]
"""


def write_talky_plugin(folder) -> None:
    """The plugin GAN of tests/helpers/plugins.py, printing MARK at its third step, and a suite running it."""
    first_line = "        x = next_batch()\n"
    assert PLUGIN_MODEL.count(first_line) == 1
    source = PLUGIN_MODEL.replace(
        first_line, first_line + f"        if step == 3:\n            print('{MARK}')\n"
    )
    (folder / "plugins").mkdir()
    (folder / "plugins" / "talky.py").write_text(source)
    (folder / "talky.yaml").write_text(SUITE)


def run_without_token(*args: str, cwd) -> subprocess.CompletedProcess:
    """`genbench ARGS` with no Ray token in its environment: genbench makes one of its own."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_MODE")}
    env["COLUMNS"] = "200"
    return subprocess.run([*GENBENCH, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_verbose_prints_what_plugins_print_in_workers_and_no_run_prints_the_token_notice(tmp_path):
    write_talky_plugin(tmp_path)
    assert "RAY_AUTH_TOKEN" in os.environ  # the tests' own token (tests/conftest.py): the user's case
    verbose = run_cli("run", "talky.yaml", "--results", "loud", "--verbose", cwd=tmp_path)
    assert verbose.returncode == 0, verbose.stdout[-3000:] + verbose.stderr[-3000:]
    assert MARK in verbose.stdout + verbose.stderr  # from the Ray worker that trained the run
    assert "(RunWorker pid=" in verbose.stdout + verbose.stderr  # Ray says which worker printed it
    quiet = run_without_token("run", "talky.yaml", "--results", "quiet", cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stdout[-3000:] + quiet.stderr[-3000:]
    assert MARK not in quiet.stdout + quiet.stderr
    assert "[1/1] ok" in quiet.stdout  # the run did train (its print went nowhere)
    for proc in (verbose, quiet):
        assert TOKEN_NOTICE not in proc.stdout + proc.stderr
        assert "Token authentication" not in proc.stderr, proc.stderr[-3000:]
