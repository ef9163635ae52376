"""`label:` through the real CLI: a duplicate is exit 2 naming file, key and line; a labelled
suite's tables, CSVs and report name the variant by its label, with the parameters kept in
`variant` and the run ids those of the same suite without labels."""

from __future__ import annotations

import pandas as pd

from genbench.suite.config import load_suite

SUITE = """\
name: labelled
seeds: [0]
budget: {{steps: 20}}
eval: {{every: 10, samples: 200}}
datasets: [{{name: ring8, train_size: 1000, test_size: 300}}]
models:
  - {{name: gan, pack: 2, hidden: 16, batch_size: 32{first}}}
  - {{name: gan, hidden: 16, batch_size: 32{second}}}
metrics: [mode_coverage]
"""


def test_duplicate_labels_exit_2_with_file_key_and_line(cli, tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text(SUITE.format(first=", label: GAN", second=", label: GAN"))
    done = cli("run", str(path), "--serial", cwd=tmp_path)
    assert done.returncode == 2
    assert f"{path}:8: models[1].label: label 'GAN' is also models[0]'s" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "results").exists()  # nothing written


def test_labels_name_the_variants_in_every_output(cli, tmp_path):
    path = tmp_path / "labelled.yaml"
    path.write_text(SUITE.format(first=", label: PacGAN2", second=", label: GAN"))
    plain = tmp_path / "plain.yaml"
    plain.write_text(SUITE.format(first="", second=""))
    done = cli("run", str(path), "--serial", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    suite_path = tmp_path / "results" / "labelled"
    runs = pd.read_csv(suite_path / "leaderboard.csv")
    assert list(runs["label"]) == ["PacGAN2", "GAN"]
    assert list(runs["variant"]) == ["pack=2 hidden=16 batch_size=32", "hidden=16 batch_size=32"]
    folders = sorted(p.name for p in (suite_path / "runs").iterdir())  # each named by its run id
    assert folders == sorted(s.run_id for s in load_suite(plain)[1])
    summary = pd.read_csv(suite_path / "leaderboard_summary.csv")
    assert set(summary["label"]) == {"PacGAN2", "GAN"}
    report = (suite_path / "report.md").read_text()
    leaderboard = report.split("## Leaderboard")[1].split("##")[0]
    assert "| PacGAN2 " in leaderboard and "| GAN " in leaderboard
    assert "gan pack=2 hidden=16" not in leaderboard  # the label, not the parameters, names the row
    assert "PacGAN2" in (suite_path / "leaderboard.md").read_text()
