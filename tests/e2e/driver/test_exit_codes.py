"""The command line as a user meets it: `--version`, `--help` written for users, and exit codes
through the real CLI: 1 when a run failed (on real Ray: the last line names its result.json, which
keeps the step it failed at and its trajectory), 2 for keys that would change nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from genbench.numerics import NUMERICS_VERSION, __version__
from tests.helpers import run_cli

FAILING_PLUGIN = '''\
"""A model whose train_step raises at step `fail_at` (a plugin's bug)."""
import torch
from pydantic import BaseModel, Field
from torch import nn

import genbench


class FailingParams(BaseModel):
    fail_at: int = Field(10, ge=0)
    batch_size: int = Field(32, ge=1)


class FailsAtStep(genbench.GenerativeModel):
    def __init__(self, hp, dataset):
        super().__init__()
        self.hp, self.batch_size = hp, hp.batch_size
        self.g = nn.Linear(2, dataset.dim)
        self.opt = torch.optim.SGD(self.g.parameters(), lr=1e-2)

    def train_step(self, next_batch, step):
        if step == self.hp.fail_at:
            raise RuntimeError(f"plugin failure at step {step}")
        x = next_batch()
        loss = ((self.g(self.noise(len(x), 2)) - x) ** 2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"loss": loss.item()}

    @torch.no_grad()
    def sample(self, n, generator):
        return self.g(self.noise(n, 2, generator)).cpu()


genbench.register_model("fails_at_step", FailingParams, lambda hp, ds, device: FailsAtStep(hp, ds).to(device))
'''

SUITE = """\
name: {name}
seeds: [0]
budget: {{steps: {steps}}}
eval: {{every: 5, samples: 200}}
plugins: [failing.py]
datasets: [{{name: ring8, train_size: 512, test_size: 256}}]
models:
{models}metrics: {metrics}
"""


def write(folder: Path, models: str, metrics: str = "[mode_coverage]", steps: str = "30") -> Path:
    (folder / "failing.py").write_text(FAILING_PLUGIN)
    path = folder / "suite.yaml"
    path.write_text(SUITE.format(name="codes", models=models, metrics=metrics, steps=steps))
    return path


def test_version_and_help_are_written_for_users(tmp_path):
    version = run_cli("--version", cwd=tmp_path)
    assert (
        version.returncode == 0
        and version.stdout.strip() == f"genbench {__version__} (numerics version {NUMERICS_VERSION})"
    )
    top = run_cli("--help", cwd=tmp_path)
    assert top.returncode == 0 and "Train and compare deep generative models" in top.stdout
    assert "argument parsing only" not in top.stdout  # the module's developer docstring
    for command in ("run", "validate", "list", "leaderboard", "report", "prepare"):
        assert f"\n    {command}" in top.stdout, command  # each with its one-line help
        sub = run_cli(command, "--help", cwd=tmp_path)
        assert sub.returncode == 0 and len(sub.stdout.split("\n\n")[1]) > 80  # a description paragraph
    assert "exit codes: 0 every run ended ok or diverged; 1 a run failed" in top.stdout


def test_a_failed_run_exits_1_and_names_its_traceback_last(tmp_path):
    suite = write(
        tmp_path, "  - {name: fails_at_step, fail_at: 10}\n  - {name: gan, hidden: 16, batch_size: 32}\n"
    )
    done = run_cli("run", str(suite), "--results", "results", "--workers", "2", cwd=tmp_path, timeout=600)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    board = pd.read_csv(tmp_path / "results" / "codes" / "leaderboard.csv")  # written all the same
    failed = board[board["status"] == "failed"].iloc[0]
    assert sorted(board["status"]) == ["failed", "ok"] and failed["steps"] == 10
    folder = tmp_path / "results" / "codes" / "runs" / failed["run_id"].removeprefix("run-")
    last = done.stdout.strip().splitlines()[-1]
    where = Path("results/codes/runs") / folder.name / "result.json"
    assert last == f"1 of 2 runs failed; their tracebacks are in {where}"
    result = json.loads((folder / "result.json").read_text())
    assert (result["status"], result["steps"]) == ("failed", 10)
    assert "RuntimeError: plugin failure at step 10" in result["error"]
    assert 'raise RuntimeError(f"plugin failure at step {step}")' in result["traceback"]
    rows = [json.loads(line) for line in (folder / "trajectory.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [0, 5, 10] and all("modes" in row for row in rows)


def test_keys_that_change_nothing_exit_2_with_file_key_and_line(tmp_path):
    cases = [
        ("  - {name: gan}\n", "[mode_coverage, fid]", ":9: metrics[1]: metric 'fid' applies to no run"),
        ("  - {name: gan}\n", "[mode_coverage, elbo]", ":9: metrics[1]: metric 'elbo' applies to no run"),
        (
            "  - {name: wgan, lipschitz: gp, clip: [0.01, 0.1]}\n",
            "[mode_coverage]",
            ":8: models[0].clip: has no effect",
        ),
    ]
    for models, metrics, expected in cases:
        suite = write(tmp_path, models, metrics)
        for command in (["validate", str(suite)], ["run", str(suite), "--results", "results"]):
            done = run_cli(*command, cwd=tmp_path)
            assert done.returncode == 2, done.stderr
            assert f"{suite}{expected}" in done.stderr and "Traceback" not in done.stderr
        assert not (tmp_path / "results").exists()  # refused before anything is written


def test_integer_keys_take_exact_integers_and_refuse_fractions(tmp_path):
    ok = run_cli("validate", str(write(tmp_path, "  - {name: gan}\n", steps="3e2")), cwd=tmp_path)
    assert ok.returncode == 0 and "expands to 1 runs" in ok.stdout
    bad = run_cli("validate", str(suite := write(tmp_path, "  - {name: gan}\n", steps="2.5")), cwd=tmp_path)
    assert bad.returncode == 2 and f"{suite}:3: budget.steps: Input should be a valid integer" in bad.stderr
