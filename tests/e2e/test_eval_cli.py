"""Scoring what was made elsewhere through the real CLI: a folder of PNGs, an npz, a TorchScript
generator and a Python generator with a weights file beside a VAE trained by genbench, in one
suite and one leaderboard (`genbench run`, on Ray); each scored again by `genbench eval` with the
same numbers; 2-D points on ring8; samples against an image folder; bad inputs exit 2.

The MNIST classifier is a stand-in with seeded random weights in this module's own cache (the
feature metrics' code is the same; training the real one takes minutes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from tests.helpers import SHARED, data_root_with, read_csv_ids, run_cli, stand_in_classifier

pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.*:FutureWarning")  # the tests write TorchScript

GENERATOR_PY = """\
from torch import nn


def make():
    return nn.Sequential(nn.Linear(8, 784), nn.Tanh(), nn.Unflatten(1, (1, 28, 28)))
"""

SUITE = """\
name: external
seeds: [0, 1]
budget: {steps: 20}
eval: {samples: 200}
data_dir: data
datasets: [{name: mnist}]
models:
  - {name: vae, hidden: 16, batch_size: 32, label: vae}
  - {name: samples, path: png, label: png}
  - {name: samples, path: samples.npz, label: npz}
  - {name: generator, path: g.pt, z_dim: 8, label: script}
  - {name: generator, path: "gen.py:make", weights: g_weights.pt, z_dim: 8, label: python}
