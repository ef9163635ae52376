"""A metric listed more than once (FID in two feature spaces): each entry's key and parameters,
its columns, the entries refused (identical parameters, one column written twice, one space
computed twice), and the run ids of suites that list each metric once, unchanged."""

from __future__ import annotations

import hashlib
import textwrap

import pytest

from genbench.metrics import EvalContext, metric_entries, metric_name
from genbench.registry import METRICS
from genbench.suite.config import load_suite
from genbench.suite.metric_entries import entry_keys
from genbench.suite.reader import SuiteError

WEIGHTS = b"weights"  # a stand-in weights file: validation checks its sha256, not the network
SHA = hashlib.sha256(WEIGHTS).hexdigest()


def _write(tmp_path, metrics: str, dataset: str = "{name: mnist}") -> str:
    """A suite file on `dataset` whose `metrics:` block is `metrics` (its first entry on line 7)."""
    (tmp_path / "w.pth").write_bytes(WEIGHTS)
    text = textwrap.dedent(
        f"""\
        name: spaces
        seeds: [0, 1]
        budget: {{steps: 2}}
        datasets: [{dataset}]
        models: [{{name: vae, decoder: bernoulli}}]
        metrics:
        """
    )
    path = tmp_path / "suite.yaml"
    path.write_text(text + textwrap.dedent(metrics))
    return str(path)


TWO_SPACES = f"""\
  - elbo
  - {{name: fid, features: mnist_classifier}}
  - {{name: fid, features: inception, weights: w.pth, sha256: "{SHA}"}}
"""


def test_fid_in_two_spaces_gets_two_keys_with_their_own_parameters_and_columns(tmp_path):
    suite, specs, _ = load_suite(_write(tmp_path, TWO_SPACES))
    assert list(suite.metric_params) == ["elbo", "fid[mnist_classifier]", "fid[inception]"]
    spec = specs[0]
    assert spec.metrics == ["elbo", "fid"]  # the registered metrics, each once
    assert metric_entries(spec) == [
        ("elbo", "elbo"),
        ("fid[mnist_classifier]", "fid"),
        ("fid[inception]", "fid"),
    ]
    inception = spec.metric_params["fid[inception]"]
    assert (inception["features"], inception["sha256"]) == ("inception", SHA)
    assert inception["weights"] == str(tmp_path / "w.pth")  # taken from the suite file's folder
    assert spec.metric_params["fid[mnist_classifier]"]["weights"] is None
    columns = [METRICS.get(metric_name(k)).outputs_for(p) for k, p in suite.metric_params.items()]
    assert columns == [{"elbo": "max"}, {"fd_mnist_classifier": "min"}, {"fd_inception": "min"}]
    alone = spec.for_entry("fid[inception]")  # what a metric's check(spec) sees
    assert alone.metrics == ["fid"] and alone.metric_params == {"fid": inception}
    assert len({s.run_id for s in specs}) == 2  # one run per seed; the entries are in each run's id


def test_entry_keys_become_names_mlflow_takes(tmp_path):
    from mlflow.utils.validation import validate_param_and_metric_name

    from genbench.worker.mlflow_tracker import spec_params

    _, specs, _ = load_suite(_write(tmp_path, TWO_SPACES))
    params = spec_params(specs[0])
    assert params["metric_params.fid-inception.features"] == "inception"
    assert params["metric_params.fid-mnist_classifier.features"] == "mnist_classifier"
    assert all(validate_param_and_metric_name(name) for name in params)


def test_the_same_entry_twice_is_refused_with_its_line(tmp_path):
    again = TWO_SPACES + '  - {name: fid, features: inception, weights: ./w.pth, sha256: "' + SHA + '"}\n'
    with pytest.raises(SuiteError) as exc:
        load_suite(_write(tmp_path, again))  # another spelling of the file: the same hash, the same entry
    assert f"suite.yaml:{7 + 3}: metrics[3]: metric 'fid' is listed twice with the same parameters" in str(
        exc.value
    )
    assert "(as metrics[2])" in str(exc.value)
    with pytest.raises(SuiteError, match=r"suite.yaml:8: metrics\[1\]: metric 'elbo' is listed twice"):
        load_suite(_write(tmp_path, "  - elbo\n  - elbo\n"))


