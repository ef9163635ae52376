"""Command-line interface: argument parsing only; the work is done by the functions it calls."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from genbench.driver.eval_command import add_arguments as add_eval_arguments
from genbench.driver.lock import SuiteLocked
from genbench.driver.preflight import PreflightError
from genbench.driver.runner import WorkersLost
from genbench.driver.stopping import StorageFull
from genbench.numerics import NUMERICS_VERSION, __version__
from genbench.suite.config import EXIT_INTERRUPTED, SuiteError
from genbench.suite.targets import parse_target_text

EXIT_FAILURE = 1  # a run failed, or the store could not be written (full disk, read-only, quota)
EXIT_BAD_INPUT = 2

DESCRIPTION = """\
Train and compare deep generative models (GAN, WGAN, VAE, ...) under equal budgets.

A suite file (YAML) names the models, data sets, metrics, seeds and the budget of each run;
`genbench run` trains every combination as Ray workers and writes one folder per run, a
leaderboard and a report under results/<suite>/."""

EPILOG = """\
examples:
  genbench run suites/quickstart.yaml   train a suite (run it again to resume after a stop)
  genbench eval png/ --dataset mnist    score a folder of images made elsewhere
  genbench report results/quickstart    rebuild its report from the stored runs
  genbench list gan                     a model family's parameters and their defaults

exit codes: 0 every run ended ok or diverged; 1 a run failed, or the results could not be
written; 2 bad input (the message names the file, key and line); 130, 143, 129 interrupted
by SIGINT (Ctrl-C), SIGTERM, SIGHUP."""

# name: (one-line help in `genbench --help`, the description `genbench NAME --help` starts with)
COMMANDS = {
    "run": (
        "train and evaluate every run of a suite file",
        "Train every run of the suite file (each model entry x data set x hyper-parameter value x seed) that "
        "is not finished yet, resuming stopped runs from their checkpoints, and write "
        "results/<suite>/: a folder per run, leaderboard.csv and .md, report.html. Exit code 0 when "
        "every run ended ok or diverged; 1 when a run failed (the last line names the result.json "
        "files that hold the tracebacks), or no Ray worker could be started (run it again to resume); "
        "2 for an invalid suite file; 130 after Ctrl-C.",
    ),
    "eval": (
        "score samples or a generator made elsewhere against a data set",
        "Score PATH (a folder of PNG/JPEG images, an .npz/.npy/.csv file of samples, a TorchScript "
        "generator or file.py:function) on the data set given with --dataset, with the metrics, "
        "seeds and leaderboard of `genbench run`: it runs a one-entry suite (results/eval-DATASET/ "
        "unless --name). Nothing is trained; each seed scores another draw of --samples samples. "
        "Exit codes as for run; 2 for a PATH that does not exist or does not fit the data set.",
    ),
    "validate": (
        "check a suite file without training anything",
        "Check every key of the suite file against the schemas and print how many runs it expands to; a "
        "problem is printed with file, key and line (exit code 2). The suite's plugins are "
        "imported, which runs their code.",
    ),
    "list": (
        "show the models, data sets and metrics, with their parameters and defaults",
        "Show the registered model families, data sets and metrics (the built-in ones, installed "
        "plugins, and with --suite that file's plugins), each parameter with its default.",
    ),
    "leaderboard": (
        "rebuild and print a suite's leaderboard from its stored runs",
        "Recompute leaderboard.csv, leaderboard_summary.csv and leaderboard.md of results_dir from "
        "the stored runs and print the leaderboard; nothing is trained.",
    ),
    "report": (
        "write a suite's report: HTML, Markdown and LaTeX tables",
        "Write report.html, report.md and tables.tex (figures in report_files/) of results_dir from "
        "the stored runs; nothing is trained.",
    ),
    "prepare": (
        "download MNIST or Fashion-MNIST and train its feature classifier once",
        "Download the data set if it is missing and train the small classifier whose features the "
        "mode metrics of that data set use; it is cached and every later run reuses it.",
    ),
}


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


def _cmd_run(args: argparse.Namespace, console: Console) -> int:
    from genbench.driver.suite_run import run_suite  # on first use: the CLI starts fast

    return run_suite(
        Path(args.suite),
        Path(args.results),
        console,
        args.address,
        args.serial,
        args.fresh,
        args.workers,
        verbose=args.verbose,
    )


def _cmd_eval(args: argparse.Namespace, console: Console) -> int:
    from genbench.driver.eval_command import run_eval  # on first use: the CLI starts fast

    return run_eval(args, console)


def _cmd_validate(args: argparse.Namespace, console: Console) -> int:
    from genbench.driver.untrained import untrained_warnings  # torch: on first use
    from genbench.suite.config import load_suite  # on first use: the CLI starts fast

    suite, specs, notes = load_suite(args.suite)
    for note in notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    for warning in untrained_warnings(suite, specs):
        console.print(f"warning: {warning}", highlight=False, soft_wrap=True)
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
    console.print(describe_registries(args.names), highlight=False, markup=False, soft_wrap=True)
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


def _version() -> str:
    """What `genbench --version` prints: the package and numerics versions."""
    return f"genbench {__version__} (numerics version {NUMERICS_VERSION})"


def _command(sub, name: str) -> argparse.ArgumentParser:
    """The subcommand `name`'s parser, with its help line and description from COMMANDS."""
    summary, description = COMMANDS[name]
    return sub.add_parser(name, help=summary, description=description)


