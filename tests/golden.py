"""Golden runs: tiny runs of every built-in family, of every option that changes an update rule,
of every data set and metric, whose final numbers and parameter hashes are recorded in
`tests/golden.json`. `tests/unit/test_golden.py` recomputes them and compares them bit for bit.

A change that moves any of these numbers changes what a run id's numbers mean: bump
`genbench.numerics.NUMERICS_VERSION` and re-record in the same commit with

    python -m tests.golden --record
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np
import torch

from tests.helpers import ROOT, SHARED

GOLDEN_FILE = Path(__file__).with_name("golden.json")
ID_SUITES = ("suites/quickstart.yaml", "suites/stability.yaml")  # run ids recorded beside the numbers

TOY = {"name": "ring8", "train_size": 512, "test_size": 256}
GRID = {"name": "grid25", "train_size": 512, "test_size": 256}
TOY_METRICS = ["mode_coverage", "parzen"]
LIKELIHOOD = ["elbo", "nll"]
GAN = {"name": "gan", "z_dim": 8, "hidden": 16, "batch_size": 32}
WGAN = {"name": "wgan", "z_dim": 8, "hidden": 16, "batch_size": 32}
VAE = {"name": "vae", "hidden": 16, "batch_size": 32}
FEATURES = ["fid", "kid", "precision_recall", "density_coverage", "isc", "mnist_modes"]
SMALL_MNIST = {"size": 28}
DCGAN = {"name": "dcgan", "z_dim": 8, "width": 0.125, "batch_size": 16}


def _case(model: dict, dataset: dict = TOY, metrics=TOY_METRICS, steps: int = 12, **extra) -> dict:
    return {"model": model, "dataset": dataset, "metrics": metrics, "steps": steps, **extra}


# name -> one tiny run (or, with `vectorize_seeds`, seeds trained together)
CASES: dict[str, dict] = {
    "gan nonsaturating": _case(GAN),
    "gan minimax": _case(GAN | {"loss": "minimax"}),
    "gan lsgan": _case(GAN | {"loss": "lsgan"}),
    "gan hinge": _case(GAN | {"loss": "hinge"}),
    **{
        f"gan fgan {d}": _case(GAN | {"loss": "fgan", "divergence": d})
        for d in ("kl", "reverse_kl", "js", "pearson", "hellinger")
    },
    **{
        f"gan fgan {d} saddle": _case(GAN | {"loss": "fgan", "divergence": d, "g_update": "saddle"})
        for d in ("kl", "reverse_kl")
    },
    "gan d_steps=2": _case(GAN | {"d_steps": 2}),
    "gan spectral_norm": _case(GAN | {"spectral_norm": True}),
    "gan r1": _case(GAN | {"r1": 1.0}),
    "gan pack=2": _case(GAN | {"pack": 2}),
    "gan unroll=2": _case(GAN | {"unroll": 2}),
    "gan separate optimizers": _case(GAN | {"lr_g": 2e-4, "lr_d": 5e-5, "betas_d": [[0.0, 0.9]]}),
    "gan mlp options": _case(
        GAN
        | {"activation": "tanh", "init": "orthogonal", "g_batchnorm": True, "d_maxout": 2}
        | {"g_bias": False}
    ),
    "gan init he, narrower D": _case(GAN | {"init": "he", "d_hidden": 8, "d_depth": 1}),
    "gan preset pacgan": _case({"name": "gan", "preset": "pacgan", "batch_size": 32}, GRID, steps=4),
    "gan preset unrolled": _case({"name": "gan", "preset": "unrolled", "batch_size": 32}, steps=3),
    "gan grid25": _case(GAN, GRID),
    "gan seeds together": _case(GAN, seeds=[0, 1], vectorize_seeds=True),
    "wgan clip": _case(WGAN),
    "wgan gp": _case(WGAN | {"lipschitz": "gp"}),
    "wgan spectral_norm": _case(WGAN | {"spectral_norm": True, "critic_steps": 2}),
    "wgan preset wgan_gp_toy": _case({"name": "wgan", "preset": "wgan_gp_toy", "batch_size": 32}, steps=4),
    "wgan seeds together": _case(WGAN, seeds=[0, 1], vectorize_seeds=True),
    "vae toy": _case(VAE, metrics=["mode_coverage", *LIKELIHOOD]),
    "vae iwae schedule": _case(VAE | {"lr_schedule": "iwae", "activation": "tanh", "mc_samples": 2}),
    "vae seeds together": _case(VAE, metrics=LIKELIHOOD, seeds=[0, 1], vectorize_seeds=True),
    "veegan": _case({"name": "veegan", "z_dim": 4, "hidden": 16, "batch_size": 32}),
    "vae digits": _case(VAE | {"latent_dim": 4}, {"name": "digits"}, ["elbo", "elbo_bpd", "nll", "parzen"]),
    "vae digits conv bernoulli": _case(
        VAE | {"arch": "conv", "decoder": "bernoulli", "latent_dim": 4},
        {"name": "digits", "size": 28},
        ["elbo"],
        steps=4,
    ),
    "gan mnist features": _case(GAN, {"name": "mnist"}, FEATURES, steps=6),
    "dcgan mnist": _case(DCGAN, {"name": "mnist", "size": 32}, ["fid"], steps=3),
    "vae binarized_mnist": _case(VAE, {"name": "binarized_mnist"}, LIKELIHOOD, steps=6),
    "vae fashion_mnist": _case(
        VAE, {"name": "fashion_mnist"}, ["elbo", "fid"], 6, eval={"feature_extractor": "mnist_classifier"}
    ),
    "gan stacked_mnist": _case(
        GAN, {"name": "stacked_mnist", "train_size": 512, "test_size": 256}, ["stacked_modes"], steps=4
    ),
    "wgan cifar10": _case(WGAN, {"name": "cifar10", "trust_data_files": True}, ["parzen"], steps=4),
}

EVAL = {
    "samples": 200,
    "real_samples": 200,
    "nll_k": 8,
    "nll_k_train": 4,
    "nll_examples": 64,
    "train_samples": 100,
    "train_examples": 64,
    "feature_extractor": "auto",
}


def data_root(root: Path) -> Path:
    """A data root with MNIST and Fashion-MNIST (links to the shared files) and CIFAR-10 files in
    the real pickle format with seeded random pixels."""
    for name, folder in (("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")):
        raw = root / folder / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for f in (SHARED / name).glob("*.gz"):
            if not (raw / f.name).exists():
                (raw / f.name).symlink_to(f)
    cifar = root / "cifar-10-batches-py"
    cifar.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(64, 3072), dtype=np.uint8)
        with open(cifar / name, "wb") as f:
            pickle.dump({"data": data, "labels": [int(v) for v in rng.integers(0, 10, 64)]}, f)
    with open(cifar / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, f)
    return root


def stand_in_classifiers(root: Path) -> None:
    """Put classifiers with seeded random weights where the MNIST and Fashion-MNIST classifiers are
    cached, so the feature metrics run without training one (their weights hash is recorded)."""
    from genbench.data.images import MnistParams, build_torchvision
    from genbench.metrics import classifier

    for i, name in enumerate(("mnist", "fashion_mnist")):
        dataset = build_torchvision(name)(MnistParams(data_dir=str(root)))
        path = classifier.classifier_path(dataset)
        path.parent.mkdir(parents=True, exist_ok=True)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1000 + i)
            net = classifier.MnistNet().eval()
        record = {"test_accuracy": 0.1, "train_seconds": 0.0, "data_hash": "stand-in", "recipe": {}}
        torch.save({"state_dict": net.state_dict(), "record": record}, path)


def _suite(name: str, case: dict, root: Path) -> dict:
    return {
        "name": "golden",
        "seeds": case.get("seeds", [0]),
        "budget": {"steps": case["steps"]},
        "eval": EVAL | {"every": max(1, case["steps"] // 2)} | case.get("eval", {}),
        "data_dir": str(root),
        "vectorize_seeds": case.get("vectorize_seeds", False),
        "datasets": [case["dataset"]],
        "models": [case["model"]],
        "metrics": case["metrics"],
    }


def params_sha256(model: torch.nn.Module) -> str:
    """sha256 of a model's parameters and buffers, by name."""
    h = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _plain(value):
    """JSON-safe, exact: floats as repr strings (NaN and inf included), lists element-wise."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in sorted(value.items())}
    return value


def _numbers(result, model) -> dict:
    return _plain(
        {
            "status": result.status.value,
            "steps": result.steps,
            "metrics": result.metrics,
            "losses": result.last_losses,
            "params": params_sha256(model),
        }
    )


def compute(name: str, root: Path) -> dict:
    """Run golden case `name` in this process (one thread) and return its numbers, per seed."""
    from genbench.suite.config import load_suite
    from genbench.worker.seed_group import SeedGroup
    from genbench.worker.train import Trainer, loop, result

    torch.set_num_threads(1)
    specs = load_suite(_suite(name, CASES[name], root))[1]
    started = time.perf_counter()
    if CASES[name].get("vectorize_seeds"):
        group = SeedGroup(specs)
        status = loop(group, None, None, None)
        group.batch.copy_to_members(group.alive)
        members = group.members
    else:
        members = [Trainer(spec) for spec in specs]
        status = [loop(m, None, None, None) for m in members][0]
    return {
        f"seed {spec.seed}": _numbers(result(m, status, started), m.model)
        for spec, m in zip(specs, members, strict=True)
    }


def record(root: Path) -> dict:
    """Compute every golden case and write tests/golden.json with the numerics version."""
    import genbench
    from genbench.numerics import NUMERICS_VERSION

    cases = {}
    for name in CASES:
        tick = time.perf_counter()
        cases[name] = compute(name, root)
        print(f"{name}: {time.perf_counter() - tick:.1f} s", file=sys.stderr)
    golden = {"numerics_version": NUMERICS_VERSION, "genbench": genbench.__version__, "cases": cases}
    golden["run_ids"] = suite_run_ids()
    GOLDEN_FILE.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    return golden


def suite_run_ids() -> dict[str, list[str]]:
    """The run ids of the shipped suites in ID_SUITES, in order: what re-running them would reuse."""
    from genbench.suite.config import load_suite

    return {name: [spec.run_id for spec in load_suite(ROOT / name)[1]] for name in ID_SUITES}


def moved(name: str, root: Path) -> str | None:
    """None when case `name` gives its recorded numbers; else a message naming what moved."""
    expected = json.loads(GOLDEN_FILE.read_text())["cases"].get(name)
    changes = differences(expected, compute(name, root), name)
    if not changes:
        return None
    return (
        f"golden numbers moved ({len(changes)}):\n  "
        + "\n  ".join(changes)
        + "\nIf the change is intended, bump NUMERICS_VERSION and the minor version of __version__ "
        "in genbench/numerics.py and re-record in the same commit: python -m tests.golden --record"
    )


def differences(expected: dict, got: dict, path: str = "") -> list[str]:
    """Every leaf where `got` differs from `expected`, as 'path: expected -> got'."""
    if isinstance(expected, dict) and isinstance(got, dict):
        keys = sorted(set(expected) | set(got))
        return [d for k in keys for d in differences(expected.get(k), got.get(k), f"{path}/{k}")]
    return [] if expected == got else [f"{path.lstrip('/')}: {expected} -> {got}"]


def _isolated_caches(root: Path) -> None:
    import os

    for key, sub in (("GENBENCH_CACHE", "cache"), ("TORCH_HOME", "torch"), ("MPLCONFIGDIR", "mpl")):
        os.environ[key] = str(root / sub)


def main(argv: list[str] | None = None) -> int:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help="re-record tests/golden.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _isolated_caches(root)
        data_root(root / "data")
        stand_in_classifiers(root / "data")
        if args.record:
            record(root / "data")
            print(f"recorded {len(CASES)} golden cases in {GOLDEN_FILE}")
            return 0
        messages = [m for n in CASES if (m := moved(n, root / "data"))]
        print("\n".join(messages) or "every golden number is unchanged")
        return 1 if messages else 0


if __name__ == "__main__":
    sys.exit(main())