metrics: [fid, precision_recall]
"""


def write_inputs(work: Path, images: np.ndarray) -> None:
    """PNG files and an npz of uint8 images (N, 1, 28, 28); a TorchScript generator, the same
    network as a Python function with a weights file; 3-channel PNGs that fit no grey data set."""
    (work / "png").mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image[0]).save(work / "png" / f"{i:04d}.png")
    np.savez(work / "samples.npz", images.transpose(0, 2, 3, 1))
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 784), nn.Tanh(), nn.Unflatten(1, (1, 28, 28)))
    torch.jit.save(torch.jit.script(net), work / "g.pt")
    torch.save(net.state_dict(), work / "g_weights.pt")
    (work / "gen.py").write_text(GENERATOR_PY)
    (work / "rgb").mkdir()
    for i in range(3):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (28, 28, 3), dtype=np.uint8)).save(
            work / "rgb" / f"{i}.png"
        )


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    if not (SHARED / "mnist").exists():
        pytest.skip(f"MNIST files not found at {SHARED / 'mnist'}")
    from genbench.data import images

    work = tmp_path_factory.mktemp("eval")
    data_root_with(work / "data", "mnist", "MNIST")
    mnist = images.build_torchvision("mnist")(images.MnistParams(data_dir=str(work / "data")))
    write_inputs(work, mnist.train_images[:300].numpy())
    with pytest.MonkeyPatch.context() as patch:  # the CLI's subprocesses read this module's cache
        patch.setenv("GENBENCH_CACHE", str(work / "cache"))
        stand_in_classifier(mnist, work / "cache")
        yield work


@pytest.fixture(scope="module")
def board(work):
    (work / "suite.yaml").write_text(SUITE)
    done = run_cli("run", "suite.yaml", "--results", "results", "--workers", "2", cwd=work, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return read_csv_ids(work / "results" / "external" / "leaderboard.csv").set_index(["label", "seed"])


def test_files_and_generators_share_one_leaderboard_with_a_trained_model(board, work):
    assert sorted(set(board.index.get_level_values("label"))) == ["npz", "png", "python", "script", "vae"]
    assert (board["status"] == "ok").all() and board["protocol"].nunique() == 1  # one comparable group
    assert board.loc["vae", "steps"].tolist() == [20, 20]
    assert (board.drop(index="vae", level="label")["steps"] == 0).all()  # nothing made elsewhere is trained
    for seed in (0, 1):  # the same images, read from PNG files or an npz: the same numbers
        assert board.loc[("png", seed), ["fid", "precision", "recall"]].tolist() == pytest.approx(
            board.loc[("npz", seed), ["fid", "precision", "recall"]].tolist(), rel=1e-9
        )
        assert board.loc[("script", seed), "fid"] == pytest.approx(
            board.loc[("python", seed), "fid"], rel=1e-6
        )
    assert board.loc[("png", 0), "fid"] != board.loc[("png", 1), "fid"]  # a seed picks other samples
    run = work / "results" / "external" / "runs" / board.loc[("png", 0), "run_id"]
    stored = json.loads((run / "result.json").read_text())
    assert stored["protocol"]["input"] | {"content_sha256": None} == {
        "family": "samples",
        "format": "PNG/JPEG folder",
        "count": 300,
        "shape": [1, 28, 28],
        "content_sha256": None,
        "resize": "none",
    }


@pytest.mark.parametrize(
    ("path", "label", "options"),
    [("png", "png", []), ("samples.npz", "npz", []), ("g.pt", "script", ["--z-dim", "8"])],
)
def test_eval_scores_as_the_suite_did(board, work, cli, path, label, options):
    done = cli(
        "eval", path, "--dataset", "mnist", "--seeds", "0,1", "--samples", "200", "--data-dir", "data",
        "--metrics", "fid,precision_recall", "--results", "evals", "--name", label, "--serial", *options,
        cwd=work,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    scored = read_csv_ids(work / "evals" / label / "leaderboard.csv").set_index("seed")
    for seed in (0, 1):
        assert scored.loc[seed, "steps"] == 0
        assert scored.loc[seed, ["fid", "precision", "recall"]].tolist() == pytest.approx(
            board.loc[(label, seed), ["fid", "precision", "recall"]].tolist(), rel=1e-6
        )


def test_bad_inputs_exit_2_with_one_message(work, cli):
    args = ["--dataset", "mnist", "--data-dir", "data", "--results", "bad", "--serial"]
    missing = cli("eval", "nothere", *args, cwd=work)
    assert missing.returncode == 2 and missing.stderr.startswith("error: nothere: no such file or folder")
    colour = cli("eval", "rgb", *args, "--samples", "3", cwd=work)
    assert colour.returncode == 2
    assert "the images are in colour (3 channels) and the data set's are grey (1 channel)" in colour.stderr
    few = cli("eval", "png", *args, "--samples", "500", cwd=work)
    assert few.returncode == 2 and "300 samples, fewer than the 500 scored (eval.samples)" in few.stderr
    for done in (missing, colour, few):
        assert "Traceback" not in done.stdout + done.stderr
    assert not (work / "bad").exists()  # nothing written


def test_points_on_ring8_and_samples_against_an_image_folder(work, cli):
    from genbench.data import toys

    modes = toys.ring_modes(8, 1.0)
    points = modes.repeat(25, 1) + 0.001 * torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    np.save(work / "points.npy", points.numpy())
    done = cli(
        "eval",
        "points.npy",
        "--dataset",
        "ring8",
        "--samples",
        "100",
        "--serial",
        "--results",
        "toys",
        cwd=work,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ring = read_csv_ids(work / "toys" / "eval-ring8" / "leaderboard.csv")
    assert (
        ring["seed"].tolist() == [0, 1, 2] and (ring["modes"] == 8).all() and (ring["hq_frac"] == 1.0).all()
    )
    folder = work / "folder"
    for i in range(40):  # two classes of 20 MNIST images each
        (folder / f"class{i % 2}").mkdir(parents=True, exist_ok=True)
        (folder / f"class{i % 2}" / f"{i}.png").write_bytes((work / "png" / f"{i:04d}.png").read_bytes())
    done = cli(
        "eval", "png", "--dataset", "folder", "--metrics", "parzen", "--samples", "50", "--seeds", "0",
        "--serial", "--results", "folders", cwd=work,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    scored = read_csv_ids(work / "folders" / "eval-folder" / "leaderboard.csv")
    assert scored["status"].tolist() == ["ok"] and np.isfinite(scored["parzen"]).all()
    run = work / "folders" / "eval-folder" / "runs" / scored["run_id"][0]
    resize = json.loads((run / "result.json").read_text())["protocol"]["input"]["resize"]
    assert resize.endswith("(clean-fid), 28 -> 64")  # the folder's default size


FOLDER_SUITE = """\
name: folder-vae
seeds: [0]
budget: {steps: 5}
eval: {samples: 50}
datasets: [{name: image_folder, path: digits, size: 28, test_fraction: 0.25}]
models: [{name: vae, hidden: 16, batch_size: 16}]
metrics: [elbo, parzen]
"""


def test_a_model_trains_and_is_evaluated_on_an_image_folder(work, cli):
    folder = work / "digits"
    for i in range(60):  # three classes of 20 MNIST images each
        (folder / f"class{i % 3}").mkdir(parents=True, exist_ok=True)
        (folder / f"class{i % 3}" / f"{i}.png").write_bytes((work / "png" / f"{i:04d}.png").read_bytes())
    (work / "folder_suite.yaml").write_text(FOLDER_SUITE)
    done = cli("run", "folder_suite.yaml", "--results", "trained", "--serial", cwd=work)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    board = read_csv_ids(work / "trained" / "folder-vae" / "leaderboard.csv")
    assert board["status"].tolist() == ["ok"] and board["steps"].tolist() == [5]
    assert np.isfinite(board[["elbo", "parzen"]]).all(axis=None)
    assert board["elbo"].iloc[0] < 0  # a log-likelihood bound of 784 pixels
    assert list((work / "cache" / "image_folder").glob("*.npy"))  # decoded once, cached for every process
