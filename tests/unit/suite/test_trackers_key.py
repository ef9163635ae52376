"""The suite's `trackers:` key (genbench.suite.trackers): its forms, its mistakes (file, key, line),
MLflow's URI, and that it changes no run id; preflight's reachability check (genbench.worker.trackers)."""

from __future__ import annotations

import socket
import sys

import pytest
import yaml

from genbench.suite.config import SuiteError, load_suite
from genbench.suite.trackers import TrackerEntry
from genbench.worker.trackers import TrackerUnreachable, check_reachable

SUITE = {
    "name": "keyed",
    "seeds": [0, 1],
    "budget": {"steps": 20},
    "datasets": [{"name": "ring8", "train_size": 500, "test_size": 200}],
    "models": [{"name": "gan", "z_dim": 2, "hidden": 8}],
    "metrics": ["mode_coverage"],
}


def load(tmp_path, **extra):
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({**SUITE, **extra}, sort_keys=False))
    return load_suite(path)


def refusal(tmp_path, **extra) -> str:
    with pytest.raises(SuiteError) as caught:
        load(tmp_path, **extra)
    return str(caught.value)


def test_trackers_are_not_part_of_the_run_id_nor_of_spec_json(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    plain = load(tmp_path)[1]
    tracked = load(tmp_path, trackers=["tensorboard", {"name": "mlflow", "uri": "http://127.0.0.1:5000"}])[1]
    assert [s.run_id for s in plain] == [s.run_id for s in tracked]
    assert tracked[0].trackers == [
        TrackerEntry(name="tensorboard"),
        TrackerEntry(name="mlflow", uri="http://127.0.0.1:5000"),
    ]
    assert "trackers" not in tracked[0].model_dump(mode="json")  # what spec.json is written from
    assert plain[0].trackers == []


def test_mlflow_uri_from_the_environment_and_relative_paths_from_the_suite_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5001")
    assert load(tmp_path, trackers=["mlflow"])[0].trackers[0].uri == "http://127.0.0.1:5001"
    entry = load(tmp_path, trackers=[{"name": "mlflow", "uri": "sqlite:///store/m.db"}])[0].trackers[0]
    assert entry.uri == f"sqlite:///{tmp_path.resolve() / 'store' / 'm.db'}"  # workers run elsewhere
    entry = load(tmp_path, trackers=[{"name": "mlflow", "uri": "mlruns"}])[0].trackers[0]
    assert entry.uri == (tmp_path.resolve() / "mlruns").as_uri()
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    message = refusal(tmp_path, trackers=["mlflow"])
    assert "suite.yaml:" in message and "trackers[0]: mlflow needs a tracking URI" in message


def test_mistakes_name_file_key_and_line(tmp_path):
    message = refusal(tmp_path, trackers=["tensorbord"])
    path = tmp_path / "suite.yaml"
    line = path.read_text().splitlines().index("- tensorbord") + 1
    assert f"{path}:{line}: trackers[0].name: Input should be 'tensorboard' or 'mlflow'" in message
    message = refusal(tmp_path, trackers=[{"name": "tensorboard", "uri": "x"}])
    assert "trackers[0]: tensorboard takes no uri" in message
    message = refusal(tmp_path, trackers=["tensorboard", "tensorboard"])
    assert "trackers[1]: tensorboard is listed twice" in message
    message = refusal(tmp_path, trackers=["tensorboard"], vectorize_seeds=True)
    assert "trackers[0]: tensorboard writes into each run's folder" in message


@pytest.mark.parametrize("name", ["mlflow", "tensorboard"])
def test_a_tracker_whose_package_is_missing_names_the_extra(tmp_path, monkeypatch, name):
    monkeypatch.setitem(sys.modules, name, None)  # how Python marks a package that cannot be imported
    entry = {"name": name, "uri": "http://127.0.0.1:5000"} if name == "mlflow" else name
    message = refusal(tmp_path, trackers=[entry])
    assert f"trackers[0]: the {name} tracker needs the '{name}' package" in message
    assert f"pip install 'genbench[{name}]'" in message


def test_an_mlflow_server_that_does_not_answer_is_unreachable():
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    entries = [TrackerEntry(name="tensorboard"), TrackerEntry(name="mlflow", uri=f"http://127.0.0.1:{port}")]
    with pytest.raises(TrackerUnreachable) as caught:
        check_reachable(entries, "keyed")
    assert str(caught.value).startswith(f"trackers[1]: cannot log to MLflow at http://127.0.0.1:{port}: ")
    assert "Connection refused" in str(caught.value)
    check_reachable([TrackerEntry(name="tensorboard")], "keyed")  # nothing to reach