def _add_run(sub) -> None:
    """The `run` subcommand and its options."""
    run = _command(sub, "run")
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
    run.add_argument(
        "--verbose",
        action="store_true",
        help="also print what the runs print (e.g. print() in a plugin's code), above the progress",
    )
    run.set_defaults(fn=_cmd_run)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `genbench` command."""
    parser = argparse.ArgumentParser(
        prog="genbench",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=lambda prog: argparse.RawTextHelpFormatter(prog, max_help_position=30),
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")
    _add_run(sub)
    evaluate = _command(sub, "eval")
    add_eval_arguments(evaluate)
    evaluate.set_defaults(fn=_cmd_eval)
    validate = _command(sub, "validate")
    validate.add_argument("suite", help="the suite file (YAML)")
    validate.set_defaults(fn=_cmd_validate)
    listing = _command(sub, "list")
    listing.add_argument(
        "names", nargs="*", help="only these: a model, data set or metric (e.g. gan), or a section (models)"
    )
    listing.add_argument("--suite", default=None, help="also the plugins this suite file names")
    listing.set_defaults(fn=_cmd_list)
    board = _command(sub, "leaderboard")
    board.add_argument("results_dir", help="a suite's results directory, e.g. results/quickstart")
    board.add_argument(
        "--all",
        action="store_true",
        help="print every stored run, also those of earlier versions of the suite file (files unchanged)",
    )
    board.set_defaults(fn=_cmd_leaderboard)
    report = _command(sub, "report")
    report.add_argument("results_dir", help="a suite's results directory, e.g. results/stability")
    report.add_argument(
        "--target",
        type=parse_target_text,
        default=None,
        help="time-to-target's target: the primary metric's value, or a mapping such as "
        "'{modes: 50%%, hq_frac: 0.5}' (default: the suite file's, else on the toys modes >= half the "
        "modes and hq_frac >= 0.5)",
    )
    report.set_defaults(fn=_cmd_report)
    prepare = _command(sub, "prepare")
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
    except WorkersLost as exc:
        message = f"error: {exc}; the runs that ended are stored: run the same command again to resume"
        Console(stderr=True).print(message, highlight=False, markup=False, soft_wrap=True)
        return EXIT_FAILURE
    except KeyboardInterrupt as exc:  # a second stop signal during `run`, or a Ctrl-C outside it
        Console(stderr=True).print("interrupted", highlight=False)
        return getattr(exc, "exit_code", EXIT_INTERRUPTED)  # 128 + the first signal (StopNow)


if __name__ == "__main__":
    sys.exit(main())
