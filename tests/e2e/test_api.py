"""The Python API beside the CLI: importing genbench stays light (a fresh interpreter), and a dict
suite with a typo raises the message the CLI prints for the same file."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

import genbench
from tests.helpers import API_SUITE as SUITE
from tests.helpers import run_cli


def test_import_genbench_stays_light():
    heavy = "('torch', 'pydantic', 'ray', 'pandas')"
    code = f"import sys, genbench; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
    assert callable(genbench.run_suite) and genbench.GenerativeModel.__name__ == "GenerativeModel"


def _where_free(message: str) -> str:
    """The message without where it points (a file and line, or the dict's name)."""
    return re.sub(r"(<suite dict>|\S+\.yaml:\d+): ", "", message)


def test_a_dict_suite_with_a_typo_raises_the_message_the_cli_prints(tmp_path):
    bad = {**SUITE, "models": [{"name": "gan", "lrr": 1e-3}, {"name": "gann"}]}
    with pytest.raises(genbench.SuiteError) as info:
        genbench.run_suite(bad, results=tmp_path / "results", serial=True)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad, sort_keys=False))
    proc = run_cli("run", "bad.yaml", "--serial", cwd=tmp_path)
    assert proc.returncode == 2
    printed = proc.stderr.strip().removeprefix("error: ")
    assert (
        "unknown key (did you mean 'lr'?)" in str(info.value)
        and "models[0].lrr" in str(info.value)
        and "models[1].name: unknown model 'gann'" in str(info.value)
    )
    assert _where_free(str(info.value)) == _where_free(" ".join(printed.split()))
    assert not (tmp_path / "results").exists()
