"""The families made elsewhere, `samples` and `generator`: the same images read from PNG files, an
npz, an npy and a generator's tensor give the same features; a seed picks a subsample without
replacement; channels and sizes are checked or resized once (PIL bicubic); content hashes, not
paths, enter the run id; no training step is taken; `genbench eval`'s suite dict."""

from __future__ import annotations

import argparse
import hashlib
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from genbench.data.load_images import InputError, content_sha256
from genbench.driver.eval_command import suite_dict
from genbench.metrics import EvalContext
from genbench.metrics.mog import mode_coverage
from genbench.models.generator import GeneratorHParams, GeneratorModel
from genbench.models.samples import SamplesHParams, SamplesModel
from genbench.suite.config import SuiteError, load_suite
from genbench.worker.train import train
from tests.helpers import SHARED, data_root_with

pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.*:FutureWarning")  # tests write TorchScript
GREY8 = SimpleNamespace(kind="image", name="grey", shape=(1, 8, 8))


def samples(path: Path, dataset=GREY8, **given) -> SamplesModel:
    return SamplesModel(SamplesHParams(path=str(path), **given), dataset)


def write_pngs(folder: Path, images: np.ndarray) -> Path:
    """uint8 images (N, C, H, W) as 0000.png, 0001.png, ... (grey for C = 1)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        Image.fromarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)).save(
            folder / f"{i:04d}.png"
        )
    return folder


@pytest.fixture(scope="module")
def mnist_test(tmp_path_factory) -> torch.Tensor:
    if not (SHARED / "mnist").exists():
        pytest.skip(f"MNIST files not found at {SHARED / 'mnist'}")
    from genbench.data import images

    root = data_root_with(tmp_path_factory.mktemp("data"), "mnist", "MNIST")
    return images.build_torchvision("mnist")(images.MnistParams(data_dir=str(root))).test_images[:64]


def mnist_features(tmp_path: Path):
    """The MNIST classifier extractor (torch-fidelity) on seeded random weights, as a function."""
    from torch_fidelity.utils import create_feature_extractor

    from genbench.metrics import classifier, extractors

    torch.manual_seed(7)
    path = tmp_path / "classifier.pt"
    torch.save({"state_dict": classifier.MnistNet().eval().state_dict(), "record": {}}, path)
    fe = create_feature_extractor(
        extractors.TF_MNIST,
        ["penultimate", "logits"],
        cuda=False,
        feature_extractor_weights_path=str(path),
        verbose=False,
    )
    return lambda images: extractors.extract(fe, images, "cpu")[0]


class FixedImages(nn.Module):
    """A 'generator' whose output is a fixed tensor of images in [-1, 1], whatever the noise."""

    def __init__(self, images: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("images", images * 2 - 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.images[: z.shape[0]]


def test_png_files_an_npz_an_npy_and_a_generator_give_the_same_features(mnist_test, tmp_path):
    tensor = mnist_test.float() / 255  # the images as a model's samples: floats in [0, 1]
    write_pngs(tmp_path / "png", mnist_test.numpy())
    np.savez(tmp_path / "s.npz", images=mnist_test.permute(0, 2, 3, 1).numpy())  # uint8 NHWC
    np.save(tmp_path / "s.npy", tensor.numpy())  # floats NCHW in [0, 1]
    mnist = SimpleNamespace(kind="image", name="mnist", shape=(1, 28, 28))
    drawn = {}
    for name in ("png", "s.npz", "s.npy"):
        model = samples(tmp_path / name, mnist)
        drawn[name] = EvalContext(model, 64, seed=5).samples  # every one of them, in the seed's order
    order = torch.randperm(64, generator=torch.Generator().manual_seed(5))
    script = torch.jit.script(FixedImages(tensor))
    torch.jit.save(script, tmp_path / "g.pt")
    generator = GeneratorModel(GeneratorHParams(path=str(tmp_path / "g.pt"), z_dim=4), mnist)
    drawn["generator"] = EvalContext(generator, 64, seed=5).samples[order]
    for name, images in drawn.items():
        assert torch.equal((images * 255).round(), tensor[order] * 255), name
    features = mnist_features(tmp_path)
    expected = features(tensor[order])
    assert expected.std() > 0 and expected.shape == (64, 128)
    for name, images in drawn.items():
        assert torch.allclose(features(images), expected, rtol=1e-6, atol=1e-6), name


def test_a_seed_picks_its_subsample_without_replacement(tmp_path):
    levels = np.arange(30, dtype=np.uint8) * 8  # image i: every pixel 8 i
    folder = write_pngs(tmp_path / "png", np.broadcast_to(levels[:, None, None, None], (30, 1, 8, 8)).copy())
    model = samples(folder)
    for seed in (0, 1):
        picked = model.sample(10, torch.Generator().manual_seed(seed))
        index = (picked[:, 0, 0, 0] * 255 / 8).round().long()
        assert (
            index.tolist() == torch.randperm(30, generator=torch.Generator().manual_seed(seed))[:10].tolist()
        )
        assert len(set(index.tolist())) == 10
    assert not torch.equal(
        model.sample(10, torch.Generator().manual_seed(0)), model.sample(10, torch.Generator().manual_seed(1))
    )
    with pytest.raises(InputError, match="30 samples, fewer than the 31 asked for"):
        model.sample(31, torch.Generator())
    hp = SamplesHParams(path=str(folder))
    assert "30 samples, fewer than the 31 scored (eval.samples)" in hp.input_problem(GREY8, 31)
    assert hp.input_problem(GREY8, 30) is None


def test_channels_must_match_and_grey_saved_as_rgb_counts_as_grey(tmp_path):
    rng = np.random.default_rng(0)
    colour = write_pngs(tmp_path / "colour", rng.integers(0, 256, (4, 3, 8, 8), dtype=np.uint8))
    problem = SamplesHParams(path=str(colour)).input_problem(GREY8, 4)
    assert (
        problem == f"{colour}: the images are in colour (3 channels) and the data set's are grey (1 channel)"
    )
    grey = rng.integers(0, 256, (4, 1, 8, 8), dtype=np.uint8)
    as_rgb = write_pngs(tmp_path / "as_rgb", np.repeat(grey, 3, axis=1))  # as torchvision's save_image
    drawn = samples(as_rgb).sample(4, torch.Generator().manual_seed(0))
    order = torch.randperm(4, generator=torch.Generator().manual_seed(0))
    assert drawn.shape == (4, 1, 8, 8) and torch.equal(
        (drawn * 255).round(), torch.from_numpy(grey)[order].float()
    )
    rgb8 = SimpleNamespace(kind="image", name="rgb", shape=(3, 8, 8))
    grey_files = write_pngs(tmp_path / "grey", grey)
    assert "grey (1 channel) and the data set's are in colour (3 channels)" in SamplesHParams(
        path=str(grey_files)
    ).input_problem(rgb8, 4)


def test_other_sides_are_resized_once_with_pil_bicubic_anti_aliased(tmp_path):
    checker = (np.indices((16, 16)).sum(0) % 2 * 255).astype(np.uint8)  # period 2: all detail above 8 px
    folder = write_pngs(tmp_path / "png", np.stack([checker[None]] * 3))
    model = samples(folder)
    drawn = model.sample(3, torch.Generator().manual_seed(0))
    assert drawn.shape == (3, 1, 8, 8)
    channel = Image.fromarray(checker.astype(np.float32) / np.float32(255))  # mode F, as clean-fid
    reference = np.asarray(channel.resize((8, 8), Image.Resampling.BICUBIC))
    assert np.allclose(drawn[0, 0].numpy(), np.clip(reference, 0, 1), atol=1e-6)
    assert abs(float(drawn.mean()) - 0.5) < 0.02 and float(drawn.std()) < 0.1  # anti-aliased: grey, not 0/1
    assert model.input_protocol["input"]["resize"].endswith("(clean-fid), 16 -> 8")
    assert (
        samples(write_pngs(tmp_path / "same", np.zeros((2, 1, 8, 8), np.uint8))).input_protocol["input"][
            "resize"
        ]
        == "none"
    )
    wide = write_pngs(tmp_path / "wide", np.zeros((2, 1, 8, 12), np.uint8))
    assert "the images are 8 x 12, not square" in SamplesHParams(path=str(wide)).input_problem(GREY8, 2)


def test_arrays_uint8_nhw_and_floats_outside_the_unit_range(tmp_path):
    grey = np.arange(5 * 64, dtype=np.uint8).reshape(5, 8, 8)
    np.save(tmp_path / "nhw.npy", grey)
    drawn = samples(tmp_path / "nhw.npy").sample(5, torch.Generator().manual_seed(0))
    assert torch.equal(
        drawn.sum((1, 2, 3)).sort().values, torch.from_numpy(grey / 255).float().sum((1, 2)).sort().values
    )
    np.save(tmp_path / "tanh.npy", np.full((3, 1, 8, 8), -0.5, np.float32))
    with pytest.raises(InputError, match=r"float images must be in \[0, 1\]; these are in \[-0.5, -0.5\]"):
        samples(tmp_path / "tanh.npy").sample(2, torch.Generator())
    np.savez(tmp_path / "two.npz", a=grey, b=grey)
    assert "holds the arrays a, b; name one with key:" in SamplesHParams(
        path=str(tmp_path / "two.npz")
    ).input_problem(GREY8, 1)
    assert samples(tmp_path / "two.npz", key="b").sample(5, torch.Generator()).shape == (5, 1, 8, 8)


def test_points_from_npy_and_csv_score_mode_coverage(tmp_path):
    from genbench.data import toys

    modes = toys.ring_modes(8, 1.0)
    points = (
        modes.repeat(25, 1) + 0.001 * torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    ).numpy()
    np.save(tmp_path / "p.npy", points)
    np.savetxt(tmp_path / "p.csv", points, delimiter=",", header="x,y", comments="")
    ring = SimpleNamespace(kind="toy2d", name="ring", dim=2)
    for name in ("p.npy", "p.csv"):
        drawn = samples(tmp_path / name, ring).sample(200, torch.Generator().manual_seed(0))
        scores = mode_coverage(drawn, modes, 0.01)
        assert scores["modes"] == 8 and scores["hq_frac"] == 1.0 and scores["mode_counts"] == [25] * 8
    np.save(tmp_path / "one.npy", np.tile(modes[:1].numpy(), (50, 1)))
    assert (
        mode_coverage(samples(tmp_path / "one.npy", ring).sample(50, torch.Generator()), modes, 0.01)["modes"]
        == 1
    )
    assert "takes 2-D points" in SamplesHParams(path=str(tmp_path)).input_problem(ring, 1)


def suite(path: str, **extra) -> dict:
    return {
        "name": "ext",
        "seeds": [0],
        "budget": {"steps": 50},
        "eval": {"samples": 20},
        "datasets": [{"name": "ring8", "train_size": 500, "test_size": 100}],
        "models": [{"name": "samples", "path": path, **extra}],
        "metrics": ["mode_coverage"],
    }


def test_the_content_hash_enters_the_run_id_and_the_path_does_not(tmp_path):
    points = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)
    (tmp_path / "a").mkdir()
    np.save(tmp_path / "a" / "p.npy", points)
    spec = load_suite(suite("a/p.npy"), base=tmp_path)[1][0]
    assert (
        spec.hparams["content_sha256"] == hashlib.sha256((tmp_path / "a" / "p.npy").read_bytes()).hexdigest()
    )
    assert spec.hparams["path"] == str(tmp_path / "a" / "p.npy")  # taken from the suite's folder
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    assert load_suite(suite("b/p.npy"), base=tmp_path)[1][0].run_id == spec.run_id  # moved: the same run
    np.save(tmp_path / "b" / "p.npy", points + 1)
    assert load_suite(suite("b/p.npy"), base=tmp_path)[1][0].run_id != spec.run_id  # changed: a new run
    with pytest.raises(SuiteError, match=r"models\[0\]\.content_sha256: path has sha256 .*the files changed"):
        load_suite(suite("b/p.npy", content_sha256=spec.hparams["content_sha256"]), base=tmp_path)
    with pytest.raises(SuiteError, match=r"models\[0\]\.path: give path"):
        load_suite(suite("a/p.npy") | {"models": [{"name": "samples"}]}, base=tmp_path)
    with pytest.raises(SuiteError, match=r"models\[0\]\.path: .*missing.npy does not exist"):
        load_suite(suite("missing.npy"), base=tmp_path)


def test_a_folders_hash_is_that_of_its_sha256sum_lines(tmp_path):
    folder = write_pngs(
        tmp_path / "png", np.zeros((3, 1, 8, 8), np.uint8) + np.arange(3, dtype=np.uint8)[:, None, None, None]
    )
    lines = "".join(
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n" for p in sorted(folder.iterdir())
    )
    assert content_sha256(folder) == hashlib.sha256(lines.encode()).hexdigest()
    (folder / ".hidden.png").write_bytes(b"not an image")
    (folder / "notes.txt").write_text("not an image")
    assert content_sha256(folder) == hashlib.sha256(lines.encode()).hexdigest()


def test_no_training_step_is_taken_and_the_protocol_records_the_input(tmp_path):
    modes = np.tile(np.array([[1.0, 0.0]], np.float32), (30, 1))
    np.save(tmp_path / "p.npy", modes)
    spec = load_suite(suite("p.npy") | {"eval": {"samples": 20, "every": 10}}, base=tmp_path)[1][0]
    result = train(spec)
    assert result.status == "ok" and result.steps == 0 and [row["step"] for row in result.trajectory] == [0]
    assert result.metrics["modes"] == 1 and result.metrics["hq_frac"] == 1.0
    assert result.protocol["input"]["family"] == "samples" and result.protocol["input"]["count"] == 30


def write_generator_py(tmp_path: Path) -> Path:
    (tmp_path / "gen.py").write_text(
        "from torch import nn\n\n\ndef make():\n"
        "    return nn.Sequential(nn.Linear(3, 64), nn.Sigmoid(), nn.Unflatten(1, (1, 8, 8)))\n"
    )
    return tmp_path / "gen.py"


def test_a_python_function_with_weights_samples_as_its_torchscript(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 64), nn.Sigmoid(), nn.Unflatten(1, (1, 8, 8)))
    torch.save(net.state_dict(), tmp_path / "w.pt")
    torch.jit.save(torch.jit.script(net), tmp_path / "g.pt")
    write_generator_py(tmp_path)
    given = {"z_dim": 3, "output_range": "0..1"}
    script = GeneratorModel(GeneratorHParams(path=str(tmp_path / "g.pt"), **given), GREY8)
    python = GeneratorHParams(
        path=f"{tmp_path / 'gen.py'}:make", weights=str(tmp_path / "w.pt"), sample_batch=7, **given
    )
    assert (
        python.function == "make"
        and python.weights_sha256 == hashlib.sha256((tmp_path / "w.pt").read_bytes()).hexdigest()
    )
    a = EvalContext(script, 50, seed=3).samples
    b = EvalContext(GeneratorModel(python, GREY8), 50, seed=3).samples
    z = torch.randn(50, 3, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(a, net(z), atol=1e-6) and torch.allclose(a, b, atol=1e-6)  # batches of 7 or 500
    tanh = GeneratorModel(GeneratorHParams(path=str(tmp_path / "g.pt"), z_dim=3), GREY8)
    assert torch.allclose(EvalContext(tanh, 50, seed=3).samples, (net(z) + 1) / 2, atol=1e-6)  # -1..1 mapped
    rgb8 = SimpleNamespace(kind="image", name="rgb", shape=(3, 8, 8))
    problem = GeneratorHParams(path=str(tmp_path / "g.pt"), z_dim=3).input_problem(rgb8, 10)
    assert problem == f"{tmp_path / 'g.pt'}: its samples are (1, 8, 8), not the data set's (3, 8, 8)"
    assert "not a TorchScript file" in GeneratorHParams(path=str(tmp_path / "w.pt")).input_problem(GREY8, 1)


def eval_args(path: str, dataset: str = "ring8", **options) -> argparse.Namespace:
    defaults = {"metrics": None, "seeds": "0,1,2", "samples": None, "label": None, "name": None}
    defaults |= {"data_dir": None, "z_dim": None, "weights": None, "output_range": None}
    return argparse.Namespace(path=path, dataset=dataset, **(defaults | options))


def test_eval_builds_a_samples_or_generator_suite_by_the_path_type(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "p.npy", np.zeros((5, 2), np.float32))
    write_generator_py(tmp_path)
    built = suite_dict(eval_args("p.npy", samples=5, label="mine"))
    assert built["models"] == [{"name": "samples", "path": "p.npy", "label": "mine"}]
    assert (
        built["metrics"] == ["mode_coverage"]
        and built["seeds"] == [0, 1, 2]
        and built["name"] == "eval-ring8"
    )
    generator = suite_dict(eval_args("gen.py:make", "mnist", z_dim=3, output_range="0..1"))["models"][0]
    assert generator == {"name": "generator", "path": "gen.py:make", "z_dim": 3, "output_range": "0..1"}
    assert suite_dict(eval_args("p.npy", "mnist"))["metrics"] == ["fid", "precision_recall"]
    assert suite_dict(eval_args("p.npy", str(tmp_path)))["datasets"] == [
        {"name": "image_folder", "path": str(tmp_path)}
    ]
    for args, message in [
        (eval_args("nothere"), "nothere: no such file or folder"),
        (eval_args("gen.py"), "gen.py: a Python file is given with its function"),
        (eval_args("p.npy", z_dim=3), "--z-dim: for a generator"),
        (eval_args("p.npy", "ring9"), "--dataset ring9: neither a data set"),
        (eval_args("p.npy", seeds="0,a"), "--seeds 0,a: give comma-separated integers"),
    ]:
        with pytest.raises(SuiteError, match=message):
            suite_dict(args)
    assert load_suite(suite_dict(eval_args("p.npy", samples=5)), base=tmp_path)[1][0].model == "samples"
