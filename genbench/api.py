"""The public Python API: register your own model families, metrics and data sets, run a suite,
and read its results back as pandas DataFrames or as trained models.

    import genbench
    board = genbench.run_suite("suite.yaml", results="results")   # one row per run
    traj = genbench.load_trajectories("results/<suite>")          # one row per evaluation
    run = genbench.load_run("results/<suite>/runs/<run_id>")      # the trained model
    x = run.sample(1000)

A plugin file (the suite's `plugins:`) calls the register functions (genbench.registry's, through
which the built-ins register too) at import time. Builders:
a model family's `build(hparams, dataset, device) -> GenerativeModel`, a data set's
`build(params) -> Dataset` (registry.Dataset), a metric's `fn(model, dataset, ctx) -> {output:
value}` (registry.MetricFn; its parameters are `ctx.params`).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import genbench
from genbench import builtins  # noqa: F401  (hands the registry the built-ins' loader)
from genbench.registry import Diagnostic as Diagnostic
from genbench.registry import Modes as Modes
from genbench.registry import NoParams as NoParams
from genbench.registry import PrepareError as PrepareError
from genbench.registry import register_dataset as register_dataset
from genbench.registry import register_metric as register_metric
from genbench.registry import register_model as register_model

__all__ = list(genbench.API_NAMES)  # the public names are listed once: genbench/__init__.py


def run_suite(
    suite: str | Path | dict,
    results: str | Path = "results",
    address: str | None = None,
    workers: int | None = None,
    serial: bool = False,
    fresh: bool = False,
    quiet: bool = False,
) -> Any:
    """Run a suite (a file, or a dict in the suite schema whose relative paths are taken from the
    working directory) as `genbench run` does; return the leaderboard's per-run table (a
    pandas.DataFrame). Raises SuiteError or PreflightError with the messages the CLI prints,
    before anything is written; KeyboardInterrupt after a Ctrl-C, SIGTERM or SIGHUP (running runs
    checkpointed)."""
    # the driver, store and suite layers load torch, pandas and pydantic: only when a suite runs
    from rich.console import Console

    from genbench.driver.suite_run import run_suite as run
    from genbench.store import runs as store
    from genbench.suite.config import EXIT_INTERRUPTED, load_suite

    source = suite if isinstance(suite, dict) else Path(suite)
    name = load_suite(source, Path.cwd())[0].name
    console = Console(stderr=True, quiet=quiet)
    code = run(source, Path(results), console, address, serial, fresh, workers, Path.cwd())
    if code in (EXIT_INTERRUPTED, 128 + signal.SIGTERM, 128 + signal.SIGHUP):  # Ctrl-C, SIGTERM, SIGHUP
        raise KeyboardInterrupt("interrupted: the same run_suite call resumes from the checkpoints")
    return load_results(store.suite_dir(Path(results), name))


def load_results(results_dir: str | Path, all_runs: bool = False) -> Any:
    """The stored runs of a suite (`results/<suite>`) as the leaderboard's per-run table: one row
    per run of the current suite file (`all_runs`: every stored run, older spec formats in
    protocol groups of their own)."""
    from genbench.analysis.leaderboard import runs_table  # pandas: only when results are read
    from genbench.store.runs import all_runs_view

    path = _suite_path(results_dir)
    if not all_runs:
        return runs_table(path)[0]
    with all_runs_view(path) as view:
        return runs_table(view)[0]


def load_trajectories(results_dir: str | Path) -> Any:
    """Every stored evaluation of a suite's runs, one row each (step, train_seconds, the metrics,
    the train.* means since the previous evaluation), with the run's model, variant, dataset,
    seed and status."""
    from genbench.analysis import stability  # pandas: only when results are read
    from genbench.analysis.leaderboard import runs_table

    path = _suite_path(results_dir)
    traj, _ = stability.load_trajectories(path)
    identity = runs_table(path)[0][["run_id", "model", "variant", "dataset", "seed", "status"]]
    return traj.merge(identity, on="run_id") if len(traj) else traj


def _suite_path(results_dir: str | Path) -> Path:
    path = Path(results_dir)
    if not (path / "suite.json").exists():
        raise FileNotFoundError(f"{path}: no suite results here (no suite.json)")
    return path


@dataclass
class LoadedRun:
    """A finished run rebuilt from its spec.json and checkpoint: its spec, stored result, data
    set and trained model (in eval mode, on the CPU)."""

    spec: Any  # config.RunSpec
    result: Any  # result.RunResult
    dataset: Any
    model: Any

    @property
    def final_eval_seed(self) -> int:
        """The seed of the final evaluation's generator (metrics.eval_seed at the last step)."""
        from genbench.metrics import eval_seed  # torch: only when a loaded run samples

        return eval_seed(self.spec.seed, self.result.steps)

    def sample(self, n: int | None = None, seed: int | None = None) -> Any:
        """n samples (default: the final evaluation's count) drawn with a generator seeded by
        `seed` (default: the final evaluation's seed, so these are the samples it scored), images
        in [0, 1] as metrics see them."""
        import torch  # torch: only when a loaded run samples

        from genbench.data.pixels import to_unit

        generator = torch.Generator().manual_seed(self.final_eval_seed if seed is None else seed)
        with torch.no_grad():
            return to_unit(self.model.sample(n or self.spec.eval.samples, generator), self.model.pixel_range)


def load_run(run_dir: str | Path, device: str = "cpu") -> LoadedRun:
    """The trained model of a finished run (`results/<suite>/runs/<run_id>`): rebuilt from its
    spec (its plugins imported, from their recorded files where needed) and its checkpoint."""
    from genbench.store.reading import Damaged, load_file  # torch and the worker: only when a run is loaded
    from genbench.store.result import RunResult, Status
    from genbench.store.runs import spec_of
    from genbench.suite import plugins
    from genbench.suite.config import SPEC_VERSION
    from genbench.worker import checkpoint, train

    run_dir = Path(run_dir)
    try:  # the store's checked reader: shape, no links; a damaged file is named, not moved
        record = load_file(run_dir / "spec.json", "spec")[0]
        result_path = run_dir / "result.json"
        stored = load_file(result_path, "result")[0] if result_path.exists() else None
    except Damaged as exc:
        raise ValueError(f"{run_dir}: a stored file is damaged: {exc}") from None
    if record.get("spec_version", 1) != SPEC_VERSION:
        raise ValueError(
            f"{run_dir}: stored by spec format {record.get('spec_version', 1)}; this genbench reads "
            f"format {SPEC_VERSION} (run the suite again)"
        )
    result = RunResult.from_json(stored) if stored is not None else RunResult(Status.PENDING)
    if result.status != Status.OK:
        raise ValueError(f"{run_dir}: the run is {result.status}, not ok: no trained model to load")
    spec = spec_of(record)
    plugins.ensure(spec.plugins)
    state = checkpoint.load(run_dir / checkpoint.FILENAME, record["run_id"])
    if state is None:
        raise ValueError(f"{run_dir}: no checkpoint of this run (seeds trained together keep none)")
    dataset, model = train.build(spec, device)
    model.load_state_dict(state["model"])
    model.eval()
    return LoadedRun(spec, result, dataset, model)
