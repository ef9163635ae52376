"""Command-line interface: argument parsing only; the work is done by the functions it calls."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from genbench.driver.lock import SuiteLocked
from genbench.driver.preflight import PreflightError
from genbench.driver.stopping import StorageFull
from genbench.suite.config import EXIT_INTERRUPTED, SuiteError

EXIT_FAILURE = 1  # the store could not be written (full disk, read-only, quota)
EXIT_BAD_INPUT = 2


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


def _cmd_run(args: argparse.Namespace, console: Console) -> int:
    from genbench.driver.suite_run import run_suite  # on first use: the CLI starts fast

    return run_suite(
        Path(args.suite), Path(args.results), console, args.address, args.serial, args.fresh, args.workers
    )


def _cmd_validate(args: argparse.Namespace, console: Console) -> int:
    from genbench.suite.config import load_suite  # on first use: the CLI starts fast

    suite, specs, notes = load_suite(args.suite)
    for note in notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    console.print(f"{args.suite}: valid; suite {suite.name!r} expands to {len(specs)} runs", highlight=False)
    return 0


def _cmd_list(args: argparse.Namespace, console: Console) -> int:
    from genbench.suite.describe import describe_registries  # on first use: the CLI starts fast
    from genbench.suite.plugins import (  # on first use: the CLI starts fast
        entry_point_plugins,
        load_for_suite_file,
    )

    if args.suite:  # the suite's plugins (and the installed ones) join the listing
        load_for_suite_file(Path(args.suite))
    else:
        entry_point_plugins()
    console.print(describe_registries(), highlight=False, markup=False, soft_wrap=True)
    return 0


def _cmd_leaderboard(args: argparse.Namespace, console: Console) -> int:
    from genbench.analysis.leaderboard import write_leaderboard  # on first use: the CLI starts fast

    suite_path = Path(args.results_dir)
    if not (suite_path / "suite.json").exists():
        Console(stderr=True).print(
            f"error: {suite_path}: no suite results here (no suite.json)", highlight=False
        )
        return EXIT_BAD_INPUT
    if args.all:  # printed only: the files stay those of the current suite file
        from genbench.store.runs import all_runs_view

        with all_runs_view(suite_path) as view:
            _, _, text = write_leaderboard(view)
    else:
        _, _, text = write_leaderboard(suite_path)
    console.print(text, highlight=False, markup=False, soft_wrap=True)
    return 0


def _cmd_report(args: argparse.Namespace, console: Console) -> int:
    from genbench.analysis.report import write_report  # on first use: the CLI starts fast

    suite_path = Path(args.results_dir)
    if not (suite_path / "suite.json").exists():
        Console(stderr=True).print(
            f"error: {suite_path}: no suite results here (no suite.json)", highlight=False
        )
        return EXIT_BAD_INPUT
    paths = write_report(suite_path, target=args.target)
    console.print("wrote " + ", ".join(str(p) for p in paths.values()), highlight=False, soft_wrap=True)
    return 0


def _cmd_prepare(args: argparse.Namespace, console: Console) -> int:
    from genbench.data.images import (  # on first use: the CLI starts fast
        DataMissing,
        MnistParams,
        build_torchvision,
    )
    from genbench.metrics import classifier  # on first use: the CLI starts fast

    try:
        dataset = build_torchvision(args.dataset)(MnistParams(data_dir=args.data_dir))
    except DataMissing as exc:
        Console(stderr=True).print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
        return EXIT_BAD_INPUT
    _, record, path = classifier.load_or_train(dataset)
    console.print(
        f"{args.dataset} classifier: test accuracy {record['test_accuracy']:.4f}, trained in "
        f"{record['train_seconds']:.0f} s, weights sha256 {record['weights_hash'][:12]}, {path}",
        highlight=False,
        soft_wrap=True,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `genbench` command."""
    parser = argparse.ArgumentParser(prog="genbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train and evaluate every run of a suite file")
    run.add_argument("suite", help="the suite file (YAML)")
    run.add_argument("--results", default="results", help="results root (default: results)")
    run.add_argument(
        "--address",
        default=None,
        help="Ray cluster to join: HOST:PORT or auto (default: RAY_ADDRESS, or a new local instance)",
    )
    run.add_argument(
        "--serial",
        action="store_true",
        help="run in this process, one run after another, without Ray (debugging)",
    )
    run.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="at most this many runs at once (default: as many as the cluster fits)",
    )
    run.add_argument(
        "--fresh",
        action="store_true",
        help="start over: move earlier results to <suite>.old-<timestamp>/ (nothing is deleted)",
    )
    run.set_defaults(fn=_cmd_run)
    validate = sub.add_parser(
        "validate",
        help="check a suite file without running it (this imports the suite's plugins: runs their code)",
    )
    validate.add_argument("suite")
    validate.set_defaults(fn=_cmd_validate)
    listing = sub.add_parser("list", help="show the models, datasets and metrics, with defaults")
    listing.add_argument("--suite", default=None, help="also the plugins this suite file names")
    listing.set_defaults(fn=_cmd_list)
    board = sub.add_parser("leaderboard", help="rebuild and print a suite's leaderboard")
    board.add_argument("results_dir", help="a suite's results directory, e.g. results/quickstart")
    board.add_argument(
        "--all",
        action="store_true",
        help="print every stored run, also those of earlier versions of the suite file (files unchanged)",
    )
    board.set_defaults(fn=_cmd_leaderboard)
    report = sub.add_parser("report", help="write report.md, report.html and tables.tex of a suite")
    report.add_argument("results_dir", help="a suite's results directory, e.g. results/stability")
    report.add_argument(
        "--target",
        type=float,
        default=None,
        help="value of the primary metric for time-to-target (default: modes >= half the modes)",
    )
    report.set_defaults(fn=_cmd_report)
    prepare = sub.add_parser("prepare", help="train and cache the feature classifier of a data set")
    prepare.add_argument("dataset", choices=["mnist", "fashion_mnist"], help="the data set")
    prepare.add_argument("--data-dir", default=None, help="data root (default: $GENBENCH_DATA or ~/.cache)")
    prepare.set_defaults(fn=_cmd_prepare)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `genbench` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    console = Console()
    try:
        return args.fn(args, console)
    except (SuiteError, PreflightError, SuiteLocked) as exc:
        Console(stderr=True).print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
        return EXIT_BAD_INPUT
    except StorageFull as exc:
        Console(stderr=True).print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
        return EXIT_FAILURE
    except KeyboardInterrupt as exc:  # a second stop signal during `run`, or a Ctrl-C outside it
        Console(stderr=True).print("interrupted", highlight=False)
        return getattr(exc, "exit_code", EXIT_INTERRUPTED)  # 128 + the first signal (StopNow)


if __name__ == "__main__":
    sys.exit(main())
