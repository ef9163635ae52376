"""`genbench list` through the real CLI: one family on one screen, a section alone, and an unknown
name refused with exit 2 and the closest known name, no traceback, nothing written."""

from __future__ import annotations

import os


def test_list_one_family_prints_only_it(tmp_path, cli):
    proc = cli("list", "gan", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "models:" and lines[1].startswith("  gan: ")
    assert len(lines) <= 50 and max(len(line) for line in lines) <= 110
    assert "  wgan:" not in proc.stdout and "datasets:" not in proc.stdout
    assert "pacgan: z_dim=2" in proc.stdout and "unrolled: hidden=128" in proc.stdout
    assert os.listdir(tmp_path) == []


def test_list_a_section_and_a_data_set(tmp_path, cli):
    proc = cli("list", "metrics", "ring8", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("datasets:\n  ring8 (toy2d): ") and "\nmetrics:\n" in proc.stdout
    assert "models:" not in proc.stdout and "  grid25" not in proc.stdout


def test_list_an_unknown_name_is_exit_2_with_the_closest_name(tmp_path, cli):
    proc = cli("list", "gn", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: genbench list: unknown name 'gn' (did you mean 'gan'?)")
    assert "Traceback" not in proc.stderr and os.listdir(tmp_path) == []
