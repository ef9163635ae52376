"""`genbench eval PATH --dataset NAME`: the one-line form of a suite that scores samples or a
generator made elsewhere. It builds the suite dict (a `samples` entry for a folder of images or an
`.npz`/`.npy`/`.csv` file, a `generator` entry for a TorchScript file or `file.py:function`) and
runs it through `genbench run`'s code: the same validation, store, leaderboard, report and exit
codes. Relative paths are taken from the working directory."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from rich.console import Console

from genbench.suite.reader import SuiteError

SAMPLE_SUFFIXES = (".npz", ".npy", ".csv")
PATH_KINDS = (
    "a folder of PNG/JPEG images, an .npz/.npy/.csv file of samples, a TorchScript file "
    "(torch.jit.save) or file.py:function"
)
DEFAULT_METRICS = {"image": ["fid", "precision_recall"], "toy2d": ["mode_coverage"]}
GENERATOR_OPTIONS = {"z_dim": "--z-dim", "weights": "--weights", "output_range": "--output-range"}
IN_SPACE = re.compile(r"^([a-z][a-z0-9_]*)\[([a-z0-9_]+)\]$")  # `fid[inception]`: fid in that space


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `genbench eval`."""
    parser.add_argument("path", help=f"what to score: {PATH_KINDS}")
    parser.add_argument(
        "--dataset", required=True, help="a data set name (e.g. mnist, ring8), or a folder of images"
    )
    parser.add_argument(
        "--metrics",
        default=None,
        help="comma-separated; NAME[SPACE] for a feature metric in a space, e.g. "
        "fid[mnist_classifier],fid[inception] (default: fid,precision_recall; 2-D toys: mode_coverage)",
    )
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated; a seed picks the samples scored")
    parser.add_argument("--samples", type=int, default=None, help="samples scored per seed (eval.samples)")
    parser.add_argument("--label", default=None, help="the name in the leaderboard (default: model and path)")
    parser.add_argument(
        "--name", default=None, help="the suite's name, its results folder (default: eval-DATASET)"
    )
    parser.add_argument("--results", default="results", help="results root (default: results)")
    parser.add_argument("--data-dir", default=None, help="data root (default: $GENBENCH_DATA or ~/.cache)")
    parser.add_argument("--z-dim", type=int, default=None, help="a generator's noise size (default 64)")
    parser.add_argument("--weights", default=None, help="a state-dict file for a generator (optional)")
    parser.add_argument(
        "--output-range",
        choices=["-1..1", "0..1"],
        default=None,
        help="a generator's pixel range: -1..1 (default) or 0..1",
    )
    parser.add_argument("--address", default=None, help="Ray cluster to join (default: a new local instance)")
    parser.add_argument("--serial", action="store_true", help="in this process, without Ray")
    parser.add_argument("--workers", type=int, default=None, help="at most this many runs at once")
    parser.add_argument("--fresh", action="store_true", help="move earlier results of the suite aside first")
    parser.add_argument("--verbose", action="store_true", help="also print what the runs print")


def model_entry(args: argparse.Namespace) -> dict[str, Any]:
    """The model entry of `args.path`: `samples` or `generator` by the path's type; SuiteError
    (exit 2) when the path is missing or of no known type, or an option does not apply to it."""
    text = args.path
    file, function = (text.rsplit(":", 1)[0], text.rsplit(":", 1)[1]) if ".py:" in text else (text, "")
    path = Path(file).expanduser()
    if not path.exists():
        raise SuiteError(f"{file}: no such file or folder (genbench eval PATH: {PATH_KINDS})")
    suffix = path.suffix.lower()
    if suffix == ".py" and not function:
        raise SuiteError(f"{file}: a Python file is given with its function, {file}:function")
    samples = path.is_dir() or suffix in SAMPLE_SUFFIXES
    if samples and function:
        raise SuiteError(f"{text}: only a .py file has a function")
    entry: dict[str, Any] = {"name": "samples" if samples else "generator", "path": text}
    given = {key: getattr(args, key) for key in GENERATOR_OPTIONS if getattr(args, key) is not None}
    if samples and given:
        options = ", ".join(GENERATOR_OPTIONS[key] for key in given)
        raise SuiteError(f"{options}: for a generator (a TorchScript file or file.py:function), not samples")
    if args.label:
        entry["label"] = args.label
    return entry | given


def dataset_entry(name: str) -> tuple[dict[str, Any], str]:
    """The data set entry of `--dataset` (a folder: `image_folder` on it) and its kind."""
    from genbench.builtins import load_builtins  # torch: on first use, the CLI starts fast
    from genbench.registry import DATASETS

    load_builtins()
    if name in DATASETS:
        return {"name": name}, DATASETS.get(name).kind
    if Path(name).expanduser().is_dir():
        return {"name": "image_folder", "path": name}, "image"
    known = ", ".join(DATASETS)
    raise SuiteError(f"--dataset {name}: neither a data set ({known}) nor a folder of images")


def _numbers(text: str, option: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SuiteError(f"{option} {text}: give comma-separated integers, e.g. 0,1,2") from None


def metric_entry(text: str) -> str | dict[str, str]:
    """A `--metrics` item as a suite's metric entry: a name, or `name[space]` (`fid[inception]`)
    as `{name: fid, features: inception}`, so that one metric can be given in several spaces."""
    found = IN_SPACE.match(text)
    return {"name": found[1], "features": found[2]} if found else text


def suite_dict(args: argparse.Namespace) -> dict[str, Any]:
    """The suite `genbench eval` runs: one model entry, one data set, its metrics and seeds; the
    budget is one step, which samples and generators made elsewhere do not take."""
    model = model_entry(args)
    dataset, kind = dataset_entry(args.dataset)
    metrics = [m for m in (args.metrics or "").split(",") if m.strip()] or DEFAULT_METRICS[kind]
    name = args.name or "eval-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(args.dataset).name or "dataset")
    suite: dict[str, Any] = {
        "name": name,
        "seeds": _numbers(args.seeds, "--seeds"),
        "budget": {"steps": 1},
        "datasets": [dataset],
        "models": [model],
        "metrics": [metric_entry(m.strip()) for m in metrics],
    }
    if args.samples is not None:
        suite["eval"] = {"samples": args.samples}
    if args.data_dir:
        suite["data_dir"] = args.data_dir
    return suite


def run_eval(args: argparse.Namespace, console: Console) -> int:
    """`genbench eval`: build the suite dict and run it as `genbench run` runs a suite file."""
    from genbench.driver.suite_run import run_suite  # on first use: the CLI starts fast

    suite = suite_dict(args)
    return run_suite(
        suite,
        Path(args.results),
        console,
        args.address,
        args.serial,
        args.fresh,
        args.workers,
        base=Path.cwd(),
        verbose=args.verbose,
    )