def test_two_entries_writing_one_column_are_refused(tmp_path):
    one_space = f"""\
      - {{name: fid, features: inception, weights: w.pth, sha256: "{SHA}"}}
      - {{name: fid, features: inception, weights: w.pth, sha256: "{SHA}", bootstrap: 100}}
    """
    with pytest.raises(SuiteError) as exc:
        load_suite(_write(tmp_path, one_space))
    text = str(exc.value)
    assert (
        "suite.yaml:8: metrics[1]: metric entry 'fid[bootstrap=100]' writes the column 'fd_inception'" in text
    )
    assert "as 'fid[bootstrap=0]' (metrics[0])" in text


def test_auto_and_the_space_it_resolves_to_are_refused_on_that_data_set_only(tmp_path):
    both = "  - fid\n  - {name: fid, features: mnist_classifier}\n"
    with pytest.raises(SuiteError) as exc:
        load_suite(_write(tmp_path, both))  # auto is the MNIST classifier's space on MNIST
    assert (
        "suite.yaml:8: metrics[1]: metric entries 'fid[auto]' and 'fid[mnist_classifier]' both compute "
        "in the space mnist_classifier on mnist"
    ) in str(exc.value)
    inception = f'  - fid\n  - {{name: fid, features: inception, weights: w.pth, sha256: "{SHA}"}}\n'
    suite, _, _ = load_suite(_write(tmp_path, inception, "{name: mnist}"))  # auto: the classifier here
    assert list(suite.metric_params) == ["fid[auto]", "fid[inception]"]


def test_keys_fall_back_to_the_parameters_that_differ_then_to_places():
    assert entry_keys([("fid", {"features": "auto"}), ("kid", {"features": "auto"})]) == ["fid", "kid"]
    spread = [("spread", {"power": 1.0, "k": 3}), ("mode_coverage", {}), ("spread", {"power": 2.0, "k": 3})]
    assert entry_keys(spread) == ["spread[power=1.0]", "mode_coverage", "spread[power=2.0]"]
    paths = [("m", {"weights": "/a/" + "x" * 20 + "1.pth"}), ("m", {"weights": "/b/" + "x" * 20 + "2.pth"})]
    assert entry_keys(paths) == ["m[1]", "m[2]"]  # shown alike once shortened: numbered


def test_suites_that_list_each_metric_once_keep_their_run_ids(tmp_path):
    """Run ids computed before a metric could be listed twice (the same suite, the same code)."""
    (tmp_path / "w.pth").write_bytes(WEIGHTS)
    space = {"features": "dinov2_vits14", "weights": "w.pth", "sha256": SHA}
    suite = {
        "name": "once",
        "seeds": [0, 1],
        "budget": {"steps": 2},
        "datasets": [{"name": "digits"}],
        "models": [{"name": "vae", "decoder": "bernoulli"}, {"name": "gan"}],
        "metrics": ["elbo", {"name": "fid", **space}, {"name": "kid", **space}, "parzen"],
    }
    _, specs, _ = load_suite(suite, base=tmp_path)
    assert [(s.model, s.seed, s.run_id) for s in specs] == [
        ("vae", 0, "0cfcd985c8e8"),
        ("vae", 1, "aca2c418a657"),
        ("gan", 0, "b302e6ce4eb8"),
        ("gan", 1, "44255d6e41d7"),
    ]
    assert list(specs[0].metric_params) == specs[0].metrics == ["elbo", "fid", "kid", "parzen"]


def test_a_protocol_is_kept_under_its_entry_key():
    ctx = EvalContext(None, 1, 0)
    ctx.key = "fid[inception]"
    ctx.record("fid", lambda final: {"extractor": "inception"})
    ctx.record("elbo", lambda final: {"k": 1})  # another metric's record keeps its own name
    ctx.key = "kid"
    ctx.record("kid", lambda final: {"extractor": "auto"})
    assert ctx.protocols == {
        "fid[inception]": {"extractor": "inception"},
        "elbo": {"k": 1},
        "kid": {"extractor": "auto"},
    }
