"""Checks before anything is trained or written: the results directory, disk space, the data sets
(and what metrics derive from them: the MNIST classifier, reference features), and whether the
suite's per-run resources fit the Ray cluster, and that its trackers (MLflow) can be reached. Each
failure is a PreflightError (exit code 2)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from genbench.data.images import DataMissing
from genbench.driver import extract, runner
from genbench.metrics.backbones import WeightsError
from genbench.metrics.reference_sets import reference_sets
from genbench.registry import DATASETS, METRICS, MODELS, PrepareError
from genbench.store import runs as store
from genbench.suite import plugins
from genbench.suite.config import Resources, RunSpec, Suite
from genbench.worker.trackers import TrackerUnreachable, check_reachable

MIN_FREE_BYTES = 64 * 2**20  # room for the leaderboard and the manifest
BYTES_PER_RUN = 2 * 2**20  # a run's spec, trajectory, result and plot, with room to spare


class PreflightError(Exception):
    """The suite is valid but cannot run here; the message says why and what to change."""


def check_results_root(results_root: Path, suite_name: str, n_runs: int) -> Path:
    """Return the suite's results directory after checking that it can be created and written
    and that its disk has room for `n_runs` runs; nothing is left behind."""
    root = Path(results_root)
    target = root / suite_name
    if suite_name in ("", ".", "..") or Path(suite_name).name != suite_name:
        raise PreflightError(f"suite name {suite_name!r} would write outside the results root {root}")
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise PreflightError(f"cannot create the results directory {target}: {existing} is not a directory")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".genbench-write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise PreflightError(
            f"the results directory {target} is not writable ({existing}: {exc.strerror}); "
            "choose another with --results"
        ) from None
    need = MIN_FREE_BYTES + n_runs * BYTES_PER_RUN
    free = shutil.disk_usage(existing).free
    if free < need:
        raise PreflightError(
            f"not enough free disk space for the results in {target}: {free / 2**20:.0f} MiB free, "
            f"{need / 2**20:.0f} MiB needed for {n_runs} runs"
        )
    return target


def check_fits(resources: Resources, nodes: list[dict[str, float]]) -> int:
    """Return the number of runs that fit at once; raise PreflightError when not even one does."""
    cpus = sum(n.get("CPU", 0) for n in nodes)
    gpus = sum(n.get("GPU", 0) for n in nodes)
    if resources.gpus > 0 and gpus == 0:
        raise PreflightError(
            f"the suite asks for {resources.gpus:g} GPUs per run (resources.gpus) but the Ray cluster "
            f"has no GPU ({len(nodes)} nodes, {cpus:g} CPUs); set resources.gpus: 0, or join a "
            "cluster with GPUs with --address"
        )
    fit = runner.slots(resources, nodes)
    if fit < 1:
        raise PreflightError(
            f"no node of the Ray cluster can hold one run of {resources.cpus:g} CPUs and "
            f"{resources.gpus:g} GPUs (resources); the largest node has "
            f"{max(n.get('CPU', 0) for n in nodes):g} CPUs and {max(n.get('GPU', 0) for n in nodes):g} GPUs"
        )
    return fit


def _data_key(spec: RunSpec) -> str:
    return json.dumps([spec.dataset, spec.dataset_params], sort_keys=True)


def check_data(specs: list[RunSpec]) -> dict[str, object]:
    """Load every image data set the runs need, once, on the driver: a missing one stops the suite
    here, and a download (with network access) happens once rather than in every worker. Returns
    the data sets by `_data_key`."""
    loaded: dict[str, object] = {}
    for spec in specs:
        entry = DATASETS.get(spec.dataset)
        key = _data_key(spec)
        if entry.kind != "image" or key in loaded:
            continue
        try:
            loaded[key] = entry.build(entry.params(**spec.dataset_params))
        except DataMissing as exc:
            raise PreflightError(str(exc)) from None
    return loaded


def check_inputs(specs: list[RunSpec], datasets: dict[str, object]) -> None:
    """Ask each run's hyper-parameters, where their schema defines `input_problem(dataset,
    n_samples)`, why its files cannot be scored on its data set (samples or a generator made
    elsewhere of another shape, fewer samples than eval.samples); the first answer is raised."""
    asked = set()
    for spec in specs:
        key = _data_key(spec)
        question = json.dumps([spec.model, spec.hparams, key, spec.eval.samples], sort_keys=True)
        if question in asked:  # the other seeds of a variant
            continue
        asked.add(question)
        try:
            check = getattr(MODELS.get(spec.model).hparams(**spec.hparams), "input_problem", None)
        except ValidationError as exc:  # e.g. files changed since the suite was read
            raise PreflightError(f"{spec.label}: {exc.errors()[0]['msg']}") from None
        if callable(check):
            if key not in datasets:  # a toy: cheap to build
                entry = DATASETS.get(spec.dataset)
                datasets[key] = entry.build(entry.params(**spec.dataset_params))
            problem = check(datasets[key], spec.eval.samples)
            if problem:
                raise PreflightError(f"{spec.label} on {spec.dataset}: {problem}")


def dataset_getter(datasets: dict[str, object]) -> Callable[[RunSpec], object]:
    """`dataset_of(spec)`: the run's data set from `datasets` (by `_data_key`), a toy built and
    added on first use."""

    def dataset_of(spec: RunSpec):
        key = _data_key(spec)
        if key not in datasets:  # a toy: cheap to build
            entry = DATASETS.get(spec.dataset)
            datasets[key] = entry.build(entry.params(**spec.dataset_params))
        return datasets[key]

    return dataset_of


def prepare_metrics(specs: list[RunSpec], datasets: dict[str, object]) -> None:
    """Run the `prepare` step of every metric entry that has one, once, on the driver, with the
    runs that use the metric (e.g. the MNIST classifier and reference features: workers then read
    them from $GENBENCH_CACHE instead of each training the classifier on its first evaluation)."""
    dataset_of = dataset_getter(datasets)
    runs: dict = {}  # prepare function -> the runs whose metrics have it, in order, once each
    for spec in specs:
        for name in spec.metrics:
            prepare = METRICS.get(name).prepare
            if prepare is not None and spec not in runs.setdefault(prepare, []):
                runs[prepare].append(spec)
    for prepare, specs_of in runs.items():
        try:
            prepare(specs_of, dataset_of)
        except PrepareError as exc:
            raise PreflightError(str(exc)) from None


def preflight(
    suite: Suite,
    specs: list[RunSpec],
    results_root: Path,
    address: str | None,
    serial: bool,
    fresh: bool = False,
    verbose: bool = False,
    say: Callable[[str], None] = print,
) -> dict[str, float]:
    """Run every check before `genbench run` writes or trains anything; raise PreflightError.

    Joins (or starts) Ray only when runs are left to do (all of them with `fresh`) and the suite
    does not run --serial (printing its workers' output when `verbose`), then extracts the
    reference features the runs will read (announced through `say`). Returns the seconds some
    steps took (`ray_start_s`, `reference_features_s`, `preflight_s`).
    """
    started = time.perf_counter()
    timing = {"ray_start_s": 0.0}
    suite_path = check_results_root(results_root, suite.name, len(specs))
    todo = specs if fresh else [s for s in specs if not store.finished_result(suite_path, s.run_id)]
    try:
        check_reachable(suite.trackers if todo else [], suite.name)  # before any run starts logging
    except TrackerUnreachable as exc:
        raise PreflightError(str(exc)) from None
    datasets = check_data(todo)
    check_inputs(todo, datasets)
    prepare_metrics(todo, datasets)
    if serial or not todo:
        timing["reference_features_s"] = prepare_references(todo, datasets, 1, False, say)
        return {**timing, "preflight_s": time.perf_counter() - started}
    try:
        files = plugins.ray_py_modules([p for spec in specs for p in spec.plugins])
        timing["ray_start_s"] = runner.start_ray(address, files, verbose)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or os.environ.get("RAY_ADDRESS") or "a new local instance"
        raise PreflightError(f"cannot start or join Ray ({where}): {exc}") from None
    slots = check_fits(suite.resources, runner.cluster_nodes())
    timing["reference_features_s"] = prepare_references(todo, datasets, slots, True, say)
    return {**timing, "preflight_s": time.perf_counter() - started}


def prepare_references(
    specs: list[RunSpec], datasets: dict[str, object], workers: int, on_ray: bool, say: Callable[[str], None]
) -> float:
    """Extract the reference feature sets the runs will read that are not cached yet (across Ray
    actors when large: `genbench.driver.extract`); the seconds it took."""
    started = time.perf_counter()
    try:
        sets = reference_sets(specs, dataset_getter(datasets))
        extract.extract_references(sets, workers, on_ray, say)
    except (RuntimeError, OSError, ValueError, WeightsError) as exc:
        raise PreflightError(f"reference features: {exc}") from None
    return time.perf_counter() - started
