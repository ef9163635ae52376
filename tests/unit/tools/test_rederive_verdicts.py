"""tools/rederive_verdicts.py: a committed folder's verdicts recomputed from its leaderboard.csv and
the suite's reference rows, the protocol differences carried over from the old published.csv."""

import importlib.util
import math

import pandas as pd
import pytest
import yaml

from genbench.analysis.csvfiles import csv_bytes, strip_id_prefixes
from tests.helpers import TOOLS

TOOL = TOOLS / "rederive_verdicts.py"
spec = importlib.util.spec_from_file_location("rederive_verdicts", TOOL)
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)

ROW = {
    "source": "Lin et al. 2018 (PacGAN), table 1, 2D-ring, GAN: high-quality samples %",
    "model": "gan",
    "variant": "pack=1",
    "dataset": "ring8",
    "metric": "hq_frac",
    "value": 98.2,
    "spread": 0.2,
    "spread_kind": "se",
    "runs": 10,
    "scale": 100,
    "protocol": {"steps": 400000},
}
NO_SPREAD = {**ROW, "source": "a figure: every mode", "metric": "modes", "value": 8.0, "scale": 1}
for key in ("spread", "spread_kind", "runs"):
    NO_SPREAD.pop(key)


def committed_folder(tmp_path):
    """A suite file and a results folder as committed: leaderboard.csv, old published.csv, report.md."""
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump({"name": "ref", "reference": [ROW, NO_SPREAD]}, sort_keys=False))
    folder = tmp_path / "results"
    folder.mkdir()
    hq, modes = [0.4792, 0.6604, 0.7592], [8, 7, 8]  # 63.3 ± 14 % over 3 seeds
    runs = [
        {"run_id": f"abc{s}", "model": "gan", "variant": "pack=1", "dataset": "ring8", "seed": s}
        | {"status": "ok", "steps": 4000, "protocol": "b31c741d", "hq_frac": hq[s], "modes": modes[s]}
        for s in range(3)
    ]
    (folder / "leaderboard.csv").write_bytes(csv_bytes(pd.DataFrame(runs)))
    old = {"protocol": "b31c741d", "budget": "4,000 steps (1 % of the paper's 400,000)"}
    old_rows = [
        {"source": ROW["source"], "verdict": "agrees; protocol: budget 4,000 vs 400,000 steps"} | old,
        {"source": NO_SPREAD["source"], "verdict": "agrees (no spread published)"} | old,
    ]
    (folder / "published.csv").write_bytes(csv_bytes(pd.DataFrame(old_rows)))
    sections = ["# report", "## Leaderboard", "table", "## Published vs genbench", "old rule"]
    report = "\n\n".join(sections + ["## Significance", "kept"]) + "\n"
    (folder / "report.md").write_text(report)
    return suite, folder


def test_rederived_verdicts_replace_the_files_and_keep_the_protocol(tmp_path, capsys):
    suite, folder = committed_folder(tmp_path)
    assert tool.main([str(suite), str(folder)]) == 0
    new = strip_id_prefixes(pd.read_csv(folder / "published.csv")).set_index("source")
    hq = new.loc[ROW["source"]]
    assert hq["genbench_mean"] == pytest.approx(100 * (0.4792 + 0.6604 + 0.7592) / 3)
    # Welch cannot reject at about 2 degrees of freedom: no longer "agrees", and the runs it needs
    assert hq["verdict"] == "undecided; protocol: budget 4,000 vs 400,000 steps"
    assert hq["runs_needed"] == 4 and hq["budget"] == "4,000 steps (1 % of the paper's 400,000)"
    figure = new.loc[NO_SPREAD["source"]]
    assert figure["verdict"] == "undecided" and "no spread published" in figure["reason"]
    assert math.isnan(figure["p_equivalence"])
    report = (folder / "report.md").read_text()
    assert "old rule" not in report and "## Significance\n\nkept\n" in report
    assert report.count("## Published vs genbench") == 1 and "p (equivalence)" in report
    assert report.index("## Leaderboard") < report.index("## Published") < report.index("## Significance")
    assert (folder / "published.md").read_text() in report
    printed = capsys.readouterr().out
    assert "| agrees (no spread published) | undecided" in printed


def test_a_row_without_an_old_verdict_gets_its_budget_from_the_steps(tmp_path):
    suite, folder = committed_folder(tmp_path)
    (folder / "published.csv").unlink()
    frame, changes = tool.rederive(suite, folder)
    assert list(changes["old verdict"]) == ["–", "–"]
    assert frame.loc[0, "verdict"] == "undecided; protocol: budget 4,000 vs 400,000 steps"
    assert frame.loc[0, "budget"] == "4,000 steps (1 % of the paper's 400,000)"
