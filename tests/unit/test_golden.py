"""The golden runs give their recorded numbers bit for bit (CPU, one thread), and the numerics
version ties stored numbers to the code that made them (run ids, protocol ids, the version)."""

from __future__ import annotations

import json

import pytest

import genbench
from genbench.models import losses
from genbench.numerics import NUMERICS_VERSION, code_label
from genbench.store.protocol import protocol_id
from tests import golden

RECORDED = json.loads(golden.GOLDEN_FILE.read_text())
NEEDS_FILES = {"mnist", "binarized_mnist", "fashion_mnist", "stacked_mnist"}


@pytest.fixture(scope="module")
def golden_root(tmp_path_factory):
    """A data root with the shared MNIST files and stand-in classifiers in a cache of its own."""
    root = tmp_path_factory.mktemp("golden")
    patch = pytest.MonkeyPatch()
    patch.setenv("GENBENCH_CACHE", str(root / "cache"))
    data = golden.data_root(root / "data")
    if (golden.SHARED / "mnist").exists():
        golden.stand_in_classifiers(data)
    yield data
    patch.undo()


def test_golden_file_is_of_this_numerics_version():
    assert RECORDED["numerics_version"] == NUMERICS_VERSION, (
        "NUMERICS_VERSION changed: re-record the golden runs (python -m tests.golden --record)"
    )
    assert set(RECORDED["cases"]) == set(golden.CASES), "cases added or removed: re-record"


def test_run_ids_of_shipped_suites_unchanged():
    """Moving code changes no run id: a re-run of a shipped suite reuses what it stored before."""
    assert golden.suite_run_ids() == RECORDED["run_ids"], (
        "run ids of shipped suites changed: if a change alters what a run id's numbers mean, bump "
        "NUMERICS_VERSION (or SPEC_VERSION) and re-record: python -m tests.golden --record"
    )


def test_version_moves_with_the_numerics_version():
    assert genbench.__version__.startswith(f"0.{NUMERICS_VERSION + 1}."), (
        f"NUMERICS_VERSION is {NUMERICS_VERSION}: the package version must be 0.{NUMERICS_VERSION + 1}.x"
    )


@pytest.mark.parametrize("name", list(golden.CASES))
def test_golden_numbers_unchanged(name, golden_root):
    if golden.CASES[name]["dataset"]["name"] in NEEDS_FILES and not (golden.SHARED / "mnist").exists():
        pytest.skip(f"MNIST files not found at {golden.SHARED}")
    message = golden.moved(name, golden_root)
    assert message is None, message


def test_a_changed_loss_names_the_moved_numbers_and_the_constant(golden_root, monkeypatch):
    original = losses.GENERATOR_LOSSES["nonsaturating"]
    monkeypatch.setitem(losses.GENERATOR_LOSSES, "nonsaturating", lambda fake: 1.01 * original(fake))
    message = golden.moved("gan nonsaturating", golden_root)
    assert message is not None
    assert "gan nonsaturating/seed 0/params" in message and "losses/loss_g" in message
    assert "NUMERICS_VERSION" in message and "python -m tests.golden --record" in message


def test_numerics_version_enters_run_and_protocol_ids(monkeypatch):
    from genbench.suite import config
    from genbench.suite.config import load_suite

    suite = golden._suite("gan nonsaturating", golden.CASES["gan nonsaturating"], golden.SHARED)
    (spec,) = load_suite(suite)[1]
    assert spec.id_payload()["numerics_version"] == NUMERICS_VERSION
    before = spec.run_id
    monkeypatch.setattr(config, "NUMERICS_VERSION", NUMERICS_VERSION + 1)
    assert spec.run_id != before
    protocol = {"dataset": "ring8", "genbench": genbench.__version__, "numerics": NUMERICS_VERSION}
    assert protocol_id(protocol) != protocol_id(protocol | {"numerics": NUMERICS_VERSION + 1})
    assert protocol_id(protocol) == protocol_id(protocol | {"commit": "0123abcd"})  # the code column's
    # a release that moves no number keeps its protocol ids (the golden runs hold it to that)
    assert protocol_id(protocol) == protocol_id(protocol | {"genbench": "9.9.9"})


def test_code_label_names_version_numerics_and_commit():
    label = code_label({"genbench": "0.2.0", "numerics": 1, "commit": "0123abcd4567+dirty"})
    assert label == "genbench 0.2.0, numerics 1, commit 0123abcd4567+dirty"
    assert code_label({"genbench": "0.1.0"}) == "genbench 0.1.0, numerics none"
