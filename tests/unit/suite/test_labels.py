"""`label:` on a model entry (genbench.suite.labels): names a variant everywhere, never changes a
run id, unique per suite (file, key and line otherwise)."""

from __future__ import annotations

import json

import pytest

from genbench.store import runs as store
from genbench.suite.config import SuiteError, load_suite

HEAD = """\
name: lab
seeds: [0, 1]
budget: {steps: 10}
eval: {every: 5, samples: 100}
datasets: [{name: ring8}]
metrics: [mode_coverage]
models:
"""
PLAIN = "  - {name: gan, pack: 2}\n  - {name: gan, lr: [1.0e-3, 1.0e-4]}\n  - {name: vae}\n"
LABELLED = (
    "  - {name: gan, pack: 2, label: PacGAN2}\n"
    "  - {name: gan, lr: [1.0e-3, 1.0e-4], label: GAN}\n"
    "  - {name: vae}\n"
)


def specs_of(tmp_path, models: str, name: str = "s.yaml"):
    path = tmp_path / name
    path.write_text(HEAD + models)
    return load_suite(path)[1]


def test_a_label_names_the_variant_and_leaves_run_ids_as_they_were(tmp_path):
    plain = specs_of(tmp_path, PLAIN, "plain.yaml")
    labelled = specs_of(tmp_path, LABELLED, "labelled.yaml")
    assert [s.run_id for s in labelled] == [s.run_id for s in plain]
    assert [s.variant for s in labelled] == [s.variant for s in plain]  # the parameters stay
    names = list(dict.fromkeys(s.label for s in labelled))
    # an entry whose lists give several variants: its label, then the listed values
    assert names == ["PacGAN2", "GAN lr=0.001", "GAN lr=0.0001", "vae"]
    assert list(dict.fromkeys(s.label for s in plain))[0] == "gan pack=2"  # none given: model and variant


def test_the_label_is_stored_in_spec_json_and_the_manifest(tmp_path):
    specs = specs_of(tmp_path, LABELLED)
    suite_path = store.suite_dir(tmp_path / "results", "lab")
    store.write_manifest(suite_path, specs, "s.yaml", {"modes": "max"})
    manifest = json.loads((suite_path / "suite.json").read_text())
    assert manifest["labels"][specs[0].run_id] == "PacGAN2"
    spec = json.loads((suite_path / "runs" / specs[0].run_id / "spec.json").read_text())
    assert spec["label"] == "PacGAN2"
    assert store.read_run(suite_path, specs[0].run_id).spec is not None  # the store still reads it


@pytest.mark.parametrize(
    ("models", "key", "line", "message"),
    [
        (
            "  - {name: gan, label: A}\n  - {name: vae, label: A}\n",
            "models[1].label",
            9,
            "label 'A' is also models[0]'s",
        ),
        ("  - {name: gan, label: ''}\n", "models[0].label", 8, "non-empty string"),
        ("  - {name: gan, label: [a, b]}\n", "models[0].label", 8, "non-empty string"),
        (  # a label that is another variant's default name
            "  - {name: gan, pack: 2}\n  - {name: vae, label: gan pack=2}\n",
            "models[1].label",
            9,
            "names two variants",
        ),
    ],
)
def test_bad_labels_name_file_key_and_line(tmp_path, models, key, line, message):
    path = tmp_path / "bad.yaml"
    path.write_text(HEAD + models)
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert f"{path}:{line}: {key}: " in str(info.value) and message in str(info.value)


def test_a_searched_entry_labels_each_trial(tmp_path):
    models = (
        "  - name: gan\n    label: G\n    search: {trials: 2, space: {lr: {loguniform: [1.0e-4, 1.0e-2]}}}\n"
    )
    specs = specs_of(tmp_path, models)
    names = sorted({s.label for s in specs})
    assert len(names) == 2 and all(n.startswith("G trial=") for n in names)
